"""随借随还: a drawdown on a revolving line is a loan without installments. Interest accrues daily
on the drawn balance (the drawdown day counted, the repayment day not), any amount may be repaid at
any time (interest first), the APR disclosed is that of keeping the whole amount to maturity, and
the books reconcile."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from tests.integration.loans.test_repay_support import book_fixture, key, raises  # noqa: F401

from dipper.kernel.errors import ValidationFailed
from dipper.loans import commands, queries

REVOLVING = {
    "repayment_methods": ["revolving"],
    "min_term_months": 1,
    "max_term_months": 12,
    "allowed_terms": [3, 6, 12],
    "day_count": "ACT/365F",
}


@pytest.fixture
def line(book):
    code = book.publish(**REVOLVING)
    line_id = book.handle(
        commands.ApproveCreditLine,
        customer_id=book.customer_id,
        product_code=code,
        currency="CNY",
        limit_minor=5_000_000,
        expires_on=date(2027, 1, 5),
    )
    return code, line_id


def _draw(book, code: str, line_id: str, amount: int, **extra) -> str:
    loan_id = book.handle(
        commands.CreateLoan,
        customer_id=book.customer_id,
        product_code=code,
        amount_minor=amount,
        term=6,
        method="revolving",
        annual_rate=Decimal("0.073"),
        start=book.today,
        credit_line_id=line_id,
        idempotency_key=key(),
        **extra,
    )
    book.handle(commands.DisburseLoan, loan_id=loan_id, idempotency_key=key())
    return loan_id


def test_an_offer_on_a_revolving_line_discloses_the_apr_of_keeping_it_to_maturity(book, line):
    code, _ = line
    offer = book.handle(
        commands.MakeOffer,
        customer_id=book.customer_id,
        product_code=code,
        amount_minor=1_000_000,
        term=6,
        method="revolving",
        annual_rate=Decimal("0.073"),
        start=book.today,
    )
    assert offer.installments == []
    assert offer.maturity_date == date(2026, 7, 5)
    days = (date(2026, 7, 5) - book.today).days  # 181
    assert offer.total_interest_minor == round(1_000_000 * Decimal("0.073") * days / 365)
    assert offer.total_repayment_minor == 1_000_000 + offer.total_interest_minor
    # One repayment after six whole months: 3.62% for the half year, 7.24% a year (181 of 365 days
    # at 7.3% are a little less than half a year's interest).
    assert offer.total_interest_minor == 36_200
    assert offer.apr == Decimal("0.0724")


def test_daily_interest_on_the_drawn_balance_and_repayment_at_any_time(book, line):
    code, line_id = line
    loan_id = _draw(book, code, line_id, 1_000_000)
    loan = book.loan(loan_id)
    assert loan.status == "active" and loan.maturity_date == date(2026, 7, 5)
    assert book.installments(loan_id) == []
    assert queries.get_credit_line(book.uow(), line_id).used_minor == 1_000_000

    # Ten days of interest, the drawdown day counted: 1,000,000 x 7.3% / 365 = 200 fen a day.
    through = book.today + timedelta(days=9)
    book.set_today(through)
    book.handle(commands.RunEndOfDay, business_date=through, since=date(2026, 1, 5))
    assert book.loan(loan_id).interest_receivable_minor == 2_000

    # Repay part on day 11: interest first, then principal; the line's room comes back.
    book.set_today(through + timedelta(days=1))
    book.repay(loan_id, 402_000)
    loan = book.loan(loan_id)
    assert loan.interest_receivable_minor == 0
    assert loan.principal_outstanding_minor == 600_000
    assert queries.get_credit_line(book.uow(), line_id).used_minor == 600_000

    # The repayment day is not counted on the repaid part: the next day accrues on 600,000.
    book.handle(commands.RunEndOfDay, business_date=book.today)
    assert book.loan(loan_id).interest_receivable_minor == 120

    book.repay(loan_id, 600_120)
    loan = book.loan(loan_id)
    assert (loan.principal_outstanding_minor, loan.interest_receivable_minor) == (0, 0)
    book.handle(commands.CloseLoan, loan_id=loan_id)
    assert book.loan(loan_id).status == "closed"
    assert queries.get_credit_line(book.uow(), line_id).used_minor == 0
    book.reconcile()


def test_a_revolving_drawdown_has_no_first_due_date(book, line):
    code, line_id = line
    raises(
        ValidationFailed, "invalid_first_due", _draw, book, code, line_id, 100_000, first_due=date(2026, 2, 5)
    )
