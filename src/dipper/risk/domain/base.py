"""What every risk model shares: scikit-learn's estimator conventions, PDO scaling, derived features, and a
compiled runtime that scores one application without pandas.

A model family subclasses ``BaseRiskModel`` and implements ``_fit`` (which returns the family's runtime)
and ``_report``. ``fit`` returns ``self``; everything learned ends in ``_``; calling a scoring method
before ``fit`` raises scikit-learn's ``NotFittedError``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, Self

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from dipper.risk.domain.data import check_features
from dipper.risk.domain.errors import MISSING_FEATURE, ValidationFailed
from dipper.risk.domain.features import DerivedFeature, apply_columns, apply_row, parse_features
from dipper.risk.domain.reasons import Reason
from dipper.risk.domain.scale import ScoreScale

__all__ = ["BaseRiskModel", "Columns", "ModelRuntime", "columns_of", "derived_of", "to_float"]

#: A file's columns as numpy arrays: float64 for numbers (NaN when missing), object for categories.
Columns = Mapping[str, NDArray[Any]]


def to_float(value: Any) -> float:
    """A cell of one application as a float (NaN when missing or not a number)."""
    if value is None:
        return math.nan
    if isinstance(value, float):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def columns_of(frame: pd.DataFrame) -> dict[str, NDArray[Any]]:
    out: dict[str, NDArray[Any]] = {}
    for name in frame.columns:
        series = frame[name]
        if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
            out[str(name)] = series.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            out[str(name)] = series.astype(object).where(series.notna(), None).to_numpy(dtype=object)
    return out


def derived_of(
    spec: Sequence[DerivedFeature] | Sequence[Mapping[str, Any]] | None,
) -> tuple[DerivedFeature, ...]:
    if not spec:
        return ()
    if all(isinstance(f, DerivedFeature) for f in spec):
        return tuple(f for f in spec if isinstance(f, DerivedFeature))
    return parse_features([dict(f) if isinstance(f, Mapping) else f for f in spec])


class ModelRuntime(ABC):
    """A fitted model compiled to plain tables: scores one application from a dict, a file from columns."""

    kind: str
    scale: ScoreScale
    derived: tuple[DerivedFeature, ...]
    inputs: list[str]  # the raw columns an application must carry

    @abstractmethod
    def score_one(self, row: Mapping[str, Any]) -> float: ...

    @abstractmethod
    def score_many(self, columns: Columns) -> NDArray[np.float64]: ...

    @abstractmethod
    def reasons(self, row: Mapping[str, Any], top: int = 4) -> list[Reason]: ...

    @abstractmethod
    def to_json(self) -> dict[str, Any]: ...

    def pd_one(self, row: Mapping[str, Any]) -> float:
        return self.scale.pd(self.score_one(row))

    def pd_many(self, columns: Columns) -> NDArray[np.float64]:
        return self.scale.pd_many(self.score_many(columns))

    def missing_inputs(self, names: Sequence[str]) -> list[str]:
        present = set(names)
        return [c for c in self.inputs if c not in present]

    def check_inputs(self, names: Sequence[str]) -> None:
        missing = self.missing_inputs(names)
        if missing:
            raise ValidationFailed(
                f"the data lacks the model's column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(missing[:10])}",
                code=MISSING_FEATURE,
                details={"columns": missing},
            )

    def _row_with_derived(self, row: Mapping[str, Any]) -> Mapping[str, Any]:
        if not self.derived:
            return row
        merged = dict(row)
        merged.update(apply_row(self.derived, row))
        return merged

    def _columns_with_derived(self, columns: Columns) -> Columns:
        if not self.derived:
            return columns
        merged = dict(columns)
        merged.update(apply_columns(self.derived, columns))
        return merged


class BaseRiskModel(ClassifierMixin, BaseEstimator, ABC):  # type: ignore[misc]
    """Base of the model families. Scores are PDO-scaled (higher is safer); ``predict_proba``'s second
    column is the probability of default (class 1)."""

    def __init__(
        self,
        *,
        base_score: float = 600.0,
        base_odds: float = 50.0,
        pdo: float = 20.0,
        derived_features: Sequence[DerivedFeature] | Sequence[Mapping[str, Any]] | None = None,
        random_state: int = 42,
    ) -> None:
        self.base_score = base_score
        self.base_odds = base_odds
        self.pdo = pdo
        self.derived_features = derived_features
        self.random_state = random_state

    # --- the family's part -------------------------------------------------------------------------

    @abstractmethod
    def _fit(self, X: pd.DataFrame, y: NDArray[np.int64], raw_inputs: list[str]) -> ModelRuntime: ...

    @abstractmethod
    def _report(self) -> dict[str, Any]: ...

    # --- scikit-learn surface ----------------------------------------------------------------------

    @property
    def scale(self) -> ScoreScale:
        return ScoreScale(self.base_score, self.base_odds, self.pdo)

    def fit(self, X: pd.DataFrame, y: Any) -> Self:
        check_features(X)
        derived = derived_of(self.derived_features)
        raw = [str(c) for c in X.columns]
        data = X.reset_index(drop=True)
        if derived:
            missing = [
                c for f in derived for c in f.inputs if c not in raw and c not in {d.name for d in derived}
            ]
            if missing:
                raise ValidationFailed(
                    f"derived features read unknown column{'s' if len(missing) > 1 else ''} "
                    f"{', '.join(dict.fromkeys(missing))}",
                    code=MISSING_FEATURE,
                    details={"columns": list(dict.fromkeys(missing))},
                )
            extra = apply_columns(derived, columns_of(data[list(raw)]))
            data = data.assign(**extra)
        target = np.asarray(y, dtype=np.int64)
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = np.array(raw, dtype=object)
        self.n_features_in_ = len(raw)
        self.runtime_ = self._fit(data, target, raw)
        self.report_ = self._report()
        return self

    def _columns(self, X: pd.DataFrame) -> Columns:
        check_is_fitted(self, "runtime_")
        self.runtime_.check_inputs([str(c) for c in X.columns])
        return columns_of(X.reset_index(drop=True))

    def predict_score(self, X: pd.DataFrame) -> NDArray[np.float64]:
        """The credit score of each row (PDO-scaled; higher is safer)."""
        columns = self._columns(X)
        return self.runtime_.score_many(columns)

    def predict_proba(self, X: pd.DataFrame) -> NDArray[np.float64]:
        columns = self._columns(X)
        pd_ = self.runtime_.pd_many(columns)
        return np.column_stack([1.0 - pd_, pd_])

    def predict(self, X: pd.DataFrame) -> NDArray[np.int64]:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)

    def reasons(self, row: Mapping[str, Any], top: int = 4) -> list[Reason]:
        """The ``top`` factors that lowered this application's score most, largest first."""
        check_is_fitted(self, "runtime_")
        return self.runtime_.reasons(row, top)
