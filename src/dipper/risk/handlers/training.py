"""Handlers of the risk module: training a model directory and scoring a file with one."""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from dipper.risk.adapters.artifacts import load_runtime, write_model
from dipper.risk.adapters.files import fingerprint, read_csv
from dipper.risk.adapters.report import write_report
from dipper.risk.commands import MODEL_KINDS, ScoreFile, TrainModel
from dipper.risk.domain import metrics as model_metrics
from dipper.risk.domain.base import BaseRiskModel, ModelRuntime, columns_of
from dipper.risk.domain.data import prepare_training, split
from dipper.risk.domain.errors import INVALID_DATA_FILE, INVALID_FEATURE_SPEC, NotFound, ValidationFailed
from dipper.risk.domain.features import DerivedFeature, parse_features
from dipper.risk.domain.gbdt import GradientBoostingModel, TreeEnsemble
from dipper.risk.domain.monitoring import build_reference
from dipper.risk.domain.scorecard import PointsTable, ScorecardModel

__all__ = ["COMMAND_HANDLERS", "EVENT_HANDLERS", "make_model", "score_file", "train_model"]

COMMAND_HANDLERS: dict[type, Any] = {}
EVENT_HANDLERS: dict[type, list[Any]] = {}


def make_model(kind: str, *, seed: int, derived: tuple[DerivedFeature, ...] = ()) -> BaseRiskModel:
    if kind == "scorecard":
        return ScorecardModel(random_state=seed, derived_features=derived)
    if kind == "gbdt":
        return GradientBoostingModel(random_state=seed, derived_features=derived)
    raise ValidationFailed(
        f"unknown model kind {kind!r}", code="unknown_model_kind", details={"allowed": list(MODEL_KINDS)}
    )


def _derived(path: Path | None) -> tuple[DerivedFeature, ...]:
    if path is None:
        return ()
    if not path.is_file():
        raise NotFound(f"no feature file at {path}", code=INVALID_FEATURE_SPEC)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationFailed(f"{path.name} is not valid JSON: {exc}", code=INVALID_FEATURE_SPEC) from None
    return parse_features(data)


def train_model(command: TrainModel) -> dict[str, Any]:
    derived = _derived(command.derived_features)
    model = make_model(command.kind, seed=command.seed, derived=derived)
    frame = read_csv(command.data)
    data = prepare_training(frame, command.target, command.exclude)
    X_fit, X_val, y_fit, y_val = split(
        data.X, data.y, test_size=command.validation_fraction, seed=command.seed
    )

    started = time.perf_counter()
    held_out = clone(model).fit(X_fit, y_fit)
    scores = held_out.predict_score(X_val)
    pd_val = held_out.predict_proba(X_val)[:, 1]
    figures = model_metrics.summary(y_val, pd_val)
    curves = model_metrics.curves(y_val, pd_val)
    distribution = model_metrics.score_distribution(y_val, scores)
    model.fit(data.X, data.y)
    seconds = time.perf_counter() - started
    # Monitoring's PSI baseline: the final model's scores on its own training rows, and each input.
    reference = build_reference(
        model.predict_score(data.X), columns_of(data.X[model.runtime_.inputs].reset_index(drop=True))
    )

    metrics: dict[str, Any] = {
        "kind": command.kind,
        "validation": figures,
        "validation_fraction": command.validation_fraction,
        "seed": command.seed,
        "training_rows": len(data.y),
        "features_in": int(data.X.shape[1]),
        "train_seconds": round(seconds, 3),
    }
    runtime = model.runtime_
    lightgbm_models = (
        [b.model_to_string() for b in model.boosters_] if isinstance(model, GradientBoostingModel) else []
    )
    title = f"{command.kind} — {command.data.name} — target {command.target}"

    def report(directory: Path) -> None:
        write_report(
            directory,
            title=title,
            metrics=figures,
            curves=curves,
            distribution=distribution,
            model_report=model.report_,
        )

    params = {k: v for k, v in model.get_params().items() if k != "derived_features"}
    manifest = write_model(
        command.out,
        runtime=runtime,
        lightgbm_models=lightgbm_models,
        metrics=metrics,
        report_writer=report,
        reference=reference.to_json(),
        manifest={
            "kind": command.kind,
            "target": command.target,
            "inputs": runtime.inputs,
            "derived_features": [d.to_json() for d in derived],
            "params": json.loads(json.dumps(params, default=str)),
            "training_data": {**fingerprint(command.data, frame), "excluded": list(command.exclude)},
        },
    )
    return {**metrics, "model": str(command.out), "content_hash": manifest["content_hash"]}


#: A data file above this size is read, scored and written in chunks of ``_CHUNK_ROWS`` rows, so that
#: memory stays flat however long the file is (a million rows in one frame take about 1 GB).
_STREAM_BYTES = 64 * 1024 * 1024
_CHUNK_ROWS = 200_000


def _text_inputs(runtime: ModelRuntime) -> list[str]:
    """The model's category inputs: read as text in every chunk, as a whole file reads them."""
    if isinstance(runtime, TreeEnsemble):
        return [c for c in runtime.inputs if c in runtime.categories]
    if isinstance(runtime, PointsTable):
        categorical = {f.name for f in runtime.features if f.kind == "categorical"}
        return [c for c in runtime.inputs if c in categorical]
    return []


def _csv_chunks(path: Path, runtime: ModelRuntime) -> Iterator[pd.DataFrame]:
    if path.stat().st_size <= _STREAM_BYTES:
        yield read_csv(path)
        return
    try:
        with pd.read_csv(
            path, chunksize=_CHUNK_ROWS, low_memory=False, dtype=dict.fromkeys(_text_inputs(runtime), str)
        ) as reader:
            for chunk in reader:
                unnamed = [str(c) for c in chunk.columns if str(c).startswith("Unnamed:")]
                if unnamed or chunk.shape[1] < 2:
                    raise ValidationFailed(
                        f"{path.name} has columns without a header or fewer than two columns",
                        code=INVALID_DATA_FILE,
                        details={"path": str(path)},
                    )
                yield chunk
    except (pd.errors.ParserError, UnicodeDecodeError, csv.Error, ValueError) as exc:
        if isinstance(exc, ValidationFailed):
            raise
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValidationFailed(
            f"{path.name} is not a readable CSV file: {reason}",
            code=INVALID_DATA_FILE,
            details={"path": str(path)},
        ) from None


def score_file(command: ScoreFile) -> dict[str, Any]:
    runtime, manifest = load_runtime(command.model)
    if not command.data.is_file():
        read_csv(command.data)  # the same not-found error as a whole-file read
    command.out.parent.mkdir(parents=True, exist_ok=True)
    staging = command.out.with_name(f".{command.out.name}.partial")
    rows = 0
    pd_total = 0.0
    try:
        with staging.open("w", encoding="utf-8", newline="") as handle:
            for frame in _csv_chunks(command.data, runtime):
                runtime.check_inputs([str(c) for c in frame.columns])
                scores = runtime.score_many(columns_of(frame[runtime.inputs]))
                out = frame.assign(score=np.round(scores, 4), pd=runtime.scale.pd_many(scores))
                out.to_csv(handle, index=False, header=rows == 0)
                rows += len(out)
                pd_total += float(np.sum(out["pd"]))
        staging.replace(command.out)  # a failed run leaves no half-written file behind
    finally:
        staging.unlink(missing_ok=True)
    return {
        "rows": rows,
        "model": str(command.model),
        "content_hash": manifest["content_hash"],
        "out": str(command.out),
        "mean_pd": round(pd_total / rows, 6) if rows else 0.0,
    }
