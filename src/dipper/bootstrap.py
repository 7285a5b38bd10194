"""The composition root: settings -> engine, keyring, clock, message bus, unit-of-work factory.

Entry points (HTTP, CLI, console, tests) build one ``Container`` and go through it;
nothing below this layer reads settings or wires handlers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from dipper.access import handlers as access_handlers
from dipper.accounting import handlers as accounting_handlers
from dipper.identity import handlers as identity_handlers
from dipper.kernel.bus import MessageBus
from dipper.kernel.clock import Clock, SystemClock
from dipper.kernel.messages import Command, Event
from dipper.kernel.uow import Actor
from dipper.loans import handlers as loans_handlers
from dipper.persistence import crypto, migrate
from dipper.persistence.db import make_engine, make_session_factory
from dipper.persistence.uow import SqlAlchemyUnitOfWork
from dipper.risk import handlers as risk_handlers
from dipper.settings import Settings, get_settings

#: The unit of work handed to queries and handlers (entry points name it through here).
UnitOfWork = SqlAlchemyUnitOfWork

log = logging.getLogger(__name__)


def _collect_handlers() -> tuple[dict[type[Command], Any], dict[type[Event], list[Any]]]:
    command_handlers: dict[type[Command], Any] = {}
    event_handlers: dict[type[Event], list[Any]] = {}
    for module in (access_handlers, accounting_handlers, identity_handlers, loans_handlers, risk_handlers):
        command_handlers.update(getattr(module, "COMMAND_HANDLERS", {}))
        for event_type, subscribers in getattr(module, "EVENT_HANDLERS", {}).items():
            event_handlers.setdefault(event_type, []).extend(subscribers)
    return command_handlers, event_handlers


@dataclass
class Container:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    bus: MessageBus
    clock: Clock = field(default_factory=SystemClock)

    def uow(
        self,
        tenant_id: str | None,
        actor: Actor | None = None,
        *,
        request_id: str | None = None,
        action: str | None = None,
    ) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(
            self.session_factory,
            tenant_id=tenant_id,
            actor=actor or Actor.system(),
            request_id=request_id,
            action=action,
            clock=self.clock,
        )

    def handle(
        self,
        command: Command,
        *,
        actor: Actor | None = None,
        tenant_id: str | None = None,
        request_id: str | None = None,
        action: str | None = None,
    ) -> Any:
        """Run one command in its own unit of work, then the events it raised."""
        uow = self.uow(
            tenant_id if tenant_id is not None else command.tenant_id,
            actor,
            request_id=request_id,
            action=action or type(command).__name__,
        )
        return self.bus.handle(command, uow)

    def upgrade_schema(self, revision: str = "head") -> None:
        """Bring the database to the newest schema (Alembic)."""
        migrate.upgrade(self.engine, revision)

    def schema_revision(self) -> str | None:
        return migrate.current_revision(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()


def configure_keyring(settings: Settings) -> None:
    crypto.configure(
        crypto.Keyring.from_base64(
            {k: v.get_secret_value() for k, v in settings.pii_keys.items()},
            settings.pii_active_key,
            settings.blind_index_key.get_secret_value(),
            settings.audit_digest_key.get_secret_value(),
        )
    )


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    engine_factory: Callable[[str], Engine] = make_engine,
) -> Container:
    settings = settings or get_settings()
    configure_keyring(settings)
    engine = engine_factory(settings.database_url)
    command_handlers, event_handlers = _collect_handlers()
    return Container(
        settings=settings,
        engine=engine,
        session_factory=make_session_factory(engine),
        bus=MessageBus(command_handlers, event_handlers),
        clock=clock or SystemClock(),
    )
