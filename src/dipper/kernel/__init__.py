"""The pure kernel: value objects and rules every module shares. Standard library only."""

from dipper.kernel.calendar import BusinessCalendar, RollConvention, WeekendCalendar
from dipper.kernel.daycount import DayCount
from dipper.kernel.errors import (
    Conflict,
    CurrencyMismatch,
    DomainError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    UnbalancedEntry,
    ValidationFailed,
)
from dipper.kernel.money import Currency, Money, sum_money
from dipper.kernel.rates import Rate
from dipper.kernel.rounding import RoundingRule

__all__ = [
    "BusinessCalendar",
    "Conflict",
    "Currency",
    "CurrencyMismatch",
    "DayCount",
    "DomainError",
    "Money",
    "NotFound",
    "PermissionDenied",
    "Rate",
    "RollConvention",
    "RoundingRule",
    "Unauthenticated",
    "UnbalancedEntry",
    "ValidationFailed",
    "WeekendCalendar",
    "sum_money",
]
