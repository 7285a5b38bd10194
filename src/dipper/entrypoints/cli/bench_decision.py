"""``dipper bench decision``: the full pre-loan decision (features, knock-outs, scorecard and boosted trees
with TreeSHAP reason codes, strategy, pricing and limit within the product's bounds, the record).

In-process, one decision after another: ``p50_ms``, ``p99_ms`` (wall clock per decision) and
``decisions_per_second``, with the CPU time per decision and each part on its own. ``--batch-rows``
adds the decision's models over a file of that many applications (the feature set over whole columns,
then each model's ``score_many``). The models are a scorecard and a gbdt trained on simulated
applications over the default feature set (seconds; cached under the temp dir). Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from dipper.entrypoints.cli.batch import bench_app
from dipper.risk.queries import decision_bench

__all__ = ["bench_decision"]


def _load() -> float | None:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


@bench_app.command("decision")
def bench_decision(
    *,
    decisions: Annotated[
        int, typer.Option("--decisions", min=1, max=10_000_000, help="Timed in-process decisions.")
    ] = 5_000,
    training_rows: Annotated[
        int,
        typer.Option("--training-rows", min=200, max=1_000_000, help="Simulated applications to train on."),
    ] = 6_000,
    batch_rows: Annotated[
        int, typer.Option("--batch-rows", min=0, max=100_000_000, help="Rows to score in bulk (0: none).")
    ] = 0,
    cache_dir: Annotated[
        Path | None,
        typer.Option("--cache-dir", help="Where the trained models are kept (default: the temp dir)."),
    ] = None,
) -> None:
    """Time the pre-loan decision in-process; print {"p50_ms", "p99_ms", "decisions_per_second", ...}."""
    sys.stderr.write(f"training on {training_rows} simulated applications (cached) ...\n")
    setup, models = decision_bench.bench_setup(training_rows, cache_dir=cache_dir)
    load_before = _load()
    pipeline = decision_bench.time_pipeline(setup, decisions)
    result: dict[str, Any] = {
        "p50_ms": pipeline["p50_ms"],
        "p99_ms": pipeline["p99_ms"],
        "decisions_per_second": pipeline["decisions_per_second"],
        "in_process": pipeline,
        "models": models,
    }
    if batch_rows:
        sys.stderr.write(f"scoring {batch_rows} rows in bulk ...\n")
        result["batch"] = decision_bench.time_batch(setup, batch_rows)
    result["cores"] = os.cpu_count()
    result["load_average"] = {"before": load_before, "after": _load()}
    sys.stdout.write(json.dumps(result) + "\n")
