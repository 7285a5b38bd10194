from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dipper.kernel.daycount import DayCount
from dipper.kernel.errors import ValidationFailed

D = dt.date


def test_values_are_the_stable_configuration_names() -> None:
    assert [d.value for d in DayCount] == ["ACT/360", "ACT/365F", "30/360"]
    assert DayCount.parse("ACT/365F") is DayCount.ACT_365F
    with pytest.raises(ValidationFailed) as info:
        DayCount.parse("ACT/ACT")
    assert info.value.code == "unknown_day_count"


def test_days_in_year() -> None:
    assert DayCount.ACT_360.days_in_year == 360
    assert DayCount.ACT_365F.days_in_year == 365
    assert DayCount.THIRTY_360.days_in_year == 360


def test_act_360_one_month() -> None:
    start, end = D(2026, 1, 15), D(2026, 2, 15)
    assert DayCount.ACT_360.days(start, end) == 31
    fraction = DayCount.ACT_360.year_fraction(start, end)
    assert abs(Fraction(fraction) - Fraction(31, 360)) < Fraction(1, 10**33)
    assert DayCount.ACT_360.year_fraction(D(2026, 1, 1), D(2026, 2, 6)) == Decimal("0.1")  # 36/360, exact


def test_act_365f_ignores_leap_years() -> None:
    assert DayCount.ACT_365F.days(D(2024, 1, 1), D(2025, 1, 1)) == 366
    assert DayCount.ACT_365F.year_fraction(D(2023, 1, 1), D(2024, 1, 1)) == Decimal(1)
    fraction = DayCount.ACT_365F.year_fraction(D(2024, 1, 1), D(2025, 1, 1))
    assert abs(Fraction(fraction) - Fraction(366, 365)) < Fraction(1, 10**32)


@pytest.mark.parametrize(
    ("start", "end", "days"),
    [
        (D(2024, 1, 31), D(2024, 2, 29), 29),  # D1 31 -> 30; D2 29 stays
        (D(2024, 1, 31), D(2024, 3, 31), 60),  # D2 31 -> 30 because D1 is 30
        (D(2024, 1, 15), D(2024, 3, 31), 76),  # D2 31 stays because D1 is not 30/31
        (D(2024, 2, 29), D(2024, 3, 31), 32),  # Bond Basis: no end-of-February rule (US rule gives 30)
        (D(2024, 1, 30), D(2024, 2, 28), 28),
        (D(2024, 1, 1), D(2025, 1, 1), 360),
        (D(2026, 1, 15), D(2026, 2, 15), 30),
    ],
)
def test_thirty_360_bond_basis(start: dt.date, end: dt.date, days: int) -> None:
    assert DayCount.THIRTY_360.days(start, end) == days


def test_thirty_360_full_year_is_exactly_one() -> None:
    assert DayCount.THIRTY_360.year_fraction(D(2024, 3, 31), D(2025, 3, 31)) == Decimal(1)


def test_reversed_periods_are_negative() -> None:
    a, b = D(2024, 1, 31), D(2024, 3, 31)
    for basis in DayCount:
        assert basis.days(b, a) == -basis.days(a, b)
        assert basis.year_fraction(b, a) == basis.year_fraction(a, b).copy_negate()
        assert basis.days(a, a) == 0


def test_datetimes_are_refused() -> None:
    with pytest.raises(TypeError):
        DayCount.ACT_360.days(dt.datetime(2024, 1, 1, 12), D(2024, 2, 1))


dates = st.dates(min_value=D(2000, 1, 1), max_value=D(2100, 12, 31))


@given(start=dates, end=dates)
def test_actual_bases_count_calendar_days(start: dt.date, end: dt.date) -> None:
    assert DayCount.ACT_360.days(start, end) == (end - start).days
    assert DayCount.ACT_365F.days(start, end) == (end - start).days


@given(start=dates, end=dates, basis=st.sampled_from(list(DayCount)))
def test_year_fraction_is_days_over_basis(start: dt.date, end: dt.date, basis: DayCount) -> None:
    exact = Fraction(basis.days(start, end), basis.days_in_year)
    assert abs(Fraction(basis.year_fraction(start, end)) - exact) <= abs(exact) / 10**33


@given(start=st.dates(min_value=D(2000, 1, 1), max_value=D(2090, 12, 28)), months=st.integers(0, 120))
def test_thirty_360_whole_months_are_30_days(start: dt.date, months: int) -> None:
    start = start.replace(day=min(start.day, 28))
    month_index = start.month - 1 + months
    end = start.replace(year=start.year + month_index // 12, month=month_index % 12 + 1)
    assert DayCount.THIRTY_360.days(start, end) == 30 * months
