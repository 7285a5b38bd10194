"""PDO scaling: log-odds to a score, and back.

``score = offset - factor * log_odds(bad)`` with ``factor = pdo / ln 2`` and
``offset = base_score - factor * ln(base_odds)``: at ``base_score`` the odds of good to bad are
``base_odds`` to 1, and every ``pdo`` points more double them. Higher scores are safer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["ScoreScale"]


@dataclass(frozen=True, slots=True)
class ScoreScale:
    base_score: float = 600.0
    base_odds: float = 50.0
    pdo: float = 20.0

    def __post_init__(self) -> None:
        if self.pdo <= 0 or self.base_odds <= 0:
            raise ValueError("pdo and base_odds must be positive")

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        return self.base_score - self.factor * math.log(self.base_odds)

    def score(self, log_odds_bad: float) -> float:
        return self.offset - self.factor * log_odds_bad

    def pd(self, score: float) -> float:
        """Probability of default at a score (the inverse of ``score`` through the logistic)."""
        z = (self.offset - score) / self.factor
        return _sigmoid(z)

    def pd_many(self, scores: NDArray[np.float64]) -> NDArray[np.float64]:
        z = (self.offset - scores) / self.factor
        out: NDArray[np.float64] = 1.0 / (1.0 + np.exp(-z))
        return out

    def points(self, log_odds_contribution: float) -> float:
        """Points a contribution to the log-odds of bad is worth (negative: it lowers the score)."""
        return -self.factor * log_odds_contribution

    def to_json(self) -> dict[str, Any]:
        return {"base_score": self.base_score, "base_odds": self.base_odds, "pdo": self.pdo}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScoreScale:
        return cls(float(data["base_score"]), float(data["base_odds"]), float(data["pdo"]))


def _sigmoid(z: float) -> float:
    # Two branches so that exp never overflows on extreme scores.
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)
