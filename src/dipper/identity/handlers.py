"""Handlers (to be written)."""

from typing import Any

COMMAND_HANDLERS: dict[type, Any] = {}
EVENT_HANDLERS: dict[type, list[Any]] = {}
