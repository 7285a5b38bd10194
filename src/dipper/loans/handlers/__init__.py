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


from dipper.loans.handlers import products as _products  # noqa: E402 - after the registry it fills

_merge(_products)
from dipper.loans.handlers import origination as _origination  # noqa: E402

_merge(_origination)
from dipper.loans.handlers import servicing as _servicing  # noqa: E402

_merge(_servicing)
from dipper.loans.handlers import batch as _batch  # noqa: E402

_merge(_batch)
