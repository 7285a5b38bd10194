"""``dipper eod run`` (the end of day, step by step with progress) and ``dipper bench eod``.

``eod run`` catches up every business date after the last one done (from ``--date`` when a bank
has none yet) through ``--through`` (default ``--date``), for one bank or each active bank, and
commits step by step: killed at any point, it resumes at the first step not done when run again.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from dipper.access import commands as access_commands
from dipper.access import queries as access_queries
from dipper.bootstrap import Container, bootstrap
from dipper.entrypoints.cli import output
from dipper.kernel.errors import NotFound, ValidationFailed
from dipper.kernel.ids import new_id
from dipper.kernel.uow import Actor
from dipper.loans import commands as loan_commands
from dipper.loans import queries as loan_queries
from dipper.settings import Settings

__all__ = ["bench_app", "eod_app"]

CLI_ACTOR = Actor.system("cli")
#: Test-only hook (the crash-and-resume test): after committing the named step, the process kills
#: itself with SIGKILL, as a power cut would. Never set it anywhere else.
CRASH_AFTER_STEP_ENV = "DIPPER_EOD_CRASH_AFTER_STEP"

eod_app = typer.Typer(
    help="End of day (日终): interest accrual, due dates, aging, penalty interest, status.",
    no_args_is_help=True,
)
bench_app = typer.Typer(
    help="Benchmarks on synthetic data (never on a production database).", no_args_is_help=True
)

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL; default DIPPER_DATABASE_URL or sqlite:///demo.db.",
        show_default=False,
    ),
]


def _date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationFailed(
            f"{option} must be a date like 2026-03-31, got {value!r}",
            code="invalid_date",
            details={"option": option, "value": value},
        ) from None


def _container(database_url: str | None) -> Container:
    return bootstrap(Settings(database_url=database_url) if database_url else Settings())


def _banks(container: Container, code: str | None) -> list[dict[str, Any]]:
    if code is not None:
        found = access_queries.tenant_by_code(container.uow(None, CLI_ACTOR), code)
        if found is None:
            raise NotFound(f"no bank with code {code!r}", code="tenant_not_found", details={"tenant": code})
        return [found]
    return [t for t in access_queries.list_tenants(container.uow(None, CLI_ACTOR)) if t["status"] == "active"]


def _money(totals: dict[str, dict[str, int]], name: str) -> str:
    parts = [f"{currency} {amounts.get(name, 0) / 100:,.2f}" for currency, amounts in sorted(totals.items())]
    return ", ".join(parts) or "0"


def _summary(bank: str, run: loan_queries.BatchRunView) -> str:
    f = run.figures
    seconds = sum(float(v.get("seconds", 0)) for v in f.values() if isinstance(v, dict))
    delinquent = sum(b["loans"] for b in f.get("age", {}).get("delinquent", {}).values())
    interest = _money(f["accrue_interest"]["totals"], "interest")
    return (
        f"{bank} {run.business_date} {run.status}: interest {interest}; "
        f"penalty {_money(f['accrue_penalty']['totals'], 'penalty')}; "
        f"{f['fall_due']['rows']} installments due; {delinquent} loans past due; "
        f"reconciled {f['post'].get('reconciled')}; {seconds:.2f}s"
    )


def _run_date(
    container: Container, bank: dict[str, Any], business_date: dt.date, fields: dict[str, Any]
) -> Any:
    """One business date, step by step, with a progress bar per step."""
    tenant_id = bank["id"]
    output.console(stderr=True).print(f"end of day {business_date} of {bank['code']}", highlight=False)
    columns = (
        TextColumn("{task.fields[step]:<16}"),
        BarColumn(bar_width=20),
        TextColumn("{task.description}"),
    )
    with Progress(
        *columns, TimeElapsedColumn(), console=output.console(stderr=True), transient=False
    ) as progress:
        tasks = {
            step: progress.add_task("", total=1, step=step, start=False) for step in loan_commands.EOD_STEPS
        }
        while True:
            outcome = container.handle(
                loan_commands.RunEndOfDayStep(tenant_id=tenant_id, business_date=business_date, **fields),
                actor=CLI_ACTOR,
            )
            if outcome.step is None:
                for step in outcome.run.steps_done:
                    progress.update(tasks[step], completed=1, description="done before")
                return outcome.run
            seconds = outcome.run.figures[outcome.step].get("seconds", 0)
            progress.start_task(tasks[outcome.step])
            progress.update(tasks[outcome.step], completed=1, description=f"{seconds:.2f}s")
            if os.environ.get(CRASH_AFTER_STEP_ENV) == outcome.step:
                progress.stop()
                os.kill(os.getpid(), signal.SIGKILL)
            if outcome.run.status == "done":
                return outcome.run


@eod_app.command("run")
def eod_run(
    *,
    date: Annotated[
        str,
        typer.Option("--date", help="Business date (YYYY-MM-DD): the first one when a bank has none done."),
    ],
    tenant: Annotated[
        str | None, typer.Option("--tenant", "-t", help="The bank's code; default every active bank.")
    ] = None,
    through: Annotated[
        str | None, typer.Option("--through", help="Run every business date up to this one (default --date).")
    ] = None,
    write_off_after_dpd: Annotated[
        int | None,
        typer.Option(
            help="Write loans off by rule beyond this many days past due (default off; 180 is usual)."
        ),
    ] = None,
    database_url: DatabaseUrl = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the runs as JSON.")] = False,
) -> None:
    """Run the end of day: catch up missed dates in order, resume an interrupted run."""
    first = _date(date, "--date")
    last = _date(through, "--through") if through else first
    if last < first:
        raise ValidationFailed("--through is before --date", code="invalid_date_range")
    fields = {"since": first, "write_off_after_dpd": write_off_after_dpd}
    container = _container(database_url)
    done: list[dict[str, Any]] = []
    try:
        for bank in _banks(container, tenant):
            plan = loan_queries.eod_plan(container.uow(bank["id"], CLI_ACTOR), last, since=first)
            if not plan:
                output.console(stderr=True).print(f"{bank['code']}: {last} is done already")
            for business_date in plan:
                run = _run_date(container, bank, business_date, fields)
                done.append({"bank": bank["code"], **run.__dict__})
                if not as_json:
                    output.console().print(
                        _summary(bank["code"], run), highlight=False, markup=False, soft_wrap=True
                    )
    finally:
        container.dispose()
    if as_json:
        output.print_json(done)


@bench_app.command("eod")
def bench_eod(
    loans: Annotated[int, typer.Option("--loans", min=1, max=5_000_000, help="Synthetic loans to seed.")],
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="A database to add a synthetic bank to (a scratch one); default a temporary SQLite file.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Seed LOANS active loans of every method and state into a new bank (not timed), run one end of
    day and print {"loans", "seconds", "loans_per_second"} as JSON."""
    scratch = None if database_url else tempfile.mkdtemp(prefix="dipper-bench-")
    url = database_url or f"sqlite:///{scratch}/bench.db"
    settings = Settings(database_url=url)
    if settings.environment == "prod":
        raise ValidationFailed(
            "benchmarks write synthetic banks; not in production", code="bench_in_production"
        )
    container = bootstrap(settings)
    try:
        container.upgrade_schema()
        tenant_id, code = new_id(), f"bench{uuid.uuid4().hex[:8]}"
        container.handle(
            access_commands.CreateTenant(tenant_id=tenant_id, code=code, name="Bench"), actor=CLI_ACTOR
        )
        business_date = container.clock.today()
        sys.stderr.write(f"seeding {loans} loans into bank {code} ...\n")
        t0 = time.perf_counter()
        container.handle(
            loan_commands.SeedSyntheticBook(tenant_id=tenant_id, loans=loans, as_of=business_date),
            actor=CLI_ACTOR,
        )
        seeded = time.perf_counter() - t0
        sys.stderr.write(f"seeded in {seeded:.1f}s; running the end of day for {business_date} ...\n")
        t0 = time.perf_counter()
        (run,) = container.handle(
            loan_commands.RunEndOfDay(tenant_id=tenant_id, business_date=business_date), actor=CLI_ACTOR
        )
        seconds = time.perf_counter() - t0
    finally:
        container.dispose()
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    result = {
        "loans": loans,
        "seconds": round(seconds, 3),
        "loans_per_second": round(loans / seconds, 1),
        "database": url.split(":", 1)[0].split("+", 1)[0],
        "steps": {s: run.figures[s].get("seconds") for s in loan_commands.EOD_STEPS},
        "seed_seconds": round(seeded, 1),
        "reconciled": run.figures["post"].get("reconciled"),
    }
    sys.stdout.write(json.dumps(result) + "\n")
