"""Column types: money in integer minor units, Decimal rates, encrypted personal data."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Numeric, String, Text, TypeDecorator
from sqlalchemy.engine import Dialect

from dipper.persistence import crypto

#: Money is always two columns: ``<name>_minor`` (this type) and a ``currency`` code.
MinorUnits = BigInteger
CurrencyCode = String(3)


class DecimalRate(TypeDecorator[Decimal]):
    """Rates as exact decimals; SQLite has no DECIMAL, so they are stored as text there."""

    impl = Numeric(18, 10)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(18, 10))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("rates are Decimal, never float")
        return str(value) if dialect.name == "sqlite" else Decimal(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(str(value)).normalize()


class EncryptedString(TypeDecorator[str]):
    """Personal data encrypted with AES-256-GCM; the database only ever sees ciphertext.

    Pair it with a ``*_bidx`` column holding ``crypto.blind_index(value, purpose=...)``
    for equality look-ups. ``context`` (``"table.column"``) is bound to every ciphertext as
    associated data, so a value copied into another column or table fails to decrypt.
    """

    impl = Text
    cache_ok = True

    def __init__(self, context: str) -> None:
        super().__init__()
        if not context:
            raise ValueError("EncryptedString needs a context such as 'identity_customer.id_number'")
        self.context = context

    @property
    def associated(self) -> bytes:
        return self.context.encode()

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else crypto.encrypt(value, associated=self.associated)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else crypto.decrypt(value, associated=self.associated)
