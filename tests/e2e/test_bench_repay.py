"""``dipper bench repay`` at a tiny size: a real server process, concurrent clients, and the checks
it prints (every request accepted, the clearing account moved by exactly what was paid, the loan
sub-ledger reconciled with the GL). No assertion on time: figures live in docs/benchmarks.md."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from dipper.entrypoints.cli import main as cli

PG_URL = os.environ.get("DIPPER_TEST_PG_URL")
KEYS = {
    "repayments",
    "seconds",
    "repayments_per_second",
    "p50_ms",
    "p99_ms",
    "errors",
    "clients",
    "workers",
    "ledger_matches_requests",
    "reconciled",
    "cpu_ms_per_repayment",
}


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_bench_repay_drives_repayments_over_http_and_reconciles(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if database == "postgresql" and not PG_URL:
        pytest.skip("PostgreSQL tests need DIPPER_TEST_PG_URL")
    monkeypatch.setenv("DIPPER_ENVIRONMENT", "test")
    server = PG_URL if database == "postgresql" else ""
    args = ["bench", "repay", "--loans", "90", "--clients", "4", "--requests", "40", "--warmup", "8"]
    result = CliRunner().invoke(cli.app, [*args, "--workers", "1", "--server-url", server])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures.keys() >= KEYS
    assert figures["database"] == database
    assert figures["errors"] == 0, figures.get("first_errors")
    assert figures["repayments"] == 40 and figures["warmup"] == 8
    assert figures["clients"] == 4 and figures["workers"] == 1
    assert figures["ledger_matches_requests"] is True
    assert figures["reconciled"] is True
    assert 0 < figures["p50_ms"] <= figures["p99_ms"]


def test_bench_repay_refuses_fewer_loans_than_clients() -> None:
    result = CliRunner().invoke(
        cli.app, ["bench", "repay", "--loans", "3", "--clients", "4", "--server-url", ""]
    )
    assert result.exit_code == 2
    assert "invalid_options" in result.output
