"""Interest rates as exact Decimals.

A :class:`Rate` always holds the ANNUAL nominal rate as a fraction (4.35% is
``Decimal("0.0435")``); monthly and daily rates are views computed from it.
Chinese loan contracts quote 年利率, 月利率 (‰) and 日利率 (‱); by banking
convention 月利率 = 年利率 / 12 and 日利率 = 年利率 / 360, so ``Rate.daily`` uses a
360-day year unless told otherwise.

Divisions that do not terminate (5% / 12) run in a fresh 34-digit context;
the process-wide (thread's) decimal context is neither used nor touched.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation

from dipper.kernel.daycount import DayCount, decimal_context
from dipper.kernel.errors import ValidationFailed

__all__ = ["Rate"]

_HUNDRED = Decimal(100)


def _to_decimal(value: object, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | str | int):
        hint = "; pass a str or Decimal instead of a float" if isinstance(value, float) else ""
        raise TypeError(f"{what} must be Decimal, str or int, got {type(value).__name__}{hint}")
    try:
        dec = Decimal(value)
    except InvalidOperation:
        raise ValidationFailed(
            f"{value!r} is not a decimal number", code="invalid_rate", details={what: str(value)}
        ) from None
    if not dec.is_finite():
        raise ValidationFailed(
            f"{what} {value!r} is not a finite number", code="invalid_rate", details={what: str(value)}
        )
    return dec


def _shift(value: Decimal, places: int) -> Decimal:
    """Multiply by 10**places exactly (no context involved)."""
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    return Decimal((sign, digits, exponent + places))


def _exact_mul(a: Decimal, b: Decimal) -> Decimal:
    prec = len(a.as_tuple().digits) + len(b.as_tuple().digits) + 2
    return a.fma(b, Decimal(0), context=Context(prec=prec))


def _exact_add(a: Decimal, b: Decimal) -> Decimal:
    # Room for every digit from the highest integer place down to the lowest decimal place.
    lowest = min(int(a.as_tuple().exponent), int(b.as_tuple().exponent), 0)
    prec = max(a.adjusted(), b.adjusted(), 0) - lowest + 2
    return a.fma(Decimal(1), b, context=Context(prec=prec))


def _div(a: Decimal, b: Decimal) -> Decimal:
    return decimal_context().divide(a, b)


@dataclass(frozen=True, slots=True, order=True)
class Rate:
    """An annual nominal interest rate, as a fraction (``Decimal("0.0435")`` is 4.35%).

    Build it with the named constructors so the quoting basis is visible at the call site:
    ``Rate.percent("4.35")``, ``Rate.monthly("0.005")`` (月息 5‰), ``Rate.daily("0.0005")`` (日息 万分之五).
    Rates order by their annual value; ``Rate.percent("4.35") == Rate.annual("0.04350")``.
    """

    annual_rate: Decimal

    def __post_init__(self) -> None:
        raw: object = self.annual_rate
        object.__setattr__(self, "annual_rate", _to_decimal(raw, "annual rate"))

    # ----------------------------------------------------------------- constructors

    @classmethod
    def annual(cls, value: Decimal | str | int) -> Rate:
        """年利率 as a fraction: ``Rate.annual("0.0435")``."""
        return cls(_to_decimal(value, "annual rate"))

    @classmethod
    def percent(cls, value: Decimal | str | int) -> Rate:
        """年利率 in percent, as published (LPR "3.45"): ``Rate.percent("4.35")``."""
        return cls(_shift(_to_decimal(value, "percent"), -2))

    @classmethod
    def monthly(cls, value: Decimal | str | int) -> Rate:
        """月利率 as a fraction; the annual rate is twelve times it (no compounding)."""
        return cls(_exact_mul(_to_decimal(value, "monthly rate"), Decimal(12)))

    @classmethod
    def daily(cls, value: Decimal | str | int, basis: int = 360) -> Rate:
        """日利率 as a fraction; annual = daily * basis.

        Chinese banks quote the daily rate on a 360-day year (日利率 = 年利率 / 360) by
        convention, hence the default; pass ``basis=365`` for products stated otherwise.
        """
        if basis not in (360, 365) or isinstance(basis, bool):
            raise ValidationFailed(
                f"daily-rate basis must be 360 or 365, got {basis!r}",
                code="invalid_rate_basis",
                details={"basis": repr(basis)},
            )
        return cls(_exact_mul(_to_decimal(value, "daily rate"), Decimal(basis)))

    # ----------------------------------------------------------------- views

    @property
    def monthly_rate(self) -> Decimal:
        """月利率 = annual / 12."""
        return _div(self.annual_rate, Decimal(12))

    def daily_rate(self, day_count: DayCount | str = DayCount.ACT_360) -> Decimal:
        """日利率 = annual / days in the basis year (360 for ACT/360 and 30/360, 365 for ACT/365F)."""
        return _div(self.annual_rate, Decimal(DayCount.parse(day_count).days_in_year))

    def as_percent(self) -> Decimal:
        """The annual rate in percent, exactly: 0.0435 -> 4.35."""
        return _shift(self.annual_rate, 2)

    def for_period(self, start: dt.date, end: dt.date, day_count: DayCount | str) -> Decimal:
        """Simple-interest factor for ``[start, end)``: annual * days / days_in_year.

        Multiply a principal by it to get the period's interest. Computed as one division of
        an exact product, so only a single rounding (at 34 digits) happens.
        """
        basis = DayCount.parse(day_count)
        days = Decimal(basis.days(start, end))
        return _div(_exact_mul(self.annual_rate, days), Decimal(basis.days_in_year))

    def uplift(self, surcharge: Decimal | str | int) -> Rate:
        """The rate raised by a fraction of itself: ``rate * (1 + surcharge)``.

        This is how penalty interest (罚息) is set: overdue principal bears the contract rate plus
        30%-50% of it, so ``contract.uplift(Decimal("0.5"))`` turns 4.35% into 6.525%.
        """
        factor = _to_decimal(surcharge, "surcharge")
        if factor < 0:
            raise ValidationFailed(
                f"uplift must not be negative, got {surcharge}",
                code="invalid_uplift",
                details={"surcharge": str(surcharge)},
            )
        return Rate(_exact_mul(self.annual_rate, _exact_add(factor, Decimal(1))))

    def __str__(self) -> str:
        """``"4.35%"``: the percent value without trailing zeros, but at least two decimals."""
        pct = self.as_percent()
        sign, digits, exponent = pct.as_tuple()
        assert isinstance(exponent, int)
        trimmed = list(digits)
        while len(trimmed) > 1 and trimmed[-1] == 0 and exponent < -2:
            trimmed.pop()
            exponent += 1
        if exponent > -2:
            trimmed += [0] * (exponent + 2)
            exponent = -2
        text = f"{Decimal((0 if not any(trimmed) else sign, tuple(trimmed), exponent)):f}"
        return f"{text}%"
