"""The unit-of-work protocol: one business transaction, scoped to one tenant and one actor."""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

from dipper.kernel.clock import Clock


@dataclass(frozen=True)
class Actor:
    """Who is acting: a staff user, a partner API key, or the system (batch, CLI)."""

    kind: str  # "user" | "api_key" | "system"
    id: str
    name: str = ""

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(kind="system", id="system", name=name)


class UnitOfWork(Protocol):
    tenant_id: str | None
    actor: Actor
    clock: Clock

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...
