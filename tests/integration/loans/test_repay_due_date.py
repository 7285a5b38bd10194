"""A repayment on an installment's due date, before that date's end of day, settles the installment
(the end of day's accrual and falling-due steps run for that loan first, in the repayment's
transaction); and, on PostgreSQL, repayments racing the end of day on the same loans end consistent
whichever commits first."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from typing import Any

import pytest
from tests.integration.loans.test_repay_support import book_fixture, key  # noqa: F401

from dipper.loans import commands

DUE = date(2026, 2, 5)  # the first due date of a loan started on 2026-01-05 (test_repay_support.START)


def _run_through(book: Any, first: date, through: date) -> None:
    book.set_today(through)
    book.handle(commands.RunEndOfDay, business_date=through, since=first)


def _comparable(book: Any, loan_id: str) -> dict[str, Any]:
    state = book.state(loan_id)
    # The day each loan paid differs by design; everything else must agree.
    state["installments"] = [row[:-1] for row in state["installments"]]
    return state


def test_paying_on_the_due_date_before_end_of_day_settles_the_installment(book):
    on_time, next_day = book.open_loan(), book.open_loan()
    _run_through(book, book.today, DUE - timedelta(days=1))
    first = book.installments(on_time)[0]
    assert first.due_date == DUE and first.status == "scheduled"
    total = first.principal_minor + first.interest_minor + first.fee_minor

    book.set_today(DUE)
    result = book.repay(on_time, total)

    loan = book.loan(on_time)
    row = book.installments(on_time)[0]
    assert row.status == "paid" and row.paid_on == DUE
    assert loan.credit_balance_minor == 0
    assert loan.status == "active" and loan.days_past_due == 0
    # The period's interest was recognised before it was paid: nothing left, nothing negative.
    assert loan.accrued_through == DUE
    assert loan.interest_receivable_minor >= 0
    allocation = book.transactions(on_time)[-1].allocation
    assert (allocation["principal"], allocation["interest"], allocation["credit"]) == (
        first.principal_minor,
        first.interest_minor,
        0,
    )
    assert not result.replayed

    # The twin pays the morning after the due date's end of day: the end of day billed it first.
    _run_through(book, DUE, DUE)
    book.set_today(DUE + timedelta(days=1))
    book.repay(next_day, total, value_date=DUE)
    _run_through(book, DUE + timedelta(days=1), DUE + timedelta(days=10))

    assert _comparable(book, on_time) == _comparable(book, next_day)
    assert book.loan(on_time).status == "active" and book.loan(on_time).days_past_due == 0
    book.reconcile()


def test_a_partial_payment_on_the_due_date_leaves_the_rest_due_not_credit(book):
    loan_id = book.open_loan()
    _run_through(book, book.today, DUE - timedelta(days=1))
    book.set_today(DUE)
    book.repay(loan_id, 10_000)

    row = book.installments(loan_id)[0]
    assert row.status == "due"
    assert row.interest_paid_minor + row.principal_paid_minor == 10_000
    assert book.loan(loan_id).credit_balance_minor == 0
    _run_through(book, DUE, DUE + timedelta(days=3))
    loan = book.loan(loan_id)
    assert loan.status == "overdue" and loan.days_past_due == 3
    assert book.installments(loan_id)[0].status == "overdue"
    book.reconcile()


def test_the_retried_request_replays_and_bills_nothing_twice(book):
    loan_id = book.open_loan()
    _run_through(book, book.today, DUE - timedelta(days=1))
    book.set_today(DUE)
    idem = key()
    first = book.repay(loan_id, 50_000, idem)
    receivable = book.loan(loan_id).interest_receivable_minor
    again = book.repay(loan_id, 50_000, idem)
    assert again.replayed and again.transaction_id == first.transaction_id
    assert book.loan(loan_id).interest_receivable_minor == receivable
    book.reconcile()


# -- PostgreSQL: repayments racing the end of day ---------------------------------------------------------


@pytest.mark.pg
def test_repayments_racing_the_end_of_day_on_the_same_loans_end_consistent(book):
    if book.container.engine.dialect.name != "postgresql":
        pytest.skip("the race of row and table locks is tested on PostgreSQL (DIPPER_TEST_PG_URL)")
    payers = [book.open_loan() for _ in range(6)]
    others = [book.open_loan() for _ in range(2)]
    _run_through(book, book.today, DUE - timedelta(days=1))
    book.set_today(DUE)
    first = book.installments(payers[0])[0]
    total = first.principal_minor + first.interest_minor + first.fee_minor

    barrier = threading.Barrier(len(payers) + 1)
    errors: list[BaseException] = []

    def pay(loan_id: str) -> None:
        barrier.wait()
        try:
            book.repay(loan_id, total)
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    def end_of_day() -> None:
        barrier.wait()
        try:
            book.handle(commands.RunEndOfDay, business_date=DUE)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=pay, args=(loan_id,)) for loan_id in payers]
    threads.append(threading.Thread(target=end_of_day))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []

    _run_through(book, DUE + timedelta(days=1), DUE + timedelta(days=5))
    states = [_comparable(book, loan_id) for loan_id in payers]
    for loan_id, state in zip(payers, states, strict=True):
        assert state == states[0], loan_id
        loan = book.loan(loan_id)
        assert loan.status == "active" and loan.days_past_due == 0 and loan.credit_balance_minor == 0
        assert book.installments(loan_id)[0].status == "paid"
        assert len([t for t in book.transactions(loan_id) if t.kind == "repayment"]) == 1
    for loan_id in others:
        loan = book.loan(loan_id)
        assert loan.status == "overdue" and loan.days_past_due == 5
    # Each date's end of day ran once and the books agree to the fen.
    book.reconcile()
