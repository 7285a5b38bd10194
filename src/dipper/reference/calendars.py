"""Business calendars built from maintained holiday data.

Mainland China's public holidays and make-up workdays (调休) are announced each
year by the State Council; the ``chinese_calendar`` package tracks those notices.
Upgrade the package when a new year's notice is published; until then
``china_mainland().covers(date)`` is False for that year.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

import chinese_calendar

from dipper.kernel.calendar import BusinessCalendar

__all__ = ["china_mainland"]

_WEEKEND = frozenset({5, 6})


@cache
def china_mainland() -> BusinessCalendar:
    """The mainland China (PRC) banking calendar, built once per process.

    Holidays are kept only where they fall on a weekday (a holiday on a weekend changes
    nothing); make-up workdays are the weekend days declared working days.
    """
    holiday_table: dict[dt.date, object] = dict(chinese_calendar.holidays)
    workday_table: dict[dt.date, object] = dict(chinese_calendar.workdays)
    holidays = frozenset(d for d in holiday_table if d.weekday() not in _WEEKEND)
    make_up = frozenset(d for d in workday_table if d.weekday() in _WEEKEND)
    first, last = min(holiday_table).year, max(holiday_table).year
    return BusinessCalendar(
        holidays=holidays,
        make_up_workdays=make_up,
        weekend=_WEEKEND,
        name="china-mainland",
        years=frozenset(range(first, last + 1)),
    )
