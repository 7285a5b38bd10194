"""The SQLAlchemy unit of work: one transaction, one tenant, one actor.

Handlers append events with ``uow.emit``; on commit they are written to the
outbox in the same transaction, then handed to the message bus.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Insert
from sqlalchemy.orm import Session, sessionmaker

from dipper.kernel.clock import Clock, SystemClock
from dipper.kernel.messages import Event
from dipper.kernel.uow import Actor
from dipper.persistence import scoping  # noqa: F401 - installs the tenant-scope and audit listeners
from dipper.persistence.audit import INSERT_ENTRIES, entry_row
from dipper.persistence.outbox import INSERT_MESSAGES, outbox_row


class SqlAlchemyUnitOfWork:
    session: Session

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        tenant_id: str | None,
        actor: Actor,
        request_id: str | None = None,
        action: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.session_factory = session_factory
        #: The container's clock: handlers ask it for "now" and the business date, so a fixed
        #: clock replays a day exactly.
        self.clock: Clock = clock or SystemClock()
        self.tenant_id = tenant_id
        self.actor = actor
        self.request_id = request_id
        self.action = action
        self._pending: list[Event] = []
        self._committed: list[Event] = []
        #: Rows to insert at commit, per statement in first-use order (``insert_at_commit``).
        self._inserts: dict[Insert, list[dict[str, Any]]] = {}

    def __enter__(self) -> Self:
        self.session = self.session_factory()
        self.session.info.update(
            tenant_id=self.tenant_id, actor=self.actor, request_id=self.request_id, action=self.action
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.rollback()
        finally:
            self.session.close()

    def for_tenant(self, tenant_id: str) -> SqlAlchemyUnitOfWork:
        """A fresh unit of work for another tenant, same actor (e.g. provisioning a new bank)."""
        return SqlAlchemyUnitOfWork(
            self.session_factory,
            tenant_id=tenant_id,
            actor=self.actor,
            request_id=self.request_id,
            action=self.action,
            clock=self.clock,
        )

    def emit(self, event: Event) -> None:
        self._pending.append(event)

    def insert_at_commit(self, statement: Insert, row: dict[str, Any]) -> None:
        """Insert ``row`` when the unit of work commits (rows of one statement go in one round trip,
        the statements in the order first used; a constraint that fails, fails the commit)."""
        self._inserts.setdefault(statement, []).append(row)

    def audit(
        self,
        *,
        entity_type: str,
        entity_id: str,
        operation: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        changed: list[str] | None = None,
    ) -> None:
        """The audit entry of a change written with SQL (the flush audits ORM changes itself)."""
        self.insert_at_commit(
            INSERT_ENTRIES,
            entry_row(
                self.session.info,
                tenant_id=self.tenant_id,
                entity_type=entity_type,
                entity_id=entity_id,
                operation=operation,
                before=before,
                after=after,
                changed=changed,
            ),
        )

    def commit(self) -> None:
        for event in self._pending:
            self.insert_at_commit(INSERT_MESSAGES, outbox_row(event))
        if self._inserts:
            self.session.flush()  # the ORM's rows first: a row written here may refer to one of them
            conn = self.session.connection()
            for statement, rows in self._inserts.items():
                conn.execute(statement, rows[0] if len(rows) == 1 else rows)
            self._inserts.clear()
        self.session.commit()
        self._committed.extend(self._pending)
        self._pending.clear()

    def rollback(self) -> None:
        self.session.rollback()
        self._pending.clear()
        self._inserts.clear()

    def collect_new_events(self) -> Iterator[Event]:
        while self._committed:
            yield self._committed.pop(0)
