"""Day-count conventions: how many days of interest a period earns, and out of how many per year.

The contract names the convention; the same dates give different interest
under each, so it is an explicit parameter everywhere interest accrues.
Day counts are integers; year fractions are Decimals computed in a fresh
34-digit context (IEEE decimal128 precision) - exact whenever the fraction
terminates (e.g. 36/360 = 0.1), correctly rounded otherwise (31/360).
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Context, Decimal
from enum import StrEnum
from typing import Final

from dipper.kernel.errors import ValidationFailed

__all__ = ["DECIMAL_PRECISION", "DayCount", "decimal_context"]

DECIMAL_PRECISION: Final = 34
"""Significant digits for non-terminating rate and year-fraction arithmetic."""


def decimal_context() -> Context:
    """A fresh 34-digit, half-even context: results never depend on the caller's (thread's) context."""
    return Context(prec=DECIMAL_PRECISION, rounding=ROUND_HALF_EVEN)


def _require_date(value: object, what: str) -> dt.date:
    # datetime is a date subclass; accepting it would silently drop the time (and the time zone).
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise TypeError(f"{what} must be a datetime.date, got {type(value).__name__}")
    return value


class DayCount(StrEnum):
    """Day-count basis. The string values are stable: they are stored on products and contracts."""

    ACT_360 = "ACT/360"
    """Actual days / 360. The usual basis for RMB loans: 日利率 = 年利率 / 360."""

    ACT_365F = "ACT/365F"
    """Actual days / 365 - fixed, also in leap years."""

    THIRTY_360 = "30/360"
    """ISDA 30/360 "Bond Basis" (2006 ISDA Definitions 4.16(f)); every month counts as 30 days.

    D1 = 31 becomes 30; D2 = 31 becomes 30 only when D1 (after that rule) is 30.
    There is no end-of-February adjustment (that would be 30/360 US / SIA).
    """

    @classmethod
    def parse(cls, value: DayCount | str) -> DayCount:
        """Read a basis from configuration; an unknown name is a validation error, not a crash."""
        try:
            return cls(value)
        except ValueError:
            raise ValidationFailed(
                f"unknown day count {value!r}",
                code="unknown_day_count",
                details={"day_count": str(value), "allowed": [d.value for d in cls]},
            ) from None

    @property
    def days_in_year(self) -> int:
        """The denominator of the year fraction: 360 or 365."""
        return 365 if self is DayCount.ACT_365F else 360

    def days(self, start: dt.date, end: dt.date) -> int:
        """Days of interest from ``start`` (inclusive) to ``end`` (exclusive).

        Negative when ``end`` is before ``start``: ``days(b, a) == -days(a, b)``.
        """
        start = _require_date(start, "start")
        end = _require_date(end, "end")
        if end < start:
            return -self.days(end, start)
        if self is DayCount.THIRTY_360:
            d1 = min(start.day, 30)
            d2 = 30 if end.day == 31 and d1 == 30 else end.day
            return 360 * (end.year - start.year) + 30 * (end.month - start.month) + (d2 - d1)
        return (end - start).days

    def year_fraction(self, start: dt.date, end: dt.date) -> Decimal:
        """Share of a year from ``start`` to ``end``: ``days / days_in_year``."""
        return decimal_context().divide(Decimal(self.days(start, end)), Decimal(self.days_in_year))
