"""Named rounding policies for money.

Products, regulators and contracts name the rounding they want ("round the
installment up to the whole yuan", "round interest half-up to the fen"). A
named rule keeps that choice in product configuration instead of scattered
``quantize`` calls, and every rule is a plain ``decimal`` rounding mode, so the
result is exact and reproducible - no float is involved anywhere.

All rules are symmetric around zero: rounding ``-x`` gives ``-(rounding x)``.
That keeps reversals and refunds the exact mirror image of the original.
"""

from __future__ import annotations

from decimal import (
    ROUND_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Context,
    Decimal,
    InvalidOperation,
)
from enum import StrEnum

from dipper.kernel.errors import ValidationFailed

__all__ = ["RoundingRule", "quantize", "round_minor"]


class RoundingRule(StrEnum):
    """How an exact amount is cut down to what can actually be booked.

    The string values are stable: they are stored in product configuration.
    """

    HALF_UP = "half-up"
    """四舍五入: ties go away from zero. The usual rule for interest and fees."""

    HALF_EVEN = "half-even"
    """Banker's rounding: ties go to the even digit, so rounding errors do not drift over many postings."""

    DOWN = "down"
    """Truncate toward zero: never charge the customer a fraction we did not earn."""

    UP = "up"
    """Away from zero: any fraction becomes a whole minor unit."""

    WHOLE_UNIT_UP = "whole-unit-up"
    """Away from zero to a whole MAJOR unit (e.g. yuan): common for installment amounts."""

    @classmethod
    def parse(cls, value: RoundingRule | str) -> RoundingRule:
        """Read a rule from configuration; an unknown name is a validation error, not a crash."""
        try:
            return cls(value)
        except ValueError:
            raise ValidationFailed(
                f"unknown rounding rule {value!r}",
                code="unknown_rounding_rule",
                details={"rule": str(value), "allowed": [r.value for r in cls]},
            ) from None

    @property
    def decimal_mode(self) -> str:
        """The ``decimal`` module's rounding constant behind this rule."""
        return _MODES[self]


_MODES: dict[RoundingRule, str] = {
    RoundingRule.HALF_UP: ROUND_HALF_UP,
    RoundingRule.HALF_EVEN: ROUND_HALF_EVEN,
    RoundingRule.DOWN: ROUND_DOWN,
    RoundingRule.UP: ROUND_UP,
    RoundingRule.WHOLE_UNIT_UP: ROUND_UP,
}

_ONE = Decimal(1)


def _require_finite_decimal(value: Decimal) -> Decimal:
    # bool is an int subclass and float converts silently: both would hide bugs in money code.
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"expected Decimal, got {type(value).__name__}; floats never touch money")
    dec = Decimal(value)
    if not dec.is_finite():
        raise ValidationFailed(
            f"amount {value} is not a finite number", code="invalid_amount", details={"value": str(value)}
        )
    return dec


def _require_places(places: int, what: str) -> None:
    if isinstance(places, bool) or not isinstance(places, int) or places < 0:
        raise ValidationFailed(
            f"{what} must be a non-negative integer, got {places!r}",
            code="invalid_places",
            details={what: repr(places)},
        )


def _shift(value: Decimal, places: int) -> Decimal:
    """Multiply by 10**places exactly (no context, so no silent rounding of long coefficients)."""
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite values only; checked by the callers
    return Decimal((sign, digits, exponent + places))


def _to_integral(value: Decimal, mode: str) -> Decimal:
    # The context only needs room for the integer digits (+1 for a rounding carry);
    # quantize then performs exactly one rounding, in the requested mode.
    context = Context(prec=max(28, value.adjusted() + 3), rounding=mode)
    try:
        return value.quantize(_ONE, context=context)
    except InvalidOperation as exc:  # pragma: no cover - prec is sized so this cannot happen
        raise ValidationFailed(f"cannot round {value}", code="invalid_amount") from exc


def round_minor(value: Decimal, rule: RoundingRule | str, exponent: int) -> int:
    """Turn an amount in MAJOR units (yuan) into integer MINOR units (fen) under ``rule``.

    ``exponent`` is the currency's minor-unit exponent (2 for CNY, 0 for JPY).
    ``whole-unit-up`` rounds to a whole major unit and then expresses it in minor units,
    so ``round_minor(Decimal("12.01"), "whole-unit-up", 2) == 1300``.
    """
    dec = _require_finite_decimal(value)
    policy = RoundingRule.parse(rule)
    _require_places(exponent, "exponent")
    if policy is RoundingRule.WHOLE_UNIT_UP:
        return int(_to_integral(dec, ROUND_UP)) * int(10**exponent)
    return int(_to_integral(_shift(dec, exponent), policy.decimal_mode))


def quantize(value: Decimal, rule: RoundingRule | str, places: int) -> Decimal:
    """Round ``value`` to ``places`` decimal places under ``rule`` and return it with exactly that many.

    ``whole-unit-up`` rounds to a whole unit first and then shows ``places`` zeros,
    so ``quantize(Decimal("12.01"), "whole-unit-up", 2) == Decimal("13.00")``.
    """
    dec = _require_finite_decimal(value)
    policy = RoundingRule.parse(rule)
    _require_places(places, "places")
    if policy is RoundingRule.WHOLE_UNIT_UP:
        whole = _to_integral(dec, ROUND_UP)
        units = int(whole) * 10**places
    else:
        units = int(_to_integral(_shift(dec, places), policy.decimal_mode))
    sign = 1 if units < 0 or (units == 0 and dec.is_signed()) else 0
    return Decimal((sign, tuple(int(c) for c in str(abs(units))), -places))
