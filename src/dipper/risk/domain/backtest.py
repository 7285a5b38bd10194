"""Strategy backtest (策略回溯): run a candidate strategy over a historical application file beside the
champion, and compare what each would have decided and what it would have cost.

Each row is decided twice through zen-engine (~20 µs a row and strategy, so 100k rows take seconds);
everything else is columnar numpy. What comes out, per arm (champion, candidate):

- the approval, review and decline rates;
- the bad rate among approved rows whose outcome is known (rows with no outcome, typically declined
  or not booked in history, are counted and reported, never silently dropped);
- the expected loss, ``sum(PD × exposure × LGD)`` over approved rows, where the exposure is the arm's
  limit (capped by a historical exposure column when one is given) and LGD a parameter or a column;
- the same by grade;

and between the arms the swap set: **swap-ins** (the candidate approves what the champion did not)
and **swap-outs** (the champion approved what the candidate does not), each with its count and bad
rate, and the 3×3 matrix of decisions.

Reject-inference caveat: a historical file only knows the outcome of what the champion (or whoever
decided then) booked. Swap-ins are mostly historical declines, so their bad rate is usually unknown or
measured on a few rows; the summary says how many rows each figure rests on.

A review decision (the gray zone) is counted as approved or declined for the swap set and the loss
figures according to ``review_as``; its own count is always reported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import NDArray

from dipper.kernel.errors import ValidationFailed
from dipper.risk.domain.base import ModelRuntime
from dipper.risk.domain.scale import ScoreScale
from dipper.risk.domain.strategy import Decision, ProductBounds, Strategy

__all__ = [
    "DECISIONS",
    "DEFAULT_LGD",
    "ArmInput",
    "ArmRows",
    "BacktestResult",
    "Outcomes",
    "ReviewAs",
    "decide_rows",
    "row_table",
    "run_backtest",
    "scores_for",
]

#: Loss given default of unsecured retail credit when no better figure is known (Basel foundation IRB).
DEFAULT_LGD: Final = 0.45
DECISIONS: Final = (Decision.APPROVE.value, Decision.REVIEW.value, Decision.DECLINE.value)
#: Label of rows the strategy left without a grade (knock-outs).
NO_GRADE: Final = "-"

ReviewAs = Literal["approve", "decline"]


@dataclass(frozen=True)
class Outcomes:
    """What happened to each historical application: ``bad`` is 1, 0 or NaN (unknown: not booked,
    not matured). ``exposure_minor`` (optional, fen) is the historical exposure at default; ``lgd`` a
    per-row loss given default (optional, otherwise ``default_lgd``)."""

    bad: NDArray[np.float64]
    exposure_minor: NDArray[np.float64] | None = None
    lgd: NDArray[np.float64] | None = None
    default_lgd: float = DEFAULT_LGD

    def __post_init__(self) -> None:
        bad = self.bad
        known = bad[~np.isnan(bad)]
        if not np.all((known == 0) | (known == 1)):
            raise ValidationFailed("the outcome column must hold 0, 1 or nothing", code="target_not_binary")
        if not 0.0 <= self.default_lgd <= 1.0 or math.isnan(self.default_lgd):
            raise ValidationFailed("LGD must be between 0 and 1", code="invalid_lgd")
        for name in ("exposure_minor", "lgd"):
            column = getattr(self, name)
            if column is not None and len(column) != len(bad):
                raise ValidationFailed(f"{name} differs in length from the outcomes", code="backtest_ragged")
        if self.lgd is not None:
            lgd = self.lgd[~np.isnan(self.lgd)]
            if np.any((lgd < 0) | (lgd > 1)):
                raise ValidationFailed("LGD must be between 0 and 1", code="invalid_lgd")
        if self.exposure_minor is not None and np.any(
            self.exposure_minor[~np.isnan(self.exposure_minor)] < 0
        ):
            raise ValidationFailed("exposure must not be negative", code="invalid_exposure")

    def lgd_column(self) -> NDArray[np.float64]:
        if self.lgd is None:
            return np.full(len(self.bad), self.default_lgd)
        return np.where(np.isnan(self.lgd), self.default_lgd, self.lgd)


@dataclass(frozen=True)
class ArmInput:
    """One arm: its strategy, the product bounds and the score and PD each row gets (NaN: no score)."""

    name: str
    strategy: Strategy
    bounds: ProductBounds
    scores: NDArray[np.float64]
    pd: NDArray[np.float64]


@dataclass(frozen=True)
class ArmRows:
    """Per-row outcome of one arm (columnar)."""

    decision: NDArray[Any]  # object: approve / review / decline
    grade: NDArray[Any]  # object: the grade or NO_GRADE
    limit_minor: NDArray[np.int64]  # 0 when declined
    annual_rate: list[str | None]  # Decimal text (exact), None when declined
    reasons: list[tuple[str, ...]]

    def approved(self, review_as: ReviewAs) -> NDArray[np.bool_]:
        mask: NDArray[np.bool_] = self.decision == Decision.APPROVE.value
        if review_as == "approve":
            mask = mask | (self.decision == Decision.REVIEW.value)
        return mask


@dataclass(frozen=True)
class BacktestResult:
    summary: dict[str, Any]
    rows: dict[str, ArmRows] = field(repr=False)


def scores_for(
    columns: Mapping[str, NDArray[Any]], model: ModelRuntime | None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The score and PD of every row: from the model when there is one, else from the file's ``score``
    column (and its ``pd`` column, or the default PDO scale's reading of the score)."""
    if model is not None:
        model.check_inputs(list(columns))
        scores = np.asarray(model.score_many({k: columns[k] for k in model.inputs}), dtype=np.float64)
        return scores, model.scale.pd_many(scores)
    if "score" not in columns:
        raise ValidationFailed(
            "without a model the data needs a score column",
            code="missing_feature",
            details={"columns": ["score"]},
        )
    scores = _numeric(columns["score"], "score")
    pd_ = _numeric(columns["pd"], "pd") if "pd" in columns else ScoreScale().pd_many(scores)
    return scores, pd_


def _numeric(values: NDArray[Any], name: str) -> NDArray[np.float64]:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValidationFailed(
            f"column {name!r} must be numeric", code="invalid_feature_input", details={"input": name}
        ) from None


def _python_values(values: NDArray[Any]) -> list[Any]:
    """A column as the JSON values a strategy reads: NaN and NA become null, numpy scalars Python's."""
    if values.dtype.kind == "f":
        out = values.astype(object)
        out[np.isnan(values)] = None
        return list(out.tolist())
    return [None if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in values.tolist()]


def decide_rows(
    context: Mapping[str, NDArray[Any]],
    scores: NDArray[np.float64],
    strategy: Strategy,
    bounds: ProductBounds,
) -> ArmRows:
    """Every row through the strategy (the only per-row loop of a backtest)."""
    n = len(scores)
    keys = [k for k in context if k != "score"]
    columns = [_python_values(np.asarray(context[k])) for k in keys]
    score_values = _python_values(np.asarray(scores, dtype=np.float64))
    decision = np.empty(n, dtype=object)
    grade = np.empty(n, dtype=object)
    limit = np.zeros(n, dtype=np.int64)
    rates: list[str | None] = []
    reasons: list[tuple[str, ...]] = []
    evaluate = strategy.evaluate
    for i, values in enumerate(zip(*columns, strict=True) if columns else ((),) * n):
        row = dict(zip(keys, values, strict=True))
        row["score"] = score_values[i]
        try:
            outcome = evaluate(row, bounds)
        except ValidationFailed as exc:
            raise ValidationFailed(
                f"row {i + 1}: {exc}", code=exc.code, details={**exc.details, "row": i + 1}
            ) from None
        decision[i] = outcome.decision.value
        grade[i] = outcome.grade if outcome.grade is not None else NO_GRADE
        limit[i] = outcome.limit_minor or 0
        rates.append(None if outcome.annual_rate is None else str(outcome.annual_rate))
        reasons.append(outcome.reasons)
    return ArmRows(decision, grade, limit, rates, reasons)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def _bad_figures(bad: NDArray[np.float64], mask: NDArray[np.bool_]) -> dict[str, Any]:
    chosen = bad[mask]
    known = ~np.isnan(chosen)
    bads = int(np.nansum(chosen))
    return {
        "count": int(mask.sum()),
        "known": int(known.sum()),
        "unknown": int((~known).sum()),
        "bads": bads,
        "bad_rate": _rate(bads, int(known.sum())),
    }


def _arm_summary(arm: ArmInput, rows: ArmRows, outcomes: Outcomes, review_as: ReviewAs) -> dict[str, Any]:
    n = len(rows.decision)
    approved = rows.approved(review_as)
    exposure = rows.limit_minor.astype(np.float64)
    if outcomes.exposure_minor is not None:
        historical = outcomes.exposure_minor
        exposure = np.where(np.isnan(historical), exposure, np.minimum(historical, exposure))
    exposure = np.where(approved, exposure, 0.0)
    pd_ = np.where(np.isnan(arm.pd), 0.0, arm.pd)
    lgd = outcomes.lgd_column()
    expected = pd_ * exposure * lgd
    bad = outcomes.bad
    observed = np.where(np.isnan(bad), 0.0, bad) * exposure * lgd
    counts = {d: int((rows.decision == d).sum()) for d in DECISIONS}
    figures = _bad_figures(bad, approved)
    reason_counts: dict[str, int] = {}
    for reasons in rows.reasons:
        for code in reasons:
            reason_counts[code] = reason_counts.get(code, 0) + 1
    by_grade = []
    for g in sorted(set(rows.grade.tolist())):
        in_grade = rows.grade == g
        grade_approved = approved & in_grade
        by_grade.append(
            {
                "grade": g,
                "rows": int(in_grade.sum()),
                "approved": int(grade_approved.sum()),
                "approval_rate": _rate(int(grade_approved.sum()), int(in_grade.sum())),
                **{k: v for k, v in _bad_figures(bad, grade_approved).items() if k != "count"},
                "expected_loss_minor": round(float(expected[in_grade].sum())),
            }
        )
    summary = {
        "strategy_id": arm.strategy.strategy_id,
        "strategy_version": arm.strategy.version,
        "strategy_hash": arm.strategy.content_hash,
        "rows": n,
        "decisions": counts,
        "approved": figures["count"],
        "approval_rate": _rate(figures["count"], n),
        "review_rate": _rate(counts[Decision.REVIEW.value], n),
        "decline_rate": _rate(counts[Decision.DECLINE.value], n),
        "approved_known": figures["known"],
        "approved_unknown": figures["unknown"],
        "bads": figures["bads"],
        "bad_rate": figures["bad_rate"],
        "limit_total_minor": int(rows.limit_minor[approved].sum()),
        "mean_pd_approved": round(float(pd_[approved].mean()), 6) if approved.any() else None,
        "expected_loss_minor": round(float(expected.sum())),
        "observed_loss_minor": round(float(observed.sum())),
        "reasons": dict(sorted(reason_counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        "by_grade": by_grade,
    }
    return summary


def _swap_by_grade(
    grade: NDArray[Any], bad: NDArray[np.float64], mask: NDArray[np.bool_]
) -> list[dict[str, Any]]:
    return [{"grade": g, **_bad_figures(bad, mask & (grade == g))} for g in sorted(set(grade[mask].tolist()))]


def run_backtest(
    context: Mapping[str, NDArray[Any]],
    outcomes: Outcomes,
    champion: ArmInput,
    candidate: ArmInput,
    *,
    review_as: ReviewAs = "decline",
) -> BacktestResult:
    """Decide every row with both arms and summarise (see the module's docstring)."""
    n = len(outcomes.bad)
    lengths = {len(v) for v in context.values()} | {n, len(champion.scores), len(candidate.scores)}
    lengths |= {len(champion.pd), len(candidate.pd)}
    if len(lengths) != 1:
        raise ValidationFailed(
            "backtest columns differ in length", code="backtest_ragged", details={"lengths": sorted(lengths)}
        )
    if n == 0:
        raise ValidationFailed("the application file has no rows", code="invalid_data_file")
    if review_as not in ("approve", "decline"):
        raise ValidationFailed("review_as is approve or decline", code="invalid_review_as")
    rows = {
        arm.name: decide_rows(context, arm.scores, arm.strategy, arm.bounds) for arm in (champion, candidate)
    }
    champ_rows, cand_rows = rows[champion.name], rows[candidate.name]
    champ_summary = _arm_summary(champion, champ_rows, outcomes, review_as)
    cand_summary = _arm_summary(candidate, cand_rows, outcomes, review_as)
    a_champ = champ_rows.approved(review_as)
    a_cand = cand_rows.approved(review_as)
    bad = outcomes.bad
    swap_in = a_cand & ~a_champ
    swap_out = a_champ & ~a_cand
    matrix = [
        {
            "champion": d1,
            "candidate": d2,
            **_bad_figures(bad, (champ_rows.decision == d1) & (cand_rows.decision == d2)),
        }
        for d1 in DECISIONS
        for d2 in DECISIONS
    ]
    known = int((~np.isnan(bad)).sum())
    caveats = []
    if known < n:
        caveats.append(
            f"{n - known} of {n} rows have no outcome (declined or not booked in history, or not matured): "
            "bad rates count only rows with a known outcome."
        )
    unknown_in = int(np.isnan(bad[swap_in]).sum())
    if unknown_in:
        caveats.append(
            f"{unknown_in} of {int(swap_in.sum())} swap-ins have no outcome: their bad rate needs reject "
            "inference (or a test population) before the candidate's approvals can be trusted."
        )
    summary = {
        "rows": n,
        "rows_with_outcome": known,
        "rows_without_outcome": n - known,
        "observed_bad_rate": _rate(int(np.nansum(bad)), known),
        "review_as": review_as,
        "lgd": outcomes.default_lgd if outcomes.lgd is None else "column",
        "exposure": "limit" if outcomes.exposure_minor is None else "min(limit, exposure column)",
        "champion": champ_summary,
        "candidate": cand_summary,
        "swap": {
            "in": _bad_figures(bad, swap_in),
            "out": _bad_figures(bad, swap_out),
            "kept_approved": _bad_figures(bad, a_champ & a_cand),
            "kept_declined": _bad_figures(bad, ~a_champ & ~a_cand),
            "in_by_grade": _swap_by_grade(cand_rows.grade, bad, swap_in),
            "out_by_grade": _swap_by_grade(champ_rows.grade, bad, swap_out),
            "matrix": matrix,
        },
        "caveats": caveats,
    }
    return BacktestResult(summary=summary, rows=rows)


def row_table(
    result: BacktestResult, champion: str, candidate: str, review_as: ReviewAs
) -> dict[str, Sequence[Any]]:
    """The per-row outcomes of both arms as columns (for a CSV beside the report)."""
    a, b = result.rows[champion], result.rows[candidate]
    in_a, in_b = a.approved(review_as), b.approved(review_as)
    swap = np.where(in_b & ~in_a, "in", np.where(in_a & ~in_b, "out", ""))
    table: dict[str, Sequence[Any]] = {}
    for name, rows in ((champion, a), (candidate, b)):
        table[f"{name}_decision"] = rows.decision.tolist()
        table[f"{name}_grade"] = rows.grade.tolist()
        table[f"{name}_limit_minor"] = rows.limit_minor.tolist()
        table[f"{name}_annual_rate"] = rows.annual_rate
        table[f"{name}_reasons"] = [";".join(r) for r in rows.reasons]
    table["swap"] = swap.tolist()
    return table
