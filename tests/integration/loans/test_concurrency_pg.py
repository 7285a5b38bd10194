"""Concurrent repayments on PostgreSQL (the loan row lock, ``SELECT ... FOR UPDATE``): one
idempotency key posts once however many requests race; different keys on one loan all apply, in
some order, and the books add up to the fen."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

import pytest
from tests.integration.loans.test_repay_support import book_fixture, key  # noqa: F401

from dipper.accounting import queries as ledger
from dipper.loans import queries

pytestmark = pytest.mark.pg
THREADS = 8


@pytest.fixture
def pg_book(book):
    if book.container.engine.dialect.name != "postgresql":
        pytest.skip("row-lock concurrency is tested on PostgreSQL (DIPPER_TEST_PG_URL)")
    return book


def _race(fn: Any, args: list[tuple[Any, ...]]) -> tuple[list[Any], list[BaseException]]:
    barrier = threading.Barrier(len(args))
    results: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(*a: Any) -> None:
        barrier.wait()
        try:
            r = fn(*a)
            with lock:
                results.append(r)
        except BaseException as e:  # collected and asserted on below
            with lock:
                errors.append(e)

    threads = [threading.Thread(target=run, args=a) for a in args]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results, errors


def _overdue_loan(b) -> str:
    loan_id = b.open_loan()
    b.end_of_day(loan_id, date(2026, 4, 10), penalty_minor=900)
    b.set_today(date(2026, 4, 11))
    return loan_id


def test_one_key_from_eight_threads_posts_once(pg_book):
    loan_id = _overdue_loan(pg_book)
    idem = key()

    results, errors = _race(lambda: pg_book.repay(loan_id, 50_000, idem), [()] * THREADS)

    assert errors == []
    assert len({r.transaction_id for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    repayments = [t for t in pg_book.transactions(loan_id) if t.kind == "repayment"]
    assert len(repayments) == 1
    entries = ledger.list_entries(pg_book.uow(), limit=1000, account_code=ledger.CLEARING).entries
    assert [e.client_key for e in entries if e.source == "loans.repayment"] == [f"repay:{repayments[0].id}"]
    assert (
        pg_book.loan(loan_id).principal_outstanding_minor + repayments[0].allocation["principal"] == 1_200_000
    )
    pg_book.reconcile()


def test_eight_keys_on_one_loan_all_apply_and_add_up(pg_book):
    loan_id = _overdue_loan(pg_book)
    before = pg_book.loan(loan_id)
    amounts = [37_003 * (i + 1) for i in range(THREADS)]  # together more than is due: some credit balance

    results, errors = _race(lambda a: pg_book.repay(loan_id, a), [(a,) for a in amounts])

    assert errors == [] and len(results) == THREADS and not any(r.replayed for r in results)
    txns = [t for t in pg_book.transactions(loan_id) if t.kind == "repayment"]
    assert sorted(t.amount_minor for t in txns) == sorted(amounts)
    parts = ("principal", "interest", "penalty", "fee", "credit")
    for t in txns:
        assert sum(t.allocation[p] for p in parts) == t.amount_minor
    total = {p: sum(t.allocation[p] for t in txns) for p in parts}
    assert sum(total.values()) == sum(amounts)
    loan = pg_book.loan(loan_id)
    assert loan.principal_outstanding_minor == before.principal_outstanding_minor - total["principal"]
    assert loan.interest_receivable_minor == before.interest_receivable_minor - total["interest"]
    assert loan.penalty_receivable_minor == before.penalty_receivable_minor - total["penalty"] == 0
    assert loan.credit_balance_minor == total["credit"] > 0
    rows = pg_book.installments(loan_id)
    assert sum(i.principal_paid_minor for i in rows) == total["principal"]
    assert sum(i.interest_paid_minor for i in rows) == total["interest"]
    # Applied one after another: each saw the one before (strictly ordered, never the same state).
    views = queries.list_servicing_transactions(pg_book.uow(), loan_id)
    assert [v.created_at for v in views] == sorted(v.created_at for v in views)
    assert pg_book.balance(ledger.CLEARING) == -1_200_000 + sum(amounts)
    pg_book.reconcile()
