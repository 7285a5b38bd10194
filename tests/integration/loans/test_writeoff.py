"""Write-off (核销) and recovery (核销后收回): the balances leave the books against the provision
(or impairment loss), the memo pair 7001/7002 keeps them, and recoveries are income."""

from __future__ import annotations

from datetime import date

from tests.integration.loans.test_repay_support import book_fixture, key, raises  # noqa: F401

from dipper.accounting import queries as ledger
from dipper.kernel.errors import Conflict, ValidationFailed
from dipper.loans import commands, queries


def write_off(book, loan_id: str, idem: str | None = None, **fields):
    return book.handle(
        commands.WriteOffLoan,
        loan_id=loan_id,
        reason=fields.pop("reason", "核销 approved by the credit committee"),
        idempotency_key=idem or key(),
        **fields,
    )


def recover(book, loan_id: str, amount_minor: int, idem: str | None = None, **fields):
    return book.handle(
        commands.RecordRecovery,
        loan_id=loan_id,
        amount_minor=amount_minor,
        value_date=fields.pop("value_date", book.today),
        idempotency_key=idem or key(),
        **fields,
    )


def test_write_off_moves_the_loan_off_the_books_into_the_memo_pair(book):
    loan_id = book.open_loan()
    book.end_of_day(loan_id, date(2026, 6, 10), penalty_minor=4_321)
    book.set_today(date(2026, 6, 11))
    loan = book.loan(loan_id)
    principal, interest = loan.principal_outstanding_minor, loan.interest_receivable_minor
    total = principal + interest + 4_321
    idem = key()

    result = write_off(book, loan_id, idem)

    loan = book.loan(loan_id)
    assert (loan.status, loan.written_off_minor) == ("written_off", total)
    assert (
        loan.principal_outstanding_minor
        == loan.interest_receivable_minor
        == loan.penalty_receivable_minor
        == 0
    )
    t = queries.get_servicing_transaction(book.uow(), result.transaction_id)
    assert (t.kind, t.amount_minor, t.allocation["principal"], t.allocation["penalty"]) == (
        "write_off",
        total,
        principal,
        4_321,
    )
    entry = ledger.get_entry(book.uow(), t.journal_entry_id)
    assert {(ln.account_code, ln.debit_minor, ln.credit_minor) for ln in entry.lines} == {
        (ledger.LOAN_LOSS_PROVISION, total, 0),
        (ledger.LOAN_PRINCIPAL, 0, principal),
        (ledger.INTEREST_RECEIVABLE, 0, interest),
        (ledger.PENALTY_RECEIVABLE, 0, 4_321),
        (ledger.WRITTEN_OFF_LOANS, total, 0),
        (ledger.WRITTEN_OFF_LOANS_CONTRA, 0, total),
    }
    assert book.balance(ledger.WRITTEN_OFF_LOANS) == book.balance(ledger.WRITTEN_OFF_LOANS_CONTRA) == total
    assert book.balance(ledger.LOAN_PRINCIPAL) == 0
    # Once: a retry answers with the write-off; a new request finds nothing left to write off.
    again = write_off(book, loan_id, idem)
    assert again.replayed and again.transaction_id == result.transaction_id
    raises(Conflict, "loan_written_off", write_off, book, loan_id)
    raises(Conflict, "loan_written_off", book.repay, loan_id, 100)
    book.reconcile()


def test_write_off_to_impairment_and_refusals(book):
    loan_id = book.open_loan()
    book.set_today(date(2026, 1, 20))
    raises(ValidationFailed, "invalid_charge_to", write_off, book, loan_id, charge_to="equity")
    raises(ValidationFailed, "invalid_reason", write_off, book, loan_id, reason="")
    result = write_off(book, loan_id, charge_to="impairment")
    t = queries.get_servicing_transaction(book.uow(), result.transaction_id)
    entry = ledger.get_entry(book.uow(), t.journal_entry_id)
    assert (ledger.CREDIT_IMPAIRMENT_LOSS, 1_200_000, 0) in {
        (ln.account_code, ln.debit_minor, ln.credit_minor) for ln in entry.lines
    }
    book.reconcile()


def test_recoveries_are_income_and_reduce_what_is_written_off(book):
    loan_id = book.open_loan()
    book.end_of_day(loan_id, date(2026, 8, 10))
    book.set_today(date(2026, 8, 11))
    written = write_off(book, loan_id)
    total = book.loan(loan_id).written_off_minor
    impairment_before = book.balance(ledger.CREDIT_IMPAIRMENT_LOSS)
    book.set_today(date(2026, 9, 1))

    result = recover(book, loan_id, 100_000, channel_reference="COLL-7")

    loan = book.loan(loan_id)
    assert (loan.written_off_minor, loan.status) == (total - 100_000, "written_off")
    t = queries.get_servicing_transaction(book.uow(), result.transaction_id)
    assert (t.kind, t.amount_minor, t.channel_reference) == ("recovery", 100_000, "COLL-7")
    # 6702 is an expense: a recovery credits it, lowering the loss.
    assert book.balance(ledger.CREDIT_IMPAIRMENT_LOSS) == impairment_before - 100_000
    assert (
        book.balance(ledger.WRITTEN_OFF_LOANS)
        == book.balance(ledger.WRITTEN_OFF_LOANS_CONTRA)
        == total - 100_000
    )
    raises(ValidationFailed, "recovery_exceeds_written_off", recover, book, loan_id, total - 100_000 + 1)
    raises(ValidationFailed, "value_date_in_future", recover, book, loan_id, 1, value_date=date(2026, 9, 2))
    raises(ValidationFailed, "currency_mismatch", recover, book, loan_id, 1, currency="USD")
    recover(book, loan_id, total - 100_000)
    assert book.loan(loan_id).written_off_minor == 0
    other = book.open_loan()
    raises(Conflict, "loan_not_written_off", recover, book, other, 1_000)
    assert written.transaction_id
    book.reconcile()
