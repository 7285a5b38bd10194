"""The schedule calculator and APR disclosure as part of the loan core's public read surface
(pure functions: no storage)."""

from dipper.loans.domain.apr import DEFAULT_APR_CEILING, annual_percentage_rate, check_apr_ceiling
from dipper.loans.domain.schedule import (
    Installment,
    Schedule,
    ScheduleTerms,
    build_schedule,
    parse_repayment_method,
)
from dipper.loans.domain.terms import AllocationPart, PrepaymentMode, RepaymentMethod

__all__ = [
    "DEFAULT_APR_CEILING",
    "AllocationPart",
    "Installment",
    "PrepaymentMode",
    "RepaymentMethod",
    "Schedule",
    "ScheduleTerms",
    "annual_percentage_rate",
    "build_schedule",
    "check_apr_ceiling",
    "parse_repayment_method",
]
