"""The SQLAlchemy unit of work: one transaction, one tenant, one actor.

Handlers append events with ``uow.emit``; on commit they are written to the
outbox in the same transaction, then handed to the message bus.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Self

from sqlalchemy.orm import Session, sessionmaker

from dipper.kernel.clock import Clock, SystemClock
from dipper.kernel.messages import Event
from dipper.kernel.uow import Actor
from dipper.persistence import scoping  # noqa: F401 - installs the tenant-scope and audit listeners
from dipper.persistence.outbox import to_outbox


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

    def commit(self) -> None:
        for event in self._pending:
            self.session.add(to_outbox(event))
        self.session.commit()
        self._committed.extend(self._pending)
        self._pending.clear()

    def rollback(self) -> None:
        self.session.rollback()
        self._pending.clear()

    def collect_new_events(self) -> Iterator[Event]:
        while self._committed:
            yield self._committed.pop(0)
