"""Exact integer accrual (ADR 0005): daily accrual with carry, and scheduled accrual that meets the
billed interest exactly at the end of each period."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dipper.kernel.errors import ValidationFailed
from dipper.loans.domain.accrual import (
    MAX_BALANCE_MINOR,
    MAX_RATE_E9,
    Period,
    accrual_divisor,
    accrue_daily,
    daily_accrual_days,
    scheduled_accrual,
    scheduled_accrued,
)

balances = st.integers(0, MAX_BALANCE_MINOR)
rates = st.integers(0, MAX_RATE_E9)
bases = st.sampled_from([360, 365])


def test_one_day_on_ten_thousand_yuan_at_3_65_percent_act_365():
    # 1,000,000 fen x 0.0365 / 365 = exactly 100 fen, nothing carried.
    result = accrue_daily(1_000_000, 36_500_000, 1, 0, 365)
    assert (result.accrued_minor, result.carry) == (100, 0)


def test_the_remainder_is_carried_and_paid_out_once_it_reaches_a_fen():
    # 100 fen at 3.6% / 360 earns 0.01 fen a day: nothing for 99 days, one fen on the 100th.
    carry = 0
    paid = []
    for _ in range(100):
        result = accrue_daily(100, 36_000_000, 1, carry, 360)
        paid.append(result.accrued_minor)
        carry = result.carry
    assert paid == [0] * 99 + [1]
    assert carry == 0


@given(balances, rates, bases, st.lists(st.integers(0, 40), min_size=1, max_size=30))
def test_accruing_day_by_day_equals_accruing_all_days_at_once(balance, rate, basis, spans):
    # Any split of the same days gives the same fen and carry: nothing drifts, nothing is lost.
    carry = total = 0
    for days in spans:
        step = accrue_daily(balance, rate, days, carry, basis)
        total += step.accrued_minor
        carry = step.carry
    once = accrue_daily(balance, rate, sum(spans), 0, basis)
    assert (total, carry) == (once.accrued_minor, once.carry)
    # ...and it is the exact rational interest, floored, with the rest carried.
    exact = Fraction(balance * rate * sum(spans), basis * 10**9)
    assert total == int(exact)
    assert Fraction(carry, basis * 10**9) == exact - int(exact)


def test_a_long_catch_up_on_the_largest_balance_does_not_overflow_64_bits():
    # The ADR's formula would need balance x rate x days < 2^63; the split keeps every
    # intermediate below it, and the result is still the exact big-integer one.
    days = 3660
    result = accrue_daily(MAX_BALANCE_MINOR, MAX_RATE_E9, days, 0, 360)
    assert result.accrued_minor == MAX_BALANCE_MINOR * MAX_RATE_E9 * days // (360 * 10**9)
    assert MAX_BALANCE_MINOR * MAX_RATE_E9 < 2**63 <= MAX_BALANCE_MINOR * MAX_RATE_E9 * days


@pytest.mark.parametrize(
    ("args", "why"),
    [
        ((-1, 10, 1, 0, 360), "negative balance"),
        ((True, 10, 1, 0, 360), "a bool is not a balance"),
        ((MAX_BALANCE_MINOR + 1, 10, 1, 0, 360), "above the ADR's per-loan limit"),
        ((100, MAX_RATE_E9 + 1, 1, 0, 360), "rate above 90%"),
        ((100, 10, -1, 0, 360), "negative days"),
        ((100, 10, 1, 360 * 10**9, 360), "carry of a whole fen or more"),
        ((100, 10, 1, 0, 366), "unknown basis"),
    ],
)
def test_bad_inputs_are_refused(args, why):
    with pytest.raises(ValidationFailed):
        accrue_daily(*args)


def test_divisor():
    assert accrual_divisor(360) == 360_000_000_000
    assert accrual_divisor(365) == 365_000_000_000


def test_drawdown_day_counts_and_the_day_before_maturity_is_the_last():
    start, maturity = date(2026, 3, 10), date(2026, 3, 20)
    # Disbursed on the 10th, accrued at the end of the 10th: one day.
    assert daily_accrual_days(None, start, date(2026, 3, 10), maturity) == 1
    assert daily_accrual_days(date(2026, 3, 10), start, date(2026, 3, 11), maturity) == 1
    # Catching up from the 11th through the 25th stops at the 19th (9 more days).
    assert daily_accrual_days(date(2026, 3, 10), start, date(2026, 3, 25), maturity) == 9
    assert daily_accrual_days(date(2026, 3, 19), start, date(2026, 3, 25), maturity) == 0
    assert daily_accrual_days(date(2026, 3, 12), start, date(2026, 3, 12), None) == 0


PERIOD = Period(interest_minor=1_000, start=date(2026, 1, 15), end=date(2026, 2, 15))  # 31 days


def test_scheduled_accrual_reaches_the_billed_interest_on_the_last_day_of_the_period():
    assert scheduled_accrued(PERIOD, None) == 0
    assert scheduled_accrued(PERIOD, date(2026, 1, 14)) == 0
    assert scheduled_accrued(PERIOD, date(2026, 1, 15)) == 1_000 * 1 // 31
    assert scheduled_accrued(PERIOD, date(2026, 2, 13)) == 1_000 * 30 // 31
    assert scheduled_accrued(PERIOD, date(2026, 2, 14)) == 1_000
    assert scheduled_accrued(PERIOD, date(2026, 6, 1)) == 1_000


@given(st.integers(0, 10**9), st.integers(1, 400))
def test_daily_increments_of_a_period_sum_to_its_interest_and_never_go_back(interest, length):
    period = Period(interest, date(2026, 1, 1), date(2026, 1, 1) + timedelta(days=length))
    increments = [
        scheduled_accrual([period], period.start + timedelta(days=k - 1), period.start + timedelta(days=k))
        for k in range(length)
    ]
    assert sum(increments) == interest
    assert min(increments) >= 0


@given(
    st.lists(st.tuples(st.integers(0, 10**8), st.integers(1, 62)), min_size=1, max_size=8),
    st.integers(0, 500),
    st.integers(0, 500),
)
def test_catching_up_over_several_periods_equals_running_every_day(periods, a, b):
    start = date(2026, 1, 1)
    schedule = []
    for interest, length in periods:
        schedule.append(Period(interest, start, start + timedelta(days=length)))
        start += timedelta(days=length)
    first, last = sorted((a, b))
    origin = date(2025, 12, 31)
    after, through = origin + timedelta(days=first), origin + timedelta(days=last)
    daily = sum(
        scheduled_accrual(schedule, after + timedelta(days=k), after + timedelta(days=k + 1))
        for k in range(last - first)
    )
    assert scheduled_accrual(schedule, after, through) == daily


def test_nothing_to_accrue_when_already_accrued_through_the_date():
    assert scheduled_accrual([PERIOD], date(2026, 2, 1), date(2026, 2, 1)) == 0
    assert scheduled_accrual([PERIOD], date(2026, 2, 2), date(2026, 2, 1)) == 0


def test_a_period_must_end_after_it_starts():
    with pytest.raises(ValidationFailed):
        scheduled_accrued(Period(10, date(2026, 1, 1), date(2026, 1, 1)), date(2026, 1, 5))
