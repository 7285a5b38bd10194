"""Transactional outbox: events leave the process only after the change that raised them commits."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Insert, String, insert
from sqlalchemy.orm import Mapped, mapped_column

from dipper.kernel.ids import new_id
from dipper.kernel.messages import Event
from dipper.persistence.base import ID, Base, UTCDateTime, utcnow


class OutboxMessage(Base):
    __tablename__ = "outbox_message"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ID, index=True)
    topic: Mapped[str] = mapped_column(String(120))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)


def _plain(value: Any) -> Any:
    """``value`` as ``json.loads(json.dumps(value, default=str))`` gives it back, without the round trip."""
    if value is None or type(value) in (bool, int, float):
        return value
    if isinstance(value, str):
        return str(value)  # an enum's text
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict) and all(type(k) is str for k in value):
        return {k: _plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return json.loads(json.dumps(value, default=str))  # anything else, exactly as before


def outbox_row(event: Event) -> dict[str, Any]:
    """The outbox row of ``event`` (its id and time are the table's defaults)."""
    # Dates and decimals become ISO strings: the payload is plain JSON for any consumer.
    payload = _plain(event)
    return {
        "tenant_id": event.tenant_id,
        "topic": f"{type(event).__module__.split('.')[1]}.{type(event).__name__}",
        "payload": payload,
    }


def to_outbox(event: Event) -> OutboxMessage:
    return OutboxMessage(**outbox_row(event))


#: A unit of work's events, written in one statement at commit (``outbox_row`` values).
INSERT_MESSAGES: Insert = insert(OutboxMessage.__table__)  # type: ignore[arg-type]
