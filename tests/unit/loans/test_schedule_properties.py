"""Property tests: every method keeps the schedule invariants; equal installments agree with numpy-financial.

How numpy-financial's unrounded annuity maps onto a booked (rounded) schedule - the comparison is
to the fen, and floats appear only on numpy's side:

1. **Level payment.** ``pmt(r, n, -A)`` rounded half-up to the fen equals the total of every
   installment but the last (the last settles the residue, so it is not compared with pmt) - as long
   as the loan is not repaid yet. The half-fen the level payment was rounded by compounds like the
   loan itself, so on a small, long, dear loan (1,000 yuan, 21% over 251 months) it can repay the
   balance a period early: that installment pays what is left, and the ones after it are zero.
2. **Interest.** Each period's interest equals ``ipmt(r, 1, remaining, -B)`` rounded half-up, where
   ``B`` is OUR rounded balance before the period: interest is always charged on what is actually
   owed, so the balances drift from numpy's unrounded ones while the interest rule stays exact.
3. **Principal.** The first installment's principal is within one fen of ``ppmt(r, 1, n, -A)`` (the
   level payment and the interest are each rounded once); later rows follow from 1. and 2.
   (principal = level - interest), and the last installment's principal is the remaining balance.

A float from numpy that lies within 1e-6 fen of a half-fen tie could round either way, so there
either neighbour is accepted (``fen`` below); everywhere else the fen must match exactly.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from decimal import Decimal

import numpy_financial as npf
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dipper.kernel.calendar import BusinessCalendar, RollConvention, WeekendCalendar
from dipper.kernel.daycount import DayCount
from dipper.kernel.money import Money
from dipper.kernel.rates import Rate
from dipper.kernel.rounding import RoundingRule
from dipper.loans.domain.schedule import (
    MAX_TERM,
    Installment,
    Schedule,
    ScheduleTerms,
    add_months,
    build_schedule,
)
from dipper.loans.domain.terms import RepaymentMethod
from dipper.reference.calendars import china_mainland

METHODS = [m for m in RepaymentMethod if m is not RepaymentMethod.REVOLVING]

amounts = st.integers(min_value=100_000, max_value=500_000_000)  # 1,000.00 - 5,000,000.00 yuan, in fen
rates = st.integers(min_value=100, max_value=36_000).map(lambda x: Decimal(x).scaleb(-5))  # 0.1% - 36%
terms = st.integers(min_value=1, max_value=MAX_TERM)
starts = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2040, 12, 31))
calendars = st.sampled_from([None, WeekendCalendar(), china_mainland()])


def fen(x: float) -> set[int]:
    """The fen a float rounds to half-up - both neighbours when it is within 1e-6 fen of a tie."""
    scaled = x * 100
    low = math.floor(scaled)
    if abs(scaled - low - 0.5) < 1e-6:
        return {low, low + 1}
    return {math.floor(scaled + 0.5)}


@st.composite
def schedule_terms(draw: st.DrawFn) -> ScheduleTerms:
    start = draw(starts)
    first_due = None
    if draw(st.booleans()):
        # At least 15 days, so that no roll (Spring Festival spans 9 days) reaches the start date.
        latest = (add_months(start, 2) - start).days
        first_due = start + dt.timedelta(days=draw(st.integers(min_value=15, max_value=latest)))
    fee_kind = draw(st.sampled_from(["none", "amount", "rate"]))
    calendar: BusinessCalendar | None = draw(calendars)
    minor = draw(amounts)
    return ScheduleTerms(
        principal=Money(minor, "CNY"),
        annual_rate=Rate(draw(rates)),
        term=draw(terms),
        method=draw(st.sampled_from(METHODS)),
        start=start,
        first_due=first_due,
        day_count=draw(st.sampled_from([None, *DayCount])),
        rounding=draw(st.sampled_from(list(RoundingRule))),
        calendar=calendar,
        roll=draw(st.sampled_from(list(RollConvention))),
        upfront_fee=Money(draw(st.integers(0, minor // 50)), "CNY") if draw(st.booleans()) else None,
        periodic_fee=Money(draw(st.integers(0, 10_000)), "CNY") if fee_kind == "amount" else None,
        monthly_fee_rate=Decimal(draw(st.integers(0, 100))).scaleb(-4) if fee_kind == "rate" else None,
    )


def before_payoff(items: tuple[Installment, ...]) -> list[Installment]:
    """The installments before the last that leave a balance: those paying the level amount."""
    return [i for i in items[:-1] if i.balance.is_positive()]


def check_invariants(s: Schedule) -> None:
    items = s.installments
    t = s.terms
    expected_rows = 1 if t.method is RepaymentMethod.BULLET else t.term
    assert [i.n for i in items] == list(range(1, expected_rows + 1))
    # Principal sums EXACTLY to the amount and the balance ends at zero.
    assert sum(i.principal.minor for i in items) == t.principal.minor
    assert items[-1].balance.is_zero()
    # Balances fall (or stay) and are consistent with the principal repaid.
    before = t.principal
    for item in items:
        assert item.balance == before - item.principal
        assert item.balance <= before
        before = item.balance
    # Nothing negative; totals add up.
    for item in items:
        for part in (item.principal, item.interest, item.fee, item.total, item.balance):
            assert not part.is_negative()
        assert item.total == item.principal + item.interest + item.fee
    # Once repaid early (a level amount rounded up), nothing more is charged but fees.
    owed = [t.principal] + [i.balance for i in items[:-1]]
    for before_it, item in zip(owed, items, strict=True):
        if before_it.is_zero():
            assert item.principal.is_zero() and item.interest.is_zero()
    assert s.total_interest.minor == sum(i.interest.minor for i in items)
    upfront = t.upfront_fee.minor if t.upfront_fee else 0
    assert s.total_fees.minor == upfront + sum(i.fee.minor for i in items)
    # Due dates strictly increase, after the start; contractual dates chain the accrual periods.
    dates = [t.start] + [i.due_date for i in items]
    assert all(a < b for a, b in itertools.pairwise(dates))
    accrual = [t.start] + [i.accrual_end for i in items]
    assert [i.accrual_start for i in items] == accrual[:-1]
    if t.calendar is None:
        assert all(i.due_date == i.accrual_end for i in items)
    elif t.roll is not RollConvention.UNADJUSTED:
        assert all(t.calendar.is_business_day(i.due_date) for i in items)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedule_terms())
def test_every_method_keeps_the_invariants(terms: ScheduleTerms) -> None:
    # Any method, day count, rounding rule, calendar, roll, broken first period and fees.
    check_invariants(build_schedule(terms))


@settings(max_examples=200, deadline=None)
@given(amounts, rates, terms, starts, st.sampled_from(METHODS))
def test_monthly_convention_shape_by_method(
    minor: int, rate: Decimal, term: int, start: dt.date, method: RepaymentMethod
) -> None:
    s = build_schedule(ScheduleTerms(Money(minor, "CNY"), Rate(rate), term, method, start))
    check_invariants(s)
    items = s.installments
    # Contractual dates are start + k months, anchored on the start day.
    assert [i.accrual_end for i in items] == (
        [add_months(start, term)]
        if method is RepaymentMethod.BULLET
        else [add_months(start, k) for k in range(1, term + 1)]
    )
    if method is RepaymentMethod.EQUAL_INSTALLMENT:
        assert len({i.total for i in before_payoff(items)}) <= 1  # constant but for the last
    elif method is RepaymentMethod.EQUAL_PRINCIPAL:
        assert len({i.principal for i in items[:-1]}) <= 1
        # Interest falls with the balance.
        assert all(a.interest >= b.interest for a, b in itertools.pairwise(items))
    elif method is RepaymentMethod.INTEREST_ONLY:
        assert all(i.principal.is_zero() for i in items[:-1])
        assert len({i.interest for i in items}) == 1
    else:
        (only,) = items
        exact = Decimal(minor) * rate * term / 12  # fen; interest for the whole term at annual / 12
        assert abs(Decimal(only.interest.minor) - exact) <= Decimal("0.5")


@settings(max_examples=300, deadline=None)
@given(amounts, rates, terms)
@example(minor=100_000, rate=Decimal("0.21473"), n=251)  # repaid a period early (see 1. above)
def test_equal_installment_matches_numpy_financial_to_the_fen(minor: int, rate: Decimal, n: int) -> None:
    s = build_schedule(
        ScheduleTerms(
            Money(minor, "CNY"),
            Rate(rate),
            n,
            RepaymentMethod.EQUAL_INSTALLMENT,
            dt.date(2026, 1, 15),
            rounding=RoundingRule.HALF_UP,
        )
    )
    r = float(rate) / 12
    amount = minor / 100
    items = s.installments

    # 1. Level payment: every installment but the last, until the balance is repaid.
    level = fen(float(npf.pmt(r, n, -amount)))
    for item in before_payoff(items):
        assert item.total.minor in level

    # 2. Interest on our own rounded balance, period by period.
    balance = minor
    for k, item in enumerate(items, start=1):
        remaining = n - k + 1
        assert item.interest.minor in fen(float(npf.ipmt(r, 1, remaining, -balance / 100)))
        balance -= item.principal.minor
    assert balance == 0

    # 3. Principal: the first within a fen of ppmt, the last the remaining balance.
    if n > 1:
        assert abs(items[0].principal.minor - float(npf.ppmt(r, 1, n, -amount)) * 100) <= 1 + 1e-6
    assert items[-1].principal.minor == minor - sum(i.principal.minor for i in items[:-1])


@settings(max_examples=100, deadline=None)
@given(amounts, rates, terms)
def test_equal_principal_shares_are_the_rounded_amount_over_term(minor: int, rate: Decimal, n: int) -> None:
    s = build_schedule(
        ScheduleTerms(
            Money(minor, "CNY"), Rate(rate), n, RepaymentMethod.EQUAL_PRINCIPAL, dt.date(2026, 3, 31)
        )
    )
    share = (2 * minor + n) // (2 * n)  # minor / n rounded half-up, in integers
    assert all(i.principal.minor == share for i in s.installments[:-1])
    assert s.installments[-1].principal.minor == minor - share * (n - 1)


@settings(max_examples=100, deadline=None)
@given(amounts, rates, st.integers(min_value=2, max_value=MAX_TERM), starts)
def test_holiday_roll_never_changes_the_amounts(minor: int, rate: Decimal, n: int, start: dt.date) -> None:
    plain = ScheduleTerms(Money(minor, "CNY"), Rate(rate), n, RepaymentMethod.EQUAL_PRINCIPAL, start)
    rolled = ScheduleTerms(
        Money(minor, "CNY"), Rate(rate), n, RepaymentMethod.EQUAL_PRINCIPAL, start, calendar=china_mainland()
    )
    a, b = build_schedule(plain), build_schedule(rolled)
    assert [(i.principal, i.interest, i.accrual_end) for i in a.installments] == [
        (i.principal, i.interest, i.accrual_end) for i in b.installments
    ]
    assert a.apr == b.apr
