"""Events of the risk module (facts that happened)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ModelTrained"]


@dataclass(frozen=True)
class ModelTrained:
    """A model directory was written; ``content_hash`` identifies it for the registry."""

    kind: str
    path: str
    content_hash: str
