"""Exact integer accrual (ADR 0005): the formulas, in plain Python.

The end-of-day batch applies these rules to a whole book as SQL column expressions
(``loans.handlers.batch``); the functions here are their Python twins, the reference that
tests hold the SQL to, and what a caller can use to explain one loan's figures.

Two rules:

- **Daily accrual with carry** (revolving lines, penalty interest): one day of interest on a
  balance ``B`` at ``rate_e9`` is ``B x rate_e9 / (basis x 10^9)`` fen; the part below one fen is
  carried, in units of ``1 / (basis x 10^9)`` fen, to the next day, so nothing is lost or made up
  over any number of days.
- **Scheduled accrual** (installment loans): a period's *scheduled* interest is recognised day by
  day as ``interest x elapsed days / period days``, cumulative and floored, so that on the day the
  period ends the accrued amount equals the billed amount exactly.

Days are counted as the ADR says: a period or a balance earns interest for each day from its start
(inclusive) to its end (exclusive); a business date ``D`` is accrued by the end of day ``D``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from dipper.kernel.errors import ValidationFailed

__all__ = [
    "DAY_BASES",
    "MAX_BALANCE_MINOR",
    "MAX_RATE_E9",
    "RATE_SCALE",
    "Accrual",
    "Period",
    "accrual_divisor",
    "accrue_daily",
    "daily_accrual_days",
    "scheduled_accrual",
    "scheduled_accrued",
]

RATE_SCALE: Final = 10**9
"""Rates are stored as ``rate x 10^9`` integers (``annual_rate_e9``, ``penalty_rate_e9``)."""
DAY_BASES: Final = (360, 365)
MAX_BALANCE_MINOR: Final = 10**10
"""ADR 0005: at most 10^10 fen on one loan, so ``balance x rate_e9`` fits in a signed 64-bit integer."""
MAX_RATE_E9: Final = 9 * RATE_SCALE // 10
"""90% a year: with the balance limit, ``balance x rate_e9`` stays below 2^63 (SQLite would
silently turn an overflowing product into a float; PostgreSQL would fail the batch)."""


@dataclass(frozen=True)
class Accrual:
    """What a daily accrual adds (``accrued_minor``) and the sub-fen remainder carried on."""

    accrued_minor: int
    carry: int


@dataclass(frozen=True)
class Period:
    """One scheduled period: its interest and the days it runs (``start`` inclusive, ``end`` exclusive)."""

    interest_minor: int
    start: dt.date
    end: dt.date


def _int(value: object, what: str, *, low: int = 0, high: int | None = None) -> int:
    # bool is an int subclass; a True balance is a bug, not one fen.
    if type(value) is not int or value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise ValidationFailed(f"{what} must be an integer {bound}", code="invalid_accrual_input")
    return value


def accrual_divisor(basis: int) -> int:
    """``basis x 10^9``: one fen in the units of ``balance x rate_e9`` per day."""
    if basis not in DAY_BASES:
        raise ValidationFailed(f"day-count basis must be one of {DAY_BASES}", code="invalid_day_basis")
    return basis * RATE_SCALE


def accrue_daily(balance_minor: int, rate_e9: int, days: int, carry: int, basis: int) -> Accrual:
    """``days`` days of interest on ``balance_minor`` with the carried remainder ``carry``.

    Equal to the ADR's ``scaled = carry + balance x rate_e9 x days`` split by ``divmod`` by
    ``basis x 10^9``, but computed as ``(balance x rate_e9) divmod divisor`` first, so that the
    product never exceeds one day's and a catch-up over many days cannot overflow 64 bits.
    """
    divisor = accrual_divisor(basis)
    _int(balance_minor, "balance_minor", high=MAX_BALANCE_MINOR)
    _int(rate_e9, "rate_e9", high=MAX_RATE_E9)
    _int(days, "days")
    _int(carry, "carry", high=divisor - 1)
    whole, rest = divmod(balance_minor * rate_e9, divisor)
    scaled = rest * days + carry
    return Accrual(whole * days + scaled // divisor, scaled % divisor)


def daily_accrual_days(
    accrued_through: dt.date | None, start: dt.date, through: dt.date, maturity: dt.date | None
) -> int:
    """Days a balance earns from the day after ``accrued_through`` (or from ``start``) to ``through``
    inclusive, never past the day before ``maturity`` (after it, penalty interest takes over)."""
    first = accrued_through + dt.timedelta(days=1) if accrued_through is not None else start
    last = through if maturity is None else min(through, maturity - dt.timedelta(days=1))
    return max(0, (last - first).days + 1)


def scheduled_accrued(period: Period, through: dt.date | None) -> int:
    """The part of a period's interest recognised by the end of ``through`` (``None``: nothing yet)."""
    _int(period.interest_minor, "interest_minor", high=MAX_BALANCE_MINOR)
    length = (period.end - period.start).days
    if length <= 0:
        raise ValidationFailed("a period ends after it starts", code="invalid_period")
    if through is None:
        return 0
    elapsed = min(max((through - period.start).days + 1, 0), length)
    return period.interest_minor * elapsed // length


def scheduled_accrual(periods: Iterable[Period], accrued_through: dt.date | None, through: dt.date) -> int:
    """Interest to recognise for the days after ``accrued_through`` up to ``through``: over every
    period, what is recognised by ``through`` less what was by ``accrued_through``."""
    if accrued_through is not None and accrued_through >= through:
        return 0
    return sum(scheduled_accrued(p, through) - scheduled_accrued(p, accrued_through) for p in periods)
