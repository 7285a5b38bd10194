"""Foundation benchmarks: ledger posting, trial balance, authenticated API latency, Money.allocate.

Run with ``make bench`` (SQLite) and with ``DIPPER_BENCH_PG_URL=postgresql+psycopg://...``
for PostgreSQL too. Prints JSON and, with ``--write``, appends a dated section to
docs/benchmarks.md with the machine it ran on. Figures only; no assertion on time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from dipper.access import commands as access_commands
from dipper.accounting import queries as accounting
from dipper.accounting.commands import PostingLine, PostJournalEntry
from dipper.bootstrap import bootstrap
from dipper.kernel.ids import new_id
from dipper.kernel.money import Money
from dipper.persistence.db import scratch_database
from dipper.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def _machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    system = f"{platform.system()} {platform.machine()}"
    return f"{system}, {os.cpu_count()} cores ({cpu}){mem}, Python {platform.python_version()}"


def _bank(container: Any) -> tuple[str, str]:
    """A fresh bank with an admin; returns (tenant id, bank code)."""
    tenant_id, code = new_id(), f"bench{uuid.uuid4().hex[:8]}"
    container.handle(access_commands.CreateTenant(tenant_id=tenant_id, code=code, name="Bench Bank"))
    container.handle(
        access_commands.CreateUser(
            tenant_id=tenant_id,
            username="admin",
            display_name="a",
            password="Bench-passw0rd",
            roles=("admin",),
        )
    )
    return tenant_id, code


def bench_ledger(url: str, entries: int) -> dict[str, Any]:
    container = bootstrap(Settings(database_url=url, environment="test"))
    container.upgrade_schema()
    tenant_id, _ = _bank(container)
    start = date(2026, 1, 1)
    t0 = time.perf_counter()
    for i in range(entries):
        container.handle(
            PostJournalEntry(
                tenant_id=tenant_id,
                client_key=f"bench-{i}",
                value_date=start + timedelta(days=i % 300),
                description="bench disbursement",
                source="bench",
                lines=(
                    PostingLine(account_code="1303", currency="CNY", debit_minor=100_000 + i),
                    PostingLine(account_code="1011", currency="CNY", credit_minor=100_000 + i),
                ),
            )
        )
    post_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    tb = accounting.trial_balance(container.uow(tenant_id), date(2026, 12, 31))
    tb_s = time.perf_counter() - t0
    assert tb.balanced
    container.dispose()
    return {
        "database": url.split(":", 1)[0],
        "entries": entries,
        "post_seconds": round(post_s, 3),
        "entries_per_second": round(entries / post_s, 1),
        "trial_balance_lines": 2 * entries,
        "trial_balance_ms": round(tb_s * 1000, 1),
    }


def bench_http(url: str, requests: int) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from dipper.entrypoints.http.app import create_app

    container = bootstrap(Settings(database_url=url, environment="test"))
    container.upgrade_schema()
    _, code = _bank(container)
    app = create_app(container, with_console=False)
    with TestClient(app) as client:
        # sign in once; then time authenticated reads (token look-up + tenant-scoped query)
        r = client.post(
            "/api/v1/auth/login", json={"tenant": code, "username": "admin", "password": "Bench-passw0rd"}
        )
        headers = {"Authorization": f"Bearer {r.json()['token']}"}
        samples = []
        for _ in range(requests):
            t0 = time.perf_counter()
            resp = client.get("/api/v1/tenant", headers=headers)
            samples.append(time.perf_counter() - t0)
            assert resp.status_code == 200
    container.dispose()
    samples.sort()
    return {
        "requests": requests,
        "p50_ms": round(statistics.median(samples) * 1000, 2),
        "p99_ms": round(samples[int(len(samples) * 0.99) - 1] * 1000, 2),
        "requests_per_second_one_client": round(requests / sum(samples), 1),
    }


def bench_allocate(n: int) -> dict[str, Any]:
    money = Money(1_000_000_07, "CNY")
    ratios = [3, 3, 3, 1]
    t0 = time.perf_counter()
    for _ in range(n):
        money.allocate(ratios)
    s = time.perf_counter() - t0
    return {"allocations": n, "allocations_per_second": round(n / s)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--write", action="store_true", help="append the figures to docs/benchmarks.md")
    args = parser.parse_args()
    results: dict[str, Any] = {"machine": _machine(), "date": datetime.now(UTC).date().isoformat()}
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = f"sqlite:///{tmp}/bench.db"
        results["ledger_sqlite"] = bench_ledger(sqlite, args.entries)
        results["http_sqlite"] = bench_http(f"sqlite:///{tmp}/bench_http.db", args.requests)
    pg = os.environ.get("DIPPER_BENCH_PG_URL")
    if pg:
        with scratch_database(pg, prefix="dipper_bench") as url:
            results["ledger_postgresql"] = bench_ledger(url, args.entries)
            results["http_postgresql"] = bench_http(url, args.requests)
    results["money_allocate"] = bench_allocate(100_000)
    print(json.dumps(results, indent=2, ensure_ascii=False))
    if args.write:
        _write(results)


def _write(results: dict[str, Any]) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    lines = [
        f"\n## Foundation — {results['date']}\n",
        f"Machine: {results['machine']}.\n",
        "Command: `make bench` (`python -m bench.run --write`, PostgreSQL via `DIPPER_BENCH_PG_URL`).\n",
        "| benchmark | database | figures |",
        "|---|---|---|",
    ]
    for key, value in results.items():
        if key in {"machine", "date"}:
            continue
        db = key.split("_", 1)[1] if "_" in key and key.split("_", 1)[0] in {"ledger", "http"} else "—"
        figures = ", ".join(f"{k}={v}" for k, v in value.items() if k != "database")
        lines.append(f"| {key.split('_')[0]} | {db} | {figures} |")
    with path.open("a", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
