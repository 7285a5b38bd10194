from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal, getcontext, localcontext
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dipper.kernel.daycount import DayCount
from dipper.kernel.errors import ValidationFailed
from dipper.kernel.rates import Rate


def test_constructors_store_the_annual_rate() -> None:
    assert Rate.percent("4.35").annual_rate == Decimal("0.0435")
    assert Rate.annual("0.0435") == Rate.percent("4.35")
    assert Rate.annual(Decimal("0.0435")) == Rate(Decimal("0.0435"))
    assert Rate.monthly("0.005").annual_rate == Decimal("0.06")  # 月息 5‰
    assert Rate.daily("0.0005").annual_rate == Decimal("0.18")  # 日息 万分之五, 360-day year
    assert Rate.daily("0.0005", basis=365).annual_rate == Decimal("0.1825")
    assert Rate.annual(0).annual_rate == 0
    assert Rate("0.05").annual_rate == Decimal("0.05")  # type: ignore[arg-type]


def test_float_is_refused() -> None:
    builders: tuple[Callable[[], object], ...] = (
        lambda: Rate(0.05),  # type: ignore[arg-type]
        lambda: Rate.annual(0.05),  # type: ignore[arg-type]
        lambda: Rate.percent(4.35),  # type: ignore[arg-type]
        lambda: Rate.monthly(0.005),  # type: ignore[arg-type]
        lambda: Rate.daily(0.0005),  # type: ignore[arg-type]
        lambda: Rate.percent("4.35").uplift(0.5),  # type: ignore[arg-type]
    )
    for build in builders:
        with pytest.raises(TypeError):
            build()


def test_invalid_values_have_stable_codes() -> None:
    for text in ("abc", "NaN", "Infinity"):
        with pytest.raises(ValidationFailed) as info:
            Rate.percent(text)
        assert info.value.code == "invalid_rate"
    with pytest.raises(ValidationFailed) as info:
        Rate.daily("0.0005", basis=366)
    assert info.value.code == "invalid_rate_basis"
    with pytest.raises(ValidationFailed) as info:
        Rate.percent("4.35").uplift("-0.1")
    assert info.value.code == "invalid_uplift"


def test_monthly_and_daily_views() -> None:
    rate = Rate.percent("4.35")
    assert rate.monthly_rate == Decimal("0.003625")
    daily_365 = Fraction(rate.daily_rate(DayCount.ACT_365F))
    assert abs(daily_365 - Fraction(435, 10000 * 365)) < Fraction(1, 10**37)
    assert rate.daily_rate(DayCount.ACT_360) == rate.daily_rate()  # 360 is the default
    assert Rate.percent("3.6").daily_rate(DayCount.ACT_360) == Decimal("0.0001")
    assert Rate.percent("3.6").daily_rate("30/360") == Decimal("0.0001")
    # non-terminating: 34 significant digits, correctly rounded
    monthly = Rate.percent("5").monthly_rate
    assert len(monthly.as_tuple().digits) == 34
    assert abs(Fraction(monthly) - Fraction(5, 1200)) < Fraction(1, 10**36)


def test_results_do_not_depend_on_the_callers_decimal_context() -> None:
    expected = Rate.percent("5").monthly_rate
    fraction = DayCount.ACT_360.year_fraction(dt.date(2026, 1, 15), dt.date(2026, 2, 15))
    with localcontext() as ctx:
        ctx.prec = 3
        ctx.rounding = ROUND_DOWN
        assert Rate.percent("5").monthly_rate == expected
        assert DayCount.ACT_360.year_fraction(dt.date(2026, 1, 15), dt.date(2026, 2, 15)) == fraction
    assert getcontext().prec == 28  # and the global context was never changed


def test_for_period_is_simple_interest_factor() -> None:
    start, end = dt.date(2026, 1, 15), dt.date(2026, 2, 15)
    assert Rate.percent("3.6").for_period(start, end, DayCount.ACT_360) == Decimal("0.0031")  # 31 days
    assert Rate.percent("3.6").for_period(start, end, DayCount.THIRTY_360) == Decimal("0.003")  # 30 days
    assert Rate.percent("3.65").for_period(start, end, DayCount.ACT_365F) == Decimal("0.0031")
    assert Rate.percent("3.6").for_period(end, start, "ACT/360") == Decimal("-0.0031")


def test_penalty_uplift() -> None:
    contract = Rate.percent("4.35")
    assert contract.uplift(Decimal("0.5")) == Rate.percent("6.525")
    assert contract.uplift("0.3") == Rate.percent("5.655")
    assert contract.uplift(0) == contract


def test_ordering_and_equality() -> None:
    lpr_1y, lpr_5y = Rate.percent("3.10"), Rate.percent("3.60")
    assert lpr_1y < lpr_5y and lpr_5y > lpr_1y and lpr_1y <= Rate.percent("3.1")
    assert Rate.percent("3.10") == Rate.percent("3.1")
    assert hash(Rate.percent("3.10")) == hash(Rate.percent("3.1"))
    assert max(lpr_1y, lpr_5y) is lpr_5y
    with pytest.raises(TypeError):
        assert lpr_1y < Decimal("0.04")  # type: ignore[operator]


def test_rate_is_immutable() -> None:
    rate = Rate.percent("4.35")
    with pytest.raises(AttributeError):
        rate.annual_rate = Decimal(1)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("rate", "text"),
    [
        (Rate.percent("4.35"), "4.35%"),
        (Rate.annual("0.04350"), "4.35%"),
        (Rate.percent("5"), "5.00%"),
        (Rate.annual("0.043512"), "4.3512%"),
        (Rate.annual(0), "0.00%"),
        (Rate.annual(1), "100.00%"),
        (Rate.percent("-0.5"), "-0.50%"),
    ],
)
def test_str(rate: Rate, text: str) -> None:
    assert str(rate) == text


quoted = st.decimals(min_value=Decimal("0.000001"), max_value=Decimal(1), places=8, allow_nan=False)


@given(value=quoted)
def test_monthly_and_daily_round_trip_exactly(value: Decimal) -> None:
    assert Rate.monthly(value).monthly_rate == value
    assert Rate.daily(value).daily_rate(DayCount.ACT_360) == value
    assert Rate.daily(value, basis=365).daily_rate(DayCount.ACT_365F) == value
    assert Rate.percent(value).as_percent() == value


@given(a=quoted, b=quoted)
def test_ordering_follows_annual_value(a: Decimal, b: Decimal) -> None:
    assert (Rate.annual(a) < Rate.annual(b)) == (a < b)
    assert (Rate.monthly(a) <= Rate.monthly(b)) == (a <= b)
