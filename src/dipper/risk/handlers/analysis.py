"""Handlers of strategy backtests and model monitoring: read the files, run the pure computations of
``domain/backtest.py`` and ``domain/monitoring.py``, write the report directory."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from dipper.risk.adapters.analysis_report import write_backtest_report, write_monitoring_report
from dipper.risk.adapters.artifacts import load_runtime, read_reference
from dipper.risk.adapters.files import fingerprint, read_csv
from dipper.risk.commands.analysis import (
    BACKTEST_FORMAT,
    MONITORING_FORMAT,
    AnalysisBounds,
    RunBacktest,
    RunMonitoring,
)
from dipper.risk.domain import backtest, monitoring
from dipper.risk.domain.base import ModelRuntime, columns_of
from dipper.risk.domain.errors import MISSING_TARGET, TARGET_NOT_BINARY, NotFound, ValidationFailed
from dipper.risk.domain.feature_set import DEFAULT_FEATURE_SET
from dipper.risk.domain.strategy import ProductBounds, Strategy, default_strategy

__all__ = ["COMMAND_HANDLERS", "EVENT_HANDLERS", "run_backtest_file", "run_monitoring_file"]

COMMAND_HANDLERS: dict[type, Any] = {}
EVENT_HANDLERS: dict[type, list[Any]] = {}

_OUTCOME_VALUES = {"0": 0.0, "1": 1.0, "0.0": 0.0, "1.0": 1.0, "false": 0.0, "true": 1.0}


def load_strategy(spec: str) -> Strategy:
    """``default`` (the packaged strategy) or a JDM file; its id and version come from its ``dipper``
    block when it has one, else from the file name and 1."""
    if spec == "default":
        return default_strategy()
    path = Path(spec)
    if not path.is_file():
        raise NotFound(f"no strategy file at {path}", code="strategy_not_found", details={"path": spec})
    try:
        text = path.read_text(encoding="utf-8")
        meta = json.loads(text).get("dipper", {})
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
        raise ValidationFailed(
            f"{path.name} is not a JSON strategy document: {exc}", code="invalid_strategy_document"
        ) from None
    meta = meta if isinstance(meta, dict) else {}
    version = meta.get("version", 1)
    return Strategy(
        str(meta.get("strategy_id") or path.stem), version if isinstance(version, int) else 1, text
    )


def product_bounds(bounds: AnalysisBounds) -> ProductBounds:
    return ProductBounds(
        bounds.min_rate, bounds.max_rate, bounds.min_amount_minor, bounds.max_amount_minor, bounds.apr_ceiling
    )


def _need_column(frame: pd.DataFrame, name: str, code: str = "unknown_column") -> pd.Series:
    if name not in frame.columns:
        raise ValidationFailed(
            f"no column {name!r} in the data",
            code=code,
            details={"column": name, "columns": list(frame.columns)[:50]},
        )
    return frame[name]


def outcome_column(frame: pd.DataFrame, target: str) -> NDArray[np.float64]:
    """1 bad, 0 good, NaN unknown (an empty cell): anything else is an error, never a guess."""
    series = _need_column(frame, target, MISSING_TARGET)
    out = np.full(len(series), np.nan)
    bad_values: list[str] = []
    for i, value in enumerate(series.tolist()):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        text = str(value).strip().lower()
        if text == "":
            continue
        if text not in _OUTCOME_VALUES:
            bad_values.append(text)
            continue
        out[i] = _OUTCOME_VALUES[text]
    if bad_values:
        raise ValidationFailed(
            f"target {target!r} must be 0/1 or empty (unknown), found {sorted(set(bad_values))[:5]}",
            code=TARGET_NOT_BINARY,
            details={"target": target},
        )
    return out


def _numeric_column(frame: pd.DataFrame, name: str) -> NDArray[np.float64]:
    series = _need_column(frame, name)
    values = pd.to_numeric(series, errors="coerce")
    if bool((values.isna() & series.notna()).any()):
        raise ValidationFailed(
            f"column {name!r} must be numeric", code="invalid_feature_input", details={"input": name}
        )
    out: NDArray[np.float64] = values.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def _context(frame: pd.DataFrame, feature_set: str | None, drop: set[str]) -> dict[str, NDArray[Any]]:
    """What the strategies read: the file's columns, plus the default feature set when asked for."""
    columns = columns_of(frame[[c for c in frame.columns if c not in drop]])
    if feature_set is None:
        return columns
    if feature_set != "default":
        raise ValidationFailed(
            f"unknown feature set {feature_set!r} (known: default)", code="unknown_feature_set"
        )
    raw = {
        k: frame[k].astype(object).where(frame[k].notna(), None).tolist()
        for k in DEFAULT_FEATURE_SET.inputs
        if k in frame
    }
    return {**columns, **DEFAULT_FEATURE_SET.frame(raw)}


def _models(paths: tuple[Path, ...]) -> tuple[list[ModelRuntime | None], list[dict[str, Any]]]:
    if len(paths) > 2:
        raise ValidationFailed("give at most two models (champion's, candidate's)", code="too_many_models")
    runtimes: list[ModelRuntime | None] = []
    described = []
    for path in paths:
        runtime, manifest = load_runtime(path)
        runtimes.append(runtime)
        described.append(
            {"path": str(path), "kind": manifest.get("kind"), "content_hash": manifest["content_hash"]}
        )
    if not runtimes:
        runtimes = [None]
    if len(runtimes) == 1:
        runtimes.append(runtimes[0])
    return runtimes, described


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def run_backtest_file(command: RunBacktest) -> dict[str, Any]:
    if command.review_as not in ("approve", "decline"):
        raise ValidationFailed("--review-as must be approve or decline", code="invalid_review_as")
    review_as: backtest.ReviewAs = "approve" if command.review_as == "approve" else "decline"
    champion_strategy = load_strategy(command.champion)
    candidate_strategy = load_strategy(command.candidate)
    bounds = product_bounds(command.bounds)
    runtimes, models = _models(command.models)
    frame = read_csv(command.data)
    bad = outcome_column(frame, command.target)
    exposure = _numeric_column(frame, command.exposure) if command.exposure else None
    lgd = _numeric_column(frame, command.lgd_column) if command.lgd_column else None
    outcomes = backtest.Outcomes(bad, exposure, lgd, command.lgd)
    drop = {command.target, *(c for c in (command.exposure, command.lgd_column) if c)}
    context = _context(frame, command.feature_set, drop)
    raw = columns_of(frame.drop(columns=list(drop)))
    arms = []
    for name, strategy, runtime in (
        ("champion", champion_strategy, runtimes[0]),
        ("candidate", candidate_strategy, runtimes[1]),
    ):
        scores, pd_ = backtest.scores_for(raw, runtime)
        arms.append(backtest.ArmInput(name, strategy, bounds, scores, pd_))
    result = backtest.run_backtest(context, outcomes, arms[0], arms[1], review_as=review_as)
    document = {
        "format": BACKTEST_FORMAT,
        "kind": "backtest",
        "created_at": _now(),
        "data": fingerprint(command.data, frame),
        "target": command.target,
        "models": models,
        "bounds": {k: str(v) for k, v in vars(command.bounds).items()},
        **result.summary,
    }
    table = backtest.row_table(result, "champion", "candidate", review_as)
    write_backtest_report(command.out, document, table)
    return {**document, "out": str(command.out)}


def _vintages(frame: pd.DataFrame, date_col: str | None) -> list[str | None]:
    if date_col is None:
        return ["all"] * len(frame)
    series = _need_column(frame, date_col)
    dates = pd.to_datetime(series, errors="coerce", format="mixed")
    if bool(dates.isna().all()) and bool(series.notna().any()):
        raise ValidationFailed(
            f"column {date_col!r} holds no readable dates",
            code="invalid_date_column",
            details={"column": date_col},
        )
    return [None if pd.isna(d) else f"{d.year:04d}-{d.month:02d}" for d in dates]


def _reasons_column(frame: pd.DataFrame, name: str) -> list[tuple[str, ...]]:
    out = []
    for value in _need_column(frame, name).tolist():
        text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
        out.append(tuple(p.strip() for p in text.replace("|", ";").replace(",", ";").split(";") if p.strip()))
    return out


def _text_column(frame: pd.DataFrame, name: str) -> list[str | None]:
    return [
        None if v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip() == "" else str(v)
        for v in _need_column(frame, name).tolist()
    ]


def run_monitoring_file(command: RunMonitoring) -> dict[str, Any]:
    thresholds = monitoring.Thresholds(
        psi_warn=command.psi_warn,
        psi_alert=command.psi_alert,
        ks_min=command.ks_min,
        auc_min=command.auc_min,
        override_max=command.override_max,
    )
    runtime, manifest = load_runtime(command.model)
    reference_json = read_reference(command.model, manifest)
    reference = monitoring.Reference.from_json(reference_json) if reference_json is not None else None
    strategy = load_strategy(command.strategy) if command.strategy else None
    frame = read_csv(command.data)
    runtime.check_inputs([str(c) for c in frame.columns])
    columns = columns_of(frame[runtime.inputs])
    scores = runtime.score_many(columns)
    pd_ = runtime.scale.pd_many(scores)
    notes: list[str] = []

    score_psi = None
    feature_psi: list[dict[str, Any]] = []
    if reference is None:
        notes.append(
            f"{command.model} has no training reference (reference.json): it was trained before references "
            "were recorded, so there is no PSI; retrain it to monitor stability."
        )
    else:
        score_psi = monitoring.variable_psi("score", reference.score, scores, thresholds)
        feature_psi = [
            monitoring.variable_psi(name, ref, columns[name], thresholds)
            for name, ref in reference.inputs.items()
            if name in columns
        ]
        feature_psi.sort(key=lambda r: -(r["psi"] or 0.0))

    vintages: list[dict[str, Any]] = []
    if command.target is not None:
        y = outcome_column(frame, command.target)
        vintages = monitoring.vintage_performance(_vintages(frame, command.date_col), y, pd_)
    else:
        notes.append("no --target: KS and AUC by vintage need matured outcomes.")

    strategy_decisions: list[str | None] | None = None
    reasons: list[tuple[str, ...]] | None = None
    if strategy is not None:
        drop = {c for c in (command.target, command.decision_col, command.strategy_decision_col) if c}
        rows = backtest.decide_rows(
            _context(frame, command.feature_set, drop), scores, strategy, product_bounds(command.bounds)
        )
        strategy_decisions, reasons = list(rows.decision.tolist()), rows.reasons
    if command.reasons_col:
        reasons = _reasons_column(frame, command.reasons_col)
    if command.strategy_decision_col:
        strategy_decisions = _text_column(frame, command.strategy_decision_col)
    hits = monitoring.rule_hits(reasons) if reasons is not None else []
    overrides = None
    if command.decision_col:
        if strategy_decisions is None:
            raise ValidationFailed(
                "the override rate needs the strategy's decisions: "
                "give --strategy or --strategy-decision-col",
                code="missing_strategy_decisions",
            )
        overrides = monitoring.override_rates(strategy_decisions, _text_column(frame, command.decision_col))

    figures: dict[str, Any] = {
        "format": MONITORING_FORMAT,
        "kind": "monitoring",
        "created_at": _now(),
        "model": {
            "path": str(command.model),
            "kind": manifest.get("kind"),
            "content_hash": manifest["content_hash"],
        },
        "data": fingerprint(command.data, frame),
        "rows": len(frame),
        "mean_pd": round(float(np.mean(pd_)), 6),
        "thresholds": vars(thresholds),
        "reference": None if reference is None else {"rows": reference.rows},
        "score_psi": score_psi,
        "feature_psi": feature_psi,
        "vintages": vintages,
        "rule_hits": hits,
        "overrides": overrides,
        "notes": notes,
    }
    figures["alerts"] = monitoring.alerts(figures, thresholds)
    write_monitoring_report(command.out, figures)
    return {**figures, "out": str(command.out)}
