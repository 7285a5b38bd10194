"""Repayments over HTTP: ``dipper bench repay`` with 1 and 2 server workers (or any set), side by side
in one run, on PostgreSQL.

    python -m bench.repay [--workers 1 --workers 2] [--clients 32] [--loans 10000] [--seconds 30]
        [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test] [--write]

Each figure comes from the CLI itself (a fresh process: seeding is not timed; the server is
``dipper serve --workers W``; the 32 clients run in the CLI's process, on the same machine), each in
its own scratch database dropped afterwards. Prints JSON; ``--write`` appends a section to
docs/benchmarks.md with the machine it ran on. Figures only; no assertion on time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

from bench.run import ROOT, _machine

GOAL_PER_SECOND = 500
GOAL_P99_MS = 100
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def bench_cli(server_url: str, *, workers: int, clients: int, loans: int, seconds: float) -> dict[str, Any]:
    args = [sys.executable, "-m", "dipper.entrypoints.cli.main", "bench", "repay", "--server-url", server_url]
    args += ["--workers", str(workers), "--clients", str(clients), "--loans", str(loans)]
    args += ["--seconds", str(seconds)]
    env = {**os.environ, "DIPPER_ENVIRONMENT": "test"}
    done = subprocess.run(args, capture_output=True, text=True, env=env, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _postgres_version(server_url: str) -> str:
    import psycopg

    dsn = server_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return f"PostgreSQL {row[0].split()[0]}" if row else "PostgreSQL"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, action="append", help="server workers; repeat for several")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--loans", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=30.0, help="timed load per configuration")
    parser.add_argument("--pg", default=os.environ.get("DIPPER_BENCH_PG_URL", DEFAULT_PG))
    parser.add_argument("--write", action="store_true", help="append the figures to docs/benchmarks.md")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "machine": f"{_machine()}, {_postgres_version(args.pg)}",
        "date": datetime.now(UTC).date().isoformat(),
        "command": " ".join(["python -m bench.repay", *sys.argv[1:]]),
        "each": f"dipper bench repay --workers W --clients {args.clients} --loans {args.loans} "
        f"--seconds {args.seconds:g}",
        "runs": [],
    }
    for workers in args.workers or [1, 2]:
        run = bench_cli(
            args.pg, workers=workers, clients=args.clients, loans=args.loans, seconds=args.seconds
        )
        results["runs"].append(run)
        print(json.dumps(run), file=sys.stderr)
    print(json.dumps(results, indent=2))
    if args.write:
        _write(results)


def _met(r: dict[str, Any]) -> str:
    ok = r["repayments_per_second"] >= GOAL_PER_SECOND and r["p99_ms"] < GOAL_P99_MS
    return "yes" if ok and r["errors"] == 0 else "no"


def _write(results: dict[str, Any]) -> None:
    lines = [
        f"\n## Repayments over HTTP — {results['date']}\n",
        f"Machine: {results['machine']}.\n",
        f"Command: `{results['command']}` (each row is `{results['each']}`: a fresh process, the "
        "book seeded untimed in a scratch database, `dipper serve --workers W` on a free port, the "
        "clients in the bench's own process on the same two cores).\n",
        "| workers | clients | repayments | seconds | repayments/s | p50 ms | p99 ms | errors "
        "| CPU ms per repayment: server / database / clients | load average | goal met |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["runs"]:
        cpu = r["cpu_ms_per_repayment"]
        lines.append(
            f"| {r['workers']} | {r['clients']} | {r['repayments']:,} | {r['seconds']} | "
            f"{r['repayments_per_second']:,} | {r['p50_ms']} | {r['p99_ms']} | {r['errors']} | "
            f"{cpu['server']} / {cpu['database']} / {cpu['clients']} | {r['load_average']} | {_met(r)} |"
        )
    with (ROOT / "docs" / "benchmarks.md").open("a", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
