"""Commands of the risk module (its public write surface).

Training and file scoring work on files, not on the database, so they run without a unit of work:
``run`` executes one at once. When the model registry arrives, ``TrainModel`` will also register the
directory it wrote (through the bus, under maker-checker).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["MODEL_KINDS", "ScoreFile", "TrainModel", "run"]

MODEL_KINDS = ("scorecard", "gbdt")


@dataclass(frozen=True)
class TrainModel:
    """Train a model on every row of ``data`` and write its directory to ``out``.

    The figures it reports come from a stratified ``validation_fraction`` split (seed ``seed``): a
    model of the same settings fitted on the rest and measured on it."""

    data: Path
    target: str
    kind: str
    out: Path
    exclude: tuple[str, ...] = ()
    seed: int = 42
    validation_fraction: float = 0.2
    derived_features: Path | None = None  # JSON list of {name, op, inputs}


@dataclass(frozen=True)
class ScoreFile:
    """Score every row of ``data`` with the model in ``model``; write the input columns plus score and pd."""

    model: Path
    data: Path
    out: Path


def run(command: TrainModel | ScoreFile) -> dict[str, Any]:
    from dipper.risk.handlers import training as handlers

    if isinstance(command, TrainModel):
        return handlers.train_model(command)
    return handlers.score_file(command)
