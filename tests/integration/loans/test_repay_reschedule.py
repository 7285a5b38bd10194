"""Reschedule (展期): the installments after the one in progress are replaced for the same
principal, the one in progress keeps its interest, a new rate applies from the next period, and
end of day's interest recognition continues without a jump."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from tests.integration.loans.test_repay_support import book_fixture, key, raises  # noqa: F401

from dipper.kernel.errors import Conflict, ValidationFailed
from dipper.loans import commands, queries


def reschedule(book, loan_id: str, new_term: int, idem: str | None = None, **fields):
    return book.handle(
        commands.RescheduleLoan,
        loan_id=loan_id,
        new_term=new_term,
        reason=fields.pop("reason", "展期 hardship"),
        idempotency_key=idem or key(),
        **fields,
    )


def test_reschedule_extends_the_term_at_a_new_rate_from_the_next_period(book):
    loan_id = book.open_loan()
    one = book.installments(loan_id)[0]
    book.end_of_day(loan_id, one.due_date)
    book.set_today(one.due_date)
    book.repay(loan_id, one.principal_minor + one.interest_minor)
    book.end_of_day(loan_id, date(2026, 2, 19))
    book.set_today(date(2026, 2, 20))
    old = book.installments(loan_id)
    receivable = book.loan(loan_id).interest_receivable_minor

    result = reschedule(book, loan_id, 24, new_rate=Decimal("0.06"), reason="展期 approved")

    rows = book.installments(loan_id)
    assert len(rows) == 24 and [i.n for i in rows] == list(range(1, 25))
    # Paid and in-progress installments stay as they were.
    assert [(i.due_date, i.principal_minor, i.interest_minor) for i in rows[:2]] == [
        (i.due_date, i.principal_minor, i.interest_minor) for i in old[:2]
    ]
    new = rows[2:]
    assert sum(i.principal_minor for i in new) == sum(i.principal_minor for i in old[2:])
    assert new[0].accrual_start == old[1].accrual_end and new[-1].due_date == date(2028, 1, 5)
    # 6% a month on the balance after installment 2, not 7.2%.
    balance = sum(i.principal_minor for i in new)
    assert new[0].interest_minor == (balance * 6 + 600) // 1200
    loan = book.loan(loan_id)
    assert (loan.term, loan.maturity_date, loan.annual_rate) == (24, date(2028, 1, 5), Decimal("0.06"))
    assert (loan.annual_rate_e9, loan.penalty_rate_e9) == (60_000_000, 90_000_000)  # uplift 50% kept
    assert (
        loan.interest_receivable_minor == receivable
        and loan.principal_outstanding_minor == 1_200_000 - one.principal_minor
    )
    t = queries.get_servicing_transaction(book.uow(), result.transaction_id)
    assert (t.kind, t.amount_minor, t.journal_entry_id) == ("reschedule", 0, None)
    assert (t.allocation["reason"], t.allocation["old_term"], t.allocation["new_term"]) == (
        "展期 approved",
        12,
        24,
    )
    assert len(t.allocation["replaced"]) == 11
    book.reconcile()
    # The installment in progress is billed as it was, and end of day has recognised exactly it.
    two = rows[1]
    book.end_of_day(loan_id, two.due_date)
    book.set_today(two.due_date)
    book.repay(loan_id, two.principal_minor + two.interest_minor)
    share = book.loan(loan_id).interest_receivable_minor
    assert 0 <= share < new[0].interest_minor // 20  # one day of the new period, nothing else
    book.reconcile()


def test_rescheduling_the_last_installment_moves_its_principal_on(book):
    loan_id = book.open_loan(amount_minor=200_000, term=1)
    book.set_today(date(2026, 1, 20))
    only = book.installments(loan_id)[0]

    reschedule(book, loan_id, 4)

    rows = book.installments(loan_id)
    assert (rows[0].principal_minor, rows[0].interest_minor) == (0, only.interest_minor)  # interest only now
    assert len(rows) == 4 and sum(i.principal_minor for i in rows[1:]) == 200_000
    assert rows[1].accrual_start == only.accrual_end
    book.reconcile()


def test_reschedule_refusals_and_replay(book):
    loan_id = book.open_loan()
    book.set_today(date(2026, 1, 20))
    raises(ValidationFailed, "invalid_term", reschedule, book, loan_id, 0)
    raises(ValidationFailed, "invalid_term", reschedule, book, loan_id, 361)
    raises(
        ValidationFailed, "invalid_term", reschedule, book, loan_id, 1
    )  # nothing would follow the current one
    raises(ValidationFailed, "invalid_rate", reschedule, book, loan_id, 6, new_rate=Decimal("1.5"))
    raises(ValidationFailed, "invalid_rate", reschedule, book, loan_id, 6, new_rate=Decimal("0.0000000001"))
    raises(ValidationFailed, "invalid_reason", reschedule, book, loan_id, 6, reason="")
    idem = key()
    first = reschedule(book, loan_id, 6, idem)
    again = reschedule(book, loan_id, 6, idem)
    assert again.replayed and again.transaction_id == first.transaction_id
    assert len(book.installments(loan_id)) == 6
    raises(Conflict, "idempotency_key_reused", reschedule, book, loan_id, 7, idem)
    book.set_today(date(2026, 1, 21))
    book.prepay(loan_id, full=True)
    raises(Conflict, "loan_not_reschedulable", reschedule, book, loan_id, 12)
    book.reconcile()
