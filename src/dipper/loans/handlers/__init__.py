"""Handlers of the loan core: the registry the composition root collects.

Each area registers its handlers in its own module; this package merges them.
"""

from __future__ import annotations

from typing import Any

from dipper.loans.adapters import accounts as _accounts  # noqa: F401 - registers the tables

COMMAND_HANDLERS: dict[type, Any] = {}
EVENT_HANDLERS: dict[type, list[Any]] = {}


def _merge(module: Any) -> None:
    COMMAND_HANDLERS.update(getattr(module, "COMMAND_HANDLERS", {}))
    for event_type, subscribers in getattr(module, "EVENT_HANDLERS", {}).items():
        EVENT_HANDLERS.setdefault(event_type, []).extend(subscribers)
