"""Events of the access module."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dipper.kernel.messages import Event


@dataclass(frozen=True, kw_only=True)
class TenantCreated(Event):
    code: str
    name: str


@dataclass(frozen=True, kw_only=True)
class ChangeApproved(Event):
    """A second person approved a change; the module owning ``kind`` applies it."""

    change_id: str
    kind: str
    target: str
    payload: dict[str, Any]
    maker_id: str
    checker_id: str
