"""``dipper demo`` books a living portfolio: a small version (120 loans, 150 days) through the CLI, on
SQLite and, when ``DIPPER_TEST_PG_URL`` is set, on a scratch PostgreSQL database of its own (the demo
bank's code is fixed, so it cannot share the session's database with other tests)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import DATABASES, PG_URL
from typer.testing import CliRunner

from dipper.access import queries as access_queries
from dipper.accounting import queries as accounting_queries
from dipper.bootstrap import Container, bootstrap
from dipper.entrypoints.cli import demo_portfolio
from dipper.entrypoints.cli import main as cli
from dipper.loans import queries as loan_queries
from dipper.persistence.db import scratch_database
from dipper.settings import Settings

# Seeding takes about half a minute of CPU on SQLite (150 end-of-day runs): once per database, and all
# tests of the module on one xdist worker.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("demo_portfolio")]

LOANS, DAYS, THROUGH = 120, 150, date(2026, 6, 30)
FIRST = THROUGH - timedelta(days=DAYS - 1)
ARGS = ["demo", "--no-serve", "--loans", str(LOANS), "--days", str(DAYS), "--through", THROUGH.isoformat()]


@dataclass
class Seeded:
    url: str
    container: Container
    tenant_id: str
    stdout: str
    loans: list[loan_queries.LoanView]

    def uow(self) -> Any:
        return self.container.uow(self.tenant_id)


def _all_loans(container: Container, tenant_id: str) -> list[loan_queries.LoanView]:
    out: list[loan_queries.LoanView] = []
    while True:
        page = loan_queries.list_loans(container.uow(tenant_id), limit=500, offset=len(out))
        out.extend(page.loans)
        if not page.loans or len(out) >= page.total:
            return out


def _invoke(url: str) -> Any:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DIPPER_ENVIRONMENT", "test")
        mp.setenv("COLUMNS", "200")  # the panel is read as text: no wrapping
        return CliRunner().invoke(cli.app, [*ARGS, "--database-url", url])


@pytest.fixture(scope="module", params=DATABASES)
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    def seed(url: str) -> Iterator[Seeded]:
        result = _invoke(url)
        assert result.exit_code == 0, result.output
        container = bootstrap(Settings(database_url=url, environment="test"))
        try:
            tenant = access_queries.tenant_by_code(container.uow(None), "demo")
            assert tenant is not None
            loans = _all_loans(container, tenant["id"])
            yield Seeded(url, container, tenant["id"], result.stdout, loans)
        finally:
            container.dispose()

    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("demo") / "demo.db"
        yield from seed(f"sqlite:///{path}")
    else:
        assert PG_URL
        with scratch_database(PG_URL, prefix="dipper_demo") as url:
            yield from seed(url)


def test_the_portfolio_has_every_kind_of_borrower(seeded: Seeded) -> None:
    by_status = Counter(v.status for v in seeded.loans)
    assert len(seeded.loans) >= LOANS * 0.75  # revolving lines (not yet drawable) are the rest
    assert by_status["active"] > by_status["overdue"] > 0
    assert by_status["non_accrual"] + by_status["written_off"] > 0
    in_force = [v for v in seeded.loans if v.status in ("active", "overdue", "non_accrual")]
    delinquent = {v.bucket for v in in_force} - {"current"}
    assert len(delinquent) >= 2, delinquent  # overdue in several buckets (M1, M2, ...)
    assert {v.product_code for v in seeded.loans} >= {"XF-EI", "JY-EP", "JY-IO", "DQ-BL"}
    methods = {v.method for v in seeded.loans}
    assert methods >= {"equal-installment", "equal-principal", "interest-only", "bullet"}

    closed = [v for v in seeded.loans if v.status == "closed"]
    kinds = [{t.kind for t in loan_queries.loan_transactions(seeded.uow(), v.id)} for v in closed]
    assert any("prepayment" in k for k in kinds), "no loan closed by prepayment"
    assert any("prepayment" not in k for k in kinds), "no loan paid off by its schedule"
    # Installments paid on their due dates (on-time payers) and after them (late payers who caught up).
    paid = [
        (i.due_date, i.paid_on)
        for v in seeded.loans
        if v.status in ("active", "closed")
        for i in loan_queries.loan_schedule(seeded.uow(), v.id).installments
        if i.status == "paid" and i.paid_on is not None
    ]
    assert sum(on == due for due, on in paid) > len(paid) / 2
    assert any((on - due).days > 30 for due, on in paid)  # rolled into M2 before curing


def test_the_products_were_published_through_maker_checker(seeded: Seeded) -> None:
    users = {u["id"]: u["username"] for u in access_queries.list_users(seeded.uow())}
    changes = [c for c in access_queries.list_changes(seeded.uow()) if c["kind"] == "loans.product.publish"]
    assert len(changes) == len(demo_portfolio.PRODUCTS)
    for change in changes:
        assert change["status"] == "approved"
        assert (users[change["maker_id"]], users[change["checker_id"]]) == ("pm", "admin")
    for product in demo_portfolio.PRODUCTS:
        assert loan_queries.published_version(seeded.uow(), product.code, FIRST) is not None
    lines = loan_queries.list_credit_lines(seeded.uow(), limit=500).lines
    assert any(line.product_code == "SJ-RV" for line in lines)  # revolving lines are granted


def test_revolving_lines_are_drawn_and_repaid(seeded: Seeded) -> None:
    draws = [v for v in seeded.loans if v.method == "revolving"]
    assert draws
    assert any(v.status == "closed" for v in draws)


def test_sub_ledger_equals_gl_and_every_day_ran(seeded: Seeded) -> None:
    report = loan_queries.reconcile(seeded.uow(), "CNY")
    assert report.lines and all(line.difference_minor == 0 for line in report.lines)
    assert next(ln for ln in report.lines if ln.column == "principal_outstanding").gl_minor > 0
    assert "loan sub-ledger = general ledger, to the fen" in seeded.stdout

    runs = loan_queries.list_batch_runs(seeded.uow(), limit=500)
    assert runs.total == DAYS
    assert sorted(r.business_date for r in runs.runs) == [FIRST + timedelta(days=i) for i in range(DAYS)]
    assert all(r.status == "done" and r.figures["post"]["reconciled"] for r in runs.runs)
    # Loans are booked on the simulated days, never outside the window.
    starts = {v.start_date for v in seeded.loans}
    assert min(starts) >= FIRST and max(starts) <= THROUGH  # type: ignore[operator]
    # Nothing the simulation asked for was refused.
    refused = [ln for ln in seeded.stdout.splitlines() if "Refused" in ln]
    assert refused == []


def test_a_second_run_books_nothing_new(seeded: Seeded) -> None:
    entries = accounting_queries.list_entries(seeded.uow(), limit=1).total
    again = _invoke(seeded.url)
    assert again.exit_code == 0, again.output
    assert "reused the existing demo data; nothing created twice" in again.stdout
    assert "booking the portfolio" not in again.stdout
    assert len(_all_loans(seeded.container, seeded.tenant_id)) == len(seeded.loans)
    assert loan_queries.list_batch_runs(seeded.uow(), limit=1).total == DAYS
    assert accounting_queries.list_entries(seeded.uow(), limit=1).total == entries
