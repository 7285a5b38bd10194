"""The scorecard: optimal binning (optbinning) with monotonic event rates, weight of evidence, a logistic
regression on the WOE values, PDO scaling, and the points table that is the model at run time.

The points table (``PointsTable``) is plain lists and dicts: one application scores in a few
microseconds without pandas, and a whole file scores through numpy with the same additions in the
same order, so both give the very same float.
"""

from __future__ import annotations

import bisect
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression

from dipper.risk.domain.base import BaseRiskModel, Columns, ModelRuntime, to_float
from dipper.risk.domain.features import DerivedFeature, parse_features, required_inputs
from dipper.risk.domain.reasons import Reason, rank
from dipper.risk.domain.scale import ScoreScale

__all__ = ["FeatureBins", "PointsTable", "ScorecardModel", "category_key"]

NUMERICAL = "numerical"
CATEGORICAL = "categorical"
DISCRETE = "discrete"  # a numeric column of a few integer codes, binned as categories


def category_key(value: Any, kind: str) -> str | None:
    """The lookup key of a category: integer codes as ``"2"`` whether they arrive as 2, 2.0 or "2"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if kind == DISCRETE:
        number = to_float(value)
        if math.isnan(number):
            return None
        return str(int(number)) if number.is_integer() else repr(number)
    text = str(value)
    return text if text else None


@dataclass
class FeatureBins:
    """One feature's bins: regular bins ``0..k-1``, then the special bin ``k`` and the missing bin ``k+1``.

    Numerical bins are ``[split[i-1], split[i])``; categories not seen in training fall in the missing bin.
    """

    name: str
    kind: str
    labels: list[str]
    points: list[float]
    woe: list[float]
    splits: list[float] = field(default_factory=list)
    categories: dict[str, int] = field(default_factory=dict)
    special_codes: list[float] = field(default_factory=list)

    @property
    def special(self) -> int:
        return len(self.labels) - 2

    @property
    def missing(self) -> int:
        return len(self.labels) - 1

    def __post_init__(self) -> None:
        # Integer codes arriving as numbers hit this dict directly (hash(2) == hash(2.0)).
        self._by_number: dict[Any, int] = {}
        if self.kind == DISCRETE:
            self._by_number = {float(k): v for k, v in self.categories.items()}

    def index_one(self, value: Any) -> int:
        if self.kind == NUMERICAL:
            x = value if type(value) is float or type(value) is int else to_float(value)
            if x != x:
                return self.missing
            if self.special_codes and x in self.special_codes:
                return self.special
            return bisect.bisect_right(self.splits, x)
        if self._by_number and (type(value) is int or type(value) is float):
            found = self._by_number.get(value)
            if found is not None:
                return found
        key = category_key(value, self.kind)
        if key is None:
            return self.missing
        return self.categories.get(key, self.missing)

    def index_many(self, column: NDArray[Any]) -> NDArray[np.int64]:
        if self.kind == NUMERICAL:
            x = np.asarray(column, dtype=np.float64)
            idx = np.searchsorted(np.asarray(self.splits, dtype=np.float64), x, side="right").astype(np.int64)
            if self.special_codes:
                idx[np.isin(x, self.special_codes)] = self.special
            idx[np.isnan(x)] = self.missing
            return idx
        # Each distinct value looked up once, by the same rule as one application's; missing values
        # (None, NaN) go to the missing bin, as category_key sends them.
        values = np.asarray(column)
        if values.dtype.kind not in "fiub":
            values = values.astype(object)
        index, uniques = pd.factorize(values, use_na_sentinel=True)
        lookup = self.categories
        missing = self.missing
        bins = np.asarray(
            [
                lookup.get(k, missing) if (k := category_key(u, self.kind)) is not None else missing
                for u in uniques
            ]
            + [missing],
            dtype=np.int64,
        )
        result: NDArray[np.int64] = bins[index]  # the sentinel -1 reads the trailing missing bin
        return result

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "labels": self.labels,
            "points": self.points,
            "woe": self.woe,
        }
        if self.kind == NUMERICAL:
            out["splits"] = self.splits
            out["special_codes"] = self.special_codes
        else:
            out["categories"] = self.categories
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeatureBins:
        return cls(
            name=str(data["name"]),
            kind=str(data["kind"]),
            labels=[str(x) for x in data["labels"]],
            points=[float(x) for x in data["points"]],
            woe=[float(x) for x in data["woe"]],
            splits=[float(x) for x in data.get("splits", [])],
            categories={str(k): int(v) for k, v in data.get("categories", {}).items()},
            special_codes=[float(x) for x in data.get("special_codes", [])],
        )


class PointsTable(ModelRuntime):
    """score = base points + the points of each feature's bin."""

    kind = "scorecard"

    def __init__(
        self,
        *,
        base_points: float,
        features: list[FeatureBins],
        scale: ScoreScale,
        derived: tuple[DerivedFeature, ...] = (),
        inputs: list[str] | None = None,
    ) -> None:
        self.base_points = base_points
        self.features = features
        self.scale = scale
        self.derived = derived
        derived_names = {d.name for d in derived}
        self.inputs = (
            inputs
            if inputs is not None
            else list(
                dict.fromkeys(
                    [f.name for f in features if f.name not in derived_names] + required_inputs(derived)
                )
            )
        )

    def _bins_one(self, row: Mapping[str, Any]) -> list[int]:
        values = self._row_with_derived(row)
        return [f.index_one(values.get(f.name)) for f in self.features]

    def score_one(self, row: Mapping[str, Any]) -> float:
        total = self.base_points
        for feature, index in zip(self.features, self._bins_one(row), strict=True):
            total += feature.points[index]
        return total

    def score_many(self, columns: Columns) -> NDArray[np.float64]:
        values = self._columns_with_derived(columns)
        n = len(next(iter(values.values()))) if values else 0
        total = np.full(n, self.base_points, dtype=np.float64)
        for feature in self.features:
            points = np.asarray(feature.points, dtype=np.float64)
            total = total + points[feature.index_many(values[feature.name])]
        return total

    def bins_many(self, columns: Columns) -> dict[str, NDArray[np.int64]]:
        values = self._columns_with_derived(columns)
        return {f.name: f.index_many(values[f.name]) for f in self.features}

    def reasons(self, row: Mapping[str, Any], top: int = 4) -> list[Reason]:
        """Largest adverse points: how far each feature's points fall below its best bin."""
        values = self._row_with_derived(row)
        costs = []
        for feature, index in zip(self.features, self._bins_one(row), strict=True):
            lost = max(feature.points) - feature.points[index]
            costs.append((feature.name, values.get(feature.name), lost, feature.labels[index]))
        return rank(costs, top)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "format": 1,
            "scale": self.scale.to_json(),
            "base_points": self.base_points,
            "inputs": self.inputs,
            "derived_features": [d.to_json() for d in self.derived],
            "features": [f.to_json() for f in self.features],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PointsTable:
        return cls(
            base_points=float(data["base_points"]),
            features=[FeatureBins.from_json(f) for f in data["features"]],
            scale=ScoreScale.from_json(data["scale"]),
            derived=parse_features(data.get("derived_features", [])),
            inputs=[str(c) for c in data["inputs"]],
        )


def _label(value: Any) -> str:
    if isinstance(value, (list, tuple, np.ndarray)):
        return "{" + ", ".join(str(v) for v in value) + "}"
    return str(value)


def _binning_process() -> Any:
    # optbinning imports cvxpy, which logs to stderr every optional solver it fails to load (the binning
    # uses none of them): quiet only while importing.
    cvxpy_log = logging.getLogger("__cvxpy__")
    was = cvxpy_log.disabled
    cvxpy_log.disabled = True
    try:
        from optbinning import BinningProcess
    finally:
        cvxpy_log.disabled = was
    return BinningProcess


class ScorecardModel(BaseRiskModel):
    """Optimal binning + WOE + logistic regression, scaled to points.

    Parameters follow optbinning's names where they are optbinning's: ``monotonic_trend`` (each numerical
    feature's event rate rises or falls across its bins; ``"auto_asc_desc"`` picks the direction),
    ``max_n_prebins``, ``min_prebin_size``, ``special_codes`` (per feature: values such as -2 "no
    consumption" that get a bin of their own). Numeric columns of at most ``discrete_max_values`` integer
    codes are binned as categories. A feature whose regression coefficient has the wrong sign (more
    evidence of good raising the risk) is dropped and the regression refitted, so points always move
    with the evidence.
    """

    def __init__(
        self,
        *,
        monotonic_trend: str | None = "auto_asc_desc",
        max_n_prebins: int = 20,
        min_prebin_size: float = 0.02,
        special_codes: Mapping[str, Sequence[float]] | None = None,
        discrete_max_values: int = 12,
        min_iv: float = 0.0,
        C: float = 1.0,
        drop_wrong_sign: bool = True,
        base_score: float = 600.0,
        base_odds: float = 50.0,
        pdo: float = 20.0,
        derived_features: Sequence[DerivedFeature] | Sequence[Mapping[str, Any]] | None = None,
        random_state: int = 42,
    ) -> None:
        super().__init__(
            base_score=base_score,
            base_odds=base_odds,
            pdo=pdo,
            derived_features=derived_features,
            random_state=random_state,
        )
        self.monotonic_trend = monotonic_trend
        self.max_n_prebins = max_n_prebins
        self.min_prebin_size = min_prebin_size
        self.special_codes = special_codes
        self.discrete_max_values = discrete_max_values
        self.min_iv = min_iv
        self.C = C
        self.drop_wrong_sign = drop_wrong_sign

    def _kind_of(self, series: pd.Series) -> str:
        if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
            return CATEGORICAL
        values = series.dropna().to_numpy(dtype=np.float64)
        distinct = np.unique(values)
        if len(distinct) <= self.discrete_max_values and np.all(np.mod(distinct, 1) == 0):
            return DISCRETE
        return NUMERICAL

    def _fit(self, X: pd.DataFrame, y: NDArray[np.int64], raw_inputs: list[str]) -> ModelRuntime:
        BinningProcess = _binning_process()

        names = [str(c) for c in X.columns]
        kinds = {name: self._kind_of(X[name]) for name in names}
        frame = pd.DataFrame(
            {
                name: (
                    X[name].map(lambda v, k=kinds[name]: category_key(v, k)).astype(object)
                    if kinds[name] != NUMERICAL
                    else X[name].astype(np.float64)
                )
                for name in names
            }
        )
        specials = {k: [float(v) for v in vs] for k, vs in (self.special_codes or {}).items()}
        fit_params: dict[str, dict[str, Any]] = {}
        for name in names:
            if kinds[name] == NUMERICAL:
                fit_params[name] = {"monotonic_trend": self.monotonic_trend}
                if specials.get(name):
                    fit_params[name]["special_codes"] = specials[name]
        process = BinningProcess(
            names,
            categorical_variables=[n for n in names if kinds[n] != NUMERICAL],
            max_n_prebins=self.max_n_prebins,
            min_prebin_size=self.min_prebin_size,
            binning_fit_params=fit_params,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logging.getLogger("optbinning").setLevel(logging.ERROR)
            process.fit(frame, y)
            built = {name: process.get_binned_variable(name).binning_table.build() for name in names}

        bins: dict[str, FeatureBins] = {}
        tables: dict[str, pd.DataFrame] = {}
        ivs: dict[str, float] = {}
        for name in names:
            optb = process.get_binned_variable(name)
            table = built[name]
            body = table.drop(index="Totals")
            ivs[name] = float(table.loc["Totals", "IV"])
            tables[name] = body
            counts = body["Count"].to_numpy(dtype=np.float64)
            woe = [float(w) if c > 0 else 0.0 for w, c in zip(body["WoE"].to_numpy(), counts, strict=True)]
            labels = [_label(b) for b in body["Bin"]]
            feature = FeatureBins(
                name=name, kind=kinds[name], labels=labels, points=[0.0] * len(labels), woe=woe
            )
            if kinds[name] == NUMERICAL:
                feature.splits = [float(s) for s in optb.splits]
                feature.special_codes = specials.get(name, [])
            else:
                feature.categories = {
                    str(cat): i for i, group in enumerate(optb.splits) for cat in np.atleast_1d(group)
                }
                feature.__post_init__()
            bins[name] = feature

        candidates = [n for n in names if ivs[n] > self.min_iv and len(set(bins[n].woe)) > 1]
        columns = {n: frame[n].to_numpy() for n in names}
        woe_of = {n: np.asarray(bins[n].woe)[bins[n].index_many(columns[n])] for n in candidates}
        dropped: dict[str, str] = {n: "no information (IV)" for n in names if n not in candidates}
        while True:
            model = LogisticRegression(C=self.C, max_iter=2000)
            matrix = np.column_stack([woe_of[n] for n in candidates])
            model.fit(matrix, y)
            coefs = model.coef_[0]
            # WOE is ln(good share / bad share): more evidence of good must lower the log-odds of bad.
            wrong = [n for n, c in zip(candidates, coefs, strict=True) if c >= 0]
            if not (self.drop_wrong_sign and wrong) or len(candidates) == 1:
                break
            worst = max(wrong, key=lambda n: coefs[candidates.index(n)])
            dropped[worst] = "wrong coefficient sign"
            candidates.remove(worst)

        scale = self.scale
        intercept = float(model.intercept_[0])
        selected: list[FeatureBins] = []
        for name, coef in zip(candidates, model.coef_[0], strict=True):
            feature = bins[name]
            feature.points = [scale.points(float(coef) * w) for w in feature.woe]
            selected.append(feature)
        derived = tuple(self._derived_used(selected))
        self.binning_process_ = process
        self.logistic_ = model
        self.selected_features_ = list(candidates)
        self.dropped_features_ = dropped
        self.iv_ = dict(sorted(ivs.items(), key=lambda kv: -kv[1]))
        self._tables = tables
        return PointsTable(
            base_points=scale.score(intercept),
            features=selected,
            scale=scale,
            derived=derived,
        )

    def _derived_used(self, selected: list[FeatureBins]) -> list[DerivedFeature]:
        from dipper.risk.domain.base import derived_of

        derived = derived_of(self.derived_features)
        needed = {f.name for f in selected}
        # Keep the derived features the selected ones need (and the derived inputs those read).
        for feature in reversed(derived):
            if feature.name in needed:
                needed.update(feature.inputs)
        return [f for f in derived if f.name in needed]

    def _report(self) -> dict[str, Any]:
        runtime = self.runtime_
        assert isinstance(runtime, PointsTable)
        points_of = {f.name: f.points for f in runtime.features}
        rows = []
        for name, table in self._tables.items():
            for i, (_, row) in enumerate(table.iterrows()):
                rows.append(
                    {
                        "feature": name,
                        "bin": _label(row["Bin"]),
                        "count": int(row["Count"]),
                        "count_share": round(float(row["Count (%)"]), 6),
                        "bads": int(row["Event"]),
                        "bad_rate": round(float(row["Event rate"]), 6) if row["Count"] else None,
                        "woe": round(float(row["WoE"]), 6) if row["Count"] else 0.0,
                        "iv": round(float(row["IV"]), 6),
                        "points": round(points_of[name][i], 4) if name in points_of else None,
                    }
                )
        return {
            "kind": "scorecard",
            "iv": [
                {
                    "feature": name,
                    "iv": round(iv, 6),
                    "selected": name in self.selected_features_,
                    "dropped_because": self.dropped_features_.get(name, ""),
                }
                for name, iv in self.iv_.items()
            ],
            "binning_tables": rows,
            "intercept": float(self.logistic_.intercept_[0]),
            "coefficients": dict(
                zip(self.selected_features_, map(float, self.logistic_.coef_[0]), strict=True)
            ),
            "base_points": runtime.base_points,
        }
