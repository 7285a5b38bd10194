"""``dipper bench decision``: the full pre-loan decision (features, knock-outs, scorecard and boosted trees
with TreeSHAP reason codes, strategy, pricing and limit within the product's bounds, the record).

In-process, one decision after another: ``p50_ms``, ``p99_ms`` (wall clock per decision) and
``decisions_per_second``, with the CPU time per decision and each part on its own. ``--batch-rows``
adds the decision's models over a file of that many applications (the feature set over whole columns,
then each model's ``score_many``). The models are a scorecard and a gbdt trained on simulated
applications over the default feature set (seconds; cached under the temp dir). Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.engine import make_url

from dipper.access import commands as access_commands
from dipper.access.queries import Permission
from dipper.bootstrap import Container, bootstrap
from dipper.entrypoints.cli.batch import CLI_ACTOR, bench_app
from dipper.entrypoints.cli.bench_repay import (
    DEFAULT_SERVER_URL,
    _cpu,
    _cpu_seconds,
    _database,
    _Http,
    _Load,
    _percentile,
    _run_coroutine,
    _server,
)
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


DECISIONS_PATH = "/api/v1/risk/decisions"


async def _decision_client(
    port: int, api_key: str, bodies: list[bytes], load: _Load, outcomes: dict[str, int], *, tag: str
) -> None:
    """One keep-alive connection posting applications, each with its own Idempotency-Key."""
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    http = _Http(port)
    i = 0
    try:
        while load.take():
            body = bodies[i % len(bodies)]
            i += 1
            t0 = time.perf_counter()
            try:
                status, payload = await asyncio.wait_for(
                    http.post(DECISIONS_PATH, {**headers, "Idempotency-Key": f"{tag}-{i}"}, body), timeout=120
                )
            except (OSError, ConnectionError, asyncio.IncompleteReadError, TimeoutError) as exc:
                load.errors.append({"error": type(exc).__name__, "message": str(exc)[:200]})
                await http.close()
                continue
            elapsed = time.perf_counter() - t0
            load.sent += 1
            answer = json.loads(payload) if status in (200, 201) else None
            if isinstance(answer, dict) and "decision" in answer:
                load.latencies.append(elapsed)
                outcomes[str(answer["decision"])] = outcomes.get(str(answer["decision"]), 0) + 1
            else:
                load.errors.append({"status": status, "body": payload[:300].decode(errors="replace")})
    finally:
        await http.close()


async def _drive_decisions(
    port: int, api_key: str, bodies: list[bytes], *, clients: int, warmup: int, requests: int, probe: Any
) -> tuple[_Load, _Load, dict[str, int], dict[str, float | None]]:
    run = uuid.uuid4().hex[:8]
    outcomes: dict[str, int] = {}
    warm = _Load(remaining=warmup, until=None)
    await asyncio.gather(
        *(
            _decision_client(port, api_key, bodies[c::clients], warm, {}, tag=f"w{run}{c}")
            for c in range(clients)
        )
    )
    timed = _Load(remaining=requests, until=None)
    before = probe()
    cpu0, t0 = _cpu(), time.perf_counter()
    await asyncio.gather(
        *(
            _decision_client(port, api_key, bodies[c::clients], timed, outcomes, tag=f"t{run}{c}")
            for c in range(clients)
        )
    )
    wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
    after = probe()
    server = database = None
    if before is not None and after is not None:
        server = after[0] - before[0]
        database = sum(v - before[1].get(pid, 0.0) for pid, v in after[1].items())
    return warm, timed, outcomes, {"wall": wall, "clients": cpu, "server": server, "database": database}


def _bench_http(url: str, *, workers: int, clients: int, requests: int, warmup: int) -> dict[str, Any]:
    """POST /api/v1/risk/decisions from CLIENTS concurrent keep-alive connections against ``dipper serve
    --workers W`` (its own processes), after a warm-up that also lets every worker build its models."""
    settings = Settings(database_url=url)
    if settings.environment == "prod":
        raise ValidationFailed(
            "benchmarks write synthetic banks; not in production", code="bench_in_production"
        )
    container = bootstrap(settings)
    try:
        tenant_id, product, _ = _bench_bank(container)
        issued = container.handle(
            access_commands.IssueApiKey(
                tenant_id=tenant_id, name="bench decision", permissions=tuple(Permission)
            ),
            actor=CLI_ACTOR,
        )
        today = container.clock.today().isoformat()
        bodies = [
            json.dumps({"product_code": product, "application": application, "bureau": bureau}).encode()
            for application, bureau in _stored_applications(2_000, today)
        ]
        database = make_url(url).database if url.startswith("postgresql") else None
        with _server(url, workers) as (port, pid):
            warm, timed, outcomes, figures = _run_coroutine(
                _drive_decisions(
                    port,
                    issued.secret,
                    bodies,
                    clients=clients,
                    warmup=warmup,
                    requests=requests,
                    probe=lambda: _cpu_seconds(pid, database),
                )
            )
    finally:
        container.dispose()
    lat = sorted(timed.latencies)
    n = len(lat)
    wall = figures["wall"] or 0.0

    def per_decision(seconds: float | None) -> float | None:
        return round(seconds / n * 1000, 2) if seconds is not None and n else None

    result: dict[str, Any] = {
        "p50_ms": round(_percentile(lat, 0.50) * 1000, 2),
        "p99_ms": round(_percentile(lat, 0.99) * 1000, 2),
        "decisions_per_second": round(n / wall, 1) if wall else 0.0,
        "decisions": n,
        "errors": len(warm.errors) + len(timed.errors),
        "clients": clients,
        "workers": workers,
        "outcomes": outcomes,
        "database": url.split(":", 1)[0].split("+", 1)[0],
        "cpu_ms_per_decision": {
            "clients": per_decision(figures["clients"]),
            "server": per_decision(figures["server"]),
            "database": per_decision(figures["database"]),
        },
    }
    if warm.errors or timed.errors:
        result["first_errors"] = (warm.errors + timed.errors)[:3]
    return result


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
    http: Annotated[
        int, typer.Option("--http", min=0, max=10_000_000, help="Timed decisions over HTTP (0: none).")
    ] = 0,
    clients: Annotated[int, typer.Option("--clients", min=1, max=1000, help="Concurrent HTTP clients.")] = 32,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="uvicorn worker processes.")] = 2,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Untimed HTTP decisions first.")] = 500,
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
    if http:
        os.environ.setdefault("DIPPER_RISK_DECISION_MODELS", "demo")
        sys.stderr.write(f"{http} decisions over HTTP, {clients} clients, {workers} worker(s) ...\n")
        with _database(None, server_url or None) as url:
            result["http"] = _bench_http(url, workers=workers, clients=clients, requests=http, warmup=warmup)
    if batch_rows:
        sys.stderr.write(f"scoring {batch_rows} rows in bulk ...\n")
        result["batch"] = decision_bench.time_batch(setup, batch_rows)
    result["cores"] = os.cpu_count()
    result["load_average"] = {"before": load_before, "after": _load()}
    sys.stdout.write(json.dumps(result) + "\n")
