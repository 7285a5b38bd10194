"""Repayment schedules (还款计划) for every repayment method, from one function.

:func:`build_schedule` turns :class:`ScheduleTerms` into a :class:`Schedule`. Every method shares the
same machinery - the date grid, the interest of each period, rounding, fees, the holiday roll - and
differs only in its *principal rule* (how much principal an installment repays):

- ``equal-installment`` (等额本息): the level payment of the annuity at the monthly rate, minus the
  period's interest at that rate;
- ``equal-principal`` (等额本金): the amount divided by the term;
- ``interest-only`` (先息后本) and ``bullet`` (到期一次还本付息): nothing until the last installment.

Rules every schedule keeps:

- **Dates.** Contractual due dates are the anchor date plus *k* months, always computed from the
  anchor (never chained), so a loan taken out on the 31st falls due on the last day of shorter
  months and returns to the 31st. The anchor is the start date, or the first due date when the
  first period is broken.
- **Broken first period.** A ``first_due`` that is not one month after ``start`` makes the first
  period broken: its interest runs for the actual days at the daily rate of the day count
  (annual / 360 under the monthly convention, the Chinese 日利率). Later periods are regular.
- **Interest.** With ``day_count=None`` a regular period earns annual / 12 (月利率) - the convention
  of Chinese bank calculators. With a day count every period earns annual x days / basis.
  Interest is always charged on the rounded outstanding balance and rounded to the fen per period.
  The amortization of ``equal-installment`` always follows the annuity at annual / 12, so a day
  count (or a broken first period) changes only the interest charged and hence the totals; holding
  the total fixed instead would make principal negative on 31-day months at high rates.
- **Holidays.** A due date on a non-business day moves by the roll convention (``due_date``), but
  interest still runs to the contractual date (``accrual_end``): moving a payment for a holiday
  never changes what is owed, so the amounts of a schedule do not depend on the year's holiday
  notice. Due dates in years the calendar has no holiday data for are rolled for weekends only and
  flagged ``provisional``.
- **Rounding.** Level amounts (the equal installment, the equal principal share) are rounded by the
  product's rule; the LAST installment takes the residue, so principal sums exactly to the amount
  and the balance ends at zero. ``whole-unit-up`` rounds the level amount up to a whole yuan while
  interest and fees are rounded half-up to the fen. The rounding of a level payment compounds like
  the loan, so on small, long, dear loans the last installment can differ noticeably from the
  level one or the balance is repaid early, and the remaining installments are zero (never
  negative: principal is clamped to what is owed).
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Context, Decimal
from fractions import Fraction
from typing import Final

from dipper.kernel.calendar import BusinessCalendar, RollConvention
from dipper.kernel.daycount import DayCount
from dipper.kernel.errors import ValidationFailed
from dipper.kernel.money import Money, sum_money
from dipper.kernel.rates import Rate
from dipper.kernel.rounding import RoundingRule, round_minor
from dipper.loans.domain.apr import annual_percentage_rate
from dipper.loans.domain.terms import RepaymentMethod

__all__ = [
    "MAX_TERM",
    "Installment",
    "Schedule",
    "ScheduleTerms",
    "add_months",
    "build_schedule",
    "parse_repayment_method",
]

MAX_TERM: Final = 360
"""The longest term in months (30 years, the longest Chinese mortgage)."""

MONTHS_PER_YEAR: Final = 12
BROKEN_PERIOD_BASIS: Final = 360
"""Days per year for a broken first period under the monthly convention: 日利率 = 年利率 / 360."""

# Room for every digit of rate arithmetic on 18-digit amounts; far more than the fen needs, so the
# single rounding to minor units is the only one that matters.
_CONTEXT: Final = Context(prec=60)


def add_months(anchor: dt.date, months: int) -> dt.date:
    """``anchor`` plus ``months`` calendar months, on the anchor's day or the month's last day.

    Always computed from the anchor, never chained: 01-31 + 1 is 02-28 and 01-31 + 2 is 03-31.
    """
    index = anchor.year * 12 + anchor.month - 1 + months
    year, month = divmod(index, 12)
    last = _calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(anchor.day, last))


# --------------------------------------------------------------------------------------- terms


@dataclass(frozen=True, slots=True)
class ScheduleTerms:
    """What a schedule is built from; validated on construction, so a ScheduleTerms is always usable.

    ``annual_rate`` may be given as a :class:`Rate` or a Decimal/str fraction; ``method``,
    ``day_count``, ``rounding`` and ``roll`` accept their stable string values too.

    Fees: ``upfront_fee`` is charged at disbursement (deducted from the amount paid out or paid at
    start - the same cash flow for the APR). ``periodic_fee`` is a fixed amount per installment;
    ``monthly_fee_rate`` instead charges that fraction of the ORIGINAL principal for every month
    an installment covers (the whole term for a bullet). Give at most one of the two.
    """

    principal: Money
    annual_rate: Rate
    term: int
    method: RepaymentMethod
    start: dt.date
    first_due: dt.date | None = None
    day_count: DayCount | None = None
    rounding: RoundingRule = RoundingRule.HALF_UP
    calendar: BusinessCalendar | None = field(default=None, repr=False)  # thousands of holidays
    roll: RollConvention = RollConvention.FOLLOWING
    upfront_fee: Money | None = None
    periodic_fee: Money | None = None
    monthly_fee_rate: Decimal | None = None
    #: The day of month due dates return to (a loan started on the 31st: 31). Only a schedule
    #: rebuilt mid-life needs it: its first due date may be a short month's last day (02-28), and
    #: counting months from that date would drift every later due date to the 28th.
    anchor_day: int | None = None

    def __post_init__(self) -> None:
        raw_rate: object = self.annual_rate
        if not isinstance(raw_rate, Rate):
            if isinstance(raw_rate, float) or not isinstance(raw_rate, Decimal | str | int):
                raise TypeError(f"annual_rate must be a Rate or a Decimal, got {type(raw_rate).__name__}")
            object.__setattr__(self, "annual_rate", Rate.annual(raw_rate))
        object.__setattr__(self, "method", parse_repayment_method(self.method))
        if self.day_count is not None:
            object.__setattr__(self, "day_count", DayCount.parse(self.day_count))
        object.__setattr__(self, "rounding", RoundingRule.parse(self.rounding))
        object.__setattr__(self, "roll", RollConvention.parse(self.roll))
        self._validate()

    def _validate(self) -> None:
        if not isinstance(self.principal, Money):
            raise TypeError(f"principal must be Money, got {type(self.principal).__name__}")
        if not self.principal.is_positive():
            raise ValidationFailed(
                f"the loan amount must be positive, got {self.principal.format()}",
                code="invalid_principal",
                details={"principal": self.principal.format()},
            )
        annual = self.annual_rate.annual_rate
        if not Decimal(0) <= annual < Decimal(1):
            raise ValidationFailed(
                f"the annual rate must be at least 0 and below 1 (100%), got {annual}",
                code="rate_out_of_range",
                details={"annual_rate": str(annual)},
            )
        if isinstance(self.term, bool) or not isinstance(self.term, int) or not 1 <= self.term <= MAX_TERM:
            raise ValidationFailed(
                f"the term must be 1 to {MAX_TERM} months, got {self.term!r}",
                code="invalid_term",
                details={"term": repr(self.term), "max": MAX_TERM},
            )
        if self.first_due is not None and not (self.start < self.first_due <= add_months(self.start, 2)):
            # A first period longer than two months is not a broken period but a grace period.
            raise ValidationFailed(
                "the first due date must be after the start and at most two months after it",
                code="invalid_first_due",
                details={"start": self.start.isoformat(), "first_due": self.first_due.isoformat()},
            )
        anchor = self.anchor_day
        valid = isinstance(anchor, int) and not isinstance(anchor, bool) and 1 <= anchor <= 31
        if anchor is not None and not valid:
            raise ValidationFailed(
                f"the anchor day must be a day of month (1-31), got {anchor!r}",
                code="invalid_anchor_day",
                details={"anchor_day": repr(anchor)},
            )
        self._validate_fees()

    def _validate_fees(self) -> None:
        for name, fee in (("upfront_fee", self.upfront_fee), ("periodic_fee", self.periodic_fee)):
            if fee is None:
                continue
            if fee.currency != self.principal.currency:
                raise ValidationFailed(
                    f"{name} is in {fee.currency}, the loan in {self.principal.currency}",
                    code="currency_mismatch",
                    details={"fee": name, "currency": fee.currency, "loan": self.principal.currency},
                )
            if fee.is_negative():
                raise ValidationFailed(
                    f"{name} must not be negative", code="invalid_fee", details={"fee": name}
                )
        if self.upfront_fee is not None and self.upfront_fee >= self.principal:
            raise ValidationFailed(
                "the upfront fee must be less than the loan amount",
                code="invalid_fee",
                details={"fee": "upfront_fee"},
            )
        if self.monthly_fee_rate is not None:
            if self.periodic_fee is not None:
                raise ValidationFailed(
                    "give either a periodic fee amount or a monthly fee rate, not both",
                    code="conflicting_fees",
                )
            rate = self.monthly_fee_rate
            if not isinstance(rate, Decimal) or not rate.is_finite() or not 0 <= rate < 1:
                raise ValidationFailed(
                    f"the monthly fee rate must be a Decimal from 0 to below 1, got {rate!r}",
                    code="invalid_fee",
                    details={"fee": "monthly_fee_rate"},
                )


def parse_repayment_method(value: object) -> RepaymentMethod:
    """A method that has a schedule, from its stable name; ``revolving`` and unknown names are refused."""
    try:
        method = RepaymentMethod(value if isinstance(value, str) else repr(value))
    except ValueError:
        raise ValidationFailed(
            f"unknown repayment method {value!r}",
            code="unknown_repayment_method",
            details={"method": str(value), "allowed": [m.value for m in RepaymentMethod]},
        ) from None
    if method is RepaymentMethod.REVOLVING:
        # 随借随还 has no installments: interest accrues daily on whatever is drawn.
        raise ValidationFailed(
            "a revolving loan has no repayment schedule",
            code="method_has_no_schedule",
            details={"method": method.value},
        )
    return method


# --------------------------------------------------------------------------------------- result


@dataclass(frozen=True, slots=True)
class Installment:
    """One line of a schedule (one 期). ``balance`` is the principal still owed after paying it."""

    n: int
    due_date: dt.date
    accrual_start: dt.date
    accrual_end: dt.date
    principal: Money
    interest: Money
    fee: Money
    total: Money
    balance: Money
    provisional: bool = False
    """True when ``due_date`` was rolled with a calendar lacking that year's holiday data."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """A full repayment plan and its disclosure figures.

    ``total_fees`` counts the upfront fee and every periodic fee. ``apr`` is the annualized rate of
    all borrowing costs over the contractual dates (see :mod:`dipper.loans.domain.apr`).
    """

    terms: ScheduleTerms
    installments: tuple[Installment, ...]
    total_interest: Money
    total_fees: Money
    apr: Decimal

    @property
    def total_principal(self) -> Money:
        return sum_money((i.principal for i in self.installments), self.terms.principal.currency)

    def cash_flows(self, *, on_due_dates: bool = False) -> list[tuple[dt.date, Money]]:
        """The borrower's cash flows: + the amount paid out (net of the upfront fee), - each installment.

        Dated by the contractual dates, or by the rolled due dates with ``on_due_dates=True``.
        """
        return _cash_flows(self.terms, self.installments, on_due_dates=on_due_dates)


def _cash_flows(
    terms: ScheduleTerms, installments: tuple[Installment, ...], *, on_due_dates: bool = False
) -> list[tuple[dt.date, Money]]:
    fee = terms.upfront_fee or Money.zero(terms.principal.currency)
    flows = [(terms.start, terms.principal - fee)]
    flows += [(i.due_date if on_due_dates else i.accrual_end, -i.total) for i in installments]
    return flows


# --------------------------------------------------------------------------------------- machinery


@dataclass(frozen=True, slots=True)
class _Period:
    """An interest period: from ``start`` to the contractual ``end``, earning ``year_fraction`` of a year."""

    start: dt.date
    end: dt.date
    year_fraction: Fraction
    months: int  # monthly periods covered (a bullet covers the whole term); scales monthly fee rates


def _contractual_dates(terms: ScheduleTerms) -> tuple[list[dt.date], bool]:
    """The ``term`` contractual due dates and whether the first period is broken."""
    anchor = terms.anchor_day

    def on_anchor(day: dt.date) -> dt.date:
        if anchor is None:
            return day
        return day.replace(day=min(anchor, _calendar.monthrange(day.year, day.month)[1]))

    regular_first = on_anchor(add_months(terms.start, 1))
    if terms.first_due is None or terms.first_due == regular_first:
        return [on_anchor(add_months(terms.start, k)) for k in range(1, terms.term + 1)], False
    return [terms.first_due] + [on_anchor(add_months(terms.first_due, k)) for k in range(1, terms.term)], True


def _year_fraction(terms: ScheduleTerms, start: dt.date, end: dt.date, *, regular_months: int) -> Fraction:
    """Share of a year ``[start, end)`` earns: whole months at 1/12, or days by the day count.

    ``regular_months`` > 0 says the span is that many whole months on the monthly convention.
    """
    if terms.day_count is not None:
        return Fraction(terms.day_count.days(start, end), terms.day_count.days_in_year)
    if regular_months:
        return Fraction(regular_months, MONTHS_PER_YEAR)
    return Fraction(DayCount.ACT_360.days(start, end), BROKEN_PERIOD_BASIS)


def _periods(terms: ScheduleTerms) -> list[_Period]:
    dates, broken = _contractual_dates(terms)
    periods: list[_Period] = []
    previous = terms.start
    for k, end in enumerate(dates):
        regular = 0 if (broken and k == 0) else 1
        periods.append(
            _Period(previous, end, _year_fraction(terms, previous, end, regular_months=regular), 1)
        )
        previous = end
    if terms.method is RepaymentMethod.BULLET:
        # One installment at maturity for the whole span; under the monthly convention that is the
        # sum of the months (plus the broken stub), with a day count the days of the whole span.
        start, end = terms.start, dates[-1]
        if terms.day_count is None:
            fraction = sum((p.year_fraction for p in periods), Fraction(0))
        else:
            fraction = _year_fraction(terms, start, end, regular_months=0)
        periods = [_Period(start, end, fraction, terms.term)]
    return periods


def _rules(terms: ScheduleTerms) -> tuple[RoundingRule, RoundingRule]:
    """(level-amount rule, interest-and-fee rule): whole yuan applies to level amounts only."""
    level = terms.rounding
    interest = RoundingRule.HALF_UP if level is RoundingRule.WHOLE_UNIT_UP else level
    return level, interest


def _exact(value: Fraction) -> Decimal:
    return _CONTEXT.divide(Decimal(value.numerator), Decimal(value.denominator))


def _charge(balance: Money, annual: Decimal, year_fraction: Fraction, rule: RoundingRule) -> Money:
    """``balance x annual x year_fraction``, rounded once to minor units."""
    exact = Fraction(balance.to_decimal()) * Fraction(annual) * year_fraction
    minor = round_minor(_exact(exact), rule, balance.currency_info.exponent)
    return Money(minor, balance.currency)


_PrincipalRule = Callable[[Money], Money]
"""Principal an installment (not the last) repays, given the balance before it; clamped by the caller."""


def _principal_rule(terms: ScheduleTerms) -> _PrincipalRule:
    """The only method-specific step: how much principal a non-final installment repays."""
    level_rule, interest_rule = _rules(terms)
    amount, n = terms.principal, terms.term
    exponent = amount.currency_info.exponent
    monthly = Fraction(1, MONTHS_PER_YEAR)
    annual = terms.annual_rate.annual_rate

    if terms.method is RepaymentMethod.EQUAL_INSTALLMENT:
        payment = Money(
            round_minor(_annuity_payment(amount, annual, n), level_rule, exponent), amount.currency
        )

        def equal_installment(balance: Money) -> Money:
            # The annuity's principal at the nominal monthly rate, whatever the interest basis: the
            # amortization never depends on the day count, only the interest charged does.
            return payment - _charge(balance, annual, monthly, interest_rule)

        return equal_installment
    if terms.method is RepaymentMethod.EQUAL_PRINCIPAL:
        # Not Money.allocate: that spreads the odd fen over the first parts, while bank calculators
        # (and this schedule's rule) keep every share equal and settle the residue in the last.
        share = Money(
            round_minor(_exact(Fraction(amount.to_decimal()) / n), level_rule, exponent), amount.currency
        )
        return lambda _balance: share
    zero = Money.zero(amount.currency)
    return lambda _balance: zero  # interest-only and bullet: all principal in the last installment


def _annuity_payment(amount: Money, annual: Decimal, n: int) -> Decimal:
    """The exact level payment ``A r (1+r)^n / ((1+r)^n - 1)`` at ``r`` = annual / 12."""
    a = amount.to_decimal()
    if annual == 0:
        return _CONTEXT.divide(a, Decimal(n))
    r = _CONTEXT.divide(annual, Decimal(MONTHS_PER_YEAR))
    growth = _CONTEXT.power(_CONTEXT.add(Decimal(1), r), n)
    return _CONTEXT.divide(
        _CONTEXT.multiply(_CONTEXT.multiply(a, r), growth), _CONTEXT.subtract(growth, Decimal(1))
    )


def _fee(terms: ScheduleTerms, period: _Period, rule: RoundingRule) -> Money:
    if terms.periodic_fee is not None:
        return terms.periodic_fee
    if terms.monthly_fee_rate is not None:
        return terms.principal.multiply(
            _CONTEXT.multiply(terms.monthly_fee_rate, Decimal(period.months)), rule
        )
    return Money.zero(terms.principal.currency)


def _roll(terms: ScheduleTerms, contractual: dt.date) -> tuple[dt.date, bool]:
    if terms.calendar is None:
        return contractual, False
    return terms.calendar.roll(contractual, terms.roll), not terms.calendar.covers(contractual)


# --------------------------------------------------------------------------------------- the builder


def build_schedule(terms: ScheduleTerms) -> Schedule:
    """The repayment schedule of ``terms`` - one loop for every method (see the module docstring)."""
    _, interest_rule = _rules(terms)
    annual = terms.annual_rate.annual_rate
    principal_of = _principal_rule(terms)
    periods = _periods(terms)
    currency = terms.principal.currency
    zero = Money.zero(currency)

    balance = terms.principal
    installments: list[Installment] = []
    for n, period in enumerate(periods, start=1):
        interest = _charge(balance, annual, period.year_fraction, interest_rule)
        # The last installment settles whatever rounding left; the others are clamped so that
        # rounding a level amount up (whole yuan) can never repay more than is owed.
        last = n == len(periods)
        principal = balance if last else min(max(principal_of(balance), zero), balance)
        fee = _fee(terms, period, interest_rule)
        balance = balance - principal
        due_date, provisional = _roll(terms, period.end)
        installments.append(
            Installment(
                n=n,
                due_date=due_date,
                accrual_start=period.start,
                accrual_end=period.end,
                principal=principal,
                interest=interest,
                fee=fee,
                total=principal + interest + fee,
                balance=balance,
                provisional=provisional,
            )
        )
    _check_due_dates(terms, installments)
    result = tuple(installments)
    upfront = terms.upfront_fee or zero
    return Schedule(
        terms=terms,
        installments=result,
        total_interest=sum_money((i.interest for i in result), currency),
        total_fees=upfront + sum_money((i.fee for i in result), currency),
        apr=annual_percentage_rate(_cash_flows(terms, result)),
    )


def _check_due_dates(terms: ScheduleTerms, installments: list[Installment]) -> None:
    # A roll can only collide with its neighbour for a very short broken first period
    # (e.g. first due the day after start, rolled back by `preceding`).
    previous = terms.start
    for item in installments:
        if item.due_date <= previous:
            raise ValidationFailed(
                f"installment {item.n} would fall due on {item.due_date.isoformat()}, "
                f"not after {previous.isoformat()}: choose another first due date or roll convention",
                code="invalid_due_dates",
                details={"n": item.n, "due_date": item.due_date.isoformat()},
            )
        previous = item.due_date
