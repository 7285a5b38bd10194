"""Handlers of the risk module: the registry the composition root collects.

Each area registers its handlers in its own module (``COMMAND_HANDLERS``/``EVENT_HANDLERS``); this
package merges them. A new area adds its import and ``_merge`` call at the end of this file.
"""

from __future__ import annotations

from typing import Any

COMMAND_HANDLERS: dict[type, Any] = {}
EVENT_HANDLERS: dict[type, list[Any]] = {}


def _merge(module: Any) -> None:
    COMMAND_HANDLERS.update(getattr(module, "COMMAND_HANDLERS", {}))
    for event_type, subscribers in getattr(module, "EVENT_HANDLERS", {}).items():
        EVENT_HANDLERS.setdefault(event_type, []).extend(subscribers)


# Training and file scoring (``handlers/training.py``) register nothing here: they run on files through
# ``risk.commands.run``, and importing them here would load scikit-learn into every process at boot.

from dipper.risk.handlers import registry as _registry  # noqa: E402 - the model registry and strategies

_merge(_registry)

from dipper.risk.handlers import decisions as _decisions  # noqa: E402 - decisions and the review queue

_merge(_decisions)
