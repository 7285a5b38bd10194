"""Commands of the identity module (its public write surface)."""

from __future__ import annotations

from dataclasses import dataclass

from dipper.kernel.messages import Command


@dataclass(frozen=True, kw_only=True)
class RegisterCustomer(Command):
    """Register a borrower. ``id_number`` is a resident ID for a person, a USCC for a business.

    The handler returns the new customer's id. The same identity number twice in one bank is
    a ``Conflict`` with code ``customer_exists`` and ``details["customer_id"]``.
    """

    name: str
    id_number: str
    phone: str | None = None
    bank_card: str | None = None
    kind: str = "person"  # person | business

    def __repr__(self) -> str:
        # Commands end up in tracebacks and debug logs: never print the personal data they carry.
        return f"RegisterCustomer(tenant_id={self.tenant_id!r}, kind={self.kind!r}, <personal data hidden>)"


@dataclass(frozen=True, kw_only=True)
class UpdateCustomerContact(Command):
    """Change (or with ``None``, remove) a customer's mobile number."""

    customer_id: str
    phone: str | None

    def __repr__(self) -> str:
        return f"UpdateCustomerContact(tenant_id={self.tenant_id!r}, customer_id={self.customer_id!r})"
