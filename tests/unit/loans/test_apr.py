"""APR disclosure: the IRR of all borrowing costs (PBOC announcement [2021] No. 3), and the ceiling check."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy_financial as npf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dipper.kernel.errors import ValidationFailed
from dipper.kernel.money import Money
from dipper.kernel.rates import Rate
from dipper.loans.domain.apr import DEFAULT_APR_CEILING, annual_percentage_rate, check_apr_ceiling
from dipper.loans.domain.schedule import MAX_TERM, Schedule, ScheduleTerms, build_schedule
from dipper.loans.domain.terms import RepaymentMethod
from dipper.reference.calendars import china_mainland

START = dt.date(2026, 1, 15)


def cny(amount: str) -> Money:
    return Money.of(amount, "CNY")


def schedule(
    amount: str = "100000.00",
    rate: str = "0.0435",
    term: int = 12,
    method: RepaymentMethod = RepaymentMethod.EQUAL_INSTALLMENT,
    **kwargs: object,
) -> Schedule:
    return build_schedule(
        ScheduleTerms(cny(amount), Rate.annual(rate), term, method, START, **kwargs)  # type: ignore[arg-type]
    )


def numpy_apr(s: Schedule) -> float:
    """numpy-financial's IRR of the same monthly flows, times 12 (floats only here, on numpy's side)."""
    flows = s.cash_flows()
    return float(npf.irr([float(m.to_decimal()) for _, m in flows])) * 12


# ------------------------------------------------------------------ no fees: the nominal rate


@pytest.mark.parametrize(
    ("amount", "rate", "term"),
    [
        # Large enough that half-fen interest rounding stays below the 6th decimal (see the bound below).
        ("100000.00", "0.0435", 12),
        ("470000.00", "0.129", 132),
        ("3060000.00", "0.0615", 132),
        ("1000000.00", "0.031", 360),
        ("50000.00", "0.24", 36),
        ("200000.00", "0.0365", 1),
    ],
)
@pytest.mark.parametrize(
    "method",
    [RepaymentMethod.EQUAL_INSTALLMENT, RepaymentMethod.EQUAL_PRINCIPAL, RepaymentMethod.INTEREST_ONLY],
)
def test_without_fees_the_apr_is_the_nominal_rate(
    amount: str, rate: str, term: int, method: RepaymentMethod
) -> None:
    assert schedule(amount, rate, term, method).apr == Decimal(rate).quantize(Decimal("0.000001"))


@settings(max_examples=150, deadline=None)
@given(
    st.integers(min_value=100_000, max_value=500_000_000),
    st.integers(min_value=100, max_value=36_000).map(lambda x: Decimal(x).scaleb(-5)),
    st.integers(min_value=1, max_value=MAX_TERM),
)
def test_without_fees_the_apr_departs_from_nominal_only_by_interest_rounding(
    minor: int, rate: Decimal, n: int
) -> None:
    # Interest is booked as round(B r) = B r + e (|e| <= half a fen); the level payment's own rounding
    # is settled by the last installment. Telescoping the balances gives, at the schedule's IRR r',
    #     r' - r = sum(e_k v^k) / sum(B_(k-1) v^k)        (v = 1 / (1 + r'))
    # so |r' - r| <= 0.005 * sum(v^k) / sum(B_(k-1) v^k): exact for large loans, noisy for tiny ones.
    s = build_schedule(
        ScheduleTerms(Money(minor, "CNY"), Rate(rate), n, RepaymentMethod.EQUAL_INSTALLMENT, START)
    )
    monthly = rate / 12
    v = 1 / (1 + monthly)
    balances = [minor] + [i.balance.minor for i in s.installments[:-1]]
    weight = sum(Decimal(b) / 100 * v ** (k + 1) for k, b in enumerate(balances))
    bound = 12 * Decimal("0.005") * sum(v ** (k + 1) for k in range(n)) / weight
    assert abs(s.apr - rate) <= bound * Decimal("1.01") + Decimal("0.0000005")


def test_bullet_and_its_simple_rate() -> None:
    assert schedule(method=RepaymentMethod.BULLET).apr == Decimal("0.043500")
    assert schedule(method=RepaymentMethod.BULLET, term=3).apr == Decimal("0.043500")
    # Over two years the one-period IRR is 8.70%, a nominal 4.35% a year.
    assert schedule(method=RepaymentMethod.BULLET, term=24).apr == Decimal("0.043500")


# ------------------------------------------------------------------ fees raise the APR


def test_upfront_fee_raises_the_apr_and_matches_numpy_financial() -> None:
    # A 1% fee deducted at disbursement: the borrower gets 99,000 and repays the 100,000 schedule.
    s = schedule(upfront_fee=cny("1000.00"))
    assert s.apr > Decimal("0.0435")
    assert abs(float(s.apr) - numpy_apr(s)) <= 5e-7 + 1e-9
    # 12 x the monthly IRR of (+99,000, -8,530.99 x 11, -8,531.01); numpy-financial: 0.0622880672
    assert s.apr == Decimal("0.062288")


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=1_000_000, max_value=500_000_000),
    st.integers(min_value=500, max_value=24_000).map(lambda x: Decimal(x).scaleb(-5)),
    st.integers(min_value=3, max_value=120),
    st.integers(min_value=1, max_value=300),  # fee in basis points of the amount
    st.sampled_from(
        [RepaymentMethod.EQUAL_INSTALLMENT, RepaymentMethod.EQUAL_PRINCIPAL, RepaymentMethod.INTEREST_ONLY]
    ),
)
def test_fees_always_raise_the_apr_and_agree_with_numpy_financial(
    minor: int, rate: Decimal, n: int, fee_bp: int, method: RepaymentMethod
) -> None:
    terms = ScheduleTerms(
        Money(minor, "CNY"),
        Rate(rate),
        n,
        method,
        START,
        upfront_fee=Money(minor * fee_bp // 10_000, "CNY"),
    )
    with_fee = build_schedule(terms)
    without = build_schedule(ScheduleTerms(Money(minor, "CNY"), Rate(rate), n, method, START))
    assert with_fee.apr > without.apr
    assert abs(float(with_fee.apr) - numpy_apr(with_fee)) <= 5e-7 + 1e-9


def test_periodic_fees_count_in_the_apr() -> None:
    s = schedule(monthly_fee_rate=Decimal("0.003"))  # 0.3% of the amount a month
    assert s.apr > Decimal("0.10")  # 0.3% a month on a falling balance is far dearer than 3.6%/year
    assert abs(float(s.apr) - numpy_apr(s)) <= 5e-7 + 1e-9


# ------------------------------------------------------------------ irregular dates (XIRR)


def test_irregular_dates_use_a_day_based_irr() -> None:
    s = schedule(first_due=dt.date(2026, 2, 20))  # a broken first period: off the monthly grid
    # The disclosed nominal rate, turned back into an effective ACT/365 rate, discounts the flows to zero.
    effective = (1 + float(s.apr) / 12) ** 12 - 1
    npv = sum(float(m.to_decimal()) / (1 + effective) ** ((d - START).days / 365) for d, m in s.cash_flows())
    assert abs(npv) < 1.0  # yuan, on 100,000: the 6-decimal rounding of the APR
    assert Decimal("0.0435") < s.apr < Decimal("0.0445")


def test_rolled_due_dates_can_be_disclosed_too() -> None:
    s = schedule(calendar=china_mainland())  # 2026-02-15 rolls to 02-24 (Spring Festival)
    contractual = annual_percentage_rate(s.cash_flows())
    on_due_dates = annual_percentage_rate(s.cash_flows(on_due_dates=True))
    assert contractual == s.apr == Decimal("0.043500")
    assert on_due_dates < contractual  # paying nine days later is cheaper
    assert abs(on_due_dates - contractual) < Decimal("0.001")


def test_single_repayment_off_the_grid_is_the_simple_rate() -> None:
    # 100 days, 1.2% interest: 1.2% x 365 / 100 = 4.38% a year.
    flows = [(START, cny("100000.00")), (START + dt.timedelta(days=100), cny("-101200.00"))]
    assert annual_percentage_rate(flows) == Decimal("0.043800")


# ------------------------------------------------------------------ the function itself


def test_sign_convention_and_netting() -> None:
    s = schedule(upfront_fee=cny("1000.00"))
    flows = s.cash_flows()
    lender_view = [(d, -m) for d, m in flows]
    assert annual_percentage_rate(lender_view) == s.apr
    # The fee as its own flow on the start date is netted with the disbursement.
    split = [(START, cny("100000.00")), (START, cny("-1000.00")), *flows[1:]]
    assert annual_percentage_rate(split) == s.apr


@pytest.mark.parametrize(
    "flows",
    [
        [],
        [(START, cny("100.00"))],
        [(START, cny("100.00")), (dt.date(2026, 2, 15), cny("5.00"))],
    ],
)
def test_flows_without_a_rate(flows: list[tuple[dt.date, Money]]) -> None:
    with pytest.raises(ValidationFailed) as err:
        annual_percentage_rate(flows)
    assert err.value.code == "apr_undefined"


# ------------------------------------------------------------------ ceiling


def test_apr_ceiling() -> None:
    assert Decimal("0.24") == DEFAULT_APR_CEILING
    check_apr_ceiling(Decimal("0.240000"))  # at the ceiling is allowed
    with pytest.raises(ValidationFailed) as err:
        check_apr_ceiling(Decimal("0.240001"))
    assert err.value.code == "apr_above_ceiling"
    assert err.value.details == {"apr": "0.240001", "ceiling": "0.24"}


def test_an_upfront_fee_can_break_the_ceiling_of_a_compliant_rate() -> None:
    # 18% nominal is under the 24% ceiling; a 1% fee keeps it there, a 5% fee does not (about 28%).
    check_apr_ceiling(schedule(rate="0.18", upfront_fee=cny("1000.00")).apr)
    dear = schedule(rate="0.18", upfront_fee=cny("5000.00"))
    with pytest.raises(ValidationFailed) as err:
        check_apr_ceiling(dear.apr)
    assert err.value.code == "apr_above_ceiling"
    assert Decimal(err.value.details["apr"]) > Decimal("0.27")
    check_apr_ceiling(dear.apr, Decimal("0.36"))  # a tenant with a higher ceiling
