"""``dipper bench repay``: repayments over HTTP from concurrent clients against the real server.

Seeds a synthetic book into a new bank (not timed), issues the bank a partner API key, starts
``dipper serve`` (uvicorn, ``--workers W``) on a free port, and drives ``POST
/api/v1/loans/{id}/repayments`` from ``--clients`` concurrent keep-alive connections: each request
with its own ``Idempotency-Key``, each client on its own slice of the loans, so two clients never
lock one loan. After a warm-up, ``--requests`` (or ``--seconds``) are timed. Afterwards it checks
that the clearing account grew by exactly what the accepted repayments paid and that the loan
sub-ledger reconciles with the GL, and prints one JSON line.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from dipper.access import commands as access_commands
from dipper.access.queries import Permission
from dipper.accounting import queries as ledger
from dipper.bootstrap import Container, bootstrap
from dipper.entrypoints.cli.batch import CLI_ACTOR, bench_app
from dipper.kernel.errors import ValidationFailed
from dipper.kernel.ids import new_id
from dipper.loans import commands as loan_commands
from dipper.loans import queries as loan_queries
from dipper.settings import Settings

__all__ = ["bench_repay"]

DEFAULT_SERVER_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
#: What each repayment pays (minor units): small, so that no loan settles during a run.
AMOUNT_MINOR = 100
_SERVICEABLE = {"active", "overdue", "non-accrual"}
_PAGE = 500


_T = TypeVar("_T")


def _run_coroutine(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run`` in this thread, or in a fresh one when this thread already runs an event loop
    (the bench called from inside an async host, e.g. a test runner's plugin)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@contextmanager
def _scratch_postgres(server_url: str) -> Iterator[str]:
    """A new database on ``server_url`` for this run, dropped afterwards (never the server's own)."""
    if server_url.startswith("postgresql://"):
        server_url = "postgresql+psycopg://" + server_url.removeprefix("postgresql://")
    base = make_url(server_url)
    if base.get_backend_name() != "postgresql":
        raise ValidationFailed("--server-url must be a PostgreSQL URL", code="invalid_database_url")
    name = f"dipper_bench_repay_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextmanager
def _database(database_url: str | None, server_url: str | None) -> Iterator[str]:
    if database_url:
        yield database_url
    elif server_url and server_url.startswith("sqlite"):
        raise ValidationFailed("--server-url is a PostgreSQL server", code="invalid_database_url")
    elif server_url:
        with _scratch_postgres(server_url) as url:
            yield url
    else:
        scratch = tempfile.mkdtemp(prefix="dipper-bench-")
        try:
            yield f"sqlite:///{scratch}/bench.db"
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


@dataclass
class _Book:
    tenant_id: str
    code: str
    api_key: str
    loans: list[tuple[str, str]]  # (loan id, currency)


def _seed(container: Container, loans: int) -> _Book:
    container.upgrade_schema()
    tenant_id, code = new_id(), f"bench{uuid.uuid4().hex[:8]}"
    container.handle(
        access_commands.CreateTenant(tenant_id=tenant_id, code=code, name="Bench"), actor=CLI_ACTOR
    )
    container.handle(
        loan_commands.SeedSyntheticBook(tenant_id=tenant_id, loans=loans, as_of=container.clock.today()),
        actor=CLI_ACTOR,
    )
    issued = container.handle(
        access_commands.IssueApiKey(
            tenant_id=tenant_id,
            name="bench repay",
            permissions=(Permission.LOANS_SERVICE, Permission.LOANS_READ),
        ),
        actor=CLI_ACTOR,
    )
    found: list[tuple[str, str]] = []
    offset = 0
    while True:
        page = loan_queries.list_loans(container.uow(tenant_id, CLI_ACTOR), limit=_PAGE, offset=offset)
        found += [(v.id, v.currency) for v in page.loans if v.status in _SERVICEABLE]
        offset += _PAGE
        if offset >= page.total:
            break
    return _Book(tenant_id=tenant_id, code=code, api_key=issued.secret, loans=sorted(found))


def _ledger_state(container: Container, tenant_id: str) -> dict[str, Any]:
    """The clearing account's balance per currency and whether the sub-ledger reconciles with the GL."""
    today = container.clock.today()
    state: dict[str, Any] = {"clearing": {}, "reconciled": {}}
    for currency in ("CNY", "USD"):
        uow = container.uow(tenant_id, CLI_ACTOR)
        state["clearing"][currency] = ledger.account_balance(uow, ledger.CLEARING, today, currency)
        report = loan_queries.reconcile(container.uow(tenant_id, CLI_ACTOR), currency)
        state["reconciled"][currency] = report.balanced
    return state


# -- CPU accounting (Linux /proc; None elsewhere) ----------------------------------------------------------


def _proc_stat(pid: int) -> list[str] | None:
    try:
        raw = open(f"/proc/{pid}/stat", encoding="ascii", errors="replace").read()  # noqa: SIM115
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()  # after "pid (comm) ": state, ppid, ...


def _processes() -> dict[int, list[str]]:
    found = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit() and (fields := _proc_stat(int(entry))) is not None:
            found[int(entry)] = fields
    return found


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _sessions(container: Container, database: str | None) -> int | None:
    """Connections PostgreSQL has accepted to ``database`` so far (``pg_stat_database.sessions``)."""
    if not database:
        return None
    with container.engine.connect() as conn:
        found = conn.execute(
            text("SELECT sessions FROM pg_stat_database WHERE datname = :name"), {"name": database}
        ).scalar()
    return int(found) if found is not None else None


def _cpu_seconds(root: int, database: str | None) -> tuple[float, dict[int, float]] | None:
    """CPU seconds so far of the server's process tree, and per PostgreSQL backend serving
    ``database`` on this machine: utime + stime from /proc."""
    procs = _processes()
    if not procs:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    for pid, fields in procs.items():
        children.setdefault(int(fields[1]), []).append(pid)
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])

    def cpu(pid: int) -> float:
        return (int(procs[pid][11]) + int(procs[pid][12])) / tick

    backends = {}
    if database:
        for pid in procs:
            line = _cmdline(pid)
            if line.startswith("postgres:") and f" {database} " in line:
                backends[pid] = cpu(pid)
    return sum(cpu(p) for p in tree if p in procs), backends


# -- the server --------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _server(url: str, workers: int) -> Iterator[tuple[int, int]]:
    """``dipper serve`` in a child process, on a free port, until it answers; stopped afterwards."""
    port = _free_port()
    env = {**os.environ, "DIPPER_DATABASE_URL": url, "DIPPER_LOG_LEVEL": "WARNING"}
    args = [sys.executable, "-m", "dipper.entrypoints.cli.main", "serve", "--port", str(port)]
    args += ["--host", "127.0.0.1", "--workers", str(workers)]
    # Our own interpreter and module with numbers we formatted: no untrusted input reaches the command.
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, start_new_session=True)  # noqa: S603
    try:
        deadline = time.monotonic() + 60
        while not _answers(port):
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not answer within 60 s")
            time.sleep(0.2)
        yield port, proc.pid
    finally:
        # Its own session: SIGTERM reaches uvicorn's supervisor and its workers, nothing else.
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


# -- the load ----------------------------------------------------------------------------------------------


@dataclass
class _Load:
    """Shared by the clients: how many requests are left, and what the timed ones measured."""

    remaining: int | None
    until: float | None
    latencies: list[float] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    paid: dict[str, int] = field(default_factory=dict)
    sent: int = 0

    def take(self) -> bool:
        if self.until is not None and time.perf_counter() >= self.until:
            return False
        if self.remaining is not None:
            if self.remaining <= 0:
                return False
            self.remaining -= 1
        return True


class _Http:
    """A bare HTTP/1.1 keep-alive connection: a few microseconds a request where a full client
    (httpx) costs milliseconds, which would come out of the two cores the server runs on."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode()
            + body
        )
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        length, close = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                close = True
            elif name == "transfer-encoding":
                raise ConnectionError("chunked responses are not expected here")
        payload = await self.reader.readexactly(length)
        if close:
            await self.close()
        return int(status_line.split()[1]), payload

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
            self.reader = self.writer = None


async def _client(
    port: int, api_key: str, loans: list[tuple[str, str]], load: _Load, *, start: int, run: str
) -> int:
    """One keep-alive connection sending repayments over its own loans; returns the next loan index."""
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    http = _Http(port)
    i = start
    try:
        while load.take():
            loan_id, currency = loans[i % len(loans)]
            i += 1
            body = json.dumps({"amount_minor": AMOUNT_MINOR, "currency": currency}).encode()
            t0 = time.perf_counter()
            try:
                status, payload = await asyncio.wait_for(
                    http.post(
                        f"/api/v1/loans/{loan_id}/repayments",
                        {**headers, "Idempotency-Key": f"bench-{run}-{loan_id}-{i}"},
                        body,
                    ),
                    timeout=60,
                )
            except (OSError, ConnectionError, asyncio.IncompleteReadError, TimeoutError) as exc:
                load.errors.append({"error": type(exc).__name__, "message": str(exc)[:200]})
                await http.close()
                continue
            elapsed = time.perf_counter() - t0
            load.sent += 1
            answer = json.loads(payload) if status == 201 else None
            if answer is not None and answer["loan_id"] == loan_id and answer["amount_minor"] == AMOUNT_MINOR:
                load.latencies.append(elapsed)
                load.paid[currency] = load.paid.get(currency, 0) + AMOUNT_MINOR
            else:
                load.errors.append({"status": status, "body": payload[:200].decode(errors="replace")})
    finally:
        await http.close()
    return i


@dataclass
class _Figures:
    wall: float
    client_cpu: float
    server_cpu: float | None
    database_cpu: float | None
    connections_opened: int | None


async def _drive(
    port: int,
    book: _Book,
    *,
    clients: int,
    warmup: int,
    requests: int | None,
    seconds: float | None,
    probe: Callable[[], tuple[tuple[float, dict[int, float]] | None, int | None]],
) -> tuple[_Load, _Load, _Figures]:
    """Warm up, then the timed load; returns both loads and the timed phase's wall and CPU seconds
    (this process, the server's processes, the database's backends)."""
    # Client c repays loans c, c + clients, c + 2 * clients, ...: no two clients share a loan.
    slices = [book.loans[c::clients] for c in range(clients)]
    run = uuid.uuid4().hex[:8]
    warm = _Load(remaining=warmup, until=None)
    nexts = await asyncio.gather(*(_client(port, book.api_key, s, warm, start=0, run=run) for s in slices))
    timed = _Load(remaining=requests, until=None)
    others0, sessions0 = probe()
    cpu0, t0 = _cpu(), time.perf_counter()
    if seconds is not None:
        timed.until = t0 + seconds
    await asyncio.gather(
        *(_client(port, book.api_key, s, timed, start=n, run=run) for s, n in zip(slices, nexts, strict=True))
    )
    wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
    others1, sessions1 = probe()
    opened = sessions1 - sessions0 if sessions0 is not None and sessions1 is not None else None
    server = database = None
    if others0 is not None and others1 is not None:
        server = others1[0] - others0[0]
        # Backends that ended during the run are missed (their CPU is gone with them): a floor.
        database = sum(cpu - others0[1].get(pid, 0.0) for pid, cpu in others1[1].items())
    return warm, timed, _Figures(wall, cpu, server, database, opened)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values)) - 1))
    return sorted_values[k]


@bench_app.command("repay")
def bench_repay(
    *,
    loans: Annotated[
        int, typer.Option("--loans", min=1, max=5_000_000, help="Synthetic loans to seed.")
    ] = 10_000,
    clients: Annotated[int, typer.Option("--clients", min=1, max=1000, help="Concurrent HTTP clients.")] = 32,
    requests: Annotated[
        int | None, typer.Option("--requests", min=1, help="Timed repayments (default 5000).")
    ] = None,
    seconds: Annotated[
        float | None, typer.Option("--seconds", min=0.1, help="Time the load for this long instead.")
    ] = None,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Untimed repayments first.")] = 500,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="uvicorn worker processes.")] = 1,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="A database to add a synthetic bank to; default a scratch database on --server-url.",
            show_default=False,
        ),
    ] = None,
    server_url: Annotated[
        str | None,
        typer.Option(
            "--server-url",
            help="PostgreSQL server for the scratch database (created and dropped by the bench); "
            "'' for a temporary SQLite file instead.",
        ),
    ] = DEFAULT_SERVER_URL,
) -> None:
    """Seed LOANS loans into a new bank (not timed), serve the API with WORKERS processes and repay
    over HTTP from CLIENTS concurrent clients; print {"repayments", "seconds", "repayments_per_second",
    "p50_ms", "p99_ms", "errors", ...} as JSON, with the ledger checks."""
    if requests is not None and seconds is not None:
        raise ValidationFailed("give --requests or --seconds, not both", code="invalid_options")
    if requests is None and seconds is None:
        requests = 5000
    if loans < clients:
        raise ValidationFailed("--loans must be at least --clients", code="invalid_options")
    with _database(database_url, server_url or None) as url:
        settings = Settings(database_url=url)
        if settings.environment == "prod":
            raise ValidationFailed(
                "benchmarks write synthetic banks; not in production", code="bench_in_production"
            )
        container = bootstrap(settings)
        try:
            sys.stderr.write(f"seeding {loans} loans ...\n")
            t0 = time.perf_counter()
            book = _seed(container, loans)
            seeded = time.perf_counter() - t0
            if len(book.loans) < clients:
                raise ValidationFailed(
                    f"only {len(book.loans)} serviceable loans for {clients} clients: seed more",
                    code="invalid_options",
                )
            before = _ledger_state(container, book.tenant_id)
            sys.stderr.write(
                f"seeded {len(book.loans)} serviceable loans in {seeded:.1f}s; serving with {workers} "
                f"worker(s), {clients} clients ...\n"
            )
            database = make_url(url).database if url.startswith("postgresql") else None
            with _server(url, workers) as (port, pid):
                warm, timed, figures = _run_coroutine(
                    _drive(
                        port,
                        book,
                        clients=clients,
                        warmup=warmup,
                        requests=requests,
                        seconds=seconds,
                        probe=lambda: (_cpu_seconds(pid, database), _sessions(container, database)),
                    )
                )
            after = _ledger_state(container, book.tenant_id)
        finally:
            container.dispose()
    paid = {c: warm.paid.get(c, 0) + timed.paid.get(c, 0) for c in ("CNY", "USD")}
    posted = {c: after["clearing"][c] - before["clearing"][c] for c in ("CNY", "USD")}
    lat = sorted(timed.latencies)
    n = len(lat)
    wall = figures.wall

    def per_request(seconds: float | None) -> float | None:
        return round(seconds / n * 1000, 2) if seconds is not None and n else None

    result = {
        "repayments": n,
        "seconds": round(wall, 3),
        "repayments_per_second": round(n / wall, 1) if wall else 0.0,
        "p50_ms": round(_percentile(lat, 0.50) * 1000, 2),
        "p99_ms": round(_percentile(lat, 0.99) * 1000, 2),
        "max_ms": round(lat[-1] * 1000, 2) if lat else 0.0,
        "errors": len(warm.errors) + len(timed.errors),
        "clients": clients,
        "workers": workers,
        "loans": len(book.loans),
        "warmup": len(warm.latencies),
        "database": url.split(":", 1)[0].split("+", 1)[0],
        # CPU milliseconds per timed repayment: the load generator, the server, the database.
        "cpu_ms_per_repayment": {
            "clients": per_request(figures.client_cpu),
            "server": per_request(figures.server_cpu),
            "database": per_request(figures.database_cpu),
        },
        # New database connections during the timed load (pool churn); PostgreSQL only.
        "connections_opened": figures.connections_opened,
        "load_average": round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None,
        "ledger_matches_requests": paid == posted,
        "reconciled": all(after["reconciled"].values()),
        "seed_seconds": round(seeded, 1),
    }
    if warm.errors or timed.errors:
        result["first_errors"] = (warm.errors + timed.errors)[:3]
    sys.stdout.write(json.dumps(result) + "\n")
