"""Checks on a training table before any model sees it, and the split every model validates on.

Each problem a user can cause (no target, a target that is not 0/1, a constant column, too few rows)
is a ``ValidationFailed`` with a stable code, raised before any fitting starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.model_selection import train_test_split

from dipper.risk.domain.errors import (
    CONSTANT_COLUMN,
    MISSING_TARGET,
    NO_FEATURES,
    TARGET_NOT_BINARY,
    TOO_FEW_ROWS,
    UNKNOWN_COLUMN,
    ValidationFailed,
)

__all__ = ["MIN_ROWS_PER_CLASS", "TrainingData", "check_features", "prepare_training", "split"]

#: Each class needs this many rows, so that a 20% validation split still holds some of both.
MIN_ROWS_PER_CLASS = 10


@dataclass(frozen=True)
class TrainingData:
    X: pd.DataFrame
    y: NDArray[np.int64]
    target: str
    excluded: tuple[str, ...]


def _binary_target(values: pd.Series, target: str) -> NDArray[np.int64]:
    if values.isna().any():
        raise ValidationFailed(
            f"target {target!r} has {int(values.isna().sum())} empty values",
            code=TARGET_NOT_BINARY,
            details={"target": target},
        )
    distinct = sorted({str(v).strip().lower() for v in values.unique()})
    mapping = {"0": 0, "1": 1, "0.0": 0, "1.0": 1, "false": 0, "true": 1}
    if not set(distinct) <= set(mapping):
        raise ValidationFailed(
            f"target {target!r} must be 0/1 (1 = default), found {distinct[:5]}",
            code=TARGET_NOT_BINARY,
            details={"target": target, "values": distinct[:5]},
        )
    y = np.array([mapping[str(v).strip().lower()] for v in values], dtype=np.int64)
    counts = np.bincount(y, minlength=2)
    if counts.min() < MIN_ROWS_PER_CLASS:
        raise ValidationFailed(
            f"target {target!r} needs at least {MIN_ROWS_PER_CLASS} rows of each class, "
            f"found {int(counts[0])} zeros and {int(counts[1])} ones",
            code=TOO_FEW_ROWS,
            details={"target": target, "zeros": int(counts[0]), "ones": int(counts[1])},
        )
    return y


def check_features(frame: pd.DataFrame) -> None:
    """No feature may be constant: it carries no information and would break the binning."""
    constant = [str(c) for c in frame.columns if frame[c].nunique(dropna=False) <= 1]
    if constant:
        raise ValidationFailed(
            f"constant column{'s' if len(constant) > 1 else ''} {', '.join(constant)}: "
            "drop it or pass --exclude",
            code=CONSTANT_COLUMN,
            details={"columns": constant},
        )


def prepare_training(frame: pd.DataFrame, target: str, exclude: Sequence[str] = ()) -> TrainingData:
    if target not in frame.columns:
        raise ValidationFailed(
            f"no target column {target!r} in the data",
            code=MISSING_TARGET,
            details={"target": target, "columns": [str(c) for c in frame.columns][:50]},
        )
    unknown = [c for c in exclude if c not in frame.columns]
    if unknown:
        raise ValidationFailed(
            f"cannot exclude unknown column{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}",
            code=UNKNOWN_COLUMN,
            details={"columns": unknown},
        )
    y = _binary_target(frame[target], target)
    X = frame.drop(columns=[target, *exclude])
    if X.shape[1] == 0:
        raise ValidationFailed("no feature columns left to train on", code=NO_FEATURES)
    check_features(X)
    return TrainingData(X=X.reset_index(drop=True), y=y, target=target, excluded=tuple(exclude))


def split(
    X: pd.DataFrame, y: NDArray[np.int64], *, test_size: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, NDArray[np.int64], NDArray[np.int64]]:
    """A stratified split (the one every figure of this module is measured on)."""
    X_a, X_b, y_a, y_b = train_test_split(X, y, test_size=test_size, stratify=y, random_state=seed)
    return X_a.reset_index(drop=True), X_b.reset_index(drop=True), y_a, y_b
