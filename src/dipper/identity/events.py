"""Events of the identity module.

Events are written to the outbox as plain JSON and leave the process (webhooks),
so they carry ids only, never personal data: a subscriber that needs a field asks
``identity.queries`` for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from dipper.kernel.messages import Event


@dataclass(frozen=True, kw_only=True)
class CustomerRegistered(Event):
    customer_id: str
    kind: str


@dataclass(frozen=True, kw_only=True)
class CustomerContactUpdated(Event):
    customer_id: str
