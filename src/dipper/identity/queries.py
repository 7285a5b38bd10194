"""Read side of the identity module.

Every view is masked (``name_masked``, ``id_number_masked``, ``phone_masked``,
``bank_card_masked``). Plain values are returned only with ``reveal=True``, for
in-process callers that must use them (four-element verification, contracts);
no HTTP route reveals them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from dipper.identity import domain
from dipper.identity.adapters import Customer, bidx_id_number, bidx_phone
from dipper.identity.domain import CustomerKind, CustomerStatus
from dipper.kernel.errors import NotFound, ValidationFailed
from dipper.persistence.uow import SqlAlchemyUnitOfWork

__all__ = [
    "CustomerKind",
    "CustomerPage",
    "CustomerStatus",
    "find_by_id_number",
    "find_by_phone",
    "get_customer",
    "list_customers",
]

MAX_PAGE = 500


def _view(c: Customer, *, reveal: bool = False) -> dict[str, Any]:
    masked = domain.mask_customer(c.kind, c.name, c.id_number, c.phone, c.bank_card)
    view: dict[str, Any] = {
        "id": c.id,
        "kind": c.kind,
        "status": c.status,
        "name_masked": masked.name_masked,
        "id_number_masked": masked.id_number_masked,
        "phone_masked": masked.phone_masked,
        "bank_card_masked": masked.bank_card_masked,
        "created_at": c.created_at,
    }
    if reveal:
        view.update(name=c.name, id_number=c.id_number, phone=c.phone, bank_card=c.bank_card)
    return view


def get_customer(uow: SqlAlchemyUnitOfWork, customer_id: str, reveal: bool = False) -> dict[str, Any]:
    """One customer of the caller's bank (another bank's customer is ``NotFound``)."""
    with uow:
        c = uow.session.scalar(select(Customer).where(Customer.id == customer_id))
        if c is None:
            raise NotFound("no such customer", code="customer_not_found")
        return _view(c, reveal=reveal)


def find_by_id_number(
    uow: SqlAlchemyUnitOfWork, id_number: str, reveal: bool = False
) -> dict[str, Any] | None:
    """The customer with this resident ID or USCC, by its blind index; ``None`` if there is none.

    The number is normalized (spaces, dashes, full-width digits, case) but not validated:
    a malformed number simply matches nothing.
    """
    bidx = bidx_id_number(domain.normalize_id_number(id_number))
    with uow:
        c = uow.session.scalar(select(Customer).where(Customer.id_number_bidx == bidx))
        return None if c is None else _view(c, reveal=reveal)


def find_by_phone(uow: SqlAlchemyUnitOfWork, phone: str, limit: int = 100) -> list[dict[str, Any]]:
    """Customers with this mobile number (it is not unique: family members share phones)."""
    bidx = bidx_phone(domain.normalize_phone(phone))
    with uow:
        rows = uow.session.scalars(
            select(Customer)
            .where(Customer.phone_bidx == bidx)
            .order_by(Customer.created_at, Customer.id)
            .limit(limit)
        )
        return [_view(c) for c in rows]


@dataclass(frozen=True)
class CustomerPage:
    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


def list_customers(uow: SqlAlchemyUnitOfWork, limit: int = 50, offset: int = 0) -> CustomerPage:
    """Newest first, masked."""
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise ValidationFailed(f"limit must be 1-{MAX_PAGE} and offset >= 0", code="invalid_page")
    with uow:
        total = uow.session.scalar(select(func.count()).select_from(Customer)) or 0
        rows = uow.session.scalars(
            select(Customer)
            .order_by(Customer.created_at.desc(), Customer.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return CustomerPage(items=[_view(c) for c in rows], total=total, limit=limit, offset=offset)
