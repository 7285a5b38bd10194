"""``dipper bench decision`` at a tiny size: it trains (then reuses) its models, decides in-process,
scores a small file in bulk, and prints the JSON figures. No assertion on time: figures live in
docs/benchmarks.md."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dipper.entrypoints.cli import main as cli
from dipper.risk.handlers.decisions import DefaultSetupSource, use_setup_source

PG_URL = os.environ.get("DIPPER_TEST_PG_URL")


@pytest.fixture(autouse=True)
def _demo_models_for_this_test_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The stored decisions use the handler's setup source, which keeps the first setup it builds: give
    this test its own (with the demo models), and put the process's back afterwards."""
    monkeypatch.setenv("DIPPER_RISK_DECISION_MODELS", "demo")
    previous = use_setup_source(DefaultSetupSource("demo"))
    try:
        yield
    finally:
        use_setup_source(previous)


def _run(cache: Path, *extra: str) -> dict:
    args = ["bench", "decision", "--decisions", "40", "--training-rows", "600", "--cache-dir", str(cache)]
    result = CliRunner().invoke(cli.app, [*args, *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_bench_decision_prints_the_figures_and_reuses_its_models(tmp_path: Path) -> None:
    first = _run(tmp_path, "--batch-rows", "3000", "--stored", "5", "--server-url", "")
    assert {"p50_ms", "p99_ms", "decisions_per_second"} <= set(first)
    assert 0 < first["p50_ms"] <= first["p99_ms"]
    assert first["decisions_per_second"] > 0
    pipeline = first["in_process"]
    assert sum(pipeline["outcomes"].values()) == 40
    assert set(pipeline["outcomes"]) <= {"approve", "review", "decline"}
    assert {"features", "gbdt_score", "gbdt_reasons_treeshap", "strategy_with_bounds"} <= set(
        pipeline["parts"]
    )
    assert first["models"]["trained_seconds"] is not None and first["models"]["gbdt_trees"] > 0
    batch = first["batch"]
    assert batch["rows"] == 3000
    assert batch["scorecard_equals_score_one"] and batch["gbdt_equals_score_one"]
    stored = first["stored_sqlite"]
    assert stored["decisions"] == 5 and stored["database"] == "sqlite" and stored["p99_ms"] > 0
    assert sum(stored["warmup_outcomes"].values()) == 5
    assert "stored_postgresql" not in first
    second = _run(tmp_path)
    assert second["models"]["trained_seconds"] is None  # the cached models served
    assert "batch" not in second


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_bench_decision_over_http(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: str) -> None:
    if database == "postgresql" and not PG_URL:
        pytest.skip("PostgreSQL tests need DIPPER_TEST_PG_URL")
    monkeypatch.setenv("DIPPER_ENVIRONMENT", "test")
    monkeypatch.setenv("DIPPER_RISK_DECISION_MODELS", "")  # the server decides without models: quicker
    server = PG_URL if database == "postgresql" else ""
    figures = _run(
        tmp_path,
        *("--http", "24", "--warmup", "8", "--clients", "4", "--workers", "1", "--server-url", server or ""),
    )
    http = figures["http"]
    assert {"p50_ms", "p99_ms", "decisions_per_second"} <= set(http)
    assert http["errors"] == 0, http.get("first_errors")
    assert http["decisions"] == 24 and http["clients"] == 4 and http["workers"] == 1
    assert http["database"] == database
    assert sum(http["outcomes"].values()) == 24
    assert 0 < http["p50_ms"] <= http["p99_ms"]
