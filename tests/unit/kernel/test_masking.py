"""Masking of personal data for display and logs."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dipper.kernel.masking import (
    MASK,
    mask_bank_card,
    mask_id_number,
    mask_name,
    mask_phone,
    mask_uscc,
    scrub,
)


def test_examples() -> None:
    assert mask_id_number("110101199003071234") == "110***********1234"
    assert mask_id_number("31011519920815234X") == "310***********234X"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳娜娜") == "欧***"
    assert mask_name("Li Na") == "L****"
    assert mask_name("阿依古丽·买买提") == "阿*******"
    assert mask_bank_card("6222020000001234") == "622202******1234"
    assert mask_bank_card("6222021234567890128") == "622202*********0128"
    assert mask_uscc("91110000600037341L") == "9111**********341L"


@pytest.mark.parametrize("value", ["", "1", "1234567", "12345678901"[:10]])
def test_short_values_are_masked_completely(value: str) -> None:
    # Too short to hide at least four characters: nothing is shown.
    assert mask_id_number(value) == MASK * len(value)
    assert mask_phone(value) == MASK * len(value)
    assert mask_bank_card(value) == MASK * len(value)


def test_single_character_name() -> None:
    assert mask_name("") == ""
    assert mask_name("王") == "*"


maskers = st.sampled_from(
    [(mask_id_number, 3, 4), (mask_phone, 3, 4), (mask_bank_card, 6, 4), (mask_uscc, 4, 4), (mask_name, 1, 0)]
)


@given(maskers, st.text(max_size=40))
def test_masks_preserve_length_and_show_only_head_and_tail(masker: tuple, value: str) -> None:
    fn, head, tail = masker
    masked = fn(value)
    assert len(masked) == len(value)
    for i, c in enumerate(masked):
        if head <= i < len(value) - tail:
            assert c == MASK  # the middle is always hidden
        else:
            assert c in (MASK, value[i])  # head and tail are shown as they are, or hidden


@given(st.text(alphabet="0123456789", min_size=11, max_size=19))
def test_masking_hides_the_middle_of_numbers(value: str) -> None:
    for fn in (mask_id_number, mask_phone, mask_bank_card):
        masked = fn(value)
        assert masked.count(MASK) >= 4
        assert masked != value


# -- scrub --------------------------------------------------------------------------------------------

IDS = ["110105199003071239", "31011519920815234X", "31011519920815234x"]
PHONES = ["13800138000", "19912345678"]
CARDS = ["6222021234567890128", "6217001234567893", "62220212345678901"]


TEMPLATES = [
    "{}",
    "id={}",
    "x {} y",
    "'{}',",
    "tel{}",
    "{}号",
    "[{}]",
    "姓名:张三 号码:{}。",
    '{{"phone": "{}"}}',
]


@pytest.mark.parametrize("value", IDS + PHONES + CARDS)
@pytest.mark.parametrize("template", TEMPLATES)
def test_scrub_masks_values_in_free_text(value: str, template: str) -> None:
    out = scrub(template.format(value))
    assert value not in out
    assert value[3:-4] not in out  # the hidden middle is gone
    assert MASK in out


def test_scrub_formats() -> None:
    line = (
        "reg id=110105199003071239 phone=+86 138-1234-5678 alt=8613912345678 "
        "card=6222 0212 3456 7890 128 other=6217001234567893"
    )
    out = scrub(line)
    assert out == (
        "reg id=110***********1239 phone=138****5678 alt=139****5678 "
        "card=622202*********0128 other=621700******7893"
    )


@pytest.mark.parametrize(
    "text",
    [
        "took 0.0123s",
        "GET /api/v1/customers/01J8Z3ABCDEF0123456789ABCD 200",
        "amount_minor=1234567890",  # 10 digits
        "ts=1712345678901",  # 13-digit epoch millis
        "12345678901",  # 11 digits but not a mobile prefix (12)
        "12345678901234567890",  # 20 digits: no pattern
        "110***********1239",
    ],
)
def test_scrub_leaves_other_text_alone(text: str) -> None:
    assert scrub(text) == text


def test_scrub_does_not_cut_into_longer_digit_runs() -> None:
    assert scrub("x123800138000y") == "x123800138000y"  # 12 digits, no mobile inside


@given(st.text(max_size=200))
def test_scrub_is_idempotent_and_total(text: str) -> None:
    once = scrub(text)
    assert scrub(once) == once


_PHONE_LIKE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


@given(
    st.lists(
        st.one_of(
            st.from_regex(r"\A1[3-9]\d{9}\Z"),
            st.from_regex(r"\A\d{17}[\dX]\Z"),
            st.from_regex(r"\A\d{16,19}\Z"),
            st.text(alphabet="abc =,:;中文", max_size=5),
        ),
        max_size=8,
    )
)
def test_scrub_leaves_no_pattern_behind(parts: list[str]) -> None:
    text = " ".join(parts)
    out = scrub(text)
    assert not _PHONE_LIKE.search(out)
    assert not re.search(r"(?<!\d)\d{16,19}(?!\d)", out)
    assert not re.search(r"(?<!\d)\d{17}[\dXx](?!\d)", out)
