"""Handlers of the model registry and of strategy publishing (maker-checker through access)."""

from __future__ import annotations

from typing import Any

from dipper.risk.adapters import registry_tables  # noqa: F401 - the tables join the metadata

COMMAND_HANDLERS: dict[type, Any] = {}
EVENT_HANDLERS: dict[type, list[Any]] = {}
