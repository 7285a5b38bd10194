"""Kill ``dipper eod run`` with SIGKILL right after it commits a step, run it again, and get the very
books an uninterrupted run gives: balances, journal entries and events (SQLite and PostgreSQL).

The kill comes from the CLI's test-only hook ``DIPPER_EOD_CRASH_AFTER_STEP``, as a power cut would:
no exception handler, no rollback, no cleanup runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta

import pytest
from tests.integration.loans.test_eod import entries, reconciled
from tests.integration.loans.test_eod_support import AS_OF, comparable, outbox_topics, seed, snapshot

from dipper.loans import commands, queries


def _eod(container, bank, *, crash_after: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DIPPER_DATABASE_URL": container.settings.database_url,
        "DIPPER_ENVIRONMENT": "test",
        "COLUMNS": "160",
    }
    env.pop("DIPPER_EOD_CRASH_AFTER_STEP", None)
    if crash_after:
        env["DIPPER_EOD_CRASH_AFTER_STEP"] = crash_after
    args = [
        "--date",
        AS_OF.isoformat(),
        "--through",
        (AS_OF + timedelta(days=1)).isoformat(),
        "--tenant",
        bank.code,
    ]
    return subprocess.run(
        [sys.executable, "-m", "dipper.entrypoints.cli.main", "eod", "run", *args],
        env=env,
        capture_output=True,
        check=False,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("step", ["accrue_interest", "age", "status"])
def test_a_killed_run_resumes_to_the_books_of_an_uninterrupted_one(container, make_bank, step):
    crashed, whole = make_bank(), make_bank()
    for bank in (crashed, whole):
        seed(bank, 150)

    killed = _eod(container, crashed, crash_after=step)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    (run,) = queries.list_batch_runs(container.uow(crashed.tenant_id)).runs
    done = list(commands.EOD_STEPS[: commands.EOD_STEPS.index(step) + 1])
    assert run.business_date == AS_OF and run.status == "running" and run.steps_done == done
    reconciled(crashed)  # each committed step carried its own postings

    resumed = _eod(container, crashed)
    assert resumed.returncode == 0, resumed.stderr
    uninterrupted = _eod(container, whole)
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    assert f"{crashed.code} {AS_OF + timedelta(days=1)} done" in resumed.stdout

    runs = queries.list_batch_runs(container.uow(crashed.tenant_id)).runs
    assert [(r.business_date, r.status, r.steps_done) for r in runs] == [
        (AS_OF + timedelta(days=k), "done", list(commands.EOD_STEPS)) for k in (1, 0)
    ]
    assert comparable(snapshot(container, crashed.tenant_id)) == comparable(
        snapshot(container, whole.tenant_id)
    )
    assert entries(crashed) == entries(whole)
    assert outbox_topics(container, crashed.tenant_id) == outbox_topics(container, whole.tenant_id)
    reconciled(crashed)
