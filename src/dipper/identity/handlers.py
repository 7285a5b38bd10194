"""Handlers of the identity module: one plain function per command."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from dipper.identity import commands, domain, events
from dipper.identity.adapters import Customer, bidx_id_number
from dipper.kernel.errors import Conflict, NotFound
from dipper.persistence.uow import SqlAlchemyUnitOfWork


def _existing_id(uow: SqlAlchemyUnitOfWork, id_number_bidx: str) -> str | None:
    return uow.session.scalar(select(Customer.id).where(Customer.id_number_bidx == id_number_bidx))


def _exists(customer_id: str) -> Conflict:
    return Conflict(
        "a customer with this identity number exists in this bank",
        code="customer_exists",
        details={"customer_id": customer_id},
    )


def register_customer(cmd: commands.RegisterCustomer, uow: SqlAlchemyUnitOfWork) -> str:
    new = domain.new_customer(
        kind=cmd.kind,
        name=cmd.name,
        id_number=cmd.id_number,
        phone=cmd.phone,
        bank_card=cmd.bank_card,
        today=uow.clock.today(),
    )
    id_bidx = bidx_id_number(new.id_number)
    with uow:
        existing = _existing_id(uow, id_bidx)
        if existing is not None:
            raise _exists(existing)
        customer = Customer(kind=new.kind.value, status=domain.CustomerStatus.ACTIVE.value)
        customer.set_name(new.name)
        customer.set_id_number(new.id_number)
        customer.set_phone(new.phone)
        customer.set_bank_card(new.bank_card)
        uow.session.add(customer)
        try:
            uow.session.flush()  # stamps the tenant and id; a duplicate surfaces here
        except IntegrityError:
            # Lost a race with a concurrent registration of the same number: answer as if we had seen it.
            uow.rollback()
            existing = _existing_id(uow, id_bidx)
            if existing is None:
                raise
            raise _exists(existing) from None
        uow.emit(
            events.CustomerRegistered(
                tenant_id=customer.tenant_id, customer_id=customer.id, kind=customer.kind
            )
        )
        uow.commit()
        return customer.id


def update_customer_contact(cmd: commands.UpdateCustomerContact, uow: SqlAlchemyUnitOfWork) -> None:
    phone = None if cmd.phone is None or not cmd.phone.strip() else domain.check_phone(cmd.phone)
    with uow:
        customer = uow.session.scalar(select(Customer).where(Customer.id == cmd.customer_id))
        if customer is None:
            raise NotFound("no such customer", code="customer_not_found")
        if customer.phone == phone:
            return  # nothing changes: no audit entry, no event
        customer.set_phone(phone)
        uow.emit(events.CustomerContactUpdated(tenant_id=customer.tenant_id, customer_id=customer.id))
        uow.commit()


COMMAND_HANDLERS: dict[type, Callable[..., Any]] = {
    commands.RegisterCustomer: register_customer,
    commands.UpdateCustomerContact: update_customer_contact,
}
EVENT_HANDLERS: dict[type, list[Callable[..., Any]]] = {}
