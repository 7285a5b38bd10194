"""Reason codes: why a score is what it is, in the applicant's terms.

A reason names one feature that pulled the score down, how many points it cost, and says so in
Simplified Chinese and English. A scorecard's cost is the points below that feature's best bin; a
boosted model's cost is the feature's TreeSHAP contribution to the log-odds, in points.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["LANGUAGES", "Reason", "format_value", "rank"]

LANGUAGES = ("zh-CN", "en")


def format_value(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


@dataclass(frozen=True, slots=True)
class Reason:
    """One adverse factor. ``code`` is stable: ``R_`` and the feature name."""

    rank: int
    feature: str
    value: Any
    points_lost: float
    detail: str = ""  # the scorecard's bin, e.g. "[1.50, inf)"; empty for a boosted model

    @property
    def code(self) -> str:
        return f"R_{self.feature}"

    def text(self, language: str = "en", labels: Mapping[str, Mapping[str, str]] | None = None) -> str:
        label = (labels or {}).get(self.feature, {}).get(language, self.feature)
        value = format_value(self.value)
        points = f"{self.points_lost:.1f}"
        if language == "zh-CN":
            where = f"，所在区间 {self.detail}" if self.detail else ""
            return f"{label}（取值 {value}{where}）使评分降低 {points} 分"
        if language == "en":
            where = f", in bin {self.detail}" if self.detail else ""
            return f"{label} ({value}{where}) lowered the score by {points} points"
        raise ValueError(f"language must be one of {LANGUAGES}")

    def to_json(self, labels: Mapping[str, Mapping[str, str]] | None = None) -> dict[str, Any]:
        value = self.value
        if isinstance(value, float) and math.isnan(value):
            value = None
        return {
            "rank": self.rank,
            "code": self.code,
            "feature": self.feature,
            "value": value,
            "points_lost": round(self.points_lost, 4),
            "detail": self.detail,
            "text": {language: self.text(language, labels) for language in LANGUAGES},
        }


def rank(costs: list[tuple[str, Any, float, str]], top: int) -> list[Reason]:
    """The ``top`` largest costs (feature, value, points lost, detail) above zero, largest first; ties
    broken by feature name so that the same application always gets the same reasons."""
    adverse = sorted((c for c in costs if c[2] > 1e-9), key=lambda c: (-c[2], c[0]))
    return [
        Reason(rank=i + 1, feature=f, value=v, points_lost=p, detail=d)
        for i, (f, v, p, d) in enumerate(adverse[:top])
    ]
