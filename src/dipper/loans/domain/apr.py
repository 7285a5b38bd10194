"""APR disclosure (年化利率): the annualized rate of ALL borrowing costs, as an IRR of the cash flows.

PBOC announcement [2021] No. 3 (中国人民银行公告〔2021〕第3号) requires every lender to state the
annualized rate of all the borrower's costs - interest and every fee, including fees collected at
disbursement - computed as the internal rate of return of the actual cash flows (the IRR method),
so that a flat "monthly fee" cannot hide the real price. This module computes that rate and checks
it against a ceiling.

Annualization is nominal per payment period - the periodic IRR times the number of periods in a year:

- **Schedules on a monthly grid** (every flow on the first date plus a whole number of months,
  anchored like the schedule's own dates): the period is the common month step of the flows (one
  month for installment loans, the whole term for a bullet), so the APR is the monthly IRR x 12, or
  for a 12-month bullet its one-period IRR. A plain equal-installment loan without fees therefore
  discloses exactly its contract rate (4.35% in, 4.35% out), and so does a bullet of up to a year.
- **Irregular dates** (a broken first period, rolled dates): a day-based IRR (XIRR, ACT/365F) gives
  an effective annual rate ``x``, converted to the same nominal basis: ``12 x ((1 + x) ** (1/12) - 1)``
  when there are several repayment dates, and ``(365 / days) x ((1 + x) ** (days / 365) - 1)`` - the
  simple rate over the span - when a single repayment settles the loan.

The IRR solver is pyxirr's (a compiled Newton/Brent search); floats exist only at its boundary and
come back to Decimal through ``str``. The result is rounded half-up to 6 decimal places.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Final

import pyxirr

from dipper.kernel.errors import ValidationFailed
from dipper.kernel.money import Money

__all__ = ["APR_PLACES", "DEFAULT_APR_CEILING", "annual_percentage_rate", "check_apr_ceiling"]

APR_PLACES: Final = 6
"""Decimal places of a disclosed APR (0.043500)."""

DEFAULT_APR_CEILING: Final = Decimal("0.24")
"""The usual ceiling: rates above 24% are not protected by the courts (SPC provisions on private
lending, 2020 revision, and regulators' guidance for consumer credit). Tenants configure their own."""

_MONTHS: Final = 12
_DAYS_PER_YEAR: Final = 365  # XIRR's ACT/365F year
_CONTEXT: Final = Context(prec=34)
_QUANTUM: Final = Decimal(1).scaleb(-APR_PLACES)


def annual_percentage_rate(cash_flows: Sequence[tuple[dt.date, Money]]) -> Decimal:
    """The APR of the borrower's ``cash_flows``: (date, amount) with money received positive, paid negative.

    Include EVERY cost - interest, periodic fees, and upfront fees as a reduction of the amount
    received - as PBOC announcement [2021] No. 3 requires. The sign convention may be flipped
    (lender's view); the rate is the same. Flows on the same date are netted. Raises
    ValidationFailed ``apr_undefined`` when the flows have no rate (one-signed, or no solution).
    """
    flows = _netted(cash_flows)
    if not any(m.is_positive() for _, m in flows) or not any(m.is_negative() for _, m in flows):
        raise ValidationFailed(
            "an APR needs money both received and paid", code="apr_undefined", details={"flows": len(flows)}
        )
    dates = [d for d, _ in flows]
    offsets = _month_offsets(dates)
    if offsets is not None:
        step = math.gcd(*offsets)  # the payment period in months: 1 for installments, the term for a bullet
        vector = [0.0] * (offsets[-1] // step + 1)
        for k, (_, amount) in zip(offsets, flows, strict=True):
            vector[k // step] = _float(amount)
        periodic = _solved(pyxirr.irr(vector, silent=True), flows)
        nominal = _CONTEXT.divide(_CONTEXT.multiply(periodic, Decimal(_MONTHS)), Decimal(step))
    else:
        effective = _solved(pyxirr.xirr(dates, [_float(m) for _, m in flows], silent=True), flows)
        # Periods per year: monthly when several repayments, else the one span of the loan.
        if len(flows) > 2:
            per_year = Decimal(_MONTHS)
        else:
            per_year = _CONTEXT.divide(Decimal(_DAYS_PER_YEAR), Decimal((dates[-1] - dates[0]).days))
        growth = _CONTEXT.power(_CONTEXT.add(Decimal(1), effective), _CONTEXT.divide(Decimal(1), per_year))
        nominal = _CONTEXT.multiply(_CONTEXT.subtract(growth, Decimal(1)), per_year)
    return nominal.quantize(_QUANTUM, rounding=ROUND_HALF_UP, context=_CONTEXT)


def check_apr_ceiling(apr: Decimal, ceiling: Decimal = DEFAULT_APR_CEILING) -> None:
    """Refuse an APR above the tenant's ``ceiling`` (equal is allowed): code ``apr_above_ceiling``."""
    if apr > ceiling:
        raise ValidationFailed(
            f"the annualized rate {apr} is above the ceiling {ceiling}",
            code="apr_above_ceiling",
            details={"apr": str(apr), "ceiling": str(ceiling)},
        )


def _netted(cash_flows: Sequence[tuple[dt.date, Money]]) -> list[tuple[dt.date, Money]]:
    if not cash_flows:
        raise ValidationFailed("an APR needs cash flows", code="apr_undefined", details={"flows": 0})
    by_date: dict[dt.date, Money] = {}
    for when, amount in cash_flows:
        by_date[when] = by_date[when] + amount if when in by_date else amount
    return sorted(by_date.items())


def _month_offsets(dates: Sequence[dt.date]) -> list[int] | None:
    """Each date's whole-month offset from the first, or None when a date is off that monthly grid."""
    # Imported here: schedule imports this module, and the grid must be the schedule's own.
    from dipper.loans.domain.schedule import add_months

    first = dates[0]
    offsets: list[int] = []
    for d in dates:
        k = (d.year - first.year) * _MONTHS + d.month - first.month
        if add_months(first, k) != d:
            return None
        offsets.append(k)
    return offsets


def _float(amount: Money) -> float:
    # The solver's input is the only place a float sees money.
    return float(amount.to_decimal())


def _solved(rate: float | None, flows: Sequence[tuple[dt.date, Money]]) -> Decimal:
    if rate is None or math.isnan(rate):  # no rate solves the flows
        raise ValidationFailed(
            "no rate of return solves these cash flows", code="apr_undefined", details={"flows": len(flows)}
        )
    return Decimal(str(rate))
