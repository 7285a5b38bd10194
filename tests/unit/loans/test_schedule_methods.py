"""Repayment schedules by example.

Published bank-calculator figures, month ends, broken periods, holidays, fees and validation.

Published figures are cited with their source. Calculators publish rows computed independently of
each other (the exact annuity split, then each column rounded), so their rows do not always add up;
our schedule books every row exactly (interest on the rounded balance, the residue in the last
installment). Where the two differ by a fen, the test says so and asserts our ledger-exact value.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest

from dipper.kernel.calendar import RollConvention, WeekendCalendar
from dipper.kernel.daycount import DayCount
from dipper.kernel.errors import ValidationFailed
from dipper.kernel.money import Money
from dipper.kernel.rates import Rate
from dipper.kernel.rounding import RoundingRule
from dipper.loans.domain.schedule import (
    Schedule,
    ScheduleTerms,
    add_months,
    build_schedule,
    parse_repayment_method,
)
from dipper.loans.domain.terms import RepaymentMethod
from dipper.reference.calendars import china_mainland

EI = RepaymentMethod.EQUAL_INSTALLMENT
EP = RepaymentMethod.EQUAL_PRINCIPAL
IO = RepaymentMethod.INTEREST_ONLY
BULLET = RepaymentMethod.BULLET


def cny(amount: str) -> Money:
    return Money.of(amount, "CNY")


def build(
    amount: str = "100000.00",
    rate: str = "0.0435",
    term: int = 12,
    method: RepaymentMethod = EI,
    start: dt.date = dt.date(2026, 1, 15),
    **kwargs: object,
) -> Schedule:
    return build_schedule(
        ScheduleTerms(cny(amount), Rate.annual(rate), term, method, start, **kwargs)  # type: ignore[arg-type]
    )


def column(schedule: Schedule, name: str) -> list[str]:
    return [getattr(i, name).format() for i in schedule.installments]


# ------------------------------------------------------------------ published examples: 等额本息


def test_equal_installment_100k_12_months_435() -> None:
    # The widely published 等额本息 example (PBOC 1-year benchmark 4.35%): 100,000 yuan over 12 months
    # pays 8,530.99 a month; calculators report total interest 2,371.88 = 12 x 8,530.99 - 100,000.
    s = build()
    first = s.installments[0]
    assert (first.principal, first.interest, first.total, first.balance) == (
        cny("8168.49"),
        cny("362.50"),
        cny("8530.99"),
        cny("91831.51"),
    )
    assert column(s, "total")[:-1] == ["8530.99"] * 11
    assert cny("8530.99") * 12 - cny("100000.00") == cny("2371.88")  # the published figure's arithmetic
    # Booked exactly, interest is rounded on each period's rounded balance and the last installment
    # settles the balance: it is 8,531.01, so the interest actually charged is 2,371.90.
    assert s.installments[-1].total == cny("8531.01")
    assert s.total_interest == cny("2371.90")
    assert s.apr == Decimal("0.043500")


def test_equal_installment_10k_12_months_435() -> None:
    # http://ccv168.com/baike/62485.html: 10,000 yuan, 12 months, 4.35% 等额本息:
    # 月均还款 853.1, 支付利息 237.19, 还款总额 10237.19.
    s = build(amount="10000.00")
    assert column(s, "total")[:-1] == ["853.10"] * 11
    assert s.total_interest == cny("237.19")
    assert sum(i.total.minor for i in s.installments) == cny("10237.19").minor


@pytest.mark.parametrize(
    ("amount", "rate", "payment", "rows", "row16"),
    [
        # http://mz51.vip/FangDaiJiSuanQi/Index?Interest=0.1290&Number=11&Present=47.0
        # 470,000 yuan, 12.9%, 11 years (132 months): 6681.39 = 1628.89 + 5052.50, then 1646.40 + 5034.99.
        ("470000.00", "0.129", "6681.39", [("1628.89", "5052.50"), ("1646.40", "5034.99")], "6681.39"),
        # http://www.mz51.vip/FangDaiJiSuanQi/Index?Interest=0.0615&Number=11&Present=306.0
        # 3,060,000 yuan, 6.15%, 132 months: 31957.64 = 16275.14 + 15682.50, then 16358.55 + 15599.09.
        (
            "3060000.00",
            "0.0615",
            "31957.64",
            [("16275.14", "15682.50"), ("16358.55", "15599.09")],
            "31957.64",
        ),
    ],
)
def test_equal_installment_published_tables(
    amount: str, rate: str, payment: str, rows: list[tuple[str, str]], row16: str
) -> None:
    s = build(amount=amount, rate=rate, term=132)
    assert [(i.principal.format(), i.interest.format()) for i in s.installments[:2]] == rows
    assert {i.total.format() for i in s.installments[:-1]} == {payment}
    assert s.installments[15].total.format() == row16
    assert s.apr == Decimal(rate).quantize(Decimal("0.000001"))


def test_equal_installment_published_table_with_independent_rounding() -> None:
    # http://mz51.vip/FangDaiJiSuanQi/Index?Interest=0.0275&Number=11&Present=409.0
    # 4,090,000 yuan, 2.75%, 132 months: 35942.44, principal 26569.53, interest 9372.92. That row does
    # not add up (26569.53 + 9372.92 = 35942.45): the site rounds the exact principal split
    # (26569.5246...) and the exact interest (9372.9166...) separately. Booked, principal is the
    # payment less the booked interest: 26569.52.
    s = build(amount="4090000.00", rate="0.0275", term=132)
    first = s.installments[0]
    assert (first.total, first.interest, first.principal) == (
        cny("35942.44"),
        cny("9372.92"),
        cny("26569.52"),
    )
    assert s.installments[1].interest == cny("9312.03")  # published: 9312.03


# ------------------------------------------------------------------ published examples: 等额本金


def test_equal_principal_100k_12_months_435() -> None:
    # The widely published 等额本金 example: 100,000 yuan, 12 months, 4.35%: first month 8,695.83
    # (8,333.33 principal + 362.50 interest), falling by 30.21 a month (8,333.33 x 4.35% / 12);
    # total interest (12 + 1) / 2 x 362.50 = 2,356.25.
    s = build(method=EP)
    assert s.installments[0].total == cny("8695.83")
    assert column(s, "principal") == ["8333.33"] * 11 + ["8333.37"]  # the residue in the last
    drops = [a.total.minor - b.total.minor for a, b in itertools.pairwise(s.installments[:-1])]
    assert all(d in (3020, 3021, 3022) for d in drops)  # 30.2083... a month, rounded per row
    assert drops[0] == 3021
    # Interest on the booked balances (75,000.01 rather than 75,000.00 by period 4) adds one fen.
    assert s.total_interest == cny("2356.26")
    assert s.apr == Decimal("0.043500")


@pytest.mark.parametrize(
    ("amount", "rate", "rows", "row16"),
    [
        # http://mz51.vip/FangDaiJiSuanQi/Index?Interest=0.1290&Number=11&Present=47.0 (等额本金 columns)
        ("470000.00", "0.129", [("8613.11", "5052.50"), ("8574.83", "5014.22")], "8038.96"),
        # http://www.mz51.vip/FangDaiJiSuanQi/Index?Interest=0.0615&Number=11&Present=306.0
        ("3060000.00", "0.0615", [("38864.32", "15682.50"), ("38745.51", "15563.69")], "37082.22"),
        # http://mz51.vip/FangDaiJiSuanQi/Index?Interest=0.0275&Number=11&Present=409.0
        ("4090000.00", "0.0275", [("40357.77", "9372.92"), ("40286.76", "9301.91")], "39292.66"),
    ],
)
def test_equal_principal_published_tables(
    amount: str, rate: str, rows: list[tuple[str, str]], row16: str
) -> None:
    s = build(amount=amount, rate=rate, term=132, method=EP)
    assert [(i.total.format(), i.interest.format()) for i in s.installments[:2]] == rows
    assert s.installments[15].total.format() == row16


# ------------------------------------------------------------------ interest-only and bullet


def test_interest_only() -> None:
    # 先息后本 by the published formula 月利息 = 本金 x 年利率 / 12: 100,000 x 4.35% / 12 = 362.50 a month,
    # the principal with the last one.
    s = build(method=IO)
    assert column(s, "interest") == ["362.50"] * 12
    assert column(s, "principal") == ["0.00"] * 11 + ["100000.00"]
    assert column(s, "balance") == ["100000.00"] * 11 + ["0.00"]
    assert s.total_interest == cny("4350.00")
    assert s.apr == Decimal("0.043500")


def test_bullet_monthly_convention() -> None:
    # 到期一次还本付息: 利息 = 本金 x 年利率 x 期限: 100,000 x 4.35% x 12/12 = 4,350.00 at maturity.
    s = build(method=BULLET)
    (only,) = s.installments
    assert (only.n, only.due_date, only.accrual_start) == (1, dt.date(2027, 1, 15), dt.date(2026, 1, 15))
    assert (only.principal, only.interest, only.balance) == (cny("100000.00"), cny("4350.00"), cny("0"))
    # One period of a year: its IRR is the simple rate.
    assert s.apr == Decimal("0.043500")


def test_bullet_of_six_months_discloses_the_simple_rate() -> None:
    s = build(method=BULLET, term=6)
    assert s.installments[0].interest == cny("2175.00")
    assert s.apr == Decimal("0.043500")


@pytest.mark.parametrize(
    ("day_count", "interest"),
    [
        (DayCount.ACT_365F, "4350.00"),  # 365 days / 365
        (DayCount.ACT_360, "4410.42"),  # 4,350 x 365 / 360 = 4,410.416...
        (DayCount.THIRTY_360, "4350.00"),
    ],
)
def test_bullet_with_day_count_uses_actual_days(day_count: DayCount, interest: str) -> None:
    s = build(method=BULLET, day_count=day_count)
    assert s.installments[0].interest == cny(interest)


# ------------------------------------------------------------------ dates


def test_add_months_is_anchored_never_chained() -> None:
    start = dt.date(2026, 1, 31)
    assert [add_months(start, k) for k in range(1, 7)] == [
        dt.date(2026, 2, 28),
        dt.date(2026, 3, 31),
        dt.date(2026, 4, 30),
        dt.date(2026, 5, 31),
        dt.date(2026, 6, 30),
        dt.date(2026, 7, 31),
    ]
    assert add_months(dt.date(2026, 11, 30), 3) == dt.date(2027, 2, 28)
    assert add_months(dt.date(2026, 3, 15), -3) == dt.date(2025, 12, 15)


def test_month_end_start_returns_to_the_31st() -> None:
    s = build(start=dt.date(2026, 1, 31), term=6)
    assert [i.due_date for i in s.installments] == [
        dt.date(2026, 2, 28),
        dt.date(2026, 3, 31),
        dt.date(2026, 4, 30),
        dt.date(2026, 5, 31),
        dt.date(2026, 6, 30),
        dt.date(2026, 7, 31),
    ]
    # Under the monthly convention a short February still earns one month of interest.
    assert s.installments[0].interest == cny("362.50")


def test_month_end_in_a_leap_year() -> None:
    s = build(start=dt.date(2028, 1, 31), term=3)
    assert [i.due_date for i in s.installments] == [
        dt.date(2028, 2, 29),
        dt.date(2028, 3, 31),
        dt.date(2028, 4, 30),
    ]
    from_leap_day = build(start=dt.date(2028, 2, 29), term=12)
    assert from_leap_day.installments[0].due_date == dt.date(2028, 3, 29)
    assert from_leap_day.installments[-1].due_date == dt.date(2029, 2, 28)


def test_month_end_with_actual_days() -> None:
    s = build(start=dt.date(2026, 1, 31), term=3, method=IO, day_count=DayCount.ACT_365F)
    # 28, 31 and 30 days at 4,350 / 365 a day.
    assert column(s, "interest") == ["333.70", "369.45", "357.53"]


def test_a_first_due_one_month_away_is_not_broken() -> None:
    # Given explicitly as 02-28 for a loan of 01-31, the dates still return to the month end.
    s = build(start=dt.date(2026, 1, 31), term=3, first_due=dt.date(2026, 2, 28))
    assert s.installments == build(start=dt.date(2026, 1, 31), term=3).installments
    assert s.installments[1].due_date == dt.date(2026, 3, 31)


# ------------------------------------------------------------------ broken first period


def test_broken_long_first_period_monthly_convention() -> None:
    # 36 days from 01-15 to 02-20: interest by the actual days at the daily rate 年利率 / 360.
    s = build(first_due=dt.date(2026, 2, 20))
    first, second = s.installments[:2]
    assert (first.accrual_start, first.accrual_end) == (dt.date(2026, 1, 15), dt.date(2026, 2, 20))
    assert first.interest == cny("435.00")  # 100,000 x 4.35% x 36 / 360
    # The amortization is the regular annuity's; only the stub's interest differs.
    assert first.principal == cny("8168.49")
    assert first.total == cny("8603.49")
    assert second.due_date == dt.date(2026, 3, 20)
    assert second.interest == cny("332.89")  # a regular month on 91,831.51
    assert second.total == cny("8530.99")
    assert s.installments[-1].due_date == dt.date(2027, 1, 20)
    # The stub's daily rate (annual / 360) is a little dearer than a month at annual / 12.
    assert Decimal("0.0435") < s.apr < Decimal("0.0445")


def test_broken_short_first_period() -> None:
    s = build(first_due=dt.date(2026, 2, 5), method=EP)
    assert s.installments[0].interest == cny("253.75")  # 21 days: 100,000 x 4.35% x 21 / 360
    assert s.installments[1].due_date == dt.date(2026, 3, 5)
    assert s.installments[1].interest == cny("332.29")
    assert Decimal("0.0435") < s.apr < Decimal("0.0445")  # the stub's annual / 360 daily rate again


def test_broken_first_period_with_a_day_count() -> None:
    s = build(first_due=dt.date(2026, 2, 20), day_count=DayCount.ACT_365F, method=IO)
    assert s.installments[0].interest == cny("429.04")  # 36 days x 4,350 / 365 = 429.041...
    assert s.installments[1].interest == cny("333.70")  # 28 days in February


def test_bullet_with_a_broken_first_period() -> None:
    s = build(first_due=dt.date(2026, 2, 20), method=BULLET)
    (only,) = s.installments
    assert only.accrual_end == dt.date(2027, 1, 20)
    assert only.interest == cny("4422.50")  # 435.00 for the 36-day stub + 11 months x 362.50


# ------------------------------------------------------------------ day counts


def test_actual_days_change_interest_not_amortization() -> None:
    monthly = build()
    act360 = build(day_count=DayCount.ACT_360)
    assert column(act360, "principal") == column(monthly, "principal")
    assert act360.installments[0].interest == cny("374.58")  # 31 days: 100,000 x 4.35% x 31 / 360
    assert act360.installments[1].interest == cny("310.70")  # 28 days on 91,831.51
    assert act360.apr > monthly.apr  # 365 / 360 of the nominal rate, roughly


def test_thirty_360_matches_the_monthly_convention_mid_month() -> None:
    assert build(day_count=DayCount.THIRTY_360).installments == build().installments


# ------------------------------------------------------------------ rounding


def test_whole_unit_up_installment() -> None:
    s = build(rounding=RoundingRule.WHOLE_UNIT_UP)
    assert column(s, "total")[:-1] == ["8531.00"] * 11
    assert s.installments[0].principal == cny("8168.50")  # 8,531 - 362.50
    assert s.installments[-1].total < cny("8531.00")  # the last one gives the rounding back
    assert s.total_principal == cny("100000.00")


def test_whole_unit_up_equal_principal() -> None:
    s = build(method=EP, rounding="whole-unit-up")  # type: ignore[arg-type]
    assert column(s, "principal") == ["8334.00"] * 11 + ["8326.00"]
    assert s.installments[0].interest == cny("362.50")  # interest stays to the fen


@pytest.mark.parametrize(
    ("rule", "level"),
    [
        # The exact level payment is 8,530.990036...
        (RoundingRule.HALF_UP, "8530.99"),
        (RoundingRule.HALF_EVEN, "8530.99"),
        (RoundingRule.DOWN, "8530.99"),
        (RoundingRule.UP, "8531.00"),
    ],
)
def test_rounding_rule_sets_the_level_and_the_last_settles(rule: RoundingRule, level: str) -> None:
    s = build(rounding=rule)
    assert column(s, "total")[:-1] == [level] * 11
    assert s.total_principal == cny("100000.00")
    assert s.installments[-1].balance.is_zero()


def test_whole_unit_up_never_overpays_a_small_loan() -> None:
    # 3 yuan a month on 1,000 at 0.1% repays the loan early: the remaining installments are zero.
    s = build(amount="1000.00", rate="0.001", term=360, rounding=RoundingRule.WHOLE_UNIT_UP)
    assert s.total_principal == cny("1000.00")
    assert all(not i.principal.is_negative() for i in s.installments)
    assert s.installments[-1].total.is_zero()
    assert s.installments[-1].balance.is_zero()


def test_zero_rate() -> None:
    s = build(rate="0", term=3)
    assert column(s, "total") == ["33333.33", "33333.33", "33333.34"]
    assert s.total_interest.is_zero()
    assert s.apr == Decimal("0.000000")


# ------------------------------------------------------------------ holidays


def test_national_day_rolls_the_due_date_not_the_interest() -> None:
    # 2026-10-01 to 10-07 is the National Day holiday (State Council notice for 2026).
    plain = build(start=dt.date(2026, 8, 1), term=4, method=IO)
    rolled = build(start=dt.date(2026, 8, 1), term=4, method=IO, calendar=china_mainland())
    october = rolled.installments[1]
    assert october.accrual_end == dt.date(2026, 10, 1)
    assert october.due_date == dt.date(2026, 10, 8)  # the first business day after the holiday
    # Interest still runs to the contractual date: the amounts do not change.
    assert column(rolled, "interest") == column(plain, "interest")
    assert column(rolled, "total") == column(plain, "total")
    assert rolled.installments[2].accrual_start == dt.date(2026, 10, 1)
    assert rolled.apr == plain.apr  # disclosed on the contractual dates


@pytest.mark.parametrize(
    ("roll", "expected"),
    [
        (RollConvention.FOLLOWING, dt.date(2026, 10, 8)),
        (RollConvention.MODIFIED_FOLLOWING, dt.date(2026, 10, 8)),
        (RollConvention.PRECEDING, dt.date(2026, 9, 30)),
        (RollConvention.UNADJUSTED, dt.date(2026, 10, 1)),
    ],
)
def test_roll_conventions(roll: RollConvention, expected: dt.date) -> None:
    s = build(start=dt.date(2026, 9, 1), term=1, calendar=china_mainland(), roll=roll)
    assert s.installments[0].due_date == expected


def test_spring_festival_roll() -> None:
    # 2026-02-15 (a Sunday in the Spring Festival holiday, 02-15 to 02-23) rolls to Tuesday 02-24.
    s = build(calendar=china_mainland())
    assert s.installments[0].due_date == dt.date(2026, 2, 24)
    assert s.installments[0].accrual_end == dt.date(2026, 2, 15)


def test_dates_past_the_published_holidays_are_provisional() -> None:
    calendar = china_mainland()
    s = build(start=dt.date(2026, 6, 15), calendar=calendar)
    for item in s.installments:
        assert item.provisional is (not calendar.covers(item.accrual_end))
    assert any(i.provisional for i in s.installments) == (not calendar.covers(dt.date(2027, 1, 1)))


def test_weekend_calendar_is_never_provisional() -> None:
    s = build(start=dt.date(2026, 1, 17), calendar=WeekendCalendar())  # due dates on the 17th
    assert not any(i.provisional for i in s.installments)
    assert all(i.due_date.weekday() < 5 for i in s.installments)


def test_a_roll_onto_the_start_date_is_refused() -> None:
    # Start Friday 2026-01-16, first due Saturday 01-17: `preceding` would make it due on the start day.
    with pytest.raises(ValidationFailed) as err:
        build(
            start=dt.date(2026, 1, 16),
            first_due=dt.date(2026, 1, 17),
            calendar=WeekendCalendar(),
            roll=RollConvention.PRECEDING,
        )
    assert err.value.code == "invalid_due_dates"


# ------------------------------------------------------------------ fees


def test_periodic_fee_amount() -> None:
    s = build(periodic_fee=cny("50.00"))
    assert column(s, "fee") == ["50.00"] * 12
    assert s.installments[0].total == cny("8580.99")
    assert s.total_fees == cny("600.00")
    assert s.apr > Decimal("0.0435")


def test_monthly_fee_rate_on_the_original_principal() -> None:
    s = build(method=EP, monthly_fee_rate=Decimal("0.003"))
    assert column(s, "fee") == ["300.00"] * 12  # 0.3% of 100,000 every month, whatever the balance
    bullet = build(method=BULLET, monthly_fee_rate=Decimal("0.003"))
    assert bullet.installments[0].fee == cny("3600.00")  # 12 months in the one installment


def test_upfront_fee() -> None:
    s = build(upfront_fee=cny("1000.00"))
    assert s.installments == build().installments  # paid at disbursement, not in the installments
    assert s.total_fees == cny("1000.00")
    assert s.cash_flows()[0] == (dt.date(2026, 1, 15), cny("99000.00"))
    assert s.apr > Decimal("0.0435")


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"upfront_fee": Money.of("10.00", "USD")}, "currency_mismatch"),
        ({"upfront_fee": cny("-1.00")}, "invalid_fee"),
        ({"upfront_fee": cny("100000.00")}, "invalid_fee"),
        ({"periodic_fee": cny("-0.01")}, "invalid_fee"),
        ({"periodic_fee": cny("1.00"), "monthly_fee_rate": Decimal("0.001")}, "conflicting_fees"),
        ({"monthly_fee_rate": Decimal("1")}, "invalid_fee"),
    ],
)
def test_invalid_fees(kwargs: dict[str, object], code: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        build(**kwargs)
    assert err.value.code == code


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"method": RepaymentMethod.REVOLVING}, "method_has_no_schedule"),
        ({"method": "balloon"}, "unknown_repayment_method"),
        ({"term": 0}, "invalid_term"),
        ({"term": 361}, "invalid_term"),
        ({"rate": "-0.01"}, "rate_out_of_range"),
        ({"rate": "1"}, "rate_out_of_range"),
        ({"amount": "0.00"}, "invalid_principal"),
        ({"amount": "-100.00"}, "invalid_principal"),
        ({"first_due": dt.date(2026, 1, 15)}, "invalid_first_due"),
        ({"first_due": dt.date(2026, 3, 16)}, "invalid_first_due"),
        ({"day_count": "ACT/ACT"}, "unknown_day_count"),
        ({"rounding": "ceiling"}, "unknown_rounding_rule"),
        ({"roll": "nearest"}, "unknown_roll_convention"),
    ],
)
def test_invalid_terms(kwargs: dict[str, object], code: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        build(**kwargs)  # type: ignore[arg-type]
    assert err.value.code == code


def test_terms_accept_decimal_rates_and_names() -> None:
    terms = ScheduleTerms(
        cny("1000.00"),
        Decimal("0.05"),  # type: ignore[arg-type]
        3,
        "equal-principal",  # type: ignore[arg-type]
        dt.date(2026, 1, 1),
        day_count="ACT/365F",  # type: ignore[arg-type]
    )
    assert terms.annual_rate == Rate.percent("5")
    assert terms.method is EP
    assert terms.day_count is DayCount.ACT_365F
    with pytest.raises(TypeError):
        ScheduleTerms(cny("1000.00"), 0.05, 3, EP, dt.date(2026, 1, 1))  # type: ignore[arg-type]


def test_parse_repayment_method() -> None:
    assert parse_repayment_method("bullet") is BULLET
    with pytest.raises(ValidationFailed) as err:
        parse_repayment_method("revolving")
    assert err.value.code == "method_has_no_schedule"


def test_a_rebuilt_schedule_returns_to_its_anchor_day_after_a_short_month() -> None:
    # A schedule rebuilt mid-life from a loan started on 01-31: its first due date is 02-28.
    drifting = build(start=dt.date(2026, 2, 10), first_due=dt.date(2026, 2, 28), term=4)
    assert [i.due_date.day for i in drifting.installments] == [28, 28, 28, 28]
    anchored = build(start=dt.date(2026, 2, 10), first_due=dt.date(2026, 2, 28), term=4, anchor_day=31)
    assert [i.due_date for i in anchored.installments] == [
        dt.date(2026, 2, 28),
        dt.date(2026, 3, 31),
        dt.date(2026, 4, 30),
        dt.date(2026, 5, 31),
    ]
    # From a start on a short month's last day with no broken period (a reschedule).
    regular = build(start=dt.date(2026, 2, 28), term=3, anchor_day=31)
    assert [i.due_date for i in regular.installments] == [
        dt.date(2026, 3, 31),
        dt.date(2026, 4, 30),
        dt.date(2026, 5, 31),
    ]
    assert sum(i.principal.minor for i in anchored.installments) == anchored.terms.principal.minor


@pytest.mark.parametrize("bad", [0, 32, True, "31"])
def test_the_anchor_day_is_a_day_of_month(bad: object) -> None:
    with pytest.raises(ValidationFailed) as caught:
        build(start=dt.date(2026, 1, 31), term=3, anchor_day=bad)
    assert caught.value.code == "invalid_anchor_day"
