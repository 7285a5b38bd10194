"""Commands and events: the messages modules exchange.

A command asks one module to change something and has exactly one handler.
An event says something happened; any number of modules may react. Both are
immutable dataclasses; they carry the tenant they belong to.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Message:
    tenant_id: str


@dataclass(frozen=True, kw_only=True)
class Command(Message):
    """A request for change, handled by exactly one handler."""


@dataclass(frozen=True, kw_only=True)
class Event(Message):
    """A fact that happened; handlers subscribe to it."""
