"""Rules for a borrower's identity: what a valid resident ID, USCC, mobile number,
bank card and name look like, and who may borrow (adults only).

Pure: no database, no clock (the reference date is passed in), no settings.
python-stdnum is a plain library; its exceptions (``InvalidChecksum``,
``InvalidFormat``, ``InvalidLength``, ``InvalidComponent``, and ``KeyError`` or
``ValueError`` from its region tables) never leave this module: each becomes a
``ValidationFailed`` with a stable code. Messages never contain the value
checked, because they reach API responses and logs.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from stdnum import luhn
from stdnum.cn import ric, uscc

from dipper.kernel.errors import ValidationFailed
from dipper.kernel.masking import mask_bank_card, mask_id_number, mask_name, mask_phone, mask_uscc

MIN_AGE = 18
MAX_AGE = 100
NAME_LENGTH = {"person": (2, 30), "business": (2, 100)}

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_CARD = re.compile(r"^\d{16,19}$")
# Letters and combining marks of any script, the middle dots of minority and foreign names
# (阿依古丽·买买提), spaces, apostrophes, hyphens, dots and brackets (company names).
_NAME_PUNCTUATION = frozenset(" ·•.'-()（）&")


class CustomerKind(StrEnum):
    PERSON = "person"
    BUSINESS = "business"


class CustomerStatus(StrEnum):
    ACTIVE = "active"
    CLOSED = "closed"


def _compact(value: str) -> str:
    """Full-width digits to ASCII (common from Chinese input methods), no spaces or dashes, upper case."""
    text = unicodedata.normalize("NFKC", value)
    return "".join(c for c in text if not c.isspace() and c != "-").upper()


def _invalid(code: str, what: str, reason: str) -> ValidationFailed:
    return ValidationFailed(f"{what}: {reason}", code=code, details={"reason": reason})


def _stdnum_reason(exc: Exception) -> str:
    # stdnum's ValidationError subclasses carry a readable message; anything else is a gap in its tables.
    message = getattr(exc, "message", None)
    return str(message) if message else "unknown region or malformed number"


def age_on(birth_date: date, on: date) -> int:
    """Whole years completed on ``on`` (a 29 February birthday completes on 1 March in common years)."""
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


@dataclass(frozen=True)
class ResidentId:
    number: str
    birth_date: date

    @property
    def masked(self) -> str:
        return mask_id_number(self.number)


def check_resident_id(value: str, *, today: date) -> ResidentId:
    """A valid 18-character resident ID of a person aged 18 to 100 on ``today``."""
    number = _compact(value)
    try:
        number = ric.validate(number)
        birth = ric.get_birth_date(number)
    except Exception as exc:  # every stdnum failure, including KeyError from its tables
        raise _invalid("invalid_id_number", "invalid resident ID number", _stdnum_reason(exc)) from None
    if birth > today:
        raise _invalid("invalid_id_number", "invalid resident ID number", "birth date is in the future")
    age = age_on(birth, today)
    if not MIN_AGE <= age <= MAX_AGE:
        raise ValidationFailed(
            f"a borrower must be {MIN_AGE} to {MAX_AGE} years old",
            code="age_out_of_range",
            details={"min_age": MIN_AGE, "max_age": MAX_AGE},
        )
    return ResidentId(number, birth)


def check_uscc(value: str) -> str:
    """A valid unified social credit code (统一社会信用代码) of a business borrower."""
    try:
        return str(uscc.validate(_compact(value)))
    except Exception as exc:  # see check_resident_id
        reason = _stdnum_reason(exc)
        raise _invalid("invalid_id_number", "invalid unified social credit code", reason) from None


def check_id_number(kind: CustomerKind, value: str, *, today: date) -> str:
    """The normalized identity number of a customer of ``kind``."""
    if kind is CustomerKind.PERSON:
        return check_resident_id(value, today=today).number
    return check_uscc(value)


def normalize_id_number(value: str) -> str:
    """The form stored and blind-indexed, without validation (for look-ups)."""
    return _compact(value)


def check_phone(value: str) -> str:
    """A mainland mobile number, 11 digits; a +86 / 0086 country code is accepted and dropped."""
    number = _compact(value)
    for prefix in ("+86", "0086"):
        if number.startswith(prefix):
            number = number.removeprefix(prefix)
            break
    if not _MOBILE.match(number):
        raise _invalid("invalid_phone", "invalid mobile number", "expected 11 digits starting with 13-19")
    return number


def normalize_phone(value: str) -> str:
    """Best-effort normal form for look-ups: a malformed number is returned compacted, never raises."""
    try:
        return check_phone(value)
    except ValidationFailed:
        return _compact(value)


def check_bank_card(value: str) -> str:
    """A bank card number: 16 to 19 digits passing the Luhn check."""
    number = _compact(value)
    if not _CARD.match(number):
        raise _invalid("invalid_bank_card", "invalid bank card number", "expected 16 to 19 digits")
    try:
        luhn.validate(number)
    except Exception as exc:  # see check_resident_id
        raise _invalid("invalid_bank_card", "invalid bank card number", _stdnum_reason(exc)) from None
    return number


def check_name(value: str, kind: CustomerKind = CustomerKind.PERSON) -> str:
    """A legal name: letters of any script and a little punctuation, no digits, 2 to 30 characters
    for a person (100 for a business name); inner runs of spaces collapse to one."""
    # NFC, not NFKC: compatibility folding would rewrite full-width brackets in company names and
    # CJK compatibility ideographs that some people's registered names use.
    name = " ".join(unicodedata.normalize("NFC", value).split())
    low, high = NAME_LENGTH[kind.value]
    if not low <= len(name) <= high:
        raise _invalid("invalid_name", "invalid name", f"expected {low} to {high} characters")
    allowed_digits = kind is CustomerKind.BUSINESS  # 北京123科技有限公司 is a real pattern
    for c in name:
        category = unicodedata.category(c)
        if category[0] in "LM" or c in _NAME_PUNCTUATION or (allowed_digits and category == "Nd"):
            continue
        reason = "only letters, spaces and name punctuation are allowed"
        raise _invalid("invalid_name", "invalid name", reason)
    return name


def check_kind(value: str) -> CustomerKind:
    try:
        return CustomerKind(value)
    except ValueError:
        raise ValidationFailed(
            "kind must be person or business",
            code="invalid_customer_kind",
            details={"allowed": [k.value for k in CustomerKind]},
        ) from None


@dataclass(frozen=True)
class NewCustomer:
    """Validated, normalized values of a customer about to be registered."""

    kind: CustomerKind
    name: str
    id_number: str
    phone: str | None
    bank_card: str | None


def new_customer(
    *, kind: str, name: str, id_number: str, phone: str | None, bank_card: str | None, today: date
) -> NewCustomer:
    """Validate every field of a registration; the first invalid field raises."""
    k = check_kind(kind)
    return NewCustomer(
        kind=k,
        name=check_name(name, k),
        id_number=check_id_number(k, id_number, today=today),
        phone=None if phone is None or not phone.strip() else check_phone(phone),
        bank_card=None if bank_card is None or not bank_card.strip() else check_bank_card(bank_card),
    )


@dataclass(frozen=True)
class MaskedCustomer:
    name_masked: str
    id_number_masked: str
    phone_masked: str | None
    bank_card_masked: str | None


def mask_customer(
    kind: str, name: str, id_number: str, phone: str | None, bank_card: str | None
) -> MaskedCustomer:
    """What staff and partners see: masking is computed on read, never stored."""
    return MaskedCustomer(
        name_masked=mask_name(name),
        id_number_masked=mask_uscc(id_number) if kind == CustomerKind.BUSINESS else mask_id_number(id_number),
        phone_masked=None if phone is None else mask_phone(phone),
        bank_card_masked=None if bank_card is None else mask_bank_card(bank_card),
    )
