"""A loan started on the 31st keeps falling due on the 31st (or a short month's last day) after a
partial prepayment or a reschedule rebuilds its schedule from a 02-28 due date."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from tests.integration.loans.test_repay_support import book_fixture, key  # noqa: F401

from dipper.loans import commands

START_31 = date(2026, 1, 31)


def _days(book, loan_id: str) -> list[date]:
    return [i.due_date for i in book.installments(loan_id)]


def test_a_partial_prepayment_keeps_the_31st(book):
    book.set_today(START_31)
    loan_id = book.open_loan(term=6)
    assert _days(book, loan_id)[:3] == [date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)]
    book.end_of_day(loan_id, date(2026, 2, 9))
    book.set_today(date(2026, 2, 10))

    book.prepay(loan_id, amount_minor=300_000, mode="lower-installment")

    days = _days(book, loan_id)
    assert days[0] == date(2026, 2, 10)  # the period in progress, settled on the value date
    assert days[1:] == [
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
        date(2026, 5, 31),
        date(2026, 6, 30),
        date(2026, 7, 31),
    ]
    assert book.loan(loan_id).maturity_date == date(2026, 7, 31)
    book.reconcile()


def test_a_reschedule_from_february_keeps_the_31st(book):
    book.set_today(START_31)
    loan_id = book.open_loan(term=6)
    book.end_of_day(loan_id, date(2026, 2, 9))
    book.set_today(date(2026, 2, 10))

    book.handle(
        commands.RescheduleLoan, loan_id=loan_id, new_term=9, reason="展期 approved", idempotency_key=key()
    )

    days = _days(book, loan_id)
    assert days == [
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
        date(2026, 5, 31),
        date(2026, 6, 30),
        date(2026, 7, 31),
        date(2026, 8, 31),
        date(2026, 9, 30),
        date(2026, 10, 31),
    ]
    book.reconcile()


def test_an_explicit_first_due_day_is_the_anchor(book):
    book.set_today(date(2026, 1, 20))
    loan_id = book.handle(
        commands.CreateLoan,
        customer_id=book.customer_id,
        product_code=book.product_code,
        amount_minor=1_200_000,
        term=6,
        method="equal-installment",
        annual_rate=Decimal("0.072"),
        start=book.today,
        first_due=date(2026, 2, 10),
        idempotency_key=key(),
    )
    book.handle(commands.DisburseLoan, loan_id=loan_id, idempotency_key=key())
    assert book.loan(loan_id).due_day == 10
    book.end_of_day(loan_id, date(2026, 2, 1))
    book.set_today(date(2026, 2, 2))
    book.handle(commands.RescheduleLoan, loan_id=loan_id, new_term=8, reason="展期", idempotency_key=key())
    assert {d.day for d in _days(book, loan_id)} == {10}
    book.reconcile()
