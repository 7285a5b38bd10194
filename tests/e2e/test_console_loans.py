"""Console: loan search and loan detail (schedule, transactions, postings, DPD history), and the
end-of-day runs (list, detail, starting one from the console with its progress), on loans booked
and serviced through the real commands and aged by the real end of day."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from html import unescape
from pathlib import Path

import pytest
from tests.conftest import create_bank
from tests.integration.loans.test_repay_support import make_book

from dipper.entrypoints.console import i18n, loan_pages, pages
from dipper.kernel.clock import FixedClock
from dipper.loans import commands, queries

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
START = date(2026, 1, 5)
TODAY = date(2026, 3, 12)
TEMPLATES = Path(pages.__file__).with_name("templates")


def console_login(client, bank, username="admin"):
    client.cookies.clear()
    token = CSRF.search(client.get("/console/login").text).group(1)
    r = client.post(
        "/console/login",
        data={"bank": bank.code, "username": username, "password": bank.admin_password, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return client


def csrf(html: str) -> str:
    return CSRF.search(html).group(1)


def loan_ids(html: str) -> set[str]:
    return set(re.findall(r'<tr data-loan-id="([^"]+)"', html))


def run_eod(book, through: date) -> None:
    book.set_today(through)
    book.container.handle(
        commands.RunEndOfDay(tenant_id=book.tenant_id, business_date=through, since=START), actor=book.admin
    )


def pay_what_is_due(book, loan_id: str) -> None:
    """Repay exactly what is due today: the unpaid installments fallen due and the penalty."""
    loan = queries.get_loan(book.uow(), loan_id)
    schedule = queries.loan_schedule(book.uow(), loan_id)
    due = sum(i.outstanding_minor for i in schedule.installments if i.status in ("due", "overdue"))
    assert due > 0
    book.repay(loan_id, due + loan.penalty_receivable_minor)


@pytest.fixture(scope="module")
def seeded(container):
    """One bank, three loans from 2026-01-05, aged by the end of day through 2026-03-12:
    A (equal installment) paid its first installment 10 days late, then missed the second (late,
    cured, late again); B (equal principal) paid on time; C (interest-only) never paid."""
    saved = container.clock
    clock = FixedClock(datetime(START.year, START.month, START.day, 2, tzinfo=UTC))
    container.clock = clock
    try:
        bank = create_bank(container, "长江农商银行")
        book = make_book(bank, clock)
        a = book.open_loan(amount_minor=1_200_000, term=12, method="equal-installment")
        b = book.open_loan(amount_minor=600_000, term=6, method="equal-principal")
        c = book.open_loan(amount_minor=800_000, term=6, method="interest-only")
        run_eod(book, date(2026, 2, 4))
        book.set_today(date(2026, 2, 5))
        run_eod(book, date(2026, 2, 5))
        pay_what_is_due(book, b)
        run_eod(book, date(2026, 2, 14))
        book.set_today(date(2026, 2, 15))
        pay_what_is_due(book, a)
        run_eod(book, date(2026, 3, 5))
        pay_what_is_due(book, b)
        run_eod(book, TODAY)
        book.reconcile()
        yield {"bank": bank, "book": book, "a": a, "b": b, "c": c}
    finally:
        container.clock = saved


@pytest.fixture
def on_today(seeded, container):
    """Every test starts on the seeded book's business date (a test may move the clock on)."""
    seeded["book"].set_today(TODAY)
    container.clock = seeded["book"].clock
    return seeded


# --------------------------------------------------------------------------- the DPD history query


def test_the_dpd_history_of_a_loan_late_cured_and_late_again(on_today):
    book, a = on_today["book"], on_today["a"]
    history = queries.loan_dpd_history(book.uow(), a)
    assert history.since == START and history.until == TODAY
    assert [history.on(d) for d in (date(2026, 2, 5), date(2026, 2, 14), date(2026, 2, 15))] == [0, 9, 0]
    assert history.on(TODAY) == 7 == queries.get_loan(book.uow(), a).days_past_due  # agrees with the batch
    assert history.max_days_past_due == 9
    assert len(history.points) <= 8  # the corners, not one point a day
    c = queries.loan_dpd_history(book.uow(), on_today["c"])
    assert (
        c.on(TODAY)
        == (TODAY - date(2026, 2, 5)).days
        == queries.get_loan(book.uow(), on_today["c"]).days_past_due
    )


# --------------------------------------------------------------------------- loan search


def test_search_filters_combine_and_page(client, on_today, monkeypatch):
    bank, a, b, c = on_today["bank"], on_today["a"], on_today["b"], on_today["c"]
    console_login(client, bank)
    r = client.get("/console/loans")
    assert r.status_code == 200
    assert loan_ids(r.text) == {a, b, c}
    assert "贷款查询" in r.text and "剩余本金" in r.text and "等额本息" in r.text

    def found(**params) -> set[str]:
        r = client.get("/console/loans", params=params)
        assert r.status_code == 200, r.text
        return loan_ids(r.text)

    assert found(status="overdue") == {a, c}
    assert found(status="active") == {b}
    assert found(bucket="M2") == {c}
    assert found(bucket="M1") == {a}
    assert found(bucket="current") == {b}
    assert found(product=on_today["book"].product_code) == {a, b, c}
    assert found(product="NO-SUCH-PRODUCT") == set()
    assert found(customer=on_today["book"].customer_id) == {a, b, c}
    assert found(loan=a) == {a}
    assert found(loan=a[:12]) >= {a}
    assert found(dpd_min="30") == {c}
    assert found(dpd_min="1", dpd_max="10") == {a}
    assert found(dpd_max="0") == {b}
    assert found(status="overdue", bucket="M1") == {a}

    # The same search with htmx answers the results fragment only.
    partial = client.get("/console/loans", params={"bucket": "M2"}, headers={"HX-Request": "true"})
    assert partial.text.lstrip().startswith('<section id="loan-results"') and "<html" not in partial.text
    assert loan_ids(partial.text) == {c}

    monkeypatch.setattr(loan_pages, "LOAN_PAGE_SIZE", 2)
    first, second = client.get("/console/loans").text, client.get("/console/loans?page=2").text
    assert len(loan_ids(first)) == 2 and len(loan_ids(second)) == 1
    assert loan_ids(first) | loan_ids(second) == {a, b, c}
    assert 'rel="next"' in first and "page=2" in first


def test_bad_filter_input_is_a_400_page_in_both_languages(client, on_today):
    console_login(client, on_today["bank"])
    for params in (
        {"dpd_min": "abc"},
        {"dpd_min": "-1"},
        {"dpd_min": "10", "dpd_max": "5"},
        {"dpd_max": "99999"},
        {"status": "bogus"},
        {"bucket": "M9"},
        {"loan": "<script>"},
        {"page": "x", "loan": "ab"},
    ):
        r = client.get("/console/loans", params=params)
        assert r.status_code == 400, (params, r.text[:300])
        assert 'id="filter-error"' in r.text and "<tr data-loan-id" not in r.text
        assert "<script>" not in r.text  # what was typed comes back escaped
    r = client.get("/console/loans", params={"dpd_min": "10", "dpd_max": "5"})
    assert "逾期天数的下限不能大于上限" in r.text
    r = client.get("/console/loans", params={"dpd_min": "10", "dpd_max": "5", "lang": "en"})
    assert r.status_code == 400 and "cannot be above the highest" in r.text


def test_the_http_api_takes_the_same_filters(client, on_today):
    bank, a, c = on_today["bank"], on_today["a"], on_today["c"]
    admin = bank.login(client)

    def ids(**params) -> set[str]:
        r = client.get("/api/v1/loans", params=params, headers=admin)
        assert r.status_code == 200, r.text
        return {loan["id"] for loan in r.json()["loans"]}

    assert ids(bucket="M2") == {c}
    assert ids(min_dpd=1, max_dpd=10) == {a}
    assert ids(loan_id=a[:10]) >= {a}
    assert ids(product_code=on_today["book"].product_code, status="overdue") == {a, c}
    r = client.get("/api/v1/loans", params={"min_dpd": 9, "max_dpd": 3}, headers=admin)
    assert r.status_code == 422 and r.json()["code"] == "invalid_dpd_range"
    for bad in ({"bucket": "M9"}, {"min_dpd": -1}, {"loan_id": "a%"}):
        r = client.get("/api/v1/loans", params=bad, headers=admin)
        assert r.status_code == 422 and r.json()["code"] == "invalid_request", bad


# --------------------------------------------------------------------------- loan detail


def test_loan_detail_shows_balances_schedule_transactions_postings_and_the_dpd_chart(client, on_today):
    bank, book, a = on_today["bank"], on_today["book"], on_today["a"]
    console_login(client, bank)
    r = client.get(f"/console/loans/{a}")
    assert r.status_code == 200, r.text
    html = r.text
    loan = queries.get_loan(book.uow(), a)
    balances = dict(re.findall(r'<tr data-balance="(\w+)"><th>[^<]*</th><td class="num">([^<]*)</td>', html))
    assert balances["principal_outstanding"] == pages.format_minor(loan.principal_outstanding_minor)
    assert balances["interest_receivable"] == pages.format_minor(loan.interest_receivable_minor)
    assert balances["penalty_receivable"] == pages.format_minor(loan.penalty_receivable_minor)
    assert set(balances) >= {"suspended_interest", "fee_receivable", "credit_balance"}
    assert loan.penalty_receivable_minor > 0  # late again: penalty runs
    assert "7.2%" in html and "年化利率" in html and str(loan.apr.scaleb(2))[:4] in html

    # The schedule: the first installment paid on 02-15, the second overdue, the rest scheduled.
    statuses = dict(re.findall(r'<tr data-n="(\d+)" data-status="(\w+)">', html))
    assert statuses["1"] == "paid" and statuses["2"] == "overdue" and statuses["3"] == "scheduled"
    assert len(statuses) == 12 and "2026-02-15" in html

    # Transactions and the journal entries they posted (the loan's own; accruals are in summary).
    kinds = re.findall(r'<tr data-kind="(\w+)"', html)
    assert kinds == ["disbursement", "repayment"]
    for tx in queries.loan_transactions(book.uow(), a):
        assert f'id="entry-{tx.journal_entry_id}"' in html
    assert 'id="postings-note"' in html and "汇总入账" in html
    assert "1303" in html  # the loan principal account of the disbursement entry

    # The DPD chart's data: its corners, late - cured - late again.
    data = json.loads(unescape(re.search(r'id="dpd-chart-data">(.*?)</script>', html, re.S).group(1)))
    points = dict(data["points"])
    assert points["2026-02-14"] == 9 and points["2026-02-15"] == 0 and points[TODAY.isoformat()] == 7

    en = client.get(f"/console/loans/{a}?lang=en").text
    assert "Repayment schedule" in en and "Days past due history" in en and "Postings" in en
    assert "Equal installment" in en and "Overdue" in en


def test_another_banks_loan_is_not_found(client, on_today, make_bank):
    other = make_bank("Other Bank")
    console_login(client, other)
    r = client.get(f"/console/loans/{on_today['a']}")
    assert r.status_code == 404 and "<html" in r.text and on_today["a"] not in r.text.split("<main")[1]
    assert loan_ids(client.get("/console/loans").text) == set()
    assert client.get("/console/loans/01ARZ3NDEKTSV4RRFFQ69G5FAV").status_code == 404
    assert client.get(f"/console/loans/{'x' * 65}").status_code == 404


# --------------------------------------------------------------------------- end-of-day runs


def test_runs_are_listed_with_their_figures_and_each_step_shown(client, on_today):
    bank, book = on_today["bank"], on_today["book"]
    console_login(client, bank)
    r = client.get("/console/batch")
    assert r.status_code == 200
    total = (TODAY - START).days + 1
    assert f"共 {total} 次运行" in r.text
    runs = re.findall(r'<tr data-run="([^"]+)" data-status="(\w+)">', r.text)
    assert len(runs) == loan_pages.RUN_PAGE_SIZE and {s for _, s in runs} == {"done"}
    assert TODAY.isoformat() in r.text and "7/7" in r.text and "已对账" in r.text
    assert 'id="start-form"' in r.text  # the admin may start a run

    run = queries.get_batch_run_for_date(book.uow(), date(2026, 2, 6))
    detail = client.get(f"/console/batch/{run.id}")
    assert detail.status_code == 200
    steps = dict(re.findall(r'<tr data-step="(\w+)" data-done="(\w+)">', detail.text))
    assert steps == dict.fromkeys(commands.EOD_STEPS, "true")
    interest = run.figures["accrue_interest"]["totals"]["CNY"]["interest"]
    assert pages.format_minor(interest) in detail.text
    assert "M1 档" in detail.text  # the aging step's buckets: loans A and C are past due on 02-06
    en = client.get(f"/console/batch/{run.id}?lang=en").text
    assert "Interest accrual" in en and "Sub-ledger equals GL" in en
    assert client.get("/console/batch/01ARZ3NDEKTSV4RRFFQ69G5FAV").status_code == 404
    other = create_bank(bank.container)
    console_login(client, other)
    assert client.get(f"/console/batch/{run.id}").status_code == 404


def test_starting_the_end_of_day_from_the_console_runs_it_with_progress(client, on_today, make_bank):
    bank = make_bank()
    container = bank.container
    console_login(client, bank)
    # One step of 03-11 runs first (as if a run was cut short): the progress shows 1 of 7, polling.
    container.handle(commands.RunEndOfDayStep(tenant_id=bank.tenant_id, business_date=date(2026, 3, 11)))
    partial = client.get(
        "/console/batch/progress?since=2026-03-11&through=2026-03-11", headers={"HX-Request": "true"}
    )
    assert partial.status_code == 200 and "<html" not in partial.text
    assert 'data-done="1" data-total="7"' in partial.text and 'hx-trigger="every 1s"' in partial.text

    page = client.get("/console/batch")
    assert 'value="2026-03-11"' in page.text  # proposes resuming the unfinished date
    r = client.post(
        "/console/batch/runs",
        data={"business_date": TODAY.isoformat(), "csrf_token": csrf(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/console/batch/progress?since=2026-03-11&through=2026-03-12"
    job = loan_pages.JOBS.get(bank.tenant_id)
    if job is not None:
        job.thread.join(timeout=120)
        assert not job.thread.is_alive() and job.error is None
    done = client.get(r.headers["location"], headers={"HX-Request": "true"})
    assert 'data-done="14" data-total="14"' in done.text and 'data-complete="true"' in done.text
    assert "hx-trigger" not in done.text  # polling stops once complete
    runs = queries.list_batch_runs(container.uow(bank.tenant_id)).runs
    assert [(r.business_date, r.status) for r in runs] == [(TODAY, "done"), (date(2026, 3, 11), "done")]
    full = client.get(r.headers["location"])
    assert "日终进度" in full.text and f"/console/batch/{runs[0].id}" in full.text

    # Again for a date done: nothing runs, the run is shown.
    again = client.post(
        "/console/batch/runs", data={"business_date": TODAY.isoformat(), "csrf_token": csrf(page.text)}
    )
    assert again.status_code == 200 and "未重复运行" in again.text
    assert len(queries.list_batch_runs(container.uow(bank.tenant_id)).runs) == 2

    # Refusals are pages with a reason: a future date, an earlier date, a bad date, no CSRF token.
    for value, status, text in (
        ("2026-03-13", 422, "不能为将来的日期运行日终"),
        ("2026-03-01", 409, "不能再运行更早的日期"),
        ("2026-02-30", 400, "请输入有效的营业日"),
    ):
        r = client.post("/console/batch/runs", data={"business_date": value, "csrf_token": csrf(page.text)})
        assert r.status_code == status and text in r.text, (value, r.status_code)
    r = client.post("/console/batch/runs", data={"business_date": TODAY.isoformat()})
    assert r.status_code == 403
    assert client.get("/console/batch/progress?since=2026-03-12&through=2026-03-01").status_code == 400
    assert client.get("/console/batch/progress?since=nope").status_code == 400


def test_a_read_only_user_sees_loans_and_runs_but_cannot_start_one(client, on_today):
    bank = on_today["bank"]
    if "viewer" not in bank.users:
        bank.add_user("viewer", ("read_only",))
    console_login(client, bank, "viewer")
    assert loan_ids(client.get("/console/loans").text) == {on_today["a"], on_today["b"], on_today["c"]}
    assert client.get(f"/console/loans/{on_today['a']}").status_code == 200
    page = client.get("/console/batch")
    assert page.status_code == 200 and 'id="start-form"' not in page.text
    r = client.post(
        "/console/batch/runs", data={"business_date": TODAY.isoformat(), "csrf_token": csrf(page.text)}
    )
    assert r.status_code == 403 and "loans.service" in r.text and "<html" in r.text
    assert loan_pages.JOBS.get(bank.tenant_id) is None


def test_navigation_and_the_loan_core_page_link_the_new_pages(client, on_today):
    console_login(client, on_today["bank"])
    home = client.get("/console/").text
    assert 'href="/console/loans"' in home and 'href="/console/batch"' in home and "日终批处理" in home
    module = client.get("/console/modules/loans?lang=en").text
    assert 'href="/console/loans"' in module and 'href="/console/batch"' in module and "End of day" in module
    loans_page = client.get("/console/loans").text
    assert re.search(r'<a href="/console/loans" aria-current="page">', loans_page)


def test_collectors_have_loans_but_no_products_in_the_navigation(client, on_today):
    bank = on_today["bank"]
    if "collector9" not in bank.users:
        bank.add_user("collector9", ("collector",))
    html = console_login(client, bank, "collector9").get("/console/").text
    assert 'href="/console/loans"' in html and 'href="/console/products"' not in html
    assert client.get("/console/batch").status_code == 200


def test_every_key_the_loan_pages_use_exists_in_both_catalogues():
    zh, en = i18n.catalogue("zh-CN"), i18n.catalogue("en")
    text = Path(loan_pages.__file__).read_text(encoding="utf-8")
    used = set(re.findall(r"""\bt\(\s*["']([a-z0-9_.]+)["']\s*[,)]""", text))
    for path in TEMPLATES.glob("*.html"):
        for prefix, _ in re.findall(r"""label\(\s*["']([a-z_.]+)["']\s*,\s*([a-z_.]+)""", path.read_text()):
            used.add(prefix + ".")
    dynamic = {
        *{f"loan.status.{s}" for s in queries.LOAN_STATUSES},
        *{f"loan.bucket.{b}" for b in queries.LOAN_BUCKETS},
        *{f"loan.installment.{s}" for s in ("scheduled", "due", "overdue", "paid")},
        *{f"loan.tx.{k}" for k in loan_pages.TRANSACTION_KINDS},
        *{f"loan.part.{p}" for p in loan_pages.ALLOCATION_PARTS},
        *{f"batch.step.{s}" for s in commands.EOD_STEPS},
        *{f"batch.status.{s}" for s in ("running", "done", "failed")},
    }
    prefixes = {u for u in used if u.endswith(".")}
    assert prefixes <= {"loan.status.", "loan.installment.", "loan.tx.", "batch.status.", "batch.step."}, (
        prefixes
    )
    missing = sorted(k for k in (used - prefixes) | dynamic if k not in zh or k not in en)
    assert not missing, missing
