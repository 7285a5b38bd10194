"""Repayment of any amount: allocation in the product's order over what is due, the excess as a
credit balance, the journal entry, aging and closing, idempotency and refusals. Every test ends
with the sub-ledger equal to the GL."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from tests.integration.loans.test_repay_support import START, book_fixture, key, raises  # noqa: F401

from dipper.accounting import queries as ledger
from dipper.kernel.errors import Conflict, NotFound, ValidationFailed
from dipper.loans import commands, queries
from dipper.loans.domain.schedule import add_months
from dipper.persistence.outbox import OutboxMessage


def _entry(book, transaction_id: str):
    t = queries.get_servicing_transaction(book.uow(), transaction_id)
    return t, ledger.get_entry(book.uow(), t.journal_entry_id)


def _lines(entry) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for ln in entry.lines:
        d, c = out.get(ln.account_code, (0, 0))
        out[ln.account_code] = (d + ln.debit_minor, c + ln.credit_minor)
    return out


def test_a_due_installment_paid_exactly(book):
    loan_id = book.open_loan()
    first = book.installments(loan_id)[0]
    book.end_of_day(loan_id, first.due_date)
    book.set_today(first.due_date)
    before = book.loan(loan_id)
    amount = first.principal_minor + first.interest_minor

    result = book.repay(loan_id, amount, channel_reference="UPAY-1")

    assert not result.replayed
    paid = book.installments(loan_id)[0]
    assert (paid.status, paid.paid_on) == ("paid", first.due_date)
    assert (paid.principal_paid_minor, paid.interest_paid_minor) == (
        first.principal_minor,
        first.interest_minor,
    )
    loan = book.loan(loan_id)
    assert loan.principal_outstanding_minor == before.principal_outstanding_minor - first.principal_minor
    assert loan.interest_receivable_minor == before.interest_receivable_minor - first.interest_minor
    assert (loan.status, loan.days_past_due, loan.bucket, loan.oldest_unpaid_due) == (
        "active",
        0,
        "current",
        None,
    )
    t, entry = _entry(book, result.transaction_id)
    assert (t.kind, t.amount_minor, t.channel_reference, t.value_date) == (
        "repayment",
        amount,
        "UPAY-1",
        first.due_date,
    )
    assert {k: t.allocation[k] for k in ("principal", "interest", "penalty", "fee", "credit")} == {
        "principal": first.principal_minor,
        "interest": first.interest_minor,
        "penalty": 0,
        "fee": 0,
        "credit": 0,
    }
    assert entry.client_key == f"repay:{t.id}" and entry.value_date == first.due_date
    assert _lines(entry) == {
        ledger.CLEARING: (amount, 0),
        ledger.LOAN_PRINCIPAL: (0, first.principal_minor),
        ledger.INTEREST_RECEIVABLE: (0, first.interest_minor),
    }
    with book.uow() as uow:
        topics = set(
            uow.session.scalars(select(OutboxMessage.topic).where(OutboxMessage.tenant_id == book.tenant_id))
        )
    assert {"loans.RepaymentApplied", "loans.LoanPrincipalChanged"} <= topics
    book.reconcile()


def test_overdue_installments_are_paid_oldest_first_penalty_interest_principal(book):
    loan_id = book.open_loan()
    one, two = book.installments(loan_id)[:2]
    # Two installments missed; end of day 10 days after the second bills them and charges penalty.
    book.end_of_day(loan_id, date(2026, 3, 15), penalty_minor=1_234)
    book.set_today(date(2026, 3, 16))
    loan = book.loan(loan_id)
    assert (loan.status, loan.oldest_unpaid_due) == ("overdue", one.due_date)

    # Enough for the penalty, installment 1 whole and part of installment 2's interest.
    amount = 1_234 + one.principal_minor + one.interest_minor + 500
    result = book.repay(loan_id, amount)

    a, b, c = book.installments(loan_id)[:3]
    assert a.status == "paid" and a.penalty_paid_minor == 1_234
    assert (b.status, b.interest_paid_minor, b.principal_paid_minor) == ("overdue", 500, 0)
    assert c.status == "scheduled" and c.interest_paid_minor == 0
    loan = book.loan(loan_id)
    assert loan.penalty_receivable_minor == 0
    # Still past due: the oldest unpaid installment is now the second.
    assert (loan.oldest_unpaid_due, loan.days_past_due, loan.status) == (two.due_date, 11, "overdue")
    assert loan.bucket == "M1"
    t = queries.get_servicing_transaction(book.uow(), result.transaction_id)
    assert [(d["n"], d["penalty"], d["interest"], d["principal"]) for d in t.allocation["installments"]] == [
        (1, 1_234, one.interest_minor, one.principal_minor),
        (2, 0, 500, 0),
    ]
    # The rest of installment 2 brings the loan current again.
    book.repay(loan_id, two.principal_minor + two.interest_minor - 500)
    loan = book.loan(loan_id)
    assert (loan.status, loan.days_past_due, loan.bucket, loan.oldest_unpaid_due) == (
        "active",
        0,
        "current",
        None,
    )
    assert book.installments(loan_id)[2].status == "scheduled"  # not due: nothing of it was paid
    book.reconcile()


def test_anything_beyond_what_is_due_is_a_credit_balance_not_a_prepayment(book):
    loan_id = book.open_loan()
    first = book.installments(loan_id)[0]
    book.end_of_day(loan_id, first.due_date)
    book.set_today(first.due_date)
    due = first.principal_minor + first.interest_minor

    result = book.repay(loan_id, due + 10_000)

    loan = book.loan(loan_id)
    assert loan.credit_balance_minor == 10_000
    assert loan.principal_outstanding_minor == 1_200_000 - first.principal_minor  # no principal prepaid
    assert book.installments(loan_id)[1].principal_paid_minor == 0
    _, entry = _entry(book, result.transaction_id)
    assert _lines(entry)[ledger.BORROWER_OVERPAYMENTS] == (0, 10_000)
    # Nothing due at all: all of it is held for the borrower.
    book.repay(loan_id, 777)
    assert book.loan(loan_id).credit_balance_minor == 10_777
    book.reconcile()


def test_the_product_order_can_put_principal_first_across_installments(book):
    code = book.publish(allocation_order=["principal", "interest", "penalty", "fee"], overdue_first=False)
    loan_id = book.open_loan(product_code=code)
    one, two = book.installments(loan_id)[:2]
    book.end_of_day(loan_id, two.due_date)
    book.set_today(two.due_date)

    book.repay(loan_id, one.principal_minor + two.principal_minor + 100)

    a, b = book.installments(loan_id)[:2]
    # By part across installments: all due principal first, then interest of the oldest.
    assert (a.principal_paid_minor, b.principal_paid_minor) == (one.principal_minor, two.principal_minor)
    assert (a.interest_paid_minor, b.interest_paid_minor) == (100, 0)
    book.reconcile()


def test_paying_the_last_installment_closes_the_loan(book):
    loan_id = book.open_loan(amount_minor=300_000, term=3)
    rows = book.installments(loan_id)
    maturity = rows[-1].due_date
    book.end_of_day(loan_id, maturity)
    book.set_today(maturity)
    total = sum(i.principal_minor + i.interest_minor for i in rows)

    book.repay(loan_id, total)

    loan = book.loan(loan_id)
    assert (loan.status, loan.closed_on) == ("closed", maturity)
    assert loan.principal_outstanding_minor == loan.interest_receivable_minor == 0
    assert all(i.status == "paid" for i in book.installments(loan_id))
    with book.uow() as uow:
        topics = list(
            uow.session.scalars(select(OutboxMessage.topic).where(OutboxMessage.tenant_id == book.tenant_id))
        )
    assert "loans.LoanClosed" in topics
    raises(Conflict, "loan_closed", book.repay, loan_id, 100)
    book.reconcile()


def test_the_same_key_posts_once_and_other_content_is_refused(book):
    loan_id = book.open_loan()
    first = book.installments(loan_id)[0]
    book.end_of_day(loan_id, first.due_date)
    book.set_today(first.due_date)
    idem = key()

    one = book.repay(loan_id, 5_000, idem)
    again = book.repay(loan_id, 5_000, idem)

    assert again.replayed and again.transaction_id == one.transaction_id
    assert [t.kind for t in book.transactions(loan_id)].count("repayment") == 1
    raises(Conflict, "idempotency_key_reused", book.repay, loan_id, 5_001, idem)
    with book.uow() as uow:
        posted = ledger.find_entry_by_client_key(uow, f"repay:{one.transaction_id}")
    assert posted is not None
    book.reconcile()


def test_refusals_change_nothing(book):
    loan_id = book.open_loan()
    book.end_of_day(loan_id, book.installments(loan_id)[0].due_date)
    book.set_today(date(2026, 2, 6))
    before = book.state(loan_id)
    for amount in (0, -5, 10**10 + 1, True, 1.5):
        raises(ValidationFailed, "invalid_amount", book.repay, loan_id, amount)
    raises(ValidationFailed, "currency_mismatch", book.repay, loan_id, 100, currency="USD")
    raises(ValidationFailed, "unknown_currency", book.repay, loan_id, 100, currency="XXX")
    raises(ValidationFailed, "value_date_in_future", book.repay, loan_id, 100, value_date=date(2026, 2, 7))
    raises(ValidationFailed, "value_date_before_start", book.repay, loan_id, 100, value_date=date(2026, 1, 4))
    raises(ValidationFailed, "invalid_idempotency_key", book.repay, loan_id, 100, "has space")
    raises(
        ValidationFailed, "invalid_channel_reference", book.repay, loan_id, 100, channel_reference="x" * 65
    )
    raises(NotFound, "loan_not_found", book.repay, "01NOSUCHLOAN0000000000000", 100)
    pending = book.handle(
        commands.CreateLoan,
        customer_id=book.customer_id,
        product_code=book.product_code,
        amount_minor=500_000,
        term=3,
        method="equal-installment",
        annual_rate=Decimal("0.06"),
        start=book.today,
        idempotency_key=key(),
    )
    raises(Conflict, "loan_not_disbursed", book.repay, pending, 100)
    assert book.state(loan_id) == before
    assert [t.kind for t in book.transactions(loan_id)] == ["disbursement"]
    book.reconcile()


def test_another_banks_loan_looks_absent(book, make_bank):
    loan_id = book.open_loan()
    other = make_bank("Other")
    with pytest.raises(NotFound):
        book.container.handle(
            commands.RepayLoan(
                tenant_id=other.tenant_id,
                loan_id=loan_id,
                amount_minor=100,
                currency="CNY",
                value_date=START,
                idempotency_key=key(),
            )
        )
    assert book.loan(loan_id).credit_balance_minor == 0


def test_a_backdated_repayment_is_posted_on_its_value_date(book):
    loan_id = book.open_loan()
    first = book.installments(loan_id)[0]
    book.end_of_day(loan_id, add_months(START, 1))
    book.set_today(date(2026, 2, 20))
    result = book.repay(loan_id, 1_000, value_date=first.due_date)
    _, entry = _entry(book, result.transaction_id)
    assert entry.value_date == first.due_date
    book.reconcile()


def test_servicing_between_real_ends_of_day_keeps_the_books(book):
    """The batch's own end of day (not the helper): bills, ages and charges penalty; repayments,
    a partial prepayment and the next bill in between; sub-ledger and GL equal throughout."""
    loan_id = book.open_loan()
    one, two = book.installments(loan_id)[:2]
    late = date(2026, 3, 15)
    book.set_today(late)
    book.handle(commands.RunEndOfDay, business_date=late, since=START)
    loan = book.loan(loan_id)
    assert (loan.status, loan.oldest_unpaid_due) == ("overdue", one.due_date)
    assert loan.penalty_receivable_minor > 0
    book.reconcile()

    book.set_today(late + timedelta(days=1))
    book.repay(
        loan_id, loan.penalty_receivable_minor + one.principal_minor + one.interest_minor + two.interest_minor
    )
    loan = book.loan(loan_id)
    assert (loan.penalty_receivable_minor, loan.oldest_unpaid_due) == (0, two.due_date)
    book.handle(commands.RunEndOfDay, business_date=book.today)
    book.reconcile()

    book.set_today(book.today + timedelta(days=1))
    book.repay(loan_id, two.principal_minor + book.loan(loan_id).penalty_receivable_minor)
    assert book.loan(loan_id).status == "active"
    book.prepay(loan_id, amount_minor=200_000, mode="lower-installment")
    book.handle(commands.RunEndOfDay, business_date=book.today)
    book.reconcile()

    nxt = next(i for i in book.installments(loan_id) if i.status == "scheduled")
    book.set_today(nxt.due_date)
    book.handle(commands.RunEndOfDay, business_date=nxt.due_date)
    book.repay(loan_id, nxt.principal_minor + nxt.interest_minor)
    paid = next(i for i in book.installments(loan_id) if i.n == nxt.n)
    assert paid.status == "paid"
    loan = book.loan(loan_id)
    assert (loan.status, loan.days_past_due) == ("active", 0)
    # What end of day recognised for the rebuilt period is exactly what was billed: what is left
    # is the share of the day that started the next period.
    following = next(i for i in book.installments(loan_id) if i.n == nxt.n + 1)
    assert 0 <= loan.interest_receivable_minor <= following.interest_minor // 20
    book.reconcile()
    assert queries.reconcile(book.uow(), "CNY").balanced
