"""Prepayment: full payoff with the current period's interest to the value date (exact integer
rule) and the product's fee; partial prepayment that rebuilds the schedule (shorter term or lower
installment) whose principal sums exactly; and the refusals. The books reconcile after each."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from tests.integration.loans.test_repay_support import book_fixture, raises  # noqa: F401

from dipper.accounting import queries as ledger
from dipper.kernel.errors import Conflict, ValidationFailed
from dipper.kernel.money import Money
from dipper.loans import queries
from dipper.loans.domain.schedule import ScheduleTerms, build_schedule

RATE_E9 = 72_000_000  # 7.2%


def exact(balance: int, days: int, basis: int = 360) -> int:
    return balance * RATE_E9 * days // (basis * 10**9)


def _first_paid(book, loan_id: str, **loan: object) -> tuple[object, object]:
    """Open a loan, bill and pay its first installment on its due date; return (first, second)."""
    one, two = book.installments(loan_id)[:2]
    book.end_of_day(loan_id, one.due_date)
    book.set_today(one.due_date)
    book.repay(loan_id, one.principal_minor + one.interest_minor)
    return one, two


def test_full_payoff_settles_everything_with_interest_to_date_and_the_fee(book):
    code = book.publish(prepayment_fee_kind="percentage", prepayment_fee_rate="0.01")
    loan_id = book.open_loan(product_code=code)
    one, two = _first_paid(book, loan_id)
    book.end_of_day(loan_id, date(2026, 2, 19))  # end of day has accrued part of period 2
    book.set_today(date(2026, 2, 20))
    principal = 1_200_000 - one.principal_minor
    interest = exact(principal, (date(2026, 2, 20) - two.accrual_start).days)
    fee = (principal + 50) // 100  # 1%, half up
    accrued_before = book.loan(loan_id).interest_receivable_minor

    quote = queries.payoff_quote(book.uow(), loan_id)
    assert (quote.due_minor, quote.principal_not_due_minor) == (0, principal)
    assert (quote.interest_to_date_minor, quote.prepayment_fee_minor) == (interest, fee)
    assert quote.total_minor == principal + interest + fee

    result = book.prepay(loan_id, full=True)

    loan = book.loan(loan_id)
    assert (loan.status, loan.closed_on, loan.term, loan.maturity_date) == (
        "closed",
        date(2026, 2, 20),
        2,
        date(2026, 2, 20),
    )
    assert (
        loan.principal_outstanding_minor == loan.interest_receivable_minor == loan.credit_balance_minor == 0
    )
    rows = book.installments(loan_id)
    assert [i.n for i in rows] == [1, 2]  # the rest of the schedule is gone
    settled = rows[1]
    assert (settled.status, settled.due_date, settled.accrual_end) == (
        "paid",
        date(2026, 2, 20),
        date(2026, 2, 20),
    )
    assert (settled.principal_minor, settled.interest_minor) == (principal, interest)
    t = queries.get_servicing_transaction(book.uow(), result.transaction_id)
    assert (t.kind, t.amount_minor) == ("prepayment", quote.total_minor)
    assert t.allocation["accrual_adjustment"] == interest - accrued_before
    assert t.allocation["prepayment_fee"] == fee and len(t.allocation["replaced"]) == 11
    # Income: the first period's interest, interest to the value date, and the fee.
    assert book.balance(ledger.INTEREST_INCOME) == one.interest_minor + interest
    assert book.balance(ledger.FEE_INCOME) == fee
    assert (
        book.balance(ledger.CLEARING)
        == -(1_200_000) + one.principal_minor + one.interest_minor + quote.total_minor
    )
    book.reconcile()
    # A payoff with a stated amount must state the payoff exactly.
    other = book.open_loan(product_code=code)
    book.set_today(date(2026, 2, 21))
    right = queries.payoff_quote(book.uow(), other).total_minor
    raises(ValidationFailed, "amount_is_not_payoff", book.prepay, other, full=True, amount_minor=right - 1)
    assert book.prepay(other, full=True, amount_minor=right).transaction_id
    book.reconcile()


def test_partial_lower_installment_keeps_the_dates_and_the_next_bill_is_exact(book):
    loan_id = book.open_loan()
    one, _ = _first_paid(book, loan_id)
    old = book.installments(loan_id)
    book.set_today(date(2026, 2, 20))
    principal = 1_200_000 - one.principal_minor
    interest = exact(principal, 15)

    book.prepay(loan_id, amount_minor=300_000 + interest, mode="lower-installment")

    rows = book.installments(loan_id)
    settled, new = rows[1], rows[2:]
    assert (settled.principal_minor, settled.interest_minor, settled.status) == (300_000, interest, "paid")
    assert len(new) == 11 and [i.n for i in new] == list(range(3, 14))
    assert [i.due_date for i in new] == [i.due_date for i in old[1:]]  # same due dates
    assert new[0].accrual_start == date(2026, 2, 20)
    assert sum(i.principal_minor for i in new) == principal - 300_000  # exactly what is left
    assert all(
        n.principal_minor + n.interest_minor < o.principal_minor + o.interest_minor
        for n, o in zip(new[1:], old[2:], strict=True)
    )
    loan = book.loan(loan_id)
    assert (loan.principal_outstanding_minor, loan.interest_receivable_minor) == (principal - 300_000, 0)
    assert (loan.term, loan.maturity_date, loan.accrued_through) == (13, old[-1].due_date, date(2026, 2, 19))
    book.reconcile()
    # End of day goes on from the value date: at the next due date it has recognised exactly the
    # new installment's interest, so paying the bill leaves no interest receivable behind.
    first_new = new[0]
    book.end_of_day(loan_id, first_new.due_date)
    book.set_today(first_new.due_date)
    next_day_share = book.loan(loan_id).interest_receivable_minor - first_new.interest_minor
    assert 0 <= next_day_share < new[1].interest_minor // 20
    book.repay(loan_id, first_new.principal_minor + first_new.interest_minor)
    assert book.installments(loan_id)[2].status == "paid"
    assert book.loan(loan_id).interest_receivable_minor == next_day_share
    book.reconcile()


def test_partial_shorten_term_keeps_the_installment_and_ends_earlier(book):
    loan_id = book.open_loan()
    one, _ = _first_paid(book, loan_id)
    old = book.installments(loan_id)
    level = old[2].principal_minor + old[2].interest_minor
    book.set_today(date(2026, 2, 20))
    principal = 1_200_000 - one.principal_minor

    book.prepay(loan_id, amount_minor=400_000 + exact(principal, 15), mode="shorten-term")

    new = book.installments(loan_id)[2:]
    assert 1 <= len(new) < 11
    assert sum(i.principal_minor for i in new) == principal - 400_000
    assert all(i.principal_minor + i.interest_minor <= level for i in new[1:])
    assert book.loan(loan_id).maturity_date == new[-1].due_date < old[-1].due_date
    # The fewest periods: one fewer would need more than the old installment.
    shorter = build_schedule(
        ScheduleTerms(
            principal=Money(principal - 400_000, "CNY"),
            annual_rate=Decimal("0.072"),
            term=len(new) - 1,
            method="equal-installment",
            start=date(2026, 2, 20),
            first_due=old[1].accrual_end,
        )
    )
    assert max(i.total.minor for i in shorter.installments[1:]) > level
    book.reconcile()


def test_prepayment_pays_what_is_due_first(book):
    loan_id = book.open_loan()
    one = book.installments(loan_id)[0]
    book.end_of_day(loan_id, date(2026, 2, 10), penalty_minor=300)  # installment 1 overdue
    book.set_today(date(2026, 2, 11))
    due = one.principal_minor + one.interest_minor + 300
    principal = 1_200_000 - one.principal_minor
    interest = exact(principal, 6)

    book.prepay(loan_id, amount_minor=due + interest + 100_000, mode="lower-installment")

    rows = book.installments(loan_id)
    assert rows[0].status == "paid" and rows[0].penalty_paid_minor == 300
    assert rows[1].principal_minor == 100_000
    loan = book.loan(loan_id)
    assert (loan.status, loan.days_past_due, loan.penalty_receivable_minor) == ("active", 0, 0)
    assert loan.principal_outstanding_minor == principal - 100_000
    book.reconcile()


def test_prepayment_refusals(book):
    loan_id = book.open_loan()
    one = book.installments(loan_id)[0]
    book.set_today(date(2026, 1, 20))
    raises(ValidationFailed, "amount_required", book.prepay, loan_id)
    raises(
        ValidationFailed, "invalid_prepayment_mode", book.prepay, loan_id, amount_minor=1000, mode="sideways"
    )
    interest = exact(1_200_000, 15)
    raises(ValidationFailed, "amount_below_due", book.prepay, loan_id, amount_minor=interest)
    book.end_of_day(loan_id, date(2026, 1, 25))
    raises(Conflict, "value_date_accrued", book.prepay, loan_id, full=True)  # 01-20 is accrued already
    book.set_today(one.due_date)  # due today, end of day has not billed it yet
    raises(Conflict, "installment_falling_due", book.prepay, loan_id, full=True)

    none = book.publish(prepayment_allowed=False, prepayment_full=False, prepayment_partial_modes=[])
    full_only = book.publish(prepayment_partial_modes=[], prepayment_lockin_months=3)
    book.set_today(date(2026, 2, 10))
    no_prepay, locked = book.open_loan(product_code=none), book.open_loan(product_code=full_only)
    book.set_today(date(2026, 2, 20))
    raises(Conflict, "prepayment_not_allowed", book.prepay, no_prepay, full=True)
    raises(Conflict, "prepayment_mode_not_allowed", book.prepay, locked, amount_minor=500_000)
    raises(Conflict, "prepayment_locked_in", book.prepay, locked, full=True)
    assert [t.kind for t in book.transactions(locked)] == ["disbursement"]
    book.set_today(date(2026, 2, 10) + timedelta(days=92))
    book.end_of_day(locked, date(2026, 5, 12))
    book.set_today(date(2026, 5, 13))
    # After the lock-in a payoff goes through (what is due included).
    assert book.prepay(locked, full=True).transaction_id
    assert book.loan(locked).status == "closed"
    book.reconcile()
