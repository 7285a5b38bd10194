from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dipper.kernel.calendar import BusinessCalendar, RollConvention, WeekendCalendar
from dipper.kernel.errors import ValidationFailed
from dipper.reference import china_mainland

D = dt.date
CN = china_mainland()


# ----------------------------------------------------------------- mainland China, real dates


def test_national_day_2024() -> None:
    for day in range(1, 8):
        assert not CN.is_business_day(D(2024, 10, day)), f"2024-10-0{day} is a National Day holiday"
    assert CN.is_business_day(D(2024, 9, 30))  # Monday before the holiday
    assert CN.is_business_day(D(2024, 10, 8))


def test_make_up_workdays_2024() -> None:
    assert D(2024, 9, 29).weekday() == 6 and CN.is_business_day(D(2024, 9, 29))  # Sunday 调休
    assert D(2024, 10, 12).weekday() == 5 and CN.is_business_day(D(2024, 10, 12))  # Saturday 调休
    assert not CN.is_business_day(D(2024, 10, 13))  # the Sunday after is an ordinary weekend day
    assert D(2024, 9, 29) in CN.make_up_workdays


def test_spring_festival_2025_and_new_year_2026() -> None:
    for offset in range(8):
        day = D(2025, 1, 28) + dt.timedelta(days=offset)
        assert not CN.is_business_day(day), day
    assert CN.is_business_day(D(2025, 1, 26))  # Sunday make-up workday before the festival
    assert CN.is_business_day(D(2025, 2, 5))
    assert not CN.is_business_day(D(2026, 1, 1))
    assert CN.is_business_day(D(2026, 1, 4))  # Sunday make-up workday


def test_mainland_calendar_shape() -> None:
    assert all(d.weekday() < 5 for d in CN.holidays)  # weekend holidays change nothing
    assert all(d.weekday() >= 5 for d in CN.make_up_workdays)
    assert CN.covers(D(2024, 10, 1)) and CN.covers(D(2026, 12, 31))
    assert not CN.covers(D(2099, 1, 1))
    assert china_mainland() is CN  # built once


def test_roll_conventions_around_national_day() -> None:
    assert CN.roll(D(2024, 10, 1), RollConvention.FOLLOWING) == D(2024, 10, 8)
    assert CN.roll(D(2024, 10, 1), RollConvention.PRECEDING) == D(2024, 9, 30)
    assert CN.roll(D(2024, 10, 1), RollConvention.MODIFIED_FOLLOWING) == D(2024, 10, 8)
    # modified-preceding: 9-30 is in another month, so it goes forward instead
    assert CN.roll(D(2024, 10, 1), RollConvention.MODIFIED_PRECEDING) == D(2024, 10, 8)
    assert CN.roll(D(2024, 10, 1), RollConvention.UNADJUSTED) == D(2024, 10, 1)
    assert CN.roll(D(2024, 9, 30), RollConvention.MODIFIED_FOLLOWING) == D(2024, 9, 30)  # business day stays
    assert CN.roll(D(2024, 10, 5), "preceding") == D(2024, 9, 30)


def test_modified_following_keeps_a_month_end_in_its_month() -> None:
    # 2025-05-31 (Sat) .. 2025-06-02 (Mon) is the Dragon Boat holiday; following leaves May.
    assert CN.roll(D(2025, 5, 31), RollConvention.FOLLOWING) == D(2025, 6, 3)
    assert CN.roll(D(2025, 5, 31), RollConvention.MODIFIED_FOLLOWING) == D(2025, 5, 30)
    # 2025-08-31 is a plain Sunday: the same rule, no holiday involved.
    assert CN.roll(D(2025, 8, 31), RollConvention.FOLLOWING) == D(2025, 9, 1)
    assert CN.roll(D(2025, 8, 31), RollConvention.MODIFIED_FOLLOWING) == D(2025, 8, 29)


def test_add_business_days_across_holidays() -> None:
    assert CN.add_business_days(D(2024, 9, 30), 1) == D(2024, 10, 8)
    assert CN.add_business_days(D(2024, 10, 8), -1) == D(2024, 9, 30)
    assert CN.add_business_days(D(2024, 9, 27), 1) == D(2024, 9, 29)  # Fri -> make-up Sunday
    assert CN.add_business_days(D(2024, 10, 11), 1) == D(2024, 10, 12)  # Fri -> make-up Saturday
    assert CN.add_business_days(D(2024, 10, 3), 0) == D(2024, 10, 8)  # 0 rolls forward
    assert CN.add_business_days(D(2024, 9, 30), 0) == D(2024, 9, 30)


def test_business_days_between() -> None:
    # [2024-09-28, 2024-10-13): 9-29 (make-up), 9-30, 10-08..10-11, 10-12 (make-up) -> 7
    assert CN.business_days_between(D(2024, 9, 28), D(2024, 10, 13)) == 7
    assert CN.business_days_between(D(2024, 10, 13), D(2024, 9, 28)) == -7
    assert CN.business_days_between(D(2024, 10, 1), D(2024, 10, 1)) == 0
    # 2025: 261 weekdays - 18 weekday holidays + 5 make-up weekend days = 248 working days
    assert CN.business_days_between(D(2025, 1, 1), D(2026, 1, 1)) == 248


def test_ensure_covers() -> None:
    CN.ensure_covers(D(2025, 6, 1))
    with pytest.raises(ValidationFailed) as info:
        CN.ensure_covers(D(2099, 6, 1))
    assert info.value.code == "calendar_not_covered"


# ----------------------------------------------------------------- pure calendar rules


def test_weekend_calendar() -> None:
    cal = WeekendCalendar()
    assert isinstance(cal, BusinessCalendar)
    assert cal.is_business_day(D(2024, 10, 1))  # Tuesday: no holidays here
    assert not cal.is_business_day(D(2024, 10, 5))
    assert cal.covers(D(2099, 1, 1))
    assert cal.add_business_days(D(2024, 10, 4), 1) == D(2024, 10, 7)  # Fri + 1 = Mon
    assert cal.add_business_days(D(2024, 10, 5), 1) == D(2024, 10, 7)  # Sat + 1 = Mon
    assert cal.add_business_days(D(2024, 10, 5), -1) == D(2024, 10, 4)  # Sat - 1 = Fri
    friday_only_weekend = WeekendCalendar(weekend=frozenset({4}))
    assert not friday_only_weekend.is_business_day(D(2024, 10, 4))
    assert friday_only_weekend.is_business_day(D(2024, 10, 5))


def test_custom_calendar_and_validation() -> None:
    cal = BusinessCalendar(
        holidays=frozenset({D(2030, 1, 1)}),
        make_up_workdays=frozenset({D(2030, 1, 5)}),
        name="test",
        years=frozenset({2030}),
    )
    assert not cal.is_business_day(D(2030, 1, 1))
    assert cal.is_business_day(D(2030, 1, 5))  # Saturday, declared a working day
    assert cal.covers(D(2030, 7, 1)) and not cal.covers(D(2031, 1, 1))
    assert not BusinessCalendar(frozenset(), frozenset()).covers(D(2030, 1, 1))  # no data vouched for
    with pytest.raises(ValidationFailed) as info:
        BusinessCalendar(frozenset({D(2030, 1, 5)}), frozenset({D(2030, 1, 5)}))
    assert info.value.code == "invalid_calendar"
    with pytest.raises(ValidationFailed):
        BusinessCalendar(frozenset(), frozenset(), weekend=frozenset(range(7)))
    with pytest.raises(ValidationFailed):
        BusinessCalendar(frozenset(), frozenset(), weekend=frozenset({7}))
    with pytest.raises(TypeError):
        BusinessCalendar(frozenset({dt.datetime(2030, 1, 1)}), frozenset())
    with pytest.raises(AttributeError):
        cal.name = "other"  # type: ignore[misc]
    with pytest.raises(ValidationFailed) as info:
        cal.roll(D(2030, 1, 1), "nearest")
    assert info.value.code == "unknown_roll_convention"


def test_convention_values_are_stable() -> None:
    assert [c.value for c in RollConvention] == [
        "following",
        "preceding",
        "modified-following",
        "modified-preceding",
        "unadjusted",
    ]


# ----------------------------------------------------------------- properties on the real calendar

dates = st.dates(min_value=D(2004, 1, 1), max_value=D(2026, 12, 31))


@given(d=dates, convention=st.sampled_from([c for c in RollConvention if c is not RollConvention.UNADJUSTED]))
def test_roll_lands_on_a_business_day(d: dt.date, convention: RollConvention) -> None:
    rolled = CN.roll(d, convention)
    assert CN.is_business_day(rolled)
    if CN.is_business_day(d):
        assert rolled == d
    if convention in (RollConvention.MODIFIED_FOLLOWING, RollConvention.MODIFIED_PRECEDING):
        assert rolled.month == d.month


@given(d=dates, n=st.integers(-30, 30))
def test_add_business_days_agrees_with_counting(d: dt.date, n: int) -> None:
    target = CN.add_business_days(d, n)
    assert CN.is_business_day(target)
    one_day = dt.timedelta(days=1)
    if n > 0:  # exactly n business days in (d, target]
        assert CN.business_days_between(d + one_day, target + one_day) == n
    elif n < 0:  # exactly |n| business days in [target, d)
        assert CN.business_days_between(target, d) == -n
    else:
        assert target == CN.roll(d, RollConvention.FOLLOWING)
