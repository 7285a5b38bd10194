"""Reversal of a repayment (冲正): everything after it is recomputed, and the result is exactly the
state - sub-ledger and GL - of a twin loan that never received the reversed repayment."""

from __future__ import annotations

from datetime import date

import pytest
from tests.integration.loans.test_repay_support import book_fixture, make_book, raises  # noqa: F401

from dipper.accounting import queries as ledger
from dipper.kernel.errors import Conflict, NotFound, ValidationFailed
from dipper.loans import queries

ACCOUNTS = (
    ledger.LOAN_PRINCIPAL,
    ledger.INTEREST_RECEIVABLE,
    ledger.PENALTY_RECEIVABLE,
    ledger.FEE_RECEIVABLE,
    ledger.BORROWER_OVERPAYMENTS,
    ledger.CLEARING,
    ledger.INTEREST_INCOME,
    ledger.PENALTY_INTEREST_INCOME,
)


@pytest.fixture
def twin(book, make_bank):
    """A second bank on the same business date, for the loan that never got the reversed repayment."""
    return make_book(make_bank("Twin"), book.clock)


def _overdue_loan(b) -> str:
    loan_id = b.open_loan()
    b.end_of_day(loan_id, date(2026, 4, 10), penalty_minor=500)  # three installments overdue
    return loan_id


def test_reversal_recomputes_later_repayments_to_the_state_without_it(book, twin):
    a_loan, b_loan = _overdue_loan(book), _overdue_loan(twin)
    assert book.state(a_loan) == twin.state(b_loan)  # the twins start equal
    book.set_today(date(2026, 4, 11))
    first = book.repay(a_loan, 50_000, channel_reference="R1")
    book.set_today(date(2026, 4, 12))
    book.repay(a_loan, 120_000, channel_reference="R2")
    twin.repay(b_loan, 120_000, channel_reference="R2")
    book.repay(a_loan, 200_000, channel_reference="R3")
    twin.repay(b_loan, 200_000, channel_reference="R3")
    assert book.state(a_loan) != twin.state(b_loan)

    result = book.reverse(first.transaction_id, reason="posted to the wrong loan")

    assert book.state(a_loan) == twin.state(b_loan)
    for account in ACCOUNTS:
        assert book.balance(account) == twin.balance(account), account
    book.reconcile()
    twin.reconcile()
    # The record: the original and the later ones marked reversed, each undone by a reversal with
    # the mirror entry, and the later ones applied again as new transactions in their order.
    txns = book.transactions(a_loan)
    kinds = [(t.kind, t.channel_reference, t.reversed) for t in txns]
    assert kinds == [
        ("disbursement", kinds[0][1], False),
        ("repayment", "R1", True),
        ("repayment", "R2", True),
        ("repayment", "R3", True),
        ("reversal", "R3", False),
        ("reversal", "R2", False),
        ("reversal", "R1", False),
        ("repayment", "R2", False),
        ("repayment", "R3", False),
    ]
    reversal = queries.get_servicing_transaction(book.uow(), result.transaction_id)
    assert (
        reversal.reverses_id == first.transaction_id
        and reversal.allocation["reason"] == "posted to the wrong loan"
    )
    assert len(reversal.allocation["undone"]) == 2 and len(reversal.allocation["reapplied"]) == 2
    original = ledger.get_entry(book.uow(), txns[1].journal_entry_id)
    mirror = ledger.get_entry(book.uow(), reversal.journal_entry_id)
    assert [(ln.account_code, ln.debit_minor, ln.credit_minor) for ln in mirror.lines] == [
        (ln.account_code, ln.credit_minor, ln.debit_minor) for ln in original.lines
    ]
    assert mirror.value_date == date(2026, 4, 12)  # corrections are booked on the business date


def test_reversing_the_latest_repayment_restores_the_loan_exactly(book):
    loan_id = _overdue_loan(book)
    book.set_today(date(2026, 4, 10))  # the day end of day aged the loan: the same days past due
    before = book.state(loan_id)
    gl_before = {a: book.balance(a) for a in ACCOUNTS}
    paid = book.repay(loan_id, 400_000)  # everything due, and an overpayment
    assert book.loan(loan_id).credit_balance_minor > 0

    book.reverse(paid.transaction_id)

    assert book.state(loan_id) == before
    assert {a: book.balance(a) for a in ACCOUNTS} == gl_before
    book.reconcile()


def test_reversing_the_repayment_that_closed_a_loan_reopens_it(book):
    loan_id = book.open_loan(amount_minor=200_000, term=1)
    only = book.installments(loan_id)[0]
    book.end_of_day(loan_id, only.due_date)
    book.set_today(only.due_date)
    paid = book.repay(loan_id, only.principal_minor + only.interest_minor)
    assert book.loan(loan_id).status == "closed"

    book.reverse(paid.transaction_id)

    loan = book.loan(loan_id)
    assert (loan.status, loan.closed_on, loan.principal_outstanding_minor) == ("active", None, 200_000)
    assert book.installments(loan_id)[0].status == "due"
    book.reconcile()


def test_reversal_is_idempotent_and_refuses_what_it_cannot_reverse(book):
    loan_id = _overdue_loan(book)
    book.set_today(date(2026, 4, 11))
    paid = book.repay(loan_id, 10_000)
    idem = "reverse-1"
    one = book.reverse(paid.transaction_id, idem)
    again = book.reverse(paid.transaction_id, idem)
    assert again.replayed and again.transaction_id == one.transaction_id
    raises(Conflict, "idempotency_key_reused", book.reverse, paid.transaction_id, idem, reason="other reason")
    raises(Conflict, "already_reversed", book.reverse, paid.transaction_id)
    raises(Conflict, "not_a_repayment", book.reverse, one.transaction_id)
    disbursement = book.transactions(loan_id)[0]
    raises(Conflict, "not_a_repayment", book.reverse, disbursement.id)
    raises(NotFound, "transaction_not_found", book.reverse, "01NOSUCHTXN00000000000000")
    raises(ValidationFailed, "invalid_reason", book.reverse, paid.transaction_id, reason="  ")
    assert sum(t.kind == "reversal" for t in book.transactions(loan_id)) == 1
    book.reconcile()


def test_a_later_prepayment_blocks_the_reversal(book):
    loan_id = book.open_loan()
    first = book.installments(loan_id)[0]
    book.end_of_day(loan_id, first.due_date)
    book.set_today(first.due_date)
    paid = book.repay(loan_id, first.principal_minor + first.interest_minor)
    book.set_today(date(2026, 2, 20))
    book.prepay(loan_id, amount_minor=300_000, mode="lower-installment")
    before = book.state(loan_id)

    raises(Conflict, "reversal_blocked", book.reverse, paid.transaction_id)

    assert book.state(loan_id) == before
    book.reconcile()
