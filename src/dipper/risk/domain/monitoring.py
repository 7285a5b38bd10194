"""Model monitoring (模型监控): is today's population the one the model was trained on, does the model
still rank, what do the rules and the underwriters do.

- **PSI** (population stability index) of a variable: ``sum((a - e) × ln(a / e))`` over its bins, where
  ``e`` is a bin's share in training and ``a`` today. Bins come from training: for a number, its
  deciles (the cut points between unique quantiles, so a heavily tied column has fewer bins) plus a
  bin for missing values; for a category, its most frequent values, an "other" bin (also where a value
  never seen in training lands) and the missing bin. An empty bin would make the logarithm infinite,
  so shares are floored at ``EPSILON`` (1e-4) on both sides: the usual, stable convention. Read it as:
  below 0.1 stable, 0.1 to 0.25 a shift worth a look, above 0.25 a shift that needs action (the
  thresholds are parameters).
- **KS** of a score: the largest gap between the cumulative distributions of bads and goods (the
  two-sample Kolmogorov-Smirnov statistic); **AUC**: the probability that a random bad has a higher PD
  than a random good, ties counting half (the Mann-Whitney statistic). Both on matured outcomes only,
  by vintage (the application month).
- **Rule hit rates**: how often each reason code (a knock-out rule, a score cut-off) fires.
- **Override rate**: among applications the strategy approved or declined outright, the share whose
  final (manual) decision went the other way; how the gray zone (review) was resolved is reported
  beside it, not counted as an override.

Everything here is pure numpy over columns; the training reference is plain JSON (see
``Reference.to_json``), written into the model directory at training time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from dipper.kernel.errors import ValidationFailed

__all__ = [
    "EPSILON",
    "MISSING",
    "OTHER",
    "REFERENCE_FORMAT",
    "Reference",
    "Thresholds",
    "VariableReference",
    "alerts",
    "auc",
    "build_reference",
    "ks",
    "override_rates",
    "psi",
    "psi_level",
    "rule_hits",
    "variable_psi",
    "vintage_performance",
]

EPSILON: Final = 1e-4
MISSING: Final = "__missing__"
OTHER: Final = "__other__"
REFERENCE_FORMAT: Final = "dipper.risk.reference/1"
_MAX_CATEGORIES: Final = 20
#: A column with at most this many distinct values, all integers, is binned by value, not by decile.
_FEW_CODES: Final = 12


@dataclass(frozen=True)
class Thresholds:
    psi_warn: float = 0.1
    psi_alert: float = 0.25
    ks_min: float | None = None  # alert when a vintage's KS falls below
    auc_min: float | None = None
    override_max: float | None = None  # alert when the override rate exceeds
    min_vintage_rows: int = 30  # below this (or without both classes) a vintage has no KS/AUC

    def __post_init__(self) -> None:
        if not 0 <= self.psi_warn <= self.psi_alert:
            raise ValidationFailed("PSI thresholds must satisfy 0 <= warn <= alert", code="invalid_threshold")


# --------------------------------------------------------------------------- reference and PSI


@dataclass(frozen=True)
class VariableReference:
    """A variable's training bins: numeric (``edges``: upper bounds of all but the last bin) or
    categorical (``categories``); ``shares`` per bin, the missing bin last."""

    kind: str  # "numeric" | "categorical"
    edges: tuple[float, ...]
    categories: tuple[str, ...]
    shares: tuple[float, ...]
    rows: int

    @property
    def labels(self) -> list[str]:
        if self.kind == "categorical":
            return [*self.categories, OTHER, MISSING]
        bounds = ["-inf", *(_fmt(e) for e in self.edges), "inf"]
        return [f"({bounds[i]}, {bounds[i + 1]}]" for i in range(len(bounds) - 1)] + [MISSING]

    def counts(self, values: NDArray[Any]) -> NDArray[np.int64]:
        """How many of ``values`` fall in each bin."""
        if self.kind == "categorical":
            text = _as_text(values)
            index = {c: i for i, c in enumerate(self.categories)}
            other = len(self.categories)
            idx = np.array(
                [index.get(v, other) if v is not None else other + 1 for v in text], dtype=np.int64
            )
            return np.bincount(idx, minlength=other + 2).astype(np.int64)
        numbers = _as_float(values)
        nan = np.isnan(numbers)
        # bin i holds edges[i-1] < x <= edges[i]; NaN goes to the last (missing) bin
        idx = np.searchsorted(np.asarray(self.edges, dtype=np.float64), numbers[~nan], side="left")
        counts = np.bincount(idx, minlength=len(self.edges) + 1)
        return np.append(counts, int(nan.sum())).astype(np.int64)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "edges": list(self.edges),
            "categories": list(self.categories),
            "shares": list(self.shares),
            "rows": self.rows,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VariableReference:
        return cls(
            str(data["kind"]),
            tuple(float(e) for e in data.get("edges", [])),
            tuple(str(c) for c in data.get("categories", [])),
            tuple(float(s) for s in data["shares"]),
            int(data["rows"]),
        )


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _as_float(values: NDArray[Any]) -> NDArray[np.float64]:
    if values.dtype.kind in "fiub":
        return values.astype(np.float64)
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values.tolist()):
        try:
            out[i] = math.nan if v is None else float(v)
        except (TypeError, ValueError):
            out[i] = math.nan
    return out


def _as_text(values: NDArray[Any]) -> list[str | None]:
    out: list[str | None] = []
    for v in values.tolist():
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(None)
        elif isinstance(v, float) and v.is_integer():
            out.append(str(int(v)))  # 2.0 read from a CSV with gaps is the code 2
        else:
            out.append(str(v))
    return out


def _is_categorical(values: NDArray[Any]) -> bool:
    if values.dtype.kind in "fiub":
        return False
    numbers = _as_float(values)
    present = sum(
        1 for v in values.tolist() if v is not None and not (isinstance(v, float) and math.isnan(v))
    )
    return int((~np.isnan(numbers)).sum()) < present  # some present value is not a number


def _shares(counts: NDArray[np.int64]) -> tuple[float, ...]:
    total = int(counts.sum())
    return tuple(round(float(c) / total, 8) if total else 0.0 for c in counts)


def variable_reference(values: NDArray[Any], *, bins: int = 10) -> VariableReference:
    """Training bins of one variable (deciles, or categories for text columns)."""
    n = len(values)
    if _is_categorical(values):
        frequency: dict[str, int] = {}
        for v in _as_text(values):
            if v is not None:
                frequency[v] = frequency.get(v, 0) + 1
        order = sorted(frequency.items(), key=lambda vc: (-vc[1], vc[0]))
        categories = tuple(v for v, _ in order[:_MAX_CATEGORIES])
        ref = VariableReference("categorical", (), categories, (), n)
    else:
        numbers = _as_float(values)
        present = numbers[~np.isnan(numbers)]
        distinct = np.unique(present)
        if len(distinct) <= _FEW_CODES and np.all(distinct == np.round(distinct)):
            edges = tuple(float(d) for d in distinct[:-1])  # one bin per code
        elif len(present):
            quantiles = np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1])
            edges = tuple(float(q) for q in np.unique(quantiles) if q < distinct[-1])
        else:
            edges = ()
        ref = VariableReference("numeric", edges, (), (), n)
    return VariableReference(ref.kind, ref.edges, ref.categories, _shares(ref.counts(values)), n)


def psi(expected: Sequence[float], actual: Sequence[float], *, epsilon: float = EPSILON) -> float:
    """Population stability index of two share vectors over the same bins (shares floored at ``epsilon``)."""
    e = np.maximum(np.asarray(expected, dtype=np.float64), epsilon)
    a = np.maximum(np.asarray(actual, dtype=np.float64), epsilon)
    if e.shape != a.shape:
        raise ValidationFailed("PSI needs the same bins on both sides", code="invalid_reference")
    return float(np.sum((a - e) * np.log(a / e)))


def psi_level(value: float | None, thresholds: Thresholds) -> str:
    if value is None:
        return "unknown"
    if value >= thresholds.psi_alert:
        return "alert"
    if value >= thresholds.psi_warn:
        return "warn"
    return "ok"


def variable_psi(
    name: str, reference: VariableReference, values: NDArray[Any], thresholds: Thresholds
) -> dict[str, Any]:
    counts = reference.counts(values)
    actual = _shares(counts)
    value = psi(reference.shares, actual) if counts.sum() else None
    return {
        "name": name,
        "kind": reference.kind,
        "psi": None if value is None else round(value, 6),
        "level": psi_level(value, thresholds),
        "bins": [
            {"bin": label, "expected": e, "actual": a, "count": int(c)}
            for label, e, a, c in zip(reference.labels, reference.shares, actual, counts, strict=True)
        ],
    }


@dataclass(frozen=True)
class Reference:
    """The training distribution of a model's score and of each of its inputs."""

    rows: int
    score: VariableReference
    inputs: Mapping[str, VariableReference]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": REFERENCE_FORMAT,
            "rows": self.rows,
            "score": self.score.to_json(),
            "inputs": {k: v.to_json() for k, v in self.inputs.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Reference:
        if data.get("format") != REFERENCE_FORMAT:
            raise ValidationFailed(f"not a {REFERENCE_FORMAT} document", code="invalid_reference")
        return cls(
            int(data["rows"]),
            VariableReference.from_json(data["score"]),
            {str(k): VariableReference.from_json(v) for k, v in data["inputs"].items()},
        )


def build_reference(
    scores: NDArray[np.float64], columns: Mapping[str, NDArray[Any]], *, bins: int = 10
) -> Reference:
    """The reference a model directory records: the training score deciles and each input's bins."""
    score_ref = variable_reference(np.asarray(scores, dtype=np.float64), bins=bins)
    return Reference(
        len(scores),
        score_ref,
        {name: variable_reference(np.asarray(v), bins=bins) for name, v in columns.items()},
    )


# --------------------------------------------------------------------------- KS and AUC


def _check_binary(y: NDArray[Any], x: NDArray[Any]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    y = np.asarray(y)
    x = np.asarray(x, dtype=np.float64)
    if y.shape != x.shape:
        raise ValidationFailed("outcomes and scores differ in length", code="monitoring_ragged")
    if not np.all((y == 0) | (y == 1)) or np.isnan(x).any():
        raise ValidationFailed("KS and AUC need 0/1 outcomes and finite scores", code="target_not_binary")
    return y.astype(np.int64), x


def ks(y: NDArray[Any], x: NDArray[Any]) -> float:
    """Two-sample KS statistic between the values of bads (``y == 1``) and goods."""
    y, x = _check_binary(y, x)
    bad, good = np.sort(x[y == 1]), np.sort(x[y == 0])
    if not len(bad) or not len(good):
        raise ValidationFailed("KS needs both bads and goods", code="too_few_rows")
    grid = np.concatenate([bad, good])
    cdf_bad = np.searchsorted(bad, grid, side="right") / len(bad)
    cdf_good = np.searchsorted(good, grid, side="right") / len(good)
    return float(np.max(np.abs(cdf_bad - cdf_good)))


def auc(y: NDArray[Any], risk: NDArray[Any]) -> float:
    """Area under the ROC curve of a risk measure (higher = riskier, e.g. the PD), by average ranks."""
    y, x = _check_binary(y, risk)
    n_bad = int(y.sum())
    n_good = len(y) - n_bad
    if not n_bad or not n_good:
        raise ValidationFailed("AUC needs both bads and goods", code="too_few_rows")
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    ranks = np.empty(len(x), dtype=np.float64)
    # average ranks over ties: each run of equal values gets the mean of its positions (1-based)
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], len(x)]
    mean_rank = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return float((ranks[y == 1].sum() - n_bad * (n_bad + 1) / 2.0) / (n_bad * n_good))


def vintage_performance(
    vintages: Sequence[str | None],
    y: NDArray[np.float64],
    pd_: NDArray[np.float64],
    *,
    min_rows: int = 30,
) -> list[dict[str, Any]]:
    """KS and AUC per vintage on matured outcomes (``y`` NaN: not matured or unknown, left out)."""
    labels = np.array(["" if v is None else str(v) for v in vintages], dtype=object)
    y = np.asarray(y, dtype=np.float64)
    pd_ = np.asarray(pd_, dtype=np.float64)
    out = []
    for v in sorted(set(labels.tolist())):
        in_v = labels == v
        matured = in_v & ~np.isnan(y) & ~np.isnan(pd_)
        yv, pv = y[matured].astype(np.int64), pd_[matured]
        bads = int(yv.sum())
        goods = len(yv) - bads
        enough = len(yv) >= min_rows and bads > 0 and goods > 0
        out.append(
            {
                "vintage": v or "unknown",
                "rows": int(in_v.sum()),
                "matured": len(yv),
                "bads": bads,
                "bad_rate": round(bads / len(yv), 6) if len(yv) else None,
                "mean_pd": round(float(pv.mean()), 6) if len(pv) else None,
                "ks": round(ks(yv, pv), 6) if enough else None,
                "auc": round(auc(yv, pv), 6) if enough else None,
            }
        )
    return out


# --------------------------------------------------------------------------- rules and overrides


def rule_hits(reasons: Sequence[Sequence[str]]) -> list[dict[str, Any]]:
    """How often each reason code fires, most frequent first (a row counts once per code)."""
    n = len(reasons)
    counts: dict[str, int] = {}
    any_hit = 0
    for codes in reasons:
        distinct = set(codes)
        any_hit += bool(distinct)
        for code in distinct:
            counts[code] = counts.get(code, 0) + 1
    rows = [
        {"code": code, "hits": hits, "rate": round(hits / n, 6) if n else None}
        for code, hits in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    if n:
        rows.append({"code": "ANY", "hits": any_hit, "rate": round(any_hit / n, 6)})
    return rows


def override_rates(strategy: Sequence[str | None], final: Sequence[str | None]) -> dict[str, Any]:
    """Overrides: the strategy approved (declined) and the final decision declined (approved).

    Rows without a final decision are left out; review rows are reported by how they were resolved."""
    if len(strategy) != len(final):
        raise ValidationFailed("decision columns differ in length", code="monitoring_ragged")
    s = np.array([None if v is None else str(v).strip().lower() for v in strategy], dtype=object)
    f = np.array([None if v is None else str(v).strip().lower() for v in final], dtype=object)
    decided = np.array([v in ("approve", "decline") for v in f.tolist()], dtype=bool)
    outright = decided & ((s == "approve") | (s == "decline"))
    up = outright & (s == "decline") & (f == "approve")  # declined, approved by hand
    down = outright & (s == "approve") & (f == "decline")
    review = decided & (s == "review")
    n_out = int(outright.sum())
    return {
        "rows": len(s),
        "with_final_decision": int(decided.sum()),
        "outright": n_out,
        "overrides": int(up.sum() + down.sum()),
        "override_rate": round(int(up.sum() + down.sum()) / n_out, 6) if n_out else None,
        "declined_then_approved": int(up.sum()),
        "approved_then_declined": int(down.sum()),
        "review_resolved": int(review.sum()),
        "review_approved": int((review & (f == "approve")).sum()),
        "review_approve_rate": round(int((review & (f == "approve")).sum()) / int(review.sum()), 6)
        if review.any()
        else None,
    }


# --------------------------------------------------------------------------- alerts


def alerts(figures: Mapping[str, Any], thresholds: Thresholds) -> list[dict[str, Any]]:
    """Threshold breaches in a monitoring run's figures, most severe first."""
    out: list[dict[str, Any]] = []
    if figures.get("reference") is None:
        out.append(
            {
                "level": "warn",
                "kind": "no_reference",
                "subject": "model",
                "value": None,
                "threshold": None,
                "message": "the model directory has no training reference (trained before references were "
                "recorded): PSI cannot be computed; retrain the model to get one",
            }
        )
    for entry in [figures.get("score_psi"), *figures.get("feature_psi", [])]:
        if not entry or entry["level"] not in ("warn", "alert"):
            continue
        limit = thresholds.psi_alert if entry["level"] == "alert" else thresholds.psi_warn
        out.append(
            {
                "level": entry["level"],
                "kind": "psi",
                "subject": entry["name"],
                "value": entry["psi"],
                "threshold": limit,
                "message": f"PSI of {entry['name']} is {entry['psi']:.4f} (>= {limit})",
            }
        )
    for row in figures.get("vintages", []):
        for key, floor in (("ks", thresholds.ks_min), ("auc", thresholds.auc_min)):
            if floor is not None and row.get(key) is not None and row[key] < floor:
                out.append(
                    {
                        "level": "alert",
                        "kind": key,
                        "subject": row["vintage"],
                        "value": row[key],
                        "threshold": floor,
                        "message": f"{key.upper()} of vintage {row['vintage']} is {row[key]:.4f} (< {floor})",
                    }
                )
    overrides = figures.get("overrides") or {}
    rate = overrides.get("override_rate")
    if thresholds.override_max is not None and rate is not None and rate > thresholds.override_max:
        out.append(
            {
                "level": "alert",
                "kind": "override_rate",
                "subject": "overrides",
                "value": rate,
                "threshold": thresholds.override_max,
                "message": f"override rate is {rate:.4f} (> {thresholds.override_max})",
            }
        )
    severity = {"alert": 0, "warn": 1}
    out.sort(key=lambda a: (severity[a["level"]], -(a["value"] or 0)))
    return out
