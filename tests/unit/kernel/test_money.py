from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dipper.kernel.errors import CurrencyMismatch, ValidationFailed
from dipper.kernel.money import Currency, Money, sum_money
from dipper.kernel.rounding import RoundingRule

# ----------------------------------------------------------------- Currency


def test_currency_registry_exponents() -> None:
    assert Currency.of("CNY") == Currency("CNY", 2)
    assert Currency.of("JPY").exponent == 0
    assert Currency.of("TWD").exponent == 2
    assert Currency.of("usd").code == "USD"
    assert Currency.of("CNY").minor_per_major == 100


def test_unknown_currency_code() -> None:
    with pytest.raises(ValidationFailed) as info:
        Currency.of("XYZ")
    assert info.value.code == "unknown_currency"
    with pytest.raises(ValidationFailed) as info:
        Money(100, "RMB")
    assert info.value.code == "unknown_currency"
    with pytest.raises(ValidationFailed) as info:
        Money(100, Currency("CNY", 3))  # type: ignore[arg-type]
    assert info.value.code == "unknown_currency"


# ----------------------------------------------------------------- construction


def test_constructors() -> None:
    assert Money.of("1234.56", "CNY") == Money(123456, "CNY")
    assert Money.of(Decimal("1234.5"), "CNY") == Money(123450, "CNY")
    assert Money.of(100, "CNY").minor == 10000
    assert Money.of("1.230", "CNY") == Money(123, "CNY")  # trailing zeros are not extra precision
    assert Money.of("1234", "JPY") == Money(1234, "JPY")
    assert Money.zero("USD") == Money(0, "USD")
    assert Money(5, Currency.of("CNY")).currency == "CNY"  # type: ignore[arg-type]
    assert Money(5, "cny") == Money(5, "CNY")


def test_excess_precision_is_rejected_unless_rounding_given() -> None:
    with pytest.raises(ValidationFailed) as info:
        Money.of("1.234", "CNY")
    assert info.value.code == "excess_precision"
    with pytest.raises(ValidationFailed) as info:
        Money.of("1.5", "JPY")
    assert info.value.code == "excess_precision"
    # A fraction far beyond any context's precision still counts as extra precision.
    with pytest.raises(ValidationFailed):
        Money.of("1." + "0" * 80 + "1", "CNY")
    assert Money.of("1.235", "CNY", rounding=RoundingRule.HALF_UP) == Money(124, "CNY")
    assert Money.of("1.235", "CNY", rounding="half-even") == Money(124, "CNY")
    assert Money.of("1.225", "CNY", rounding="half-even") == Money(122, "CNY")
    assert Money.of("1.239", "CNY", rounding=RoundingRule.DOWN) == Money(123, "CNY")
    assert Money.of("1234.01", "CNY", rounding=RoundingRule.WHOLE_UNIT_UP) == Money(123500, "CNY")


def test_no_float_anywhere() -> None:
    with pytest.raises(TypeError):
        Money(1.0, "CNY")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money.of(1.1, "CNY")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(True, "CNY")
    with pytest.raises(TypeError):
        Money(1, "CNY") * 1.5  # type: ignore[operator]
    with pytest.raises(TypeError):
        Money(1, "CNY") * Decimal("1.5")  # type: ignore[operator]
    with pytest.raises(TypeError):
        Money(1, "CNY").multiply(1.5, RoundingRule.HALF_UP)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(1, "CNY") + 1  # type: ignore[operator]


@pytest.mark.parametrize("text", ["abc", "1,000.00", "NaN", "Infinity", "-inf", ""])
def test_unparseable_amounts(text: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        Money.of(text, "CNY")
    assert info.value.code == "invalid_amount"


def test_absurd_magnitudes_are_refused_before_building_huge_integers() -> None:
    with pytest.raises(ValidationFailed) as info:
        Money.of("1E+999999", "CNY")
    assert info.value.code == "amount_out_of_range"
    assert Money.of("999999999999999999.99", "CNY").minor == 99999999999999999999


def test_value_object_is_frozen_and_hashable() -> None:
    m = Money(100, "CNY")
    with pytest.raises(AttributeError):
        m.minor = 5  # type: ignore[misc]
    assert {Money(100, "CNY"), Money(100, "CNY"), Money(100, "USD")} == {m, Money(100, "USD")}
    assert not hasattr(m, "__dict__")


# ----------------------------------------------------------------- views


def test_to_decimal_and_format() -> None:
    assert Money(123456, "CNY").to_decimal() == Decimal("1234.56")
    assert str(Money(5, "CNY").to_decimal()) == "0.05"
    assert str(Money(-5, "CNY").to_decimal()) == "-0.05"
    assert str(Money(1234, "JPY").to_decimal()) == "1234"
    assert Money(123456, "CNY").format() == "1234.56"
    assert Money(-5, "CNY").format() == "-0.05"
    assert Money(0, "CNY").format() == "0.00"
    assert Money(123456789, "CNY").format(grouping=True) == "1,234,567.89"
    assert Money(1234, "JPY").format() == "1234"
    assert str(Money(123456, "CNY")) == "CNY 1234.56"
    assert str(Money(-100, "USD")) == "USD -1.00"


def test_sign_predicates() -> None:
    assert Money(0, "CNY").is_zero() and not Money(0, "CNY")
    assert Money(1, "CNY").is_positive() and not Money(1, "CNY").is_negative()
    assert Money(-1, "CNY").is_negative() and not Money(-1, "CNY").is_zero()


# ----------------------------------------------------------------- arithmetic


def test_arithmetic_same_currency() -> None:
    a, b = Money(1000, "CNY"), Money(250, "CNY")
    assert a + b == Money(1250, "CNY")
    assert a - b == Money(750, "CNY")
    assert b - a == Money(-750, "CNY")
    assert -a == Money(-1000, "CNY")
    assert abs(Money(-7, "CNY")) == Money(7, "CNY")
    assert a * 3 == Money(3000, "CNY")
    assert 3 * a == Money(3000, "CNY")


def test_currency_mismatch() -> None:
    cny, usd = Money(100, "CNY"), Money(100, "USD")
    for operation in (lambda: cny + usd, lambda: cny - usd, lambda: cny < usd, lambda: cny >= usd):
        with pytest.raises(CurrencyMismatch) as info:
            operation()
        assert info.value.code == "currency_mismatch"
    assert cny != usd  # equality is allowed: different currencies are simply not equal


def test_comparisons() -> None:
    assert Money(1, "CNY") < Money(2, "CNY") <= Money(2, "CNY")
    assert Money(3, "CNY") > Money(-3, "CNY") >= Money(-3, "CNY")
    assert max(Money(5, "CNY"), Money(9, "CNY"), Money(-1, "CNY")) == Money(9, "CNY")
    with pytest.raises(TypeError):
        assert Money(1, "CNY") < 2  # type: ignore[operator]


def test_multiply_rounds_once_with_named_rule() -> None:
    principal = Money.of("10000.00", "CNY")
    # one month at 4.35% / 12 = 36.25
    assert principal.multiply(Decimal("0.0435") / 12, RoundingRule.HALF_UP) == Money.of("36.25", "CNY")
    assert Money.of("100.00", "CNY").multiply(Decimal("0.00005"), "half-up") == Money(1, "CNY")  # 0.005
    assert Money.of("100.00", "CNY").multiply(Decimal("0.00005"), "down") == Money(0, "CNY")
    assert Money.of("1234.56", "CNY").multiply(1, RoundingRule.WHOLE_UNIT_UP) == Money.of("1235", "CNY")
    assert Money.of("-100.00", "CNY").multiply(Decimal("0.00005"), "half-up") == Money(-1, "CNY")
    # the product is exact even beyond the default 28-digit context
    big = Money(10**30 + 1, "CNY")
    assert big.multiply(Decimal("0.5"), RoundingRule.UP) == Money(5 * 10**29 + 1, "CNY")


def test_sum_money() -> None:
    assert sum_money([], "CNY") == Money.zero("CNY")
    assert sum_money((Money(i, "CNY") for i in range(1, 5)), "CNY") == Money(10, "CNY")
    with pytest.raises(CurrencyMismatch):
        sum_money([Money(1, "CNY"), Money(1, "USD")], "CNY")


# ----------------------------------------------------------------- allocation


def test_allocate_known_values() -> None:
    assert Money(100, "CNY").allocate([1, 1, 1]) == [Money(34, "CNY"), Money(33, "CNY"), Money(33, "CNY")]
    assert Money(-100, "CNY").allocate([1, 1, 1]) == [Money(-34, "CNY"), Money(-33, "CNY"), Money(-33, "CNY")]
    # exact shares 1.5 / 3.5: equal remainders, so the earlier part takes the odd fen
    assert Money(5, "CNY").allocate([3, 7]) == [Money(2, "CNY"), Money(3, "CNY")]
    # exact shares 2.6 / 3.3 / 4.1: the leftover fen goes to the largest remainder (0.6)
    assert Money(10, "CNY").allocate([26, 33, 41]) == [Money(3, "CNY"), Money(3, "CNY"), Money(4, "CNY")]
    assert Money(10, "CNY").allocate([Decimal("0.3"), Decimal("0.7")]) == [Money(3, "CNY"), Money(7, "CNY")]
    assert Money(10, "CNY").allocate([0, 1, 0]) == [Money(0, "CNY"), Money(10, "CNY"), Money(0, "CNY")]
    assert Money(1, "CNY").allocate([1, 2]) == [Money(0, "CNY"), Money(1, "CNY")]  # 0.33 vs 0.67
    assert Money(0, "CNY").allocate([1, 2]) == [Money(0, "CNY"), Money(0, "CNY")]
    assert Money(7, "CNY").split(3) == [Money(3, "CNY"), Money(2, "CNY"), Money(2, "CNY")]
    assert Money(7, "CNY").split(1) == [Money(7, "CNY")]


def test_allocate_rejects_bad_ratios() -> None:
    for ratios in ([], [0, 0], [1, -1], [Decimal("NaN")], [Decimal("-0.5"), Decimal(2)]):
        with pytest.raises(ValidationFailed) as info:
            Money(100, "CNY").allocate(ratios)
        assert info.value.code == "invalid_ratios"
    with pytest.raises(TypeError):
        Money(100, "CNY").allocate([0.5, 0.5])  # type: ignore[list-item]
    with pytest.raises(ValidationFailed) as info:
        Money(100, "CNY").split(0)
    assert info.value.code == "invalid_split"


minor_amounts = st.integers(min_value=-(10**15), max_value=10**15)
ratio_values = st.one_of(
    st.integers(min_value=0, max_value=10**6),
    st.decimals(min_value=0, max_value=1000, places=4, allow_nan=False, allow_infinity=False),
)
ratio_lists = st.lists(ratio_values, min_size=1, max_size=12).filter(any)


@given(minor=minor_amounts, ratios=ratio_lists)
def test_allocate_never_loses_or_invents_a_minor_unit(minor: int, ratios: list[int | Decimal]) -> None:
    parts = Money(minor, "CNY").allocate(ratios)
    assert len(parts) == len(ratios)
    assert sum(p.minor for p in parts) == minor
    assert all(p.currency == "CNY" for p in parts)


@given(minor=minor_amounts, ratios=ratio_lists)
def test_allocate_parts_within_one_unit_of_exact_share(minor: int, ratios: list[int | Decimal]) -> None:
    parts = Money(minor, "CNY").allocate(ratios)
    total = sum(Fraction(r) for r in ratios)
    for part, ratio in zip(parts, ratios, strict=True):
        exact = Fraction(minor) * Fraction(ratio) / total
        assert abs(Fraction(part.minor) - exact) < 1
        if ratio == 0:
            assert part.is_zero()


@given(minor=minor_amounts, ratios=ratio_lists)
def test_allocate_is_deterministic_and_sign_consistent(minor: int, ratios: list[int | Decimal]) -> None:
    money = Money(minor, "CNY")
    parts = money.allocate(ratios)
    assert parts == money.allocate(list(ratios))
    assert all(p.minor * minor >= 0 for p in parts)  # no part has the opposite sign
    assert (-money).allocate(ratios) == [-p for p in parts]


@given(minor=minor_amounts, n=st.integers(min_value=1, max_value=50))
def test_split_parts_differ_by_at_most_one_unit(minor: int, n: int) -> None:
    parts = Money(minor, "CNY").split(n)
    assert sum(p.minor for p in parts) == minor
    assert max(p.minor for p in parts) - min(p.minor for p in parts) <= 1
    assert [abs(p.minor) for p in parts] == sorted((abs(p.minor) for p in parts), reverse=True)


@given(a=minor_amounts, b=minor_amounts, c=minor_amounts)
def test_addition_is_associative_and_commutative(a: int, b: int, c: int) -> None:
    x, y, z = Money(a, "CNY"), Money(b, "CNY"), Money(c, "CNY")
    assert (x + y) + z == x + (y + z)
    assert x + y == y + x
    assert x - y == -(y - x)
    assert x + Money.zero("CNY") == x


@given(
    major=st.decimals(min_value=-(10**12), max_value=10**12, places=2, allow_nan=False, allow_infinity=False)
)
def test_of_and_to_decimal_round_trip(major: Decimal) -> None:
    money = Money.of(major, "CNY")
    assert money.to_decimal() == major
    assert Money.of(money.format(), "CNY") == money
