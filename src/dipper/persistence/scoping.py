"""Tenant scoping for every ORM query and every new row.

A session whose ``info["tenant_id"]`` is set sees only that tenant's rows of
any ``TenantScoped`` entity (SQLAlchemy's ``with_loader_criteria`` is added to
every ORM SELECT, UPDATE and DELETE), and may only insert rows of that tenant.
An object of another bank therefore looks absent: the caller gets 404, never 403.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from dipper.persistence.audit import record_changes
from dipper.persistence.base import TenantScoped


class ImmutableRowViolation(RuntimeError):
    """An immutable row (a posting, an audit entry) was about to be changed: a programming error."""


class TenantScopeViolation(RuntimeError):
    """A row of another tenant was about to be written: a programming error, never user input."""


@event.listens_for(Session, "do_orm_execute")
def _scope_queries(state: ORMExecuteState) -> None:
    tenant_id = state.session.info.get("tenant_id")
    if tenant_id is None or not (state.is_select or state.is_update or state.is_delete):
        return
    if state.execution_options.get("skip_tenant_scope"):
        return
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantScoped,
            lambda cls: cls.tenant_id == tenant_id,
            include_aliases=True,
        )
    )


@event.listens_for(Session, "before_flush")
def _stamp_and_audit(session: Session, _ctx: Any, _instances: Any) -> None:
    tenant_id = session.info.get("tenant_id")
    if tenant_id is not None:
        for obj in list(session.new) + list(session.dirty) + list(session.deleted):
            if isinstance(obj, TenantScoped):
                if getattr(obj, "tenant_id", None) is None:
                    obj.tenant_id = tenant_id
                elif obj.tenant_id != tenant_id:
                    raise TenantScopeViolation(f"{type(obj).__name__} of another tenant in this session")
    for obj in list(session.dirty) + list(session.deleted):
        if getattr(obj, "__immutable__", False) and (
            obj in session.deleted or session.is_modified(obj, include_collections=False)
        ):
            raise ImmutableRowViolation(f"{type(obj).__name__} rows are immutable; post a correction instead")
    record_changes(session)
