"""The audit log: every insert, update and delete of an audited row, with who, when, what,
and keyed digests of the row before and after (values themselves are never copied here,
so personal data does not leak into the log). Entries are append-only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Insert, String, insert, inspect
from sqlalchemy.orm import Mapped, Session, mapped_column

from dipper.kernel.ids import new_id
from dipper.persistence import crypto
from dipper.persistence.base import ID, Base, UTCDateTime, utcnow

#: Per mapped class, computed once: its column attribute keys, and its columns' Python-side defaults.
_COLUMN_KEYS: dict[Any, tuple[str, ...]] = {}
_DEFAULTS: dict[Any, tuple[tuple[str, Any], ...]] = {}


class AuditEntry(Base):
    __tablename__ = "audit_entry"
    __immutable__ = True
    __table_args__ = (Index("ix_audit_entry_tenant_time", "tenant_id", "occurred_at"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    tenant_id: Mapped[str | None] = mapped_column(ID, index=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(200))
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64))
    operation: Mapped[str] = mapped_column(String(8))  # create | update | delete
    changed_fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    before_digest: Mapped[str | None] = mapped_column(String(64))
    after_digest: Mapped[str | None] = mapped_column(String(64))


def _column_keys(mapper: Any) -> tuple[str, ...]:
    keys: tuple[str, ...] | None = _COLUMN_KEYS.get(mapper)
    if keys is None:
        keys = _COLUMN_KEYS[mapper] = tuple(attr.key for attr in mapper.column_attrs)
    return keys


def column_keys(cls: type) -> tuple[str, ...]:
    """The audited attributes of a mapped class: what a digest of one of its rows covers. Code that
    writes the class's rows with SQL uses these as column names (they are the same in this schema)."""
    mapper: Any = inspect(cls)
    keys = _column_keys(mapper)
    names = tuple(mapper.get_property(k).columns[0].key for k in keys)
    if names != keys:  # pragma: no cover - a schema change would have to rename the attributes
        raise TypeError(f"{cls.__name__}: attribute and column names differ")
    return keys


def _states(obj: Any) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """The row's values before and after this flush, and the attributes that changed.

    Only attributes with a committed state can have changed: the history API (the costly part) is
    asked about those alone; every other attribute has one value, before and after."""
    insp = inspect(obj)
    pending = insp.committed_state
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    changed: list[str] = []
    for key in _column_keys(insp.mapper):
        value = getattr(obj, key)
        after[key] = value
        if key not in pending:
            before[key] = value
            continue
        hist = insp.attrs[key].history
        if hist.has_changes():
            changed.append(key)
        if hist.deleted:
            before[key] = hist.deleted[0]
        elif not hist.added:
            before[key] = value
        # else: the attribute had no committed value
    return before, after, changed


def _entity_id(obj: Any) -> str:
    ident = inspect(obj).mapper.primary_key_from_instance(obj)
    return ":".join(str(v) for v in ident)


def _python_defaults(mapper: Any) -> tuple[tuple[str, Any], ...]:
    found: tuple[tuple[str, Any], ...] | None = _DEFAULTS.get(mapper)
    if found is None:
        found = _DEFAULTS[mapper] = tuple(
            (mapper.get_property_by_column(column).key, column.default)
            for column in mapper.columns
            if column.default is not None
        )
    return found


def _apply_python_defaults(obj: Any) -> None:
    """Give a new row its Python-side defaults (id, timestamps) now, so its audit entry
    names the id and digests the state that will be stored."""
    for key, default in _python_defaults(inspect(obj).mapper):
        if getattr(obj, key) is not None:
            continue
        if default.is_callable:
            setattr(obj, key, default.arg(None))
        elif default.is_scalar:
            setattr(obj, key, default.arg)


def entry_row(
    info: Mapping[str, Any],
    *,
    tenant_id: str | None,
    entity_type: str,
    entity_id: str,
    operation: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    changed: list[str] | None = None,
) -> dict[str, Any]:
    """One audit entry's values: who (the session's ``info``: actor, request, action), what and the
    digests. The one rule for every writer: the flush below and code that writes rows with SQL."""
    actor = info.get("actor")
    return {
        "id": new_id(),
        "occurred_at": utcnow(),
        "tenant_id": tenant_id or info.get("tenant_id"),
        "actor_kind": actor.kind if actor else "system",
        "actor_id": actor.id if actor else "system",
        "request_id": info.get("request_id"),
        "action": info.get("action") or "",
        "entity_type": entity_type,
        "entity_id": entity_id,
        "operation": operation,
        "changed_fields": sorted(changed or ()) if operation == "update" else [],
        "before_digest": crypto.digest(before) if operation != "create" else None,
        "after_digest": crypto.digest(after) if operation != "delete" else None,
    }


#: Audit rows written with SQL (``entry_row`` values, many at once).
INSERT_ENTRIES: Insert = insert(AuditEntry.__table__)  # type: ignore[arg-type]


def record_changes(session: Session) -> None:
    """Called before every flush: add an audit entry for each audited row that changes."""
    entries: list[AuditEntry] = []
    ops = [("create", session.new), ("update", session.dirty), ("delete", session.deleted)]
    for operation, objects in ops:
        for obj in list(objects):
            if not getattr(obj, "__audited__", False):
                continue
            if operation == "update" and not session.is_modified(obj, include_collections=False):
                continue
            if operation == "create":
                _apply_python_defaults(obj)
            before, after, changed = _states(obj)
            entries.append(
                AuditEntry(
                    **entry_row(
                        session.info,
                        tenant_id=getattr(obj, "tenant_id", None),
                        entity_type=type(obj).__tablename__,
                        entity_id=_entity_id(obj),
                        operation=operation,
                        before=before,
                        after=after,
                        changed=changed,
                    )
                )
            )
    session.add_all(entries)
