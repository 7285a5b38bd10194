"""End-of-day benchmark: ``dipper bench eod`` at several book sizes on SQLite and PostgreSQL, and the
floor PostgreSQL sets for writing one row per loan (``COPY`` of N ``(loan_id, amount)`` rows).

    python -m bench.eod --loans 100000 --loans 1000000 [--pg postgresql+psycopg://postgres@127.0.0.1/postgres]
        [--write]

Each figure comes from the CLI itself (a fresh process; seeding is not timed), PostgreSQL runs in a
scratch database dropped afterwards. Prints JSON; ``--write`` appends a section to
docs/benchmarks.md with the machine it ran on. Figures only; no assertion on time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench.run import ROOT, _machine
from dipper.persistence.db import scratch_database


def bench_cli(loans: int, url: str | None) -> dict[str, Any]:
    args = [sys.executable, "-m", "dipper.entrypoints.cli.main", "bench", "eod", "--loans", str(loans)]
    if url:
        args += ["--database-url", url]
    env = {**os.environ, "DIPPER_ENVIRONMENT": "test"}
    done = subprocess.run(args, capture_output=True, text=True, env=env, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def copy_floor(server_url: str, rows: int) -> dict[str, Any]:
    """Seconds PostgreSQL takes to COPY ``rows`` (loan_id, amount) rows into an unindexed table."""
    import psycopg

    with scratch_database(server_url, prefix="dipper_bench_copy") as url:
        dsn = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn) as conn:
            conn.execute("CREATE TABLE posting (loan_id varchar(26) NOT NULL, amount_minor bigint NOT NULL)")
            data = [(f"01JBENCH{i:018d}", 100 + i % 997) for i in range(rows)]
            t0 = time.perf_counter()
            with conn.cursor() as cur, cur.copy("COPY posting (loan_id, amount_minor) FROM STDIN") as copy:
                for row in data:
                    copy.write_row(row)
            conn.commit()
            seconds = time.perf_counter() - t0
    return {"rows": rows, "seconds": round(seconds, 3), "rows_per_second": round(rows / seconds)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loans", type=int, action="append", help="book size; repeat for several")
    parser.add_argument("--pg", default=os.environ.get("DIPPER_BENCH_PG_URL"), help="PostgreSQL server URL")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--write", action="store_true", help="append the figures to docs/benchmarks.md")
    args = parser.parse_args()
    sizes = args.loans or [100_000]
    results: dict[str, Any] = {
        "machine": _machine(),
        "date": datetime.now(UTC).date().isoformat(),
        "runs": [],
        "copy": [],
    }
    for loans in sizes:
        if not args.no_sqlite:
            results["runs"].append(bench_cli(loans, None))
            print(json.dumps(results["runs"][-1]), file=sys.stderr)
        if args.pg:
            with scratch_database(args.pg, prefix="dipper_bench_eod") as url:
                results["runs"].append(bench_cli(loans, url))
            print(json.dumps(results["runs"][-1]), file=sys.stderr)
            results["copy"].append(copy_floor(args.pg, loans))
            print(json.dumps(results["copy"][-1]), file=sys.stderr)
    print(json.dumps(results, indent=2))
    if args.write:
        _write(results)


def _write(results: dict[str, Any]) -> None:
    lines = [
        f"\n## Loan core — end of day — {results['date']}\n",
        f"Machine: {results['machine']}.\n",
        "Command: `python -m bench.eod --loans 100000 --loans 1000000 --pg <server URL> --write` "
        "(each figure is `dipper bench eod --loans N`: N synthetic loans of every method and state, "
        "seeded untimed, then one end of day, all seven steps; PostgreSQL in a scratch database).\n",
        "| database | loans | seconds | loans/s | accrue_interest | fall_due | age | accrue_penalty "
        "| status |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["runs"]:
        s = r["steps"]
        lines.append(
            f"| {r['database']} | {r['loans']:,} | {r['seconds']} | {r['loans_per_second']:,} | "
            f"{s['accrue_interest']} | {s['fall_due']} | {s['age']} | {s['accrue_penalty']} | {s['status']} |"
        )
    if results["copy"]:
        floor = "Floor: PostgreSQL `COPY` of one `(loan_id, amount)` row per loan into an unindexed table."
        lines += ["", floor, ""]
        lines += ["| rows | seconds | rows/s |", "|---|---|---|"]
        lines += [f"| {c['rows']:,} | {c['seconds']} | {c['rows_per_second']:,} |" for c in results["copy"]]
    with (ROOT / "docs" / "benchmarks.md").open("a", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
