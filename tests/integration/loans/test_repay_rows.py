"""A plain repayment is read and written as rows (no ORM flush): what it leaves must be what the
flush would have left. The audit entries digest exactly the rows as stored, name exactly the
columns that changed, and the outbox holds the command's events in the order raised."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select
from tests.integration.loans.test_repay_support import book_fixture  # noqa: F401

from dipper.accounting.adapters import JournalEntry
from dipper.loans.adapters.accounts import Installment, Loan, LoanTransaction
from dipper.persistence import crypto
from dipper.persistence.audit import AuditEntry, column_keys
from dipper.persistence.outbox import OutboxMessage


def _stored(book: Any, cls: type, entity_id: str) -> dict[str, Any]:
    with book.uow() as uow:
        obj = uow.session.get(cls, entity_id)
        assert obj is not None
        return {k: getattr(obj, k) for k in column_keys(cls)}


def _audit(book: Any, entity_id: str) -> list[AuditEntry]:
    with book.uow() as uow:
        rows = list(
            uow.session.scalars(
                select(AuditEntry)
                .where(AuditEntry.entity_id == entity_id)
                .order_by(AuditEntry.occurred_at, AuditEntry.id)
            )
        )
        uow.session.expunge_all()
        return rows


def _paid_installment_then_credit(book: Any) -> tuple[str, dict[str, Any]]:
    loan_id = book.open_loan()
    first = book.installments(loan_id)[0]
    book.end_of_day(loan_id, first.due_date, penalty_minor=123)
    book.set_today(first.due_date)
    return loan_id, _stored(book, Loan, loan_id)


def test_the_loan_change_is_audited_as_the_flush_would(book):
    loan_id, before = _paid_installment_then_credit(book)
    first = book.installments(loan_id)[0]
    owed = first.principal_minor + first.interest_minor + 123

    result = book.repay(loan_id, owed + 500)

    after = _stored(book, Loan, loan_id)
    changed = sorted(k for k in before if before[k] != after[k])
    assert {"credit_balance_minor", "penalty_receivable_minor", "principal_outstanding_minor"} <= set(changed)
    update = [e for e in _audit(book, loan_id) if e.operation == "update"][-1]
    assert update.entity_type == "loans_loan"
    assert update.changed_fields == changed
    assert update.before_digest == crypto.digest(before)
    assert update.after_digest == crypto.digest(after)
    assert update.action == "RepayLoan" and update.actor_id == book.admin.id
    assert update.tenant_id == book.tenant_id
    paid = book.installments(loan_id)[0]
    assert (paid.status, paid.paid_on, paid.penalty_paid_minor) == ("paid", first.due_date, 123)

    created = _audit(book, result.transaction_id)
    assert [(e.entity_type, e.operation, e.changed_fields, e.before_digest) for e in created] == [
        ("loans_transaction", "create", [], None)
    ]
    stored = _stored(book, LoanTransaction, result.transaction_id)
    assert created[0].after_digest == crypto.digest(stored)
    assert stored["reversed"] is False and stored["reverses_id"] is None
    entry = _audit(book, stored["journal_entry_id"])
    assert [(e.entity_type, e.operation) for e in entry] == [("accounting_journal_entry", "create")]
    assert entry[0].after_digest == crypto.digest(_stored(book, JournalEntry, stored["journal_entry_id"]))
    book.reconcile()


def _outbox(book: Any) -> list[tuple[str, dict[str, Any]]]:
    with book.uow() as uow:
        rows = uow.session.execute(
            select(OutboxMessage.topic, OutboxMessage.payload).where(
                OutboxMessage.tenant_id == book.tenant_id
            )
        )
        return [(topic, payload) for topic, payload in rows]


def test_the_outbox_holds_the_commands_events(book):
    loan_id = book.open_loan()
    earlier = Counter(topic for topic, _ in _outbox(book))
    result = book.repay(loan_id, 700)
    messages = _outbox(book)
    assert Counter(topic for topic, _ in messages) - earlier == Counter(
        ["accounting.JournalEntryPosted", "loans.RepaymentApplied", "loans.LoanPrincipalChanged"]
    )
    t = _stored(book, LoanTransaction, result.transaction_id)
    posted = [p for topic, p in messages if topic == "accounting.JournalEntryPosted"]
    assert [p["client_key"] for p in posted if p["entry_id"] == t["journal_entry_id"]] == [
        f"repay:{result.transaction_id}"
    ]
    (applied,) = [p for topic, p in messages if topic == "loans.RepaymentApplied"]
    assert (applied["transaction_id"], applied["loan_id"], applied["credit_minor"]) == (
        result.transaction_id,
        loan_id,
        700,
    )


def test_untouched_installments_are_not_written(book):
    loan_id = book.open_loan()
    before = {i.id: _stored(book, Installment, i.id) for i in book.installments(loan_id)}
    book.repay(loan_id, 900)  # nothing is due: all of it is credit
    assert {i.id: _stored(book, Installment, i.id) for i in book.installments(loan_id)} == before
    updates = [e for e in _audit(book, loan_id) if e.operation == "update"]
    assert updates[-1].changed_fields == ["credit_balance_minor"]
    book.reconcile()
