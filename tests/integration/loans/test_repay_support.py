"""Helpers of the servicing tests (imported by ``test_repay*``, ``test_writeoff*`` and
``test_concurrency_pg``), and the checks that the helpers themselves keep the books right.

Loans are made through origination's real commands (a product published through maker-checker,
a customer, ``CreateLoan``, ``DisburseLoan``) on a fixed business date. Where end of day would bill
installments, :meth:`Book.end_of_day` does what its steps do for one loan - scheduled interest
recognised day by day (``Dr 1132 / Cr 6011``), installments falling due, aging - so that the
sub-ledger and the GL stay equal and every test can end with :meth:`Book.reconcile`.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from dipper.access import commands as access_commands
from dipper.accounting import commands as ledger_commands
from dipper.accounting import queries as ledger
from dipper.identity import commands as identity_commands
from dipper.kernel.clock import FixedClock
from dipper.kernel.errors import DomainError
from dipper.kernel.uow import Actor
from dipper.loans import commands, queries
from dipper.loans.adapters.accounts import Installment, Loan, LoanTransaction
from dipper.loans.domain import delinquency
from dipper.loans.domain.accrual import Period, scheduled_accrual

START = date(2026, 1, 5)
FAR = date(2100, 1, 1)
_serial = itertools.count(1)

TERMS: dict[str, Any] = {
    "currency": "CNY",
    "min_amount_minor": 100_000,
    "max_amount_minor": 50_000_000,
    "min_term_months": 1,
    "max_term_months": 36,
    "allowed_terms": [1, 3, 6, 12, 24, 36],
    "repayment_methods": ["equal-installment", "equal-principal", "interest-only", "bullet"],
    "min_rate": "0.03",
    "max_rate": "0.18",
    "holiday_roll": "unadjusted",
    "prepayment_allowed": True,
    "prepayment_full": True,
    "prepayment_partial_modes": ["shorten-term", "lower-installment"],
}

#: Each sub-ledger column and the GL account that must equal its sum (ADR 0005).
RECONCILED = (
    ("principal_outstanding_minor", ledger.LOAN_PRINCIPAL),
    ("interest_receivable_minor", ledger.INTEREST_RECEIVABLE),
    ("penalty_receivable_minor", ledger.PENALTY_RECEIVABLE),
    ("fee_receivable_minor", ledger.FEE_RECEIVABLE),
    ("credit_balance_minor", ledger.BORROWER_OVERPAYMENTS),
    ("written_off_minor", ledger.WRITTEN_OFF_LOANS),
    ("written_off_minor", ledger.WRITTEN_OFF_LOANS_CONTRA),
)


def resident_id(serial: int) -> str:
    """A valid resident ID (GB 11643 check digit) belonging to nobody real."""
    born = date(1985, 1, 1) + timedelta(days=serial // 1000)
    body = f"310104{born:%Y%m%d}{serial % 1000:03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


def key() -> str:
    return uuid.uuid4().hex


@dataclass
class Book:
    """One bank with a published product and a customer, on a fixed business date."""

    bank: Any
    clock: FixedClock
    admin: Actor
    product_code: str = ""
    customer_id: str = ""
    loans: list[str] = field(default_factory=list)

    @property
    def container(self) -> Any:
        return self.bank.container

    @property
    def tenant_id(self) -> str:
        return str(self.bank.tenant_id)

    @property
    def today(self) -> date:
        return self.clock.today()

    def set_today(self, day: date) -> None:
        self.clock.instant = datetime(day.year, day.month, day.day, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai

    def handle(self, command_type: type, **fields: Any) -> Any:
        return self.container.handle(command_type(tenant_id=self.tenant_id, **fields), actor=self.admin)

    def uow(self) -> Any:
        return self.container.uow(self.tenant_id, self.admin)

    # -- origination (the real commands) ---------------------------------------------------------------

    def publish(self, **terms: Any) -> str:
        code = f"S{next(_serial):04d}-{uuid.uuid4().hex[:6]}"
        product_id = self.handle(
            commands.CreateProduct,
            code=code,
            name="消费贷",
            name_en="Consumer loan",
            terms={**TERMS, **terms},
        )
        proposal = self.handle(commands.SubmitProductVersion, product_id=product_id, version_no=1)
        change_id = self.container.handle(proposal, actor=self.admin)
        name = f"checker{next(_serial)}"
        checker = Actor(kind="user", id=self.bank.add_user(name, ("product_manager",)), name=name)
        self.container.handle(
            access_commands.DecideChange(tenant_id=self.tenant_id, change_id=change_id, approve=True),
            actor=checker,
        )
        return code

    def open_loan(
        self,
        amount_minor: int = 1_200_000,
        term: int = 12,
        method: str = "equal-installment",
        rate: str = "0.072",
        product_code: str | None = None,
    ) -> str:
        loan_id = self.handle(
            commands.CreateLoan,
            customer_id=self.customer_id,
            product_code=product_code or self.product_code,
            amount_minor=amount_minor,
            term=term,
            method=method,
            annual_rate=Decimal(rate),
            start=self.today,
            idempotency_key=key(),
        )
        self.handle(commands.DisburseLoan, loan_id=loan_id, idempotency_key=key())
        self.loans.append(loan_id)
        return str(loan_id)

    # -- what end of day does to one loan --------------------------------------------------------------

    def end_of_day(self, loan_id: str, through: date, penalty_minor: int = 0) -> None:
        """Recognise scheduled interest through ``through``, bill the installments due by then, age
        the loan, and (optionally) charge ``penalty_minor`` of penalty interest, all posted."""
        with self.uow() as uow:
            loan = uow.session.scalar(select(Loan).where(Loan.id == loan_id))
            rows = list(uow.session.scalars(select(Installment).where(Installment.loan_id == loan_id)))
            periods = [Period(int(i.interest_minor), i.accrual_start, i.accrual_end) for i in rows]
            interest = scheduled_accrual(periods, loan.accrued_through, through)
            fees = 0
            for i in rows:
                if i.status == "scheduled" and i.due_date <= through:
                    i.status = "due" if i.due_date == through else "overdue"
                    fees += int(i.fee_minor)
                elif i.status == "due" and i.due_date < through:
                    i.status = "overdue"
            loan.interest_receivable_minor += interest
            loan.fee_receivable_minor += fees
            loan.penalty_receivable_minor += penalty_minor
            loan.accrued_through = through
            oldest = min(
                (i.due_date for i in rows if i.status in ("due", "overdue")),
                default=None,
            )
            loan.oldest_unpaid_due = oldest
            loan.days_past_due = delinquency.days_past_due(through, oldest)
            loan.bucket = delinquency.bucket_of(loan.days_past_due)
            if loan.status in ("active", "overdue"):
                loan.status = "overdue" if loan.days_past_due > 0 else "active"
            lines = []
            for code, income, amount in (
                (ledger.INTEREST_RECEIVABLE, ledger.INTEREST_INCOME, interest),
                (ledger.FEE_RECEIVABLE, ledger.FEE_INCOME, fees),
                (ledger.PENALTY_RECEIVABLE, ledger.PENALTY_INTEREST_INCOME, penalty_minor),
            ):
                if amount:
                    lines += [
                        ledger_commands.PostingLine(
                            account_code=code, currency=loan.currency, debit_minor=amount
                        ),
                        ledger_commands.PostingLine(
                            account_code=income, currency=loan.currency, credit_minor=amount
                        ),
                    ]
            if lines:
                ledger.post_within(
                    uow,
                    ledger_commands.PostJournalEntry(
                        tenant_id=self.tenant_id,
                        client_key=f"test-eod:{loan_id}:{through}:{key()}",
                        value_date=through,
                        description="test end of day",
                        lines=tuple(lines),
                        source="test",
                    ),
                )
            uow.commit()

    # -- servicing ------------------------------------------------------------------------------------

    def repay(self, loan_id: str, amount_minor: int, idem: str | None = None, **fields: Any) -> Any:
        return self.handle(
            commands.RepayLoan,
            loan_id=loan_id,
            amount_minor=amount_minor,
            currency=fields.pop("currency", "CNY"),
            value_date=fields.pop("value_date", self.today),
            idempotency_key=idem or key(),
            **fields,
        )

    def prepay(self, loan_id: str, idem: str | None = None, **fields: Any) -> Any:
        return self.handle(
            commands.PrepayLoan,
            loan_id=loan_id,
            value_date=fields.pop("value_date", self.today),
            idempotency_key=idem or key(),
            **fields,
        )

    def reverse(self, transaction_id: str, idem: str | None = None, reason: str = "wrong account") -> Any:
        return self.handle(
            commands.ReverseRepayment,
            transaction_id=transaction_id,
            reason=reason,
            idempotency_key=idem or key(),
        )

    # -- reading -------------------------------------------------------------------------------------

    def loan(self, loan_id: str) -> Loan:
        with self.uow() as uow:
            loan = uow.session.scalar(select(Loan).where(Loan.id == loan_id))
            assert loan is not None
            uow.session.expunge_all()  # keep the loaded values after the unit of work rolls back
            return loan

    def installments(self, loan_id: str) -> list[Installment]:
        with self.uow() as uow:
            rows = list(
                uow.session.scalars(
                    select(Installment).where(Installment.loan_id == loan_id).order_by(Installment.n)
                )
            )
            uow.session.expunge_all()
            return rows

    def transactions(self, loan_id: str) -> list[LoanTransaction]:
        with self.uow() as uow:
            rows = list(
                uow.session.scalars(
                    select(LoanTransaction)
                    .where(LoanTransaction.loan_id == loan_id)
                    .order_by(LoanTransaction.created_at, LoanTransaction.id)
                )
            )
            uow.session.expunge_all()
            return rows

    def state(self, loan_id: str) -> dict[str, Any]:
        """Everything servicing may change on a loan, comparable between two loans."""
        loan = self.loan(loan_id)
        columns = (
            "status",
            "principal_outstanding_minor",
            "interest_receivable_minor",
            "penalty_receivable_minor",
            "fee_receivable_minor",
            "suspended_interest_minor",
            "credit_balance_minor",
            "written_off_minor",
            "days_past_due",
            "bucket",
            "oldest_unpaid_due",
            "closed_on",
            "term",
            "maturity_date",
        )
        return {
            "loan": {c: getattr(loan, c) for c in columns},
            "installments": [
                (
                    i.n,
                    i.due_date,
                    i.principal_minor,
                    i.interest_minor,
                    i.fee_minor,
                    i.principal_paid_minor,
                    i.interest_paid_minor,
                    i.fee_paid_minor,
                    i.penalty_paid_minor,
                    i.status,
                    i.paid_on,
                )
                for i in self.installments(loan_id)
            ],
        }

    def balance(self, account_code: str, currency: str = "CNY") -> int:
        return int(ledger.account_balance(self.uow(), account_code, FAR, currency))

    def reconcile(self, currency: str = "CNY") -> dict[str, tuple[int, int]]:
        """Sub-ledger sums against the GL control accounts, to the fen (asserted)."""
        with self.uow() as uow:
            loans = list(uow.session.scalars(select(Loan).where(Loan.currency == currency)))
            uow.session.expunge_all()
        report = {}
        for column, account in RECONCILED:
            sub = sum(int(getattr(loan, column)) for loan in loans)
            report[f"{column}/{account}"] = (sub, self.balance(account, currency))
        unequal = {k: v for k, v in report.items() if v[0] != v[1]}
        assert not unequal, f"sub-ledger != GL: {unequal}"
        return report


@pytest.fixture(name="book")
def book_fixture(bank: Any) -> Iterator[Book]:
    """A bank on business date 2026-01-05 with a product that allows every prepayment. After the
    test, its loan sub-ledger must still equal the GL to the fen."""
    container = bank.container
    saved = container.clock
    clock = FixedClock(datetime(START.year, START.month, START.day, 2, 0, tzinfo=UTC))
    container.clock = clock
    try:
        b = make_book(bank, clock)
        yield b
        b.reconcile()
    finally:
        container.clock = saved


def make_book(bank: Any, clock: FixedClock) -> Book:
    """Another bank's book on the same clock (the container's, set by the ``book`` fixture)."""
    b = Book(bank=bank, clock=clock, admin=Actor(kind="user", id=bank.admin_id, name="admin"))
    b.product_code = b.publish()
    b.customer_id = b.handle(
        identity_commands.RegisterCustomer, name="张三", id_number=resident_id(next(_serial))
    )
    return b


def raises(error: type[DomainError], code: str, fn: Any, *args: Any, **kwargs: Any) -> DomainError:
    with pytest.raises(error) as caught:
        fn(*args, **kwargs)
    assert caught.value.code == code, caught.value
    return caught.value


# -- the helpers keep the books ------------------------------------------------------------------------


def test_a_disbursed_loan_and_its_end_of_day_reconcile(book):
    loan_id = book.open_loan()
    loan = book.loan(loan_id)
    assert loan.status == "active" and loan.principal_outstanding_minor == 1_200_000
    assert len(book.installments(loan_id)) == 12
    first_due = book.installments(loan_id)[0].due_date
    book.end_of_day(loan_id, first_due)
    first, second = book.installments(loan_id)[:2]
    assert first.status == "due" and second.status == "scheduled"
    # The first period is recognised in full by its due date, and the due date is day one of the next.
    one_day = second.interest_minor // (second.accrual_end - second.accrual_start).days
    receivable = first.interest_minor + one_day
    assert book.loan(loan_id).interest_receivable_minor == receivable
    report = book.reconcile()
    assert report["interest_receivable_minor/1132"] == (receivable, receivable)
    assert queries.reconcile(book.uow(), "CNY").balanced
