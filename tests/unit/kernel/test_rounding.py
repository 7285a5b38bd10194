from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dipper.kernel.errors import ValidationFailed
from dipper.kernel.rounding import RoundingRule, quantize, round_minor

DECIMAL_MODES = {
    RoundingRule.HALF_UP: ROUND_HALF_UP,
    RoundingRule.HALF_EVEN: ROUND_HALF_EVEN,
    RoundingRule.DOWN: ROUND_DOWN,
    RoundingRule.UP: ROUND_UP,
}

amounts = st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=6, allow_nan=False)


def test_rule_values_are_the_stable_configuration_names() -> None:
    assert [r.value for r in RoundingRule] == ["half-up", "half-even", "down", "up", "whole-unit-up"]


@pytest.mark.parametrize(
    ("value", "rule", "expected"),
    [
        ("1.005", "half-up", 101),
        ("1.015", "half-even", 102),
        ("1.025", "half-even", 102),
        ("1.009", "down", 100),
        ("1.001", "up", 101),
        ("-1.005", "half-up", -101),  # symmetric: ties away from zero
        ("-1.001", "up", -101),
        ("-1.009", "down", -100),
        ("12.01", "whole-unit-up", 1300),
        ("12.00", "whole-unit-up", 1200),
        ("-12.01", "whole-unit-up", -1300),
    ],
)
def test_round_minor_known_values(value: str, rule: str, expected: int) -> None:
    assert round_minor(Decimal(value), rule, 2) == expected


def test_round_minor_zero_exponent_currency() -> None:
    assert round_minor(Decimal("1234.5"), RoundingRule.HALF_UP, 0) == 1235
    assert round_minor(Decimal("1234.5"), RoundingRule.WHOLE_UNIT_UP, 0) == 1235
    assert round_minor(Decimal("1234.5"), RoundingRule.HALF_EVEN, 0) == 1234


def test_round_minor_keeps_long_coefficients_exact() -> None:
    # 40 significant digits: more than the default 28-digit context could hold.
    value = Decimal("123456789012345678.9012345678901234567891")
    assert round_minor(value, RoundingRule.DOWN, 2) == 12345678901234567890
    assert round_minor(value, RoundingRule.UP, 2) == 12345678901234567891


def test_quantize_returns_requested_places() -> None:
    assert quantize(Decimal("12.01"), RoundingRule.WHOLE_UNIT_UP, 2) == Decimal("13.00")
    assert str(quantize(Decimal("12.01"), RoundingRule.WHOLE_UNIT_UP, 2)) == "13.00"
    assert str(quantize(Decimal("2.5"), RoundingRule.HALF_EVEN, 0)) == "2"
    assert str(quantize(Decimal("0.123456"), RoundingRule.HALF_UP, 4)) == "0.1235"


def test_float_is_rejected() -> None:
    with pytest.raises(TypeError):
        round_minor(1.005, RoundingRule.HALF_UP, 2)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        quantize(1.005, RoundingRule.HALF_UP, 2)  # type: ignore[arg-type]


def test_unknown_rule_and_bad_inputs_have_stable_codes() -> None:
    with pytest.raises(ValidationFailed) as info:
        round_minor(Decimal(1), "banker", 2)
    assert info.value.code == "unknown_rounding_rule"
    with pytest.raises(ValidationFailed) as info:
        round_minor(Decimal("NaN"), RoundingRule.UP, 2)
    assert info.value.code == "invalid_amount"
    with pytest.raises(ValidationFailed) as info:
        quantize(Decimal(1), RoundingRule.UP, -1)
    assert info.value.code == "invalid_places"


@given(value=amounts, rule=st.sampled_from(list(DECIMAL_MODES)), exponent=st.integers(0, 4))
def test_round_minor_agrees_with_decimal_quantize(value: Decimal, rule: RoundingRule, exponent: int) -> None:
    expected = value.quantize(Decimal(1).scaleb(-exponent), rounding=DECIMAL_MODES[rule])
    assert round_minor(value, rule, exponent) == int(expected.scaleb(exponent))
    assert quantize(value, rule, exponent) == expected


@given(value=amounts, exponent=st.integers(0, 4))
def test_whole_unit_up_agrees_with_decimal_quantize(value: Decimal, exponent: int) -> None:
    whole = value.quantize(Decimal(1), rounding=ROUND_UP)
    assert round_minor(value, RoundingRule.WHOLE_UNIT_UP, exponent) == int(whole) * 10**exponent


@given(value=amounts, rule=st.sampled_from(list(RoundingRule)))
def test_rounding_is_symmetric_around_zero(value: Decimal, rule: RoundingRule) -> None:
    assert round_minor(-value, rule, 2) == -round_minor(value, rule, 2)
