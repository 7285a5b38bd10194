"""Money as integer minor units of an ISO 4217 currency.

A ledger must balance to the fen, so an amount is an ``int`` count of minor
units (fen, cents) plus a currency code - never a float, and never a bare
Decimal whose precision drifts. Every conversion from an exact Decimal amount
to bookable minor units is explicit and uses a named :class:`RoundingRule`.
Splitting an amount (installments, fee sharing, loan participations) uses the
largest-remainder method so no fen is ever lost or invented.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation
from types import MappingProxyType
from typing import Final

from dipper.kernel.errors import CurrencyMismatch, ValidationFailed
from dipper.kernel.rounding import RoundingRule, round_minor

__all__ = ["CURRENCIES", "Currency", "Money", "sum_money"]

MAX_MAJOR_DIGITS: Final = 18
"""Amounts parsed from text may have at most this many digits before the point.

No real balance comes near 10**18 yuan; the cap stops a hostile "1E+999999" from
turning into a million-digit integer.
"""


@dataclass(frozen=True, slots=True)
class Currency:
    """An ISO 4217 currency: its code and how many decimal places its minor unit has."""

    code: str
    exponent: int

    @staticmethod
    def of(code: str | Currency) -> Currency:
        """Look up a supported currency; an unknown code raises ValidationFailed ``unknown_currency``."""
        if isinstance(code, Currency):
            registered = CURRENCIES.get(code.code)
            if registered != code:
                raise ValidationFailed(
                    f"currency {code.code} with exponent {code.exponent} is not a supported currency",
                    code="unknown_currency",
                    details={"currency": code.code},
                )
            return code
        if not isinstance(code, str):
            raise TypeError(f"currency must be an ISO 4217 code string, got {type(code).__name__}")
        found = CURRENCIES.get(code.strip().upper())
        if found is None:
            raise ValidationFailed(
                f"unknown currency {code!r}", code="unknown_currency", details={"currency": code}
            )
        return found

    @property
    def minor_per_major(self) -> int:
        """How many minor units make one major unit (100 fen per yuan, 1 for JPY)."""
        return int(10**self.exponent)

    def __str__(self) -> str:
        return self.code


# ISO 4217 minor-unit exponents. TWD is 2 per ISO 4217 even though cash is handled in whole dollars.
CURRENCIES: Final[Mapping[str, Currency]] = MappingProxyType(
    {
        c.code: c
        for c in (
            Currency("CNY", 2),
            Currency("HKD", 2),
            Currency("MOP", 2),
            Currency("TWD", 2),
            Currency("USD", 2),
            Currency("EUR", 2),
            Currency("GBP", 2),
            Currency("CHF", 2),
            Currency("CAD", 2),
            Currency("AUD", 2),
            Currency("NZD", 2),
            Currency("SGD", 2),
            Currency("MYR", 2),
            Currency("THB", 2),
            Currency("RUB", 2),
            Currency("JPY", 0),
            Currency("KRW", 0),
            Currency("VND", 0),
        )
    }
)


def _require_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        hint = "; floats never touch money" if isinstance(value, float) else ""
        raise TypeError(f"{what} must be an int, got {type(value).__name__}{hint}")
    return value


def _parse_amount(amount: Decimal | str | int) -> Decimal:
    if isinstance(amount, bool) or not isinstance(amount, Decimal | str | int):
        raise TypeError(
            f"amount must be Decimal, str or int, got {type(amount).__name__}; floats never touch money"
        )
    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise ValidationFailed(
            f"{amount!r} is not a decimal amount", code="invalid_amount", details={"amount": str(amount)}
        ) from None
    if not value.is_finite():
        raise ValidationFailed(
            f"amount {amount!r} is not a finite number",
            code="invalid_amount",
            details={"amount": str(amount)},
        )
    if value and value.adjusted() >= MAX_MAJOR_DIGITS:
        raise ValidationFailed(
            f"amount {amount!r} is out of range", code="amount_out_of_range", details={"amount": str(amount)}
        )
    return value


def _exact_product(a: Decimal, b: Decimal) -> Decimal:
    # A product never has more digits than both operands together: this precision makes it exact.
    prec = len(a.as_tuple().digits) + len(b.as_tuple().digits) + 2
    return a.fma(b, Decimal(0), context=Context(prec=prec))


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount: ``minor`` integer minor units (fen) of ``currency`` (ISO 4217 code).

    ``Money(123456, "CNY")`` is CNY 1234.56; ``Money.of("1234.56", "CNY")`` builds the same from
    major units. Amounts of different currencies never mix: adding, subtracting or comparing them
    raises :class:`CurrencyMismatch`.
    """

    minor: int
    currency: str

    def __post_init__(self) -> None:
        _require_int(self.minor, "minor units")
        cur: str | Currency = self.currency
        # Normalise "cny" / Currency objects to the registered code so equal amounts compare equal.
        object.__setattr__(self, "currency", Currency.of(cur).code)

    # ----------------------------------------------------------------- constructors

    @classmethod
    def of(
        cls,
        amount: Decimal | str | int,
        currency: str | Currency,
        rounding: RoundingRule | str | None = None,
    ) -> Money:
        """Build from an amount in MAJOR units ("1234.56" yuan).

        Without ``rounding`` an amount with more decimals than the currency has (``"1.234"`` CNY)
        is rejected with code ``excess_precision`` - silently dropping a fraction is how ledgers
        stop balancing. Pass a rounding rule when the fraction is expected (computed interest).
        """
        value = _parse_amount(amount)
        cur = Currency.of(currency)
        if rounding is None:
            minor = round_minor(value, RoundingRule.DOWN, cur.exponent)
            if minor != round_minor(value, RoundingRule.UP, cur.exponent):  # i.e. a fraction was cut off
                raise ValidationFailed(
                    f"{amount} has more decimals than {cur.code} allows ({cur.exponent})",
                    code="excess_precision",
                    details={"amount": str(amount), "currency": cur.code, "max_decimals": cur.exponent},
                )
            return cls(minor, cur.code)
        return cls(round_minor(value, rounding, cur.exponent), cur.code)

    @classmethod
    def zero(cls, currency: str | Currency) -> Money:
        """Nothing, in a given currency - the start value of every sum."""
        return cls(0, Currency.of(currency).code)

    # ----------------------------------------------------------------- views

    @property
    def currency_info(self) -> Currency:
        """The currency definition (exponent) behind ``currency``."""
        return CURRENCIES[self.currency]

    def to_decimal(self) -> Decimal:
        """The exact amount in major units, with exactly the currency's number of decimals."""
        exponent = self.currency_info.exponent
        digits = tuple(int(c) for c in str(abs(self.minor)))
        return Decimal((1 if self.minor < 0 else 0, digits, -exponent))

    def format(self, *, grouping: bool = False) -> str:
        """Plain amount text in major units, e.g. ``"1234.56"`` (``"1,234.56"`` with grouping)."""
        exponent = self.currency_info.exponent
        whole, frac = divmod(abs(self.minor), 10**exponent)
        text = f"{whole:,}" if grouping else str(whole)
        if exponent:
            text += "." + str(frac).rjust(exponent, "0")
        return ("-" if self.minor < 0 else "") + text

    def __str__(self) -> str:
        return f"{self.currency} {self.format()}"

    def is_zero(self) -> bool:
        return self.minor == 0

    def is_positive(self) -> bool:
        return self.minor > 0

    def is_negative(self) -> bool:
        return self.minor < 0

    def __bool__(self) -> bool:
        # Like numbers: zero is falsy. Prefer is_zero() in business code for readability.
        return self.minor != 0

    # ----------------------------------------------------------------- arithmetic

    def _same_currency(self, other: Money, operation: str) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(
                f"cannot {operation} {self.currency} and {other.currency}",
                details={"left": self.currency, "right": other.currency},
            )

    def __add__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "add")
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "subtract")
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __pos__(self) -> Money:
        return self

    def __abs__(self) -> Money:
        return Money(abs(self.minor), self.currency)

    def __mul__(self, factor: int) -> Money:
        """Multiply by a whole number. Fractional factors need :meth:`multiply` and a rounding rule."""
        if isinstance(factor, bool | float | Decimal):
            raise TypeError(
                f"Money * {type(factor).__name__} is not allowed; use Money.multiply(factor, rounding)"
            )
        if not isinstance(factor, int):
            return NotImplemented
        return Money(self.minor * factor, self.currency)

    __rmul__ = __mul__

    def multiply(self, factor: Decimal | int, rounding: RoundingRule | str) -> Money:
        """Multiply by an exact factor (a rate, a share) and round the result to bookable minor units.

        The product is computed exactly and rounded once, in major units, under ``rounding``; so
        ``whole-unit-up`` gives whole yuan.
        """
        if isinstance(factor, bool) or not isinstance(factor, Decimal | int):
            raise TypeError(f"factor must be Decimal or int, got {type(factor).__name__}")
        dec = Decimal(factor)
        if not dec.is_finite():
            raise ValidationFailed(f"factor {factor} is not finite", code="invalid_factor")
        product = _exact_product(self.to_decimal(), dec)
        return Money(round_minor(product, rounding, self.currency_info.exponent), self.currency)

    # ----------------------------------------------------------------- ordering

    def _compare_key(self, other: Money) -> int | None:
        if not isinstance(other, Money):
            return None
        self._same_currency(other, "compare")
        return other.minor

    def __lt__(self, other: Money) -> bool:
        key = self._compare_key(other)
        return NotImplemented if key is None else self.minor < key

    def __le__(self, other: Money) -> bool:
        key = self._compare_key(other)
        return NotImplemented if key is None else self.minor <= key

    def __gt__(self, other: Money) -> bool:
        key = self._compare_key(other)
        return NotImplemented if key is None else self.minor > key

    def __ge__(self, other: Money) -> bool:
        key = self._compare_key(other)
        return NotImplemented if key is None else self.minor >= key

    # ----------------------------------------------------------------- splitting

    def allocate(self, ratios: Sequence[int | Decimal]) -> list[Money]:
        """Split by ``ratios`` without losing or inventing a minor unit.

        Largest-remainder method: each part first gets the floor of its exact share (in minor
        units of the absolute amount); the units left over go one each to the parts with the
        largest fractional remainder, ties to the earliest part. A negative amount is split like
        its absolute value and every part negated, so reversals mirror the original exactly.
        Each part differs from its exact share by less than one minor unit; zero ratios get zero.
        """
        weights = _integer_weights(ratios)
        total = sum(weights)
        amount = abs(self.minor)
        shares = [divmod(amount * w, total) for w in weights]
        parts = [floor for floor, _ in shares]
        leftover = amount - sum(parts)
        by_remainder = sorted(range(len(shares)), key=lambda i: (-shares[i][1], i))
        for i in by_remainder[:leftover]:
            parts[i] += 1
        sign = -1 if self.minor < 0 else 1
        return [Money(sign * p, self.currency) for p in parts]

    def split(self, n: int) -> list[Money]:
        """``n`` parts as equal as possible; the earlier parts take the odd minor units."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValidationFailed(
                f"cannot split into {n!r} parts", code="invalid_split", details={"parts": repr(n)}
            )
        return self.allocate([1] * n)


def _integer_weights(ratios: Sequence[int | Decimal]) -> list[int]:
    """Scale int/Decimal ratios to exact integers with the same proportions."""
    if isinstance(ratios, str | bytes) or len(ratios) == 0:
        raise ValidationFailed("at least one ratio is needed", code="invalid_ratios")
    parsed: list[tuple[int, int]] = []  # (integer coefficient, decimal exponent)
    for r in ratios:
        if isinstance(r, bool) or not isinstance(r, int | Decimal):
            raise TypeError(f"ratios must be int or Decimal, got {type(r).__name__}")
        dec = Decimal(r)
        if not dec.is_finite() or dec < 0:
            raise ValidationFailed(
                f"ratio {r} must be a finite, non-negative number",
                code="invalid_ratios",
                details={"ratio": str(r)},
            )
        _, digits, exponent = dec.as_tuple()
        assert isinstance(exponent, int)
        coefficient = int("".join(map(str, digits)))
        while coefficient and coefficient % 10 == 0:  # 1.50 and 1.5 are the same ratio
            coefficient //= 10
            exponent += 1
        parsed.append((coefficient, exponent))
    scale = max(0, max((-e for c, e in parsed if c), default=0))
    weights = [c * 10 ** (e + scale) if c else 0 for c, e in parsed]
    if not any(weights):
        raise ValidationFailed("all ratios are zero", code="invalid_ratios")
    return weights


def sum_money(amounts: Iterable[Money], currency: str | Currency) -> Money:
    """Total of ``amounts``; an empty iterable is zero of ``currency``, a foreign amount raises."""
    total = Money.zero(currency)
    for amount in amounts:
        total = total + amount
    return total
