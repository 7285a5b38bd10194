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
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer

from dipper.access import commands as access_commands
from dipper.bootstrap import Container, bootstrap
from dipper.entrypoints.cli.batch import CLI_ACTOR, bench_app
from dipper.entrypoints.cli.bench_repay import DEFAULT_SERVER_URL, _database
from dipper.kernel.errors import ValidationFailed
from dipper.kernel.ids import new_id
from dipper.kernel.uow import Actor
from dipper.loans import commands as loan_commands
from dipper.risk import commands as risk_commands
from dipper.risk.queries import decision_bench
from dipper.settings import Settings

#: The product decided for: 1,000 to 500,000 yuan over 1-36 months at 3-18% a year.
PRODUCT_TERMS: dict[str, Any] = {
    "currency": "CNY",
    "min_amount_minor": 100_000,
    "max_amount_minor": 50_000_000,
    "min_term_months": 1,
    "max_term_months": 36,
    "allowed_terms": [1, 3, 6, 12, 24, 36],
    "repayment_methods": ["equal-installment", "equal-principal", "interest-only", "bullet"],
    "min_rate": "0.03",
    "max_rate": "0.18",
    "holiday_roll": "unadjusted",
    "prepayment_allowed": True,
    "prepayment_full": True,
    "prepayment_partial_modes": ["shorten-term", "lower-installment"],
}

__all__ = ["bench_decision"]


def _bench_bank(container: Container) -> tuple[str, str, Actor]:
    """A new bank with a published consumer-loan product (maker-checker: a product manager proposes,
    an administrator approves); returns (tenant id, product code, the administrator)."""
    container.upgrade_schema()
    tenant_id = new_id()
    container.handle(
        access_commands.CreateTenant(tenant_id=tenant_id, code=f"benchd{uuid.uuid4().hex[:8]}", name="Bench"),
        actor=CLI_ACTOR,
    )
    actors: dict[str, Actor] = {}
    for name, role in (("pm", "product_manager"), ("admin", "admin")):
        user_id = container.handle(
            access_commands.CreateUser(
                tenant_id=tenant_id,
                username=name,
                display_name=name,
                password=f"Bench-{uuid.uuid4().hex}",
                roles=(role,),
            ),
            actor=CLI_ACTOR,
        )
        actors[name] = Actor(kind="user", id=str(user_id), name=name)
    code = "BENCH-CONSUMER"
    product_id = container.handle(
        loan_commands.CreateProduct(
            tenant_id=tenant_id, code=code, name="消费贷", name_en="Consumer loan", terms=PRODUCT_TERMS
        ),
        actor=actors["pm"],
    )
    proposal = container.handle(
        loan_commands.SubmitProductVersion(tenant_id=tenant_id, product_id=product_id, version_no=1),
        actor=actors["pm"],
    )
    change_id = container.handle(proposal, actor=actors["pm"])
    container.handle(
        access_commands.DecideChange(tenant_id=tenant_id, change_id=change_id, approve=True),
        actor=actors["admin"],
    )
    return tenant_id, code, actors["admin"]


def _stored_applications(n: int, today: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(application, bureau inputs) pairs: the caller brings the bureau report it fetched."""
    out = []
    for app in decision_bench.bench_applications(n):
        bureau = {k: v for k, v in app.items() if k.startswith("bureau_")}
        application = {k: v for k, v in app.items() if not k.startswith("bureau_")}
        application["application_date"] = today
        out.append((application, bureau))
    return out


def _bench_stored(url: str, decisions: int) -> dict[str, Any]:
    """``DecideApplication`` through the container, one after another: the pipeline plus the product's
    bounds, the idempotency check, the stored record (personal inputs encrypted), audit and outbox."""
    settings = Settings(database_url=url)
    if settings.environment == "prod":
        raise ValidationFailed(
            "benchmarks write synthetic banks; not in production", code="bench_in_production"
        )
    container = bootstrap(settings)
    try:
        tenant_id, product, admin = _bench_bank(container)
        apps = _stored_applications(min(decisions, 1_000), container.clock.today().isoformat())
        run = uuid.uuid4().hex[:8]

        def one(i: int) -> Any:
            application, bureau = apps[i % len(apps)]
            return container.handle(
                risk_commands.DecideApplication(
                    tenant_id=tenant_id,
                    idempotency_key=f"bench-{run}-{i}",
                    product_code=product,
                    application=application,
                    bureau=bureau,
                ),
                actor=admin,
            )

        outcomes: dict[str, int] = {}
        for i in range(min(100, decisions)):  # warm-up: models, engines, statements, connections
            view = one(decisions + i)
            outcomes[str(view["decision"])] = outcomes.get(str(view["decision"]), 0) + 1
        walls: list[float] = []
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for i in range(decisions):
            t = time.perf_counter()
            one(i)
            walls.append(time.perf_counter() - t)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        container.dispose()
    walls.sort()
    return {
        "p50_ms": round(walls[len(walls) // 2] * 1e3, 3),
        "p99_ms": round(walls[min(len(walls) - 1, int(len(walls) * 0.99))] * 1e3, 3),
        "decisions_per_second": round(decisions / wall, 1) if wall else 0.0,
        "cpu_ms": round(cpu / decisions * 1e3, 3),
        "decisions": decisions,
        "warmup_outcomes": outcomes,
        "database": url.split(":", 1)[0].split("+", 1)[0],
    }


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
    stored: Annotated[
        int,
        typer.Option("--stored", min=0, max=1_000_000, help="Timed stored decisions per database (0: none)."),
    ] = 0,
    server_url: Annotated[
        str,
        typer.Option(
            "--server-url",
            help="PostgreSQL server for the stored decisions' scratch database ('' : SQLite only).",
        ),
    ] = DEFAULT_SERVER_URL,
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
    if stored:
        # The handler's default setup source: the packaged strategy with models trained on simulated
        # applications (the same training as above when --training-rows is 6,000).
        os.environ.setdefault("DIPPER_RISK_DECISION_MODELS", "demo")
        sys.stderr.write(f"{stored} stored decisions on SQLite ...\n")
        with _database(None, None) as url:
            result["stored_sqlite"] = _bench_stored(url, stored)
        if server_url:
            sys.stderr.write(f"{stored} stored decisions on PostgreSQL ...\n")
            with _database(None, server_url) as url:
                result["stored_postgresql"] = _bench_stored(url, stored)
    if batch_rows:
        sys.stderr.write(f"scoring {batch_rows} rows in bulk ...\n")
        result["batch"] = decision_bench.time_batch(setup, batch_rows)
    result["cores"] = os.cpu_count()
    result["load_average"] = {"before": load_before, "after": _load()}
    sys.stdout.write(json.dumps(result) + "\n")
