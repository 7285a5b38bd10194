"""The ``dipper`` command line, driven through Typer's runner against a throw-away SQLite file."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dipper.access import commands as access_commands
from dipper.access import queries as access_queries
from dipper.accounting import commands as accounting_commands
from dipper.accounting import queries as accounting_queries
from dipper.bootstrap import Container, bootstrap
from dipper.entrypoints.cli import demo as cli_demo
from dipper.entrypoints.cli import demo_portfolio as cli_demo_portfolio
from dipper.entrypoints.cli import main as cli
from dipper.kernel.errors import Unauthenticated
from dipper.loans import queries as loan_queries
from dipper.settings import Settings

GOOD_PASSWORD = "Teller-pass-2026"


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    # Rich honours COLUMNS; CI runners often export 80, which would wrap the tables these tests read.
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "cli.db"


@pytest.fixture
def db_url(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{db_path}"
    # Commands without --database-url read it from the environment, as in production.
    monkeypatch.setenv("DIPPER_DATABASE_URL", url)
    monkeypatch.setenv("DIPPER_ENVIRONMENT", "test")
    return url


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def run(runner: CliRunner, *args: str, input: str | None = None):
    return runner.invoke(cli.app, list(args), input=input)


@pytest.fixture
def migrated(runner: CliRunner, db_url: str) -> str:
    result = run(runner, "db", "upgrade")
    assert result.exit_code == 0, result.output
    return db_url


@pytest.fixture
def container(migrated: str) -> Iterator[Container]:
    c = bootstrap(Settings(database_url=migrated, environment="test"))
    yield c
    c.dispose()


def sign_in(container: Container, bank: str, username: str, password: str) -> access_queries.Principal:
    issued = container.handle(
        access_commands.Login(tenant_id=bank, username=username, password=password), tenant_id=None
    )
    return access_queries.authenticate(container.uow(None), issued.token)


def assert_no_traceback(result) -> None:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


# --- db -------------------------------------------------------------------------------------------


def test_db_upgrade_creates_the_schema_and_current_reports_it(runner, db_url, db_path):
    missing = run(runner, "db", "current")
    assert missing.exit_code == 2
    assert "error [database_not_found]" in missing.stderr
    assert not db_path.exists()  # looking must not create an empty file

    up = run(runner, "db", "upgrade", "--database-url", db_url)
    assert up.exit_code == 0, up.output
    assert "database upgraded" in up.stdout
    assert db_path.exists()

    current = run(runner, "db", "current", "--json")
    assert current.exit_code == 0, current.output
    state = json.loads(current.stdout)
    assert state["tables"] >= 5
    assert state["database"] == db_url
    assert "revision" in state


def test_commands_on_an_unmigrated_database_say_to_upgrade(runner, db_url):
    result = run(runner, "tenant", "list")
    assert result.exit_code == 1
    assert "error [database]" in result.stderr
    assert "dipper db upgrade" in result.stderr
    assert_no_traceback(result)


# --- tenant and user ------------------------------------------------------------------------------


def test_tenant_and_user_create_then_list_show_the_rows(runner, migrated, container):
    name = "杭州测试农商银行 [Test]"
    created = run(runner, "tenant", "create", "hzrcb", name, "--admin-password", GOOD_PASSWORD)
    assert created.exit_code == 0, created.output
    assert "hzrcb" in created.stdout
    assert GOOD_PASSWORD not in created.stdout  # a password the operator typed is never echoed

    user = run(
        runner,
        "user",
        "create",
        "--tenant",
        "hzrcb",
        "ana",
        "--role",
        "risk_analyst",
        "-r",
        "auditor",
        "--display-name",
        "安娜 Ana",
        "--password",
        GOOD_PASSWORD,
    )
    assert user.exit_code == 0, user.output

    tenants = json.loads(run(runner, "tenant", "list", "--json").stdout)
    assert [(t["code"], t["name"]) for t in tenants] == [("hzrcb", name)]
    table = run(runner, "tenant", "list")
    assert name in table.stdout  # brackets are text, not Rich markup

    users = json.loads(run(runner, "user", "list", "--tenant", "hzrcb", "--json").stdout)
    roles = {u["username"]: u["roles"] for u in users}
    assert roles == {"admin": ["admin"], "ana": ["auditor", "risk_analyst"]}
    listing = run(runner, "user", "list", "--tenant", "hzrcb")
    assert re.search(r"ana\s*\|\s*安娜 Ana", listing.stdout)

    # The passwords really are the ones given: both can sign in with the roles the CLI asked for.
    assert sign_in(container, "hzrcb", "admin", GOOD_PASSWORD).roles == ("admin",)
    assert set(sign_in(container, "hzrcb", "ana", GOOD_PASSWORD).roles) == {"auditor", "risk_analyst"}


def test_duplicate_tenant_exits_2_with_its_code(runner, migrated):
    assert run(runner, "tenant", "create", "dup", "First", "--no-admin").exit_code == 0
    again = run(runner, "tenant", "create", "dup", "Second", "--no-admin")
    assert again.exit_code == 2
    assert "error [tenant_exists]" in again.stderr
    assert_no_traceback(again)
    names = [t["name"] for t in json.loads(run(runner, "tenant", "list", "--json").stdout)]
    assert names == ["First"]


def test_weak_password_exits_2_and_creates_no_user(runner, migrated):
    assert run(runner, "tenant", "create", "weak", "Weak Bank", "--no-admin").exit_code == 0
    result = run(
        runner, "user", "create", "--tenant", "weak", "bob", "--role", "operations", "--password", "short"
    )
    assert result.exit_code == 2
    assert "error [weak_password]" in result.stderr
    assert_no_traceback(result)
    assert json.loads(run(runner, "user", "list", "--tenant", "weak", "--json").stdout) == []


def test_weak_admin_password_leaves_the_bank_and_says_how_to_add_an_admin(runner, migrated):
    result = run(runner, "tenant", "create", "half", "Half Bank", "--admin-password", "12345678901")
    assert result.exit_code == 2
    assert "error [weak_password]" in result.stderr
    assert "dipper user create --tenant half" in result.stderr


def test_generated_password_is_printed_once_and_works(runner, migrated, container):
    result = run(
        runner,
        "tenant",
        "create",
        "gen",
        "Generated Bank",
        "--generate-password",
        "--admin-username",
        "root.admin",
    )
    assert result.exit_code == 0, result.output
    match = re.search(r"password\s+([A-Za-z0-9]{20})\s+\(shown once", result.stdout)
    assert match, result.stdout
    password = match.group(1)
    assert result.stdout.count(password) == 1
    assert sign_in(container, "gen", "root.admin", password).roles == ("admin",)


def test_prompted_password_is_confirmed_and_asked_again_when_weak(runner, migrated, container, monkeypatch):
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    assert run(runner, "tenant", "create", "ask", "Prompt Bank", "--no-admin").exit_code == 0
    typed = "short\nshort\n" + f"{GOOD_PASSWORD}\n{GOOD_PASSWORD}\n"
    result = run(runner, "user", "create", "--tenant", "ask", "carol", "--role", "collector", input=typed)
    assert result.exit_code == 0, result.output
    assert "error [weak_password]" in result.stderr
    assert sign_in(container, "ask", "carol", GOOD_PASSWORD).roles == ("collector",)


def test_missing_password_without_a_terminal_is_a_usage_error(runner, migrated):
    result = run(runner, "tenant", "create", "nopw", "No Password Bank")
    assert result.exit_code == 2
    assert "Usage:" in result.output
    assert "--admin-password" in result.output
    assert json.loads(run(runner, "tenant", "list", "--json").stdout) == []  # nothing half-created


def test_bad_options_are_usage_errors(runner, migrated):
    bad_role = run(
        runner, "user", "create", "--tenant", "x", "dave", "--role", "wizard", "--password", GOOD_PASSWORD
    )
    assert bad_role.exit_code == 2
    assert "Usage:" in bad_role.output and "wizard" in bad_role.output
    both = run(
        runner,
        "user",
        "create",
        "--tenant",
        "x",
        "dave",
        "--role",
        "auditor",
        "--password",
        GOOD_PASSWORD,
        "--generate-password",
    )
    assert both.exit_code != 0 and "Usage:" in both.output
    assert run(runner, "tenant", "frobnicate").exit_code == 2


def test_unknown_bank_is_a_domain_error(runner, migrated):
    result = run(runner, "user", "list", "--tenant", "nobank")
    assert result.exit_code == 2
    assert "error [tenant_not_found]" in result.stderr


# --- demo -----------------------------------------------------------------------------------------


def _entry_count(container: Container, tenant_id: str) -> int:
    return accounting_queries.list_entries(container.uow(tenant_id)).total


#: A tiny portfolio: the demo's own portfolio tests (test_cli_demo_portfolio.py) run a bigger one.
SMALL = ("--loans", "6", "--days", "3")


def test_demo_twice_creates_the_bank_once_and_posts_nothing_twice(runner, migrated, container):
    first = run(runner, "demo", "--no-serve", *SMALL)
    assert first.exit_code == 0, first.output
    for expected in ("http://127.0.0.1:8000", "admin", cli_demo.DEMO_PASSWORD, "created the demo bank"):
        assert expected in first.stdout
    for user in cli_demo.DEMO_USERS:
        assert re.search(rf"{re.escape(user.username)}\s+{user.role}", first.stdout)
    assert "3 days simulated" in first.stdout and "3 runs" in first.stdout

    tenant = access_queries.tenant_by_code(container.uow(None), "demo")
    assert tenant is not None and tenant["name"] == cli_demo.DEMO_NAME
    users = access_queries.list_users(container.uow(tenant["id"]))
    entries = _entry_count(container, tenant["id"])
    assert len(users) == len(cli_demo.DEMO_USERS) == 8
    assert entries > 0  # the opening capital, disbursements, end-of-day postings

    second = run(runner, "demo", "--no-serve", "--port", "8123", *SMALL)
    assert second.exit_code == 0, second.output
    assert "reused the existing demo data" in second.stdout
    assert "http://127.0.0.1:8123" in second.stdout
    assert [t["code"] for t in json.loads(run(runner, "tenant", "list", "--json").stdout)] == ["demo"]
    assert len(access_queries.list_users(container.uow(tenant["id"]))) == len(users)
    assert _entry_count(container, tenant["id"]) == entries


def test_seed_demo_is_idempotent_and_every_role_can_sign_in(container):
    first = cli_demo.seed_demo(container)
    steps: list[str] = []
    second = cli_demo.seed_demo(container, steps.append)
    assert first.tenant_created and not second.tenant_created
    assert second.tenant_id == first.tenant_id
    assert first.users_created == [u.username for u in cli_demo.DEMO_USERS]
    assert second.users_created == []
    assert len(steps) == cli_demo.demo_steps()
    for user in cli_demo.DEMO_USERS:
        principal = sign_in(container, "demo", user.username, cli_demo.DEMO_PASSWORD)
        assert principal.roles == (user.role,)
    with pytest.raises(Unauthenticated):
        sign_in(container, "demo", "admin", "not-the-demo-password1")


def test_demo_borrowers_have_valid_identities():
    import random

    from stdnum.cn import ric, uscc

    from dipper.identity.domain import check_bank_card, check_name, check_phone, check_resident_id

    # The documented GB 11643 example, and the check characters the generator computes.
    assert cli_demo_portfolio.person_id_number("110105", date(1949, 12, 31), 2) == "11010519491231002X"
    assert uscc.is_valid(cli_demo_portfolio.business_id_number("320106", 209758531))
    people = cli_demo_portfolio._People(random.Random(7), date(2026, 1, 1))
    persons = [people.person() for _ in range(300)]
    for p in persons:
        assert ric.is_valid(p.id_number)
        check_resident_id(p.id_number, today=date(2026, 1, 1))  # also ages 18-100
        check_name(p.name)
        check_phone(p.phone)
        check_bank_card(p.bank_card or "")
    businesses = [people.business() for _ in range(50)]
    assert all(uscc.is_valid(b.id_number) for b in businesses)
    assert len({b.id_number for b in persons + businesses}) == 350  # one identity, one borrower


def test_demo_refuses_a_bank_with_entries_but_no_portfolio(runner, migrated, container):
    # An older demo posted hand-made entries that no loan stands behind: they would never reconcile.
    tenant_id = cli_demo.seed_demo(container).tenant_id
    container.handle(
        accounting_commands.PostJournalEntry(
            tenant_id=tenant_id,
            client_key="demo-disburse-001",
            value_date=date(2026, 1, 12),
            description="hand-made",
            lines=(
                accounting_commands.PostingLine(account_code="1303", currency="CNY", debit_minor=100),
                accounting_commands.PostingLine(account_code="1011", currency="CNY", credit_minor=100),
            ),
        )
    )
    result = run(runner, "demo", "--no-serve", *SMALL)
    assert result.exit_code == 2
    assert "error [demo_database_outdated]" in result.stderr
    assert loan_queries.list_loans(container.uow(tenant_id)).total == 0


def test_demo_refuses_to_run_in_production(runner, db_url, db_path, monkeypatch):
    import base64

    key = base64.b64encode(b"k" * 32).decode()
    monkeypatch.setenv("DIPPER_ENVIRONMENT", "prod")
    monkeypatch.setenv("DIPPER_PII_KEYS", json.dumps({"p1": key}))
    monkeypatch.setenv("DIPPER_PII_ACTIVE_KEY", "p1")
    monkeypatch.setenv("DIPPER_BLIND_INDEX_KEY", base64.b64encode(b"b" * 32).decode())
    monkeypatch.setenv("DIPPER_AUDIT_DIGEST_KEY", base64.b64encode(b"a" * 32).decode())
    result = run(runner, "demo", "--no-serve")
    assert result.exit_code == 2
    assert "error [demo_in_production]" in result.stderr
    assert not db_path.exists()


# --- serve ----------------------------------------------------------------------------------------


def test_app_factory_builds_the_app_from_the_environment(migrated):
    from fastapi.testclient import TestClient

    app = cli.app_factory()
    try:
        assert app.state.container.settings.database_url == migrated
        assert "/api/v1/auth/login" in app.openapi()["paths"]
        with TestClient(app) as client:
            assert client.get("/health").status_code == 200
    finally:
        app.state.container.dispose()


def test_serve_hands_uvicorn_the_factory_and_the_database(runner, db_url, monkeypatch):
    import uvicorn

    calls: list[tuple[tuple, dict]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append((a, kw)))
    other = db_url.replace("cli.db", "other.db")
    result = run(runner, "serve", "--port", "9001", "--database-url", other, "--reload")
    assert result.exit_code == 0, result.output
    ((args, kwargs),) = calls
    assert args == (cli.APP_FACTORY,)
    assert kwargs["factory"] is True and kwargs["port"] == 9001 and kwargs["host"] == "127.0.0.1"
    assert kwargs["reload"] is True
    assert os.environ["DIPPER_DATABASE_URL"] == other  # what the workers' factory will read


def test_version(runner):
    result = run(runner, "--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("dipper ")
