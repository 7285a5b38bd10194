"""Derived features: a few credit ratios and row aggregates, declared as data and computed the same way
on one application (plain floats) and on a whole file (numpy columns).

Both paths apply the same IEEE operations in the same order, so a derived value is bit-for-bit the same
whichever path computed it. Missing inputs are NaN; each operation says what it does with them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from dipper.risk.domain.errors import INVALID_FEATURE_SPEC, ValidationFailed

__all__ = ["OPERATIONS", "DerivedFeature", "apply_columns", "apply_row", "parse_features", "required_inputs"]

#: ratio: numerator / denominator, missing when either is missing or the denominator is not positive
#: (a utilisation or a payment ratio means nothing over a zero or negative balance).
#: difference: a - b. sum, mean, max, min: over the inputs present (missing if none is).
#: count_positive: how many inputs are present and > 0 (e.g. months in arrears).
OPERATIONS = ("ratio", "difference", "sum", "mean", "max", "min", "count_positive")
_TWO_INPUTS = ("ratio", "difference")


@dataclass(frozen=True, slots=True)
class DerivedFeature:
    name: str
    op: str
    inputs: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.op not in OPERATIONS:
            raise ValidationFailed(
                f"unknown operation {self.op!r} for derived feature {self.name!r}",
                code=INVALID_FEATURE_SPEC,
                details={"feature": self.name, "op": self.op, "allowed": list(OPERATIONS)},
            )
        if (self.op in _TWO_INPUTS and len(self.inputs) != 2) or not self.inputs:
            raise ValidationFailed(
                f"derived feature {self.name!r}: {self.op} takes "
                f"{'two inputs' if self.op in _TWO_INPUTS else 'at least one input'}",
                code=INVALID_FEATURE_SPEC,
                details={"feature": self.name},
            )

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "op": self.op, "inputs": list(self.inputs)}


def parse_features(data: Any) -> tuple[DerivedFeature, ...]:
    """Derived features from JSON: a list of ``{"name", "op", "inputs"}`` objects."""
    if not isinstance(data, list):
        raise ValidationFailed(
            "derived features must be a JSON list of {name, op, inputs}", code=INVALID_FEATURE_SPEC
        )
    out: list[DerivedFeature] = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ValidationFailed(
                "each derived feature needs a name, an op and inputs", code=INVALID_FEATURE_SPEC
            )
        inputs = item.get("inputs")
        if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
            raise ValidationFailed(
                f"derived feature {item['name']!r}: inputs must be a list of column names",
                code=INVALID_FEATURE_SPEC,
            )
        out.append(DerivedFeature(item["name"], str(item.get("op")), tuple(inputs)))
    names = [f.name for f in out]
    if len(set(names)) != len(names):
        raise ValidationFailed("derived feature names must be unique", code=INVALID_FEATURE_SPEC)
    return tuple(out)


def _num(value: Any) -> float:
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _one(op: str, xs: Sequence[float]) -> float:
    if op == "ratio":
        num, den = xs
        return num / den if den > 0 and num == num else math.nan
    if op == "difference":
        return xs[0] - xs[1]
    if op == "count_positive":
        return float(sum(1 for x in xs if x > 0))
    present = [x for x in xs if x == x]
    if not present:
        return math.nan
    if op in ("sum", "mean"):
        total = 0.0
        for x in present:
            total += x
        return total if op == "sum" else total / len(present)
    return max(present) if op == "max" else min(present)


def apply_row(features: Sequence[DerivedFeature], row: Mapping[str, Any]) -> dict[str, float]:
    """The derived values of one application (plain Python, no numpy on this path)."""
    values: dict[str, float] = {}
    for feature in features:
        xs = [values[i] if i in values else _num(row.get(i)) for i in feature.inputs]
        values[feature.name] = _one(feature.op, xs)
    return values


def apply_columns(
    features: Sequence[DerivedFeature], columns: Mapping[str, NDArray[np.float64]]
) -> dict[str, NDArray[np.float64]]:
    """The derived columns of a whole file, column by column in the row path's order."""
    values: dict[str, NDArray[np.float64]] = {}
    for feature in features:
        xs = [values[i] if i in values else np.asarray(columns[i], dtype=np.float64) for i in feature.inputs]
        values[feature.name] = _many(feature.op, xs)
    return values


def _many(op: str, xs: list[NDArray[np.float64]]) -> NDArray[np.float64]:
    with np.errstate(divide="ignore", invalid="ignore"):
        if op == "ratio":
            num, den = xs
            return np.where((den > 0) & ~np.isnan(num), num / np.where(den > 0, den, 1.0), np.nan)
        if op == "difference":
            return xs[0] - xs[1]
        if op == "count_positive":
            count = np.zeros_like(xs[0])
            for x in xs:
                count += x > 0
            return count
        present = np.zeros_like(xs[0])
        for x in xs:
            present += ~np.isnan(x)
        if op in ("sum", "mean"):
            total = np.zeros_like(xs[0])
            for x in xs:
                total = np.where(np.isnan(x), total, total + x)
            result = total if op == "sum" else total / np.where(present > 0, present, 1.0)
        else:
            pick = np.fmax if op == "max" else np.fmin
            result = xs[0].copy()
            for x in xs[1:]:
                result = pick(result, x)
        return np.where(present > 0, result, np.nan)


def required_inputs(features: Sequence[DerivedFeature]) -> list[str]:
    """The raw columns the derived features read (derived names excluded), in first-use order."""
    derived = {f.name for f in features}
    seen: dict[str, None] = {}
    for feature in features:
        for name in feature.inputs:
            if name not in derived:
                seen.setdefault(name, None)
    return list(seen)
