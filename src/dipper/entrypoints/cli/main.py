"""The ``dipper`` command line: serve the API and console, migrate, provision banks and users, run the demo.

Every command builds its own container from ``Settings`` (``--database-url`` overrides
``DIPPER_DATABASE_URL``) and acts as the system actor ``cli``. Errors a user can cause are printed as
``error [code]: message`` on stderr with exit code 2, never as a traceback.
"""

from __future__ import annotations

import os
import secrets
import string
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text
from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from typer.core import TyperGroup

from dipper import __version__
from dipper.access import commands as access_commands
from dipper.access import queries as access_queries
from dipper.access.queries import Role
from dipper.bootstrap import Container, bootstrap
from dipper.entrypoints.cli import batch as batch_commands
from dipper.entrypoints.cli import bench_decision as _bench_decision  # noqa: F401 - registers `bench decision`
from dipper.entrypoints.cli import bench_repay as _bench_repay  # noqa: F401 - registers `bench repay`
from dipper.entrypoints.cli import demo_portfolio, output
from dipper.entrypoints.cli import risk_analysis as _risk_analysis  # noqa: F401 - registers `risk backtest|monitor`
from dipper.entrypoints.cli import schedule as schedule_command
from dipper.entrypoints.cli.demo import DemoInfo, check_seedable, demo_steps, seed_demo
from dipper.entrypoints.cli.risk import risk_app
from dipper.kernel.errors import Conflict, DomainError, NotFound, ValidationFailed
from dipper.kernel.ids import new_id
from dipper.kernel.uow import Actor
from dipper.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

CLI_ACTOR = Actor.system("cli")
APP_FACTORY = "dipper.entrypoints.cli.main:app_factory"
EXIT_USER_ERROR = 2
EXIT_ENVIRONMENT = 1
_PASSWORD_ATTEMPTS = 3


class _Group(TyperGroup):
    """Turns the errors a user can cause into one red line instead of a traceback."""

    # ``ctx`` is Any: Typer's context class moved (click, then a vendored copy) across supported versions.
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except DomainError as exc:
            output.error(exc.code, exc.message, exc.details)
            raise typer.Exit(EXIT_USER_ERROR) from None
        except ValidationError as exc:  # Settings from the environment (e.g. production with dev keys)
            output.error(
                "invalid_settings", str(exc).splitlines()[0], {"errors": exc.errors(include_url=False)}
            )
            raise typer.Exit(EXIT_USER_ERROR) from None
        except ArgumentError as exc:
            output.error("invalid_database_url", str(exc))
            raise typer.Exit(EXIT_USER_ERROR) from None
        except OperationalError as exc:
            message = str(exc.orig) if exc.orig is not None else str(exc).splitlines()[0]
            missing = "no such table" in message or "does not exist" in message
            output.error("database", message, hint="run `dipper db upgrade` first" if missing else None)
            raise typer.Exit(EXIT_ENVIRONMENT) from None


app = typer.Typer(
    cls=_Group,
    name="dipper",
    help="dipper — open retail-credit platform: server, database, banks, users and the demo.",
    no_args_is_help=True,
    add_completion=False,
    # Locals may hold passwords; an unexpected traceback must not print them.
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
tenant_app = typer.Typer(help="Banks (tenants) of this installation.", no_args_is_help=True)
user_app = typer.Typer(help="Staff users of a bank.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(tenant_app, name="tenant")
app.add_typer(user_app, name="user")

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL; default DIPPER_DATABASE_URL or sqlite:///demo.db.",
        show_default=False,
    ),
]
Host = Annotated[str | None, typer.Option(help="Interface to bind; default DIPPER_HOST or 127.0.0.1.")]
Port = Annotated[int | None, typer.Option(help="Port; default DIPPER_PORT or 8000.", min=1, max=65535)]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
Password = Annotated[
    str | None,
    typer.Option(
        help="The password (visible in shell history: prefer the prompt or --generate-password).",
        show_default=False,
    ),
]
GeneratePassword = Annotated[
    bool, typer.Option("--generate-password", help="Generate a strong password and print it once.")
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dipper {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """dipper — open retail-credit platform."""


# --- plumbing -------------------------------------------------------------------------------------


def _settings(database_url: str | None) -> Settings:
    # A fresh Settings, not the cached get_settings(): each command may point at another database.
    return Settings(database_url=database_url) if database_url else Settings()


@contextmanager
def _container(database_url: str | None) -> Iterator[Container]:
    container = bootstrap(_settings(database_url))
    try:
        yield container
    finally:
        container.dispose()


def _safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def _tenant(container: Container, code: str) -> dict[str, Any]:
    found = access_queries.tenant_by_code(container.uow(None, CLI_ACTOR), code)
    if found is None:
        raise NotFound(f"no bank with code {code!r}", code="tenant_not_found", details={"tenant": code})
    return found


def _interactive() -> bool:
    return sys.stdin.isatty()


def generate_password(length: int = 20) -> str:
    """Letters and digits from the OS's CSPRNG; always both kinds, as the password rule asks."""
    alphabet = string.ascii_letters + string.digits
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        if any(c.isdigit() for c in candidate) and any(c.isalpha() for c in candidate):
            return candidate


def _prompt_password(label: str) -> str:
    value: str = typer.prompt(f"Password for {label}", hide_input=True, confirmation_prompt=True)
    return value


def _check_password_options(password: str | None, generate: bool, option: str) -> None:
    # Before any database work, so a bad command line is a usage error whatever the data.
    if password is not None and generate:
        raise typer.BadParameter("give either a password or --generate-password, not both", param_hint=option)


def _obtain_password(password: str | None, generate: bool, label: str, option: str) -> tuple[str, str]:
    """(password, how): how is given, generated or prompted."""
    if password is not None:
        return password, "given"
    if generate:
        return generate_password(), "generated"
    if _interactive():
        return _prompt_password(label), "prompted"
    raise typer.BadParameter(
        "no terminal to prompt on: give the password or --generate-password", param_hint=option
    )


def _create_user(
    container: Container,
    tenant_id: str,
    *,
    username: str,
    display_name: str,
    roles: tuple[str, ...],
    password: str,
    how: str,
) -> tuple[str, str]:
    """Create the user and return (id, password); a prompted password the rules reject is asked again."""
    attempts = _PASSWORD_ATTEMPTS if how == "prompted" else 1
    for attempt in range(1, attempts + 1):
        try:
            user_id: str = container.handle(
                access_commands.CreateUser(
                    tenant_id=tenant_id,
                    username=username,
                    display_name=display_name,
                    password=password,
                    roles=roles,
                ),
                actor=CLI_ACTOR,
            )
            return user_id, password
        except ValidationFailed as exc:
            if exc.code != "weak_password" or attempt == attempts:
                raise
            output.error(exc.code, exc.message)
            password = _prompt_password(username)
    raise AssertionError("unreachable")


def _password_field(password: str, how: str) -> tuple[str, Text]:
    if how == "generated":
        return "password", Text(f"{password}   (shown once: store it now)", style="bold yellow")
    return "password", Text("(as given)" if how == "given" else "(as entered)", style="dim")


# --- serve ----------------------------------------------------------------------------------------


def app_factory() -> FastAPI:
    """The ASGI app for uvicorn (``factory=True``): each worker or reloaded process builds its own container
    from the environment, which ``serve`` fills in before starting uvicorn."""
    from dipper.entrypoints.http.app import create_app
    from dipper.entrypoints.logging import configure_logging

    settings = Settings()
    # Our handler (with the personal-data scrubber) serves uvicorn's loggers too: see log_config=None below.
    configure_logging(settings.log_level)
    return create_app(bootstrap(settings))


def _run_server(settings: Settings, host: str, port: int, *, reload: bool = False, workers: int = 1) -> None:
    import uvicorn

    import dipper

    # Workers and the reloader are new processes: they learn the database only from the environment.
    os.environ["DIPPER_DATABASE_URL"] = settings.database_url
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        reload=reload,
        reload_dirs=[str(Path(dipper.__file__).parent)] if reload else None,
        workers=None if reload else workers,
        log_level=settings.log_level.lower(),
        log_config=None,
    )


@app.command()
def serve(
    host: Host = None,
    port: Port = None,
    database_url: DatabaseUrl = None,
    reload: Annotated[
        bool, typer.Option("--reload/--no-reload", help="Restart on code changes (development).")
    ] = False,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (ignored with --reload).")] = 1,
) -> None:
    """Serve the HTTP API and the staff console."""
    settings = _settings(database_url)
    _run_server(settings, host or settings.host, port or settings.port, reload=reload, workers=workers)


# --- db -------------------------------------------------------------------------------------------


def _revision_state(container: Container) -> dict[str, Any]:
    revision = container.schema_revision()
    with container.engine.connect() as conn:
        tables = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
    url = _safe_url(container.settings.database_url)
    return {"database": url, "revision": revision, "tables": len(tables)}


def _print_revision(state: dict[str, Any]) -> None:
    if state["revision"]:
        revision = Text(state["revision"], style="green")
    elif state["tables"]:
        # Until the first Alembic revision lands, `db upgrade` creates the tables from the models.
        revision = Text("no revision recorded (schema created from the models)", style="yellow")
    else:
        revision = Text("no revision: empty database, run `dipper db upgrade`", style="yellow")
    output.print_fields(
        "database",
        [("url", state["database"]), ("revision", revision), ("tables", state["tables"])],
        style="cyan",
    )


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseUrl = None) -> None:
    """Bring the database to the newest schema (creates a SQLite file if needed)."""
    with _container(database_url) as container:
        container.upgrade_schema()
        state = _revision_state(container)
    output.success("database upgraded")
    _print_revision(state)


@db_app.command("current")
def db_current(database_url: DatabaseUrl = None, as_json: AsJson = False) -> None:
    """Show the database's schema revision."""
    settings = _settings(database_url)
    url = make_url(settings.database_url)
    # Connecting would create an empty SQLite file; say plainly that there is no database.
    database = url.database or ""
    on_disk = url.get_backend_name() == "sqlite" and database not in ("", ":memory:")
    if on_disk and not Path(database).exists():
        raise NotFound(f"no database file at {url.database}", code="database_not_found")
    with _container(database_url) as container:
        state = _revision_state(container)
    if as_json:
        output.print_json(state)
    else:
        _print_revision(state)


# --- tenant ---------------------------------------------------------------------------------------


def _list_tenants(container: Container) -> list[dict[str, Any]]:
    return access_queries.list_tenants(container.uow(None))


@tenant_app.command("create")
def tenant_create(
    code: Annotated[str, typer.Argument(help="Short code staff type at sign-in, e.g. hzrcb.")],
    name: Annotated[str, typer.Argument(help="The bank's display name.")],
    *,
    admin: Annotated[
        bool, typer.Option("--admin/--no-admin", help="Also create the first administrator.")
    ] = True,
    admin_username: Annotated[str, typer.Option(help="The first administrator's username.")] = "admin",
    admin_password: Password = None,
    generate: GeneratePassword = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a bank (its chart of accounts follows automatically) and its first administrator."""
    _check_password_options(admin_password, generate, "--admin-password")
    with _container(database_url) as container:
        if access_queries.tenant_by_code(container.uow(None, CLI_ACTOR), code) is not None:
            # Checked before prompting, so nobody types a password for a bank that cannot be created.
            raise Conflict(f"tenant {code!r} exists", code="tenant_exists")
        password, how = ("", "none")
        if admin:
            password, how = _obtain_password(admin_password, generate, admin_username, "--admin-password")
        tenant_id = container.handle(
            access_commands.CreateTenant(tenant_id=new_id(), code=code, name=name), actor=CLI_ACTOR
        )
        fields: list[tuple[str, Any]] = [("code", code), ("name", name.strip()), ("id", tenant_id)]
        if admin:
            try:
                user_id, password = _create_user(
                    container,
                    tenant_id,
                    username=admin_username,
                    display_name="Administrator",
                    roles=(Role.ADMIN.value,),
                    password=password,
                    how=how,
                )
            except DomainError:
                output.note(
                    f"bank {code} was created without an administrator; add one with "
                    f"`dipper user create --tenant {code} USERNAME --role admin`"
                )
                raise
            fields += [("admin", admin_username), ("admin id", user_id), _password_field(password, how)]
    output.print_fields("bank created", fields)


@tenant_app.command("list")
def tenant_list(database_url: DatabaseUrl = None, as_json: AsJson = False) -> None:
    """List the banks of this installation."""
    with _container(database_url) as container:
        rows = _list_tenants(container)
    if as_json:
        output.print_json(rows)
        return
    output.print_table(
        rows,
        [("code", "code"), ("name", "name"), ("status", "status"), ("created_at", "created"), ("id", "id")],
        title="banks",
        empty="no banks yet: `dipper tenant create CODE NAME` or `dipper demo`",
    )


# --- user -----------------------------------------------------------------------------------------

TenantCode = Annotated[str, typer.Option("--tenant", "-t", help="The bank's code.")]


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Argument(help="Sign-in name: 3-64 lower-case letters, digits, . _ -")],
    *,
    tenant: TenantCode,
    role: Annotated[list[Role], typer.Option("--role", "-r", help="A role; repeat for several.")],
    display_name: Annotated[str | None, typer.Option(help="Name shown in the console.")] = None,
    password: Password = None,
    generate: GeneratePassword = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a staff user of a bank."""
    _check_password_options(password, generate, "--password")
    roles = tuple(dict.fromkeys(r.value for r in role))
    with _container(database_url) as container:
        tenant_id = _tenant(container, tenant)["id"]
        if access_queries.find_user_by_username(container.uow(tenant_id, CLI_ACTOR), username):
            raise Conflict(f"user {username!r} exists", code="user_exists")
        secret, how = _obtain_password(password, generate, username, "--password")
        user_id, secret = _create_user(
            container,
            tenant_id,
            username=username,
            display_name=display_name or username,
            roles=roles,
            password=secret,
            how=how,
        )
    output.print_fields(
        "user created",
        [
            ("bank", tenant),
            ("username", username),
            ("roles", roles),
            ("id", user_id),
            _password_field(secret, how),
        ],
    )


@user_app.command("list")
def user_list(tenant: TenantCode, database_url: DatabaseUrl = None, as_json: AsJson = False) -> None:
    """List a bank's staff users."""
    with _container(database_url) as container:
        tenant_id = _tenant(container, tenant)["id"]
        rows = access_queries.list_users(container.uow(tenant_id, CLI_ACTOR))
    if as_json:
        output.print_json(rows)
        return
    output.print_table(
        rows,
        [
            ("username", "username"),
            ("display_name", "name"),
            ("roles", "roles"),
            ("status", "status"),
            ("created_at", "created"),
            ("id", "id"),
        ],
        title=f"users of {tenant}",
        empty=f"no users in {tenant} yet",
    )


# --- demo -----------------------------------------------------------------------------------------


def _browse_url(host: str, port: int) -> str:
    # A wildcard bind address is not something a browser can open.
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - compared, not bound
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def _yuan(minor: int) -> str:
    return f"CNY {minor / 100:,.2f}"


def _counts(counts: dict[str, int]) -> str:
    return "  ·  ".join(f"{name} {n:,}" for name, n in counts.items()) or "none"


def _demo_panel(
    info: DemoInfo,
    url: str,
    summary: demo_portfolio.PortfolioSummary,
    stats: demo_portfolio.PortfolioStats | None,
    seconds: float,
) -> None:
    from rich.panel import Panel

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("URL", Text(url, style="bold cyan"))
    grid.add_row("", Text(f"console {url}/console/  ·  API docs {url}/docs", style="dim"))
    grid.add_row("Bank code", Text(info.code, style="bold"))
    grid.add_row("Bank name", Text(info.name))
    grid.add_row("Admin", Text(info.admin_username, style="bold"))
    grid.add_row("Password", Text(info.password, style="bold yellow"))
    grid.add_row("", Text("the same for every demo user; published, so for demos only", style="dim"))
    for i, user in enumerate(info.users):
        grid.add_row("Users" if i == 0 else "", Text(f"{user.username:<10} {user.role}"))
    grid.add_row(
        "Loans",
        Text(f"{summary.loans:,} in {len(summary.by_product)} products: {_counts(summary.by_product)}"),
    )
    grid.add_row("By status", Text(_counts(summary.by_status)))
    grid.add_row("In force by DPD", Text(_counts(summary.by_bucket)))
    grid.add_row(
        "Balances",
        Text(
            f"principal outstanding {_yuan(summary.principal_outstanding_minor)}"
            f"  ·  written off {_yuan(summary.written_off_minor)}"
        ),
    )
    if summary.runs:
        grid.add_row("End of day", Text(f"{summary.runs:,} runs, {summary.first_run} to {summary.last_run}"))
    if summary.reconciled:
        grid.add_row("Reconciliation", Text("loan sub-ledger = general ledger, to the fen", style="green"))
    else:
        diffs = ", ".join(f"{k} {v:+,}" for k, v in summary.differences.items())
        grid.add_row("Reconciliation", Text(f"differences (fen): {diffs}", style="bold red"))
    if stats is not None:
        grid.add_row(
            "This run",
            Text(
                f"{stats.days_done} days simulated in {seconds:,.0f}s: {stats.booked:,} loans and "
                f"{stats.draws:,} draws paid out, {stats.repayments:,} repayments, {stats.prepayments:,} "
                f"prepayments, {stats.write_offs:,} write-offs, {stats.recoveries:,} recoveries"
            ),
        )
        if stats.refused:
            grid.add_row("Refused", Text(_counts(dict(stats.refused.most_common())), style="yellow"))
    if info.tenant_created:
        status = Text("created the demo bank", style="green")
    elif info.users_created or stats is not None:
        added = [*info.users_created, *(["the portfolio"] if stats is not None else [])]
        status = Text(f"reused the demo bank; added {', '.join(added)}", style="green")
    else:
        status = Text("reused the existing demo data; nothing created twice", style="green")
    grid.add_row("Status", status)
    panel = Panel(grid, title="dipper demo", title_align="left", border_style="green", expand=False)
    output.console().print(panel)


def _seed_portfolio(
    container: Container, tenant_id: str, plan: demo_portfolio.PortfolioPlan
) -> demo_portfolio.PortfolioStats:
    """Book the portfolio day by day under a progress bar that counts the days."""
    with Progress(
        SpinnerColumn(),
        TextColumn("booking the portfolio"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("days  [dim]{task.description}"),
        TimeElapsedColumn(),
        console=output.console(),
        transient=True,
    ) as progress:
        task = progress.add_task("", total=plan.days)

        def on_day(stats: demo_portfolio.PortfolioStats) -> None:
            progress.update(
                task,
                completed=stats.days_done,
                description=(
                    f"{stats.day}  {stats.booked + stats.draws:,} booked  {stats.repayments:,} repaid"
                ),
            )

        return demo_portfolio.seed_portfolio(container, tenant_id, plan, on_day)


def _optional_date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationFailed(
            f"{option} must be a date like 2026-03-31, got {value!r}",
            code="invalid_date",
            details={"option": option, "value": value},
        ) from None


@app.command()
def demo(
    *,
    database_url: DatabaseUrl = None,
    host: Host = None,
    port: Port = None,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve after seeding.")] = True,
    loans: Annotated[
        int, typer.Option("--loans", min=0, max=100_000, help="Loans (and revolving lines) to originate.")
    ] = demo_portfolio.DEFAULT_LOANS,
    days: Annotated[
        int, typer.Option("--days", min=1, max=3_660, help="Days of history to simulate, end of day each.")
    ] = demo_portfolio.DEFAULT_DAYS,
    through: Annotated[
        str | None,
        typer.Option(
            "--through", help="The last simulated day (YYYY-MM-DD); default yesterday.", show_default=False
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the simulation.")
    ] = demo_portfolio.DEFAULT_SEED,
) -> None:
    """Seed the demo bank with a year of loan history (once: again reuses the data), print how to sign
    in, and serve."""
    settings = _settings(database_url)
    if settings.environment == "prod":
        raise ValidationFailed(
            "the demo's users share a published password; it does not run in production",
            code="demo_in_production",
        )
    plan = demo_portfolio.PortfolioPlan(
        loans=loans, days=days, through=_optional_date(through, "--through"), seed=seed
    )
    host, port = host or settings.host, port or settings.port
    container = bootstrap(settings)
    stats = None
    started = time.perf_counter()
    try:
        if plan.through is not None and plan.through >= container.clock.today():
            raise ValidationFailed("--through must be before today", code="invalid_date")
        container.upgrade_schema()
        with Progress(
            SpinnerColumn(),
            TextColumn("seeding the demo bank"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[dim]{task.description}"),
            console=output.console(),
            transient=True,
        ) as progress:
            task = progress.add_task("", total=demo_steps())

            def step(label: str) -> None:
                progress.update(task, advance=1, description=label)

            info = seed_demo(container, step)
        if not demo_portfolio.has_portfolio(container, info.tenant_id):
            check_seedable(container, info.tenant_id)
            stats = _seed_portfolio(container, info.tenant_id, plan)
        summary = demo_portfolio.summarize(container, info.tenant_id)
    finally:
        container.dispose()
    _demo_panel(info, _browse_url(host, port), summary, stats, time.perf_counter() - started)
    if serve:
        _run_server(settings, host, port)


app.command("schedule")(schedule_command.schedule)
app.add_typer(batch_commands.eod_app, name="eod")
app.add_typer(batch_commands.bench_app, name="bench")
app.add_typer(risk_app, name="risk")


if __name__ == "__main__":  # python -m dipper.entrypoints.cli.main
    app()
