"""Tables of the identity module.

Personal data is stored only as ciphertext (``EncryptedString``), each searchable
field beside a keyed blind index (``*_bidx``, HMAC-SHA256 of the normalized value)
for equality look-ups. Nothing derived from the plain values (birth date, last
digits, masked forms) is stored: masking is computed on read.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dipper.kernel.ids import new_id
from dipper.persistence import crypto
from dipper.persistence.base import ID, Audited, Base, TenantScoped, UTCDateTime, utcnow
from dipper.persistence.types import EncryptedString

# Blind-index purposes: one per field, so equal strings in different fields do not index alike.
BIDX_NAME = "identity.name"
BIDX_ID_NUMBER = "identity.id_number"
BIDX_PHONE = "identity.phone"
BIDX_BANK_CARD = "identity.bank_card"

#: The columns holding ciphertext, for the key-rotation job (``persistence.rotation.reencrypt``).
ENCRYPTED_COLUMNS = ("name", "id_number", "phone", "bank_card")

_BIDX = String(64)  # hex HMAC-SHA256


class Customer(TenantScoped, Audited, Base):
    """A borrower of one bank: a person (resident ID) or a business (USCC)."""

    __tablename__ = "identity_customer"
    __table_args__ = (
        # One customer per identity number per bank; the same person may bank with several tenants.
        UniqueConstraint("tenant_id", "id_number_bidx"),
        Index("ix_identity_customer_tenant_phone", "tenant_id", "phone_bidx"),
        Index("ix_identity_customer_tenant_name", "tenant_id", "name_bidx"),
        Index("ix_identity_customer_tenant_card", "tenant_id", "bank_card_bidx"),
        Index("ix_identity_customer_tenant_created", "tenant_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(EncryptedString("identity_customer.name"))
    name_bidx: Mapped[str] = mapped_column(_BIDX)
    id_number: Mapped[str] = mapped_column(EncryptedString("identity_customer.id_number"))
    id_number_bidx: Mapped[str] = mapped_column(_BIDX)
    phone: Mapped[str | None] = mapped_column(EncryptedString("identity_customer.phone"))
    phone_bidx: Mapped[str | None] = mapped_column(_BIDX)
    bank_card: Mapped[str | None] = mapped_column(EncryptedString("identity_customer.bank_card"))
    bank_card_bidx: Mapped[str | None] = mapped_column(_BIDX)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def set_name(self, name: str) -> None:
        self.name, self.name_bidx = name, bidx_name(name)

    def set_id_number(self, id_number: str) -> None:
        self.id_number, self.id_number_bidx = id_number, bidx_id_number(id_number)

    def set_phone(self, phone: str | None) -> None:
        self.phone, self.phone_bidx = phone, None if phone is None else bidx_phone(phone)

    def set_bank_card(self, bank_card: str | None) -> None:
        self.bank_card = bank_card
        self.bank_card_bidx = None if bank_card is None else bidx_bank_card(bank_card)


def bidx_name(name: str) -> str:
    return crypto.blind_index(name, purpose=BIDX_NAME)


def bidx_id_number(id_number: str) -> str:
    return crypto.blind_index(id_number, purpose=BIDX_ID_NUMBER)


def bidx_phone(phone: str) -> str:
    return crypto.blind_index(phone, purpose=BIDX_PHONE)


def bidx_bank_card(bank_card: str) -> str:
    return crypto.blind_index(bank_card, purpose=BIDX_BANK_CARD)
