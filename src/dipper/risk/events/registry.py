"""Events of the model registry and of strategy publishing."""

from __future__ import annotations

from dataclasses import dataclass

from dipper.kernel.messages import Event

__all__ = ["ChallengerSet", "ModelApproved", "ModelRegistered", "ModelRetired", "StrategyPublished"]


@dataclass(frozen=True, kw_only=True)
class ModelRegistered(Event):
    """A model version was stored, pending approval."""

    model_id: str
    name: str
    version: int
    kind: str
    content_hash: str


@dataclass(frozen=True, kw_only=True)
class ModelApproved(Event):
    model_id: str
    name: str
    version: int
    content_hash: str
    approved_by: str


@dataclass(frozen=True, kw_only=True)
class ModelRetired(Event):
    model_id: str
    name: str
    version: int


@dataclass(frozen=True, kw_only=True)
class StrategyPublished(Event):
    """A strategy version became the champion of its id (the one it replaced is retired)."""

    strategy_id: str
    version: int
    content_hash: str
    previous_version: int | None
    approved_by: str


@dataclass(frozen=True, kw_only=True)
class ChallengerSet(Event):
    """The champion/challenger split of a strategy changed (``challenger_version`` None: no split)."""

    strategy_id: str
    challenger_version: int | None
    share: str
    approved_by: str
