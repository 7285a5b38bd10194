"""Business-day logic: which dates a bank works, and how due dates move off holidays.

Pure and data-driven: a calendar is just its holidays, its make-up workdays
(调休, weekend days declared working days) and its weekend. Where the data
comes from (the State Council's annual notice, via ``dipper.reference``) is
not the kernel's business. Holiday data only exists for years already
announced, so :meth:`BusinessCalendar.covers` tells whether a date can be
trusted - schedules that reach past the announced years must not pretend.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from dipper.kernel.errors import ValidationFailed

__all__ = ["BusinessCalendar", "RollConvention", "WeekendCalendar"]

_ONE_DAY = dt.timedelta(days=1)
SATURDAY_SUNDAY: frozenset[int] = frozenset({5, 6})
"""``date.weekday()`` numbers of the usual weekend (Monday is 0)."""


def _require_date(value: object, what: str = "date") -> dt.date:
    # datetime is a date subclass; accepting it would silently drop the time (and the time zone).
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise TypeError(f"{what} must be a datetime.date, got {type(value).__name__}")
    return value


def _date_set(values: Iterable[dt.date], what: str) -> frozenset[dt.date]:
    return frozenset(_require_date(d, what) for d in values)


class RollConvention(StrEnum):
    """How a date that falls on a non-business day is moved (ISDA business day conventions).

    The string values are stable: they are stored on products and contracts.
    """

    FOLLOWING = "following"
    """The next business day."""

    PRECEDING = "preceding"
    """The previous business day."""

    MODIFIED_FOLLOWING = "modified-following"
    """The next business day, unless that is in the next month: then the previous one.

    Keeps a month-end due date inside its month (and its accounting period).
    """

    MODIFIED_PRECEDING = "modified-preceding"
    """The previous business day, unless that is in the previous month: then the next one."""

    UNADJUSTED = "unadjusted"
    """Keep the date as it is."""

    @classmethod
    def parse(cls, value: RollConvention | str) -> RollConvention:
        """Read a convention from configuration; an unknown name is a validation error."""
        try:
            return cls(value)
        except ValueError:
            raise ValidationFailed(
                f"unknown roll convention {value!r}",
                code="unknown_roll_convention",
                details={"convention": str(value), "allowed": [c.value for c in cls]},
            ) from None


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    """A working-day calendar.

    A date is a business day when it is a make-up workday (调休), or else when it is neither a
    weekend day nor a holiday. ``years`` lists the years whose holiday data is complete; outside
    them :meth:`covers` is False and the answers only reflect the weekend.
    """

    holidays: frozenset[dt.date]
    make_up_workdays: frozenset[dt.date]
    weekend: frozenset[int] = SATURDAY_SUNDAY
    name: str = "custom"
    years: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        holidays = _date_set(self.holidays, "holiday")
        make_up = _date_set(self.make_up_workdays, "make-up workday")
        weekend = frozenset(self.weekend)
        years = frozenset(self.years)
        if not weekend <= set(range(7)) or len(weekend) == 7:
            raise ValidationFailed(
                "weekend must be weekday numbers 0-6 (Monday=0) and leave at least one working day",
                code="invalid_calendar",
                details={"calendar": self.name, "weekend": sorted(weekend)},
            )
        clash = holidays & make_up
        if clash:
            raise ValidationFailed(
                "a date cannot be both a holiday and a make-up workday",
                code="invalid_calendar",
                details={"calendar": self.name, "dates": sorted(d.isoformat() for d in clash)},
            )
        object.__setattr__(self, "holidays", holidays)
        object.__setattr__(self, "make_up_workdays", make_up)
        object.__setattr__(self, "weekend", weekend)
        object.__setattr__(self, "years", years)

    # ----------------------------------------------------------------- queries

    def covers(self, d: dt.date) -> bool:
        """Whether holiday data for ``d``'s year is known, so answers about ``d`` can be trusted."""
        return _require_date(d).year in self.years

    def ensure_covers(self, d: dt.date) -> None:
        """Refuse (code ``calendar_not_covered``) to plan on a date whose holidays are not known yet."""
        if not self.covers(d):
            raise ValidationFailed(
                f"calendar {self.name} has no holiday data for {d.year}",
                code="calendar_not_covered",
                details={"calendar": self.name, "date": d.isoformat()},
            )

    def is_business_day(self, d: dt.date) -> bool:
        d = _require_date(d)
        if d in self.make_up_workdays:
            return True
        return d.weekday() not in self.weekend and d not in self.holidays

    def is_holiday(self, d: dt.date) -> bool:
        """Not a business day (a weekend or a public holiday)."""
        return not self.is_business_day(d)

    # ----------------------------------------------------------------- adjustments

    def _next(self, d: dt.date) -> dt.date:
        while not self.is_business_day(d):
            d += _ONE_DAY
        return d

    def _previous(self, d: dt.date) -> dt.date:
        while not self.is_business_day(d):
            d -= _ONE_DAY
        return d

    def roll(self, d: dt.date, convention: RollConvention | str) -> dt.date:
        """Move ``d`` to a business day under ``convention``; a business day stays where it is."""
        d = _require_date(d)
        rule = RollConvention.parse(convention)
        if rule is RollConvention.UNADJUSTED:
            return d
        if rule is RollConvention.FOLLOWING:
            return self._next(d)
        if rule is RollConvention.PRECEDING:
            return self._previous(d)
        if rule is RollConvention.MODIFIED_FOLLOWING:
            rolled = self._next(d)
            return rolled if rolled.month == d.month else self._previous(d)
        rolled = self._previous(d)
        return rolled if rolled.month == d.month else self._next(d)

    def add_business_days(self, d: dt.date, n: int) -> dt.date:
        """The ``n``-th business day after ``d`` (before it when ``n`` < 0).

        ``d`` itself is not counted, so Friday + 1 is Monday and Saturday + 1 is also Monday.
        With ``n == 0`` the result is ``d`` rolled to the following business day.
        """
        d = _require_date(d)
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"n must be an int, got {type(n).__name__}")
        if n == 0:
            return self._next(d)
        step = _ONE_DAY if n > 0 else -_ONE_DAY
        for _ in range(abs(n)):
            d += step
            while not self.is_business_day(d):
                d += step
        return d

    def business_days_between(self, a: dt.date, b: dt.date) -> int:
        """Business days in ``[a, b)``: ``a`` counted, ``b`` not. Negative when ``b`` is before ``a``."""
        a = _require_date(a, "a")
        b = _require_date(b, "b")
        if b < a:
            return -self.business_days_between(b, a)
        count = 0
        d = a
        while d < b:
            count += self.is_business_day(d)
            d += _ONE_DAY
        return count


class WeekendCalendar(BusinessCalendar):
    """A calendar with weekends and no holidays - valid for every year by construction.

    For tests, for currencies without a holiday feed, and as an explicit "ignore holidays" choice.
    """

    __slots__ = ()

    def __init__(self, weekend: frozenset[int] = SATURDAY_SUNDAY, name: str = "weekends-only") -> None:
        BusinessCalendar.__init__(self, frozenset(), frozenset(), weekend, name)

    def covers(self, d: dt.date) -> bool:
        """It claims no holidays at all, so it is never missing data."""
        _require_date(d)
        return True
