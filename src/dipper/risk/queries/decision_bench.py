"""Timing the pre-loan decision in-process: the pure pipeline and each of its parts on one application, and
the decision's models over a whole file. What ``dipper bench decision`` and ``bench/decision.py`` measure;
figures only, nothing here asserts a time.

The models are a scorecard and a gbdt trained on simulated applications over the default feature set
(``risk.adapters.demo_models``: the bureau part from the simulated bureau, defaults drawn from a known
logistic model of the features), so they read exactly the features a decision computes. Training takes
seconds; the runtimes are kept as JSON under a cache directory (the system temp dir by default) keyed by
the training size, the seed, the feature set and the library versions.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from dipper.risk.adapters.demo_models import demo_models, simulated_application
from dipper.risk.domain.base import ModelRuntime
from dipper.risk.domain.decision import DecisionInputs, DecisionSetup, ModelBinding, decide
from dipper.risk.domain.feature_set import DEFAULT_FEATURE_SET
from dipper.risk.domain.gbdt import TreeEnsemble
from dipper.risk.domain.scorecard import PointsTable
from dipper.risk.domain.strategy import ProductBounds, default_strategy, strategy_context

__all__ = ["BENCH_BOUNDS", "bench_applications", "bench_setup", "time_batch", "time_pipeline"]

#: A consumer-loan product's bounds: 6-18% a year, 1,000 to 200,000 yuan, APR ceiling 24%.
BENCH_BOUNDS = ProductBounds(Decimal("0.06"), Decimal("0.18"), 100_000, 20_000_000, Decimal("0.24"))
_APPLICATION_SEED = 1  # decisions run on other applications than the models were trained on


def _runtime_hash(runtime: ModelRuntime) -> str:
    text = json.dumps(runtime.to_json(), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _cache_key(training_rows: int, seed: int) -> str:
    versions = [metadata.version(p) for p in ("dipper", "lightgbm", "optbinning", "scikit-learn", "numpy")]
    text = json.dumps([training_rows, seed, DEFAULT_FEATURE_SET.content_hash, versions])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def bench_setup(
    training_rows: int = 6_000, *, seed: int = 0, cache_dir: Path | None = None
) -> tuple[DecisionSetup, dict[str, Any]]:
    """The default strategy with a scorecard and a gbdt trained on ``training_rows`` simulated
    applications; and what was trained (rows, trees, seconds, whether the cache served)."""
    base = cache_dir or Path(tempfile.gettempdir()) / "dipper-bench-decision"
    folder = base / _cache_key(training_rows, seed)
    info: dict[str, Any] = {"training_rows": training_rows, "cache": str(folder)}
    try:
        scorecard: ModelRuntime = PointsTable.from_json(json.loads((folder / "scorecard.json").read_text()))
        gbdt: ModelRuntime = TreeEnsemble.from_json(json.loads((folder / "gbdt.json").read_text()))
        info["trained_seconds"] = None
    except (OSError, ValueError, KeyError):
        started = time.perf_counter()
        sc, gb = demo_models(training_rows, seed)
        info["trained_seconds"] = round(time.perf_counter() - started, 2)
        scorecard, gbdt = sc.runtime, gb.runtime
        folder.mkdir(parents=True, exist_ok=True)
        for name, runtime in (("scorecard", scorecard), ("gbdt", gbdt)):
            staging = folder / f".{name}.{os.getpid()}.json"
            staging.write_text(json.dumps(runtime.to_json()))
            staging.replace(folder / f"{name}.json")
    assert isinstance(gbdt, TreeEnsemble)
    info["gbdt_trees"] = sum(len(trees) for trees in gbdt.boosters)
    info["scorecard_features"] = len(getattr(scorecard, "features", []))
    setup = DecisionSetup.of(
        DEFAULT_FEATURE_SET,
        default_strategy(),
        scorecard=ModelBinding(scorecard, _runtime_hash(scorecard), "bench_scorecard", 1),
        gbdt=ModelBinding(gbdt, _runtime_hash(gbdt), "bench_gbdt", 1),
    )
    return setup, info


def bench_applications(n: int, *, seed: int = _APPLICATION_SEED) -> list[dict[str, Any]]:
    """``n`` simulated applications (identity, application and bureau inputs) to decide on."""
    return [simulated_application(i, seed=seed) for i in range(n)]


def _percentiles(walls: list[float]) -> dict[str, float]:
    walls = sorted(walls)
    n = len(walls)
    return {
        "p50_ms": round(walls[n // 2] * 1e3, 3),
        "p99_ms": round(walls[min(n - 1, int(n * 0.99))] * 1e3, 3),
    }


def _timed(fn: Callable[[int], object], n: int, warmup: int) -> dict[str, float]:
    for i in range(warmup):
        fn(i)
    walls = []
    cpus = []  # this thread's CPU per call: what the call costs, whatever else the machine runs
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(n):
        c = time.thread_time()
        t = time.perf_counter()
        fn(i)
        walls.append(time.perf_counter() - t)
        cpus.append(time.thread_time() - c)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    cpus.sort()
    return {
        **_percentiles(walls),
        "cpu_p99_ms": round(cpus[min(n - 1, int(n * 0.99))] * 1e3, 3),
        "cpu_ms": round(cpu / n * 1e3, 3),
        "per_second": round(n / wall, 1) if wall > 0 else 0.0,
    }


def time_pipeline(setup: DecisionSetup, n: int = 5_000, *, pool: int = 1_000) -> dict[str, Any]:
    """The pure decision on ``n`` applications one after another (inputs normalised and digested,
    features, both models, the gbdt's TreeSHAP reasons, strategy, bounds, the record), then each part."""
    apps = bench_applications(min(n, pool))
    behaviour = {"dipper_loans_total": 0}
    warmup = min(200, n)

    def one(i: int) -> object:
        inputs = DecisionInputs.of(
            f"bench-{i}", apps[i % len(apps)], bounds=BENCH_BOUNDS, behaviour=behaviour
        )
        return decide(inputs, setup)

    full = _timed(one, n, warmup)
    decisions: dict[str, int] = {}
    for i in range(min(n, len(apps))):
        record = one(i)
        key = str(getattr(record, "decision", ""))
        decisions[key] = decisions.get(key, 0) + 1

    fs = setup.feature_set
    inputs = [
        DecisionInputs.of(f"bench-{i}", a, bounds=BENCH_BOUNDS, behaviour=behaviour)
        for i, a in enumerate(apps)
    ]
    rows = [fs.row(x.merged()) for x in inputs]
    k = len(rows)
    sc, gb = setup.scorecard, setup.gbdt
    assert sc is not None and gb is not None
    strategy = setup.strategy.champion
    m = min(n, 2_000)
    parts: dict[str, Mapping[str, float]] = {
        "inputs_normalised": _timed(
            lambda i: (
                DecisionInputs.of(f"b{i}", apps[i % k], bounds=BENCH_BOUNDS, behaviour=behaviour).digest
            ),
            m,
            warmup,
        ),
        "features": _timed(lambda i: fs.row(inputs[i % k].merged()), m, warmup),
        "scorecard_score": _timed(lambda i: sc.runtime.score_one(rows[i % k]), m, warmup),
        "scorecard_reasons": _timed(lambda i: sc.runtime.reasons(rows[i % k], 4), m, warmup),
        "gbdt_score": _timed(lambda i: gb.runtime.score_one(rows[i % k]), m, warmup),
        "gbdt_reasons_treeshap": _timed(lambda i: gb.runtime.reasons(rows[i % k], 4), m, warmup),
        "strategy_with_bounds": _timed(
            lambda i: strategy.evaluate(strategy_context(rows[i % k], 650.0 + i % 100), BENCH_BOUNDS),
            m,
            warmup,
        ),
    }
    return {
        "p50_ms": full["p50_ms"],
        "p99_ms": full["p99_ms"],
        "decisions_per_second": full["per_second"],
        "cpu_ms": full["cpu_ms"],
        "cpu_p99_ms": full["cpu_p99_ms"],
        "decisions": n,
        "outcomes": decisions,
        "parts": parts,
    }


def _typed(values: list[Any]) -> np.ndarray[Any, Any]:
    """One column as a typed file loader gives it: numbers (NaN when missing), flags, dates, texts."""
    present = [v for v in values if v is not None]
    kinds = {type(v) for v in present}
    if kinds == {bool} and len(present) == len(values):
        return np.asarray(values, dtype=bool)
    if kinds <= {int, float}:
        return np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    if kinds == {str} and all(len(v) == 10 and v[4] == "-" for v in present):
        return np.asarray([v or "NaT" for v in values], dtype="datetime64[D]")
    if kinds == {str}:
        return np.asarray(["" if v is None else v for v in values], dtype=np.str_)
    return np.asarray(values, dtype=object)


def _tiled_columns(apps: list[dict[str, Any]], rows: int) -> dict[str, np.ndarray[Any, Any]]:
    return {name: np.resize(_typed([a.get(name) for a in apps]), rows) for name in DEFAULT_FEATURE_SET.inputs}


def time_batch(setup: DecisionSetup, rows: int = 1_000_000, *, distinct: int = 10_000) -> dict[str, Any]:
    """The decision's models over a file of ``rows`` applications (``distinct`` simulated ones, tiled):
    the feature set over whole columns, then the scorecard's and the gbdt's ``score_many``."""
    apps = bench_applications(min(rows, distinct))
    columns = _tiled_columns([{**a, "dipper_loans_total": 0} for a in apps], rows)
    fs = setup.feature_set
    cpu0, started = time.process_time(), time.perf_counter()
    features = fs.frame(columns)
    out: dict[str, Any] = {
        "rows": rows,
        "feature_frame_s": round(time.perf_counter() - started, 3),
        "feature_frame_cpu_s": round(time.process_time() - cpu0, 3),
    }
    for role, binding in (("scorecard", setup.scorecard), ("gbdt", setup.gbdt)):
        assert binding is not None
        runtime = binding.runtime
        runtime.score_many({k: v[:2_000] for k, v in features.items()})  # compiled once, before the clock
        cpu0, started = time.process_time(), time.perf_counter()
        scores = runtime.score_many(features)
        out[f"{role}_score_many_s"] = round(time.perf_counter() - started, 3)
        out[f"{role}_score_many_cpu_s"] = round(time.process_time() - cpu0, 3)
        sample = range(0, rows, max(1, rows // 200))
        out[f"{role}_equals_score_one"] = all(
            runtime.score_one({k: features[k][i] for k in runtime.inputs}) == scores[i] for i in sample
        )
    parts = ("feature_frame", "scorecard_score_many", "gbdt_score_many")
    out["total_s"] = round(sum(out[f"{p}_s"] for p in parts), 3)
    # CPU seconds of every thread of this process (LightGBM scores on two): what an idle 2-core box
    # would need, at most, in wall time.
    out["total_cpu_s"] = round(sum(out[f"{p}_cpu_s"] for p in parts), 3)
    return out
