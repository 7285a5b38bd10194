"""Masking of personal data for display and logs (pure, standard library only).

Every ``mask_*`` helper keeps a fixed number of leading and trailing characters,
replaces the rest with ``*`` and preserves the length, so a masked value lines up
with the real one on screen. When a value is too short to hide at least
``MIN_HIDDEN`` characters it is masked completely: a mask that shows all but one
character protects nothing. The helpers never raise and never normalize: they
mask exactly the string they are given (stored values are already normalized).

``scrub`` finds resident ID numbers, mainland mobile numbers and bank card
numbers in free text and masks them; it is the last line of defence for logs,
not a substitute for not logging personal data. Names cannot be found by a
pattern, so they must never be logged in the first place.
"""

from __future__ import annotations

import re

__all__ = [
    "MASK",
    "MIN_HIDDEN",
    "mask_bank_card",
    "mask_id_number",
    "mask_name",
    "mask_phone",
    "mask_uscc",
    "scrub",
]

MASK = "*"
#: A value is masked completely unless at least this many characters can be hidden.
MIN_HIDDEN = 4


def _keep(value: str, head: int, tail: int) -> str:
    hidden = len(value) - head - tail
    if hidden < MIN_HIDDEN:
        return MASK * len(value)
    return value[:head] + MASK * hidden + (value[-tail:] if tail else "")


def mask_id_number(value: str) -> str:
    """``110105199003071239`` -> ``110***********1239``: region prefix and last four only."""
    return _keep(value, 3, 4)


def mask_phone(value: str) -> str:
    """``13812345678`` -> ``138****5678`` (the usual Chinese display form)."""
    return _keep(value, 3, 4)


def mask_bank_card(value: str) -> str:
    """``6222021234567890128`` -> ``622202*********0128``: issuer (BIN) and last four, as on receipts."""
    return _keep(value, 6, 4)


def mask_uscc(value: str) -> str:
    """Unified social credit code: ``91110000600037341L`` -> ``9111**********341L``.

    Keeps the registration authority, organisation kind and province (first four)
    and the last four; the code itself is public, so this is for consistent display.
    """
    return _keep(value, 4, 4)


def mask_name(value: str) -> str:
    """Keep the first character only: ``张三`` -> ``张*``, ``欧阳娜娜`` -> ``欧***``.

    Latin names follow the same rule (``Li Na`` -> ``L****``); spaces are masked too,
    so the shape of the name does not show. Surnames are not split out: compound
    surnames (欧阳) would need a dictionary, and showing less is the safe side.
    """
    if len(value) <= 1:
        return MASK * len(value)
    return value[0] + MASK * (len(value) - 1)


# Digit runs are delimited by non-digits only (not letters), so ``tel13812345678`` is still caught:
# leaking personal data is worse than occasionally starring part of an opaque token.
_SEP = r"[ -]"
_PII = re.compile(
    r"(?<!\d)(?:"
    # Resident ID: 17 digits and a check character, which may be X.
    r"(?P<id>\d{17}[\dXx])"
    # Bank card: 16-19 digits, plain or in groups of four (6222 0212 3456 7890 128).
    r"|(?P<card>\d{16,19}|\d{4}(?:" + _SEP + r"\d{4}){3}(?:" + _SEP + r"?\d{1,3})?)"
    # Mainland mobile, optionally with the country code and 3-4-4 separators.
    r"|(?P<phone>(?:(?:\+|00)?86" + _SEP + r"?)?1[3-9]\d(?:" + _SEP + r"?\d{4}){2})"
    r")(?!\d)"
)
_NOT_DIGIT = re.compile(r"[^\dXx]")


def _mask_match(match: re.Match[str]) -> str:
    digits = _NOT_DIGIT.sub("", match.group(0))
    if match.group("id") is not None:
        return mask_id_number(digits)
    if match.group("card") is not None:
        return mask_bank_card(digits)
    return mask_phone(digits[-11:])


def scrub(text: str) -> str:
    """Mask every resident ID, mobile number and bank card number found in ``text``.

    An 18-digit run is masked as a resident ID (showing 3+4) even if it is a card, since
    that shows less. Idempotent: masked output contains no further matches.
    """
    if not text:
        return text
    return _PII.sub(_mask_match, text)
