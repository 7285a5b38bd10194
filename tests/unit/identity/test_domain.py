"""Validation of a borrower's identity data (pure rules, no database)."""

from __future__ import annotations

import contextlib
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import ric

from dipper.identity import domain
from dipper.identity.commands import RegisterCustomer, UpdateCustomerContact
from dipper.identity.domain import CustomerKind
from dipper.kernel.errors import ValidationFailed

TODAY = date(2026, 6, 15)


def make_id(birth: date, region: str = "110105", seq: str = "123") -> str:
    """A resident ID with a correct check digit."""
    body = f"{region}{birth:%Y%m%d}{seq}"
    return body + ric.calc_check_digit(body + "0")


VALID = make_id(date(1990, 3, 7))  # 110105199003071239


def test_valid_resident_id() -> None:
    rid = domain.check_resident_id(VALID, today=TODAY)
    assert rid.number == "110105199003071239"
    assert rid.birth_date == date(1990, 3, 7)
    assert rid.masked == "110***********1239"


@pytest.mark.parametrize(
    "given_value",
    [
        "110105 19900307 1239",
        "110105-19900307-1239",
        "１１０１０５１９９００３０７１２３９",  # full-width digits from a Chinese input method
        " 110105199003071239\n",
    ],
)
def test_resident_id_is_normalized(given_value: str) -> None:
    assert domain.check_resident_id(given_value, today=TODAY).number == "110105199003071239"


def test_check_character_x_in_either_case() -> None:
    assert domain.check_resident_id("31011519920815234x", today=TODAY).number == "31011519920815234X"


@pytest.mark.parametrize(
    ("value", "reason_part"),
    [
        ("110105199003071238", "check"),  # wrong check digit
        ("11010519900307123", "length"),  # 17 characters
        ("1101051990030712399", "length"),  # 19 characters
        ("11010519900307A239", "format"),  # a letter in the body
        ("", "length"),
        (make_id(date(1990, 3, 7), region="990105"), ""),  # no such region
        ("110105199002301230"[:17] + ric.calc_check_digit("110105199002301230"), ""),  # 30 February
    ],
)
def test_invalid_resident_ids(value: str, reason_part: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        domain.check_resident_id(value, today=TODAY)
    assert err.value.code == "invalid_id_number"
    assert reason_part in err.value.details["reason"].lower()
    if value:
        assert value not in err.value.message  # messages reach logs and responses


def test_future_birth_date() -> None:
    with pytest.raises(ValidationFailed) as err:
        domain.check_resident_id(make_id(date(2027, 1, 1)), today=TODAY)
    assert err.value.code == "invalid_id_number"
    assert err.value.details["reason"] == "birth date is in the future"


@pytest.mark.parametrize(
    ("birth", "ok"),
    [
        (date(2008, 6, 15), True),  # 18 today
        (date(2008, 6, 16), False),  # 17, 18 tomorrow
        (date(1926, 6, 15), True),  # 100 today
        (date(1925, 6, 16), True),  # 100, 101 tomorrow
        (date(1925, 6, 15), False),  # 101 today
    ],
)
def test_age_limits(birth: date, ok: bool) -> None:
    number = make_id(birth)
    if ok:
        domain.check_resident_id(number, today=TODAY)
    else:
        with pytest.raises(ValidationFailed) as err:
            domain.check_resident_id(number, today=TODAY)
        assert err.value.code == "age_out_of_range"
        assert err.value.details == {"min_age": 18, "max_age": 100}


def test_age_on_leap_day() -> None:
    assert domain.age_on(date(2008, 2, 29), date(2026, 2, 28)) == 17
    assert domain.age_on(date(2008, 2, 29), date(2026, 3, 1)) == 18


@given(st.text(max_size=25))
def test_any_input_is_either_valid_or_a_validation_failure(value: str) -> None:
    # stdnum raises several exception types (and KeyError from its tables): none may escape.
    try:
        domain.check_resident_id(value, today=TODAY)
    except ValidationFailed as err:
        assert err.code in {"invalid_id_number", "age_out_of_range"}


@given(st.from_regex(r"\A[1-8]\d{16}\Z"))
def test_random_digit_strings_never_crash(body: str) -> None:
    for check in "0123456789X":
        with contextlib.suppress(ValidationFailed):
            domain.check_resident_id(body + check, today=TODAY)


def test_uscc() -> None:
    assert domain.check_uscc("91110000600037341l") == "91110000600037341L"
    with pytest.raises(ValidationFailed) as err:
        domain.check_uscc("91110000600037341M")
    assert err.value.code == "invalid_id_number"


@given(st.text(max_size=25))
def test_uscc_never_crashes(value: str) -> None:
    try:
        domain.check_uscc(value)
    except ValidationFailed as err:
        assert err.code == "invalid_id_number"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("13800138000", "13800138000"),
        ("138 0013 8000", "13800138000"),
        ("138-0013-8000", "13800138000"),
        ("+86 138 0013 8000", "13800138000"),
        ("008613800138000", "13800138000"),
        ("19912345678", "19912345678"),
    ],
)
def test_valid_phones(value: str, expected: str) -> None:
    assert domain.check_phone(value) == expected


@pytest.mark.parametrize(
    "value", ["12800138000", "1380013800", "138001380000", "1380013800a", "", "+1 2025550100"]
)
def test_invalid_phones(value: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        domain.check_phone(value)
    assert err.value.code == "invalid_phone"


@pytest.mark.parametrize("value", ["6222021234567890128", "6217001234567893", "6222 0212 3456 7890 128"])
def test_valid_bank_cards(value: str) -> None:
    assert domain.check_bank_card(value) == value.replace(" ", "")


@pytest.mark.parametrize(
    "value",
    ["6222021234567890127", "621700123456789", "62220212345678901280", "622202123456789012X", "", "0" * 15],
)
def test_invalid_bank_cards(value: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        domain.check_bank_card(value)
    assert err.value.code == "invalid_bank_card"


@given(st.text(max_size=30))
def test_bank_card_never_crashes(value: str) -> None:
    try:
        domain.check_bank_card(value)
    except ValidationFailed as err:
        assert err.code == "invalid_bank_card"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("张三", "张三"),
        ("欧阳娜娜", "欧阳娜娜"),
        ("阿依古丽·买买提", "阿依古丽·买买提"),
        (" Li   Na ", "Li Na"),
        ("O'Brien-Smith", "O'Brien-Smith"),
    ],
)
def test_valid_names(value: str, expected: str) -> None:
    assert domain.check_name(value) == expected


@pytest.mark.parametrize("value", ["张", "", "  ", "张3", "x" * 31, "张三<script>", "李\x00四"])
def test_invalid_names(value: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        domain.check_name(value)
    assert err.value.code == "invalid_name"


def test_business_names_are_longer_and_may_hold_digits() -> None:
    name = "北京123科技有限公司（朝阳分公司）"
    assert domain.check_name(name, CustomerKind.BUSINESS) == name
    with pytest.raises(ValidationFailed):
        domain.check_name(name, CustomerKind.PERSON)


def test_new_customer_validates_and_normalizes() -> None:
    new = domain.new_customer(
        kind="person",
        name=" 张三 ",
        id_number="110105 19900307 1239",
        phone="+86 13800138000",
        bank_card="6222 0212 3456 7890 128",
        today=TODAY,
    )
    assert new == domain.NewCustomer(
        CustomerKind.PERSON, "张三", "110105199003071239", "13800138000", "6222021234567890128"
    )
    blank = domain.new_customer(
        kind="person", name="张三", id_number=VALID, phone=" ", bank_card=None, today=TODAY
    )
    assert blank.phone is None and blank.bank_card is None


def test_new_customer_rejects_unknown_kind() -> None:
    with pytest.raises(ValidationFailed) as err:
        domain.new_customer(
            kind="robot", name="张三", id_number=VALID, phone=None, bank_card=None, today=TODAY
        )
    assert err.value.code == "invalid_customer_kind"


def test_business_customer_uses_uscc() -> None:
    new = domain.new_customer(
        kind="business",
        name="北京测试科技有限公司",
        id_number="91110000600037341L",
        phone=None,
        bank_card=None,
        today=TODAY,
    )
    assert new.id_number == "91110000600037341L"
    with pytest.raises(ValidationFailed):
        domain.new_customer(
            kind="business",
            name="北京测试科技有限公司",
            id_number=VALID,
            phone=None,
            bank_card=None,
            today=TODAY,
        )


def test_mask_customer() -> None:
    masked = domain.mask_customer("person", "张三", VALID, "13800138000", "6222021234567890128")
    assert masked == domain.MaskedCustomer("张*", "110***********1239", "138****8000", "622202*********0128")
    business = domain.mask_customer("business", "北京测试科技有限公司", "91110000600037341L", None, None)
    assert business.id_number_masked == "9111**********341L"
    assert business.phone_masked is None and business.bank_card_masked is None


def test_commands_do_not_print_personal_data() -> None:
    cmd = RegisterCustomer(
        tenant_id="t", name="张三", id_number=VALID, phone="13800138000", bank_card="6222021234567890128"
    )
    text = repr(cmd) + str(cmd)
    for value in ("张三", VALID, "13800138000", "6222021234567890128"):
        assert value not in text
    contact = UpdateCustomerContact(tenant_id="t", customer_id="c1", phone="13800138000")
    assert "13800138000" not in repr(contact)
