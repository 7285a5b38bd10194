"""Origination end to end on every database: offers (product ranges, APR and its ceiling), loan
creation (idempotent, exact rates), disbursement (balanced postings, sub-ledger equal to the GL),
closing. The helpers at the top are shared by the other origination test files.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from dipper.access import commands as access_commands
from dipper.accounting import queries as ledger
from dipper.identity import commands as identity_commands
from dipper.kernel.errors import Conflict, DomainError, NotFound, ValidationFailed
from dipper.kernel.uow import Actor
from dipper.loans import commands, queries

# -- helpers (imported by the other origination tests) -----------------------------------------------

_serial = itertools.count(1)

BASE_TERMS: dict[str, Any] = {
    "currency": "CNY",
    "min_amount_minor": 100_000,  # 1,000 yuan
    "max_amount_minor": 5_000_000,  # 50,000 yuan
    "min_term_months": 3,
    "max_term_months": 24,
    "allowed_terms": [3, 6, 12, 24],
    "repayment_methods": ["equal-installment", "equal-principal", "bullet"],
    "min_rate": "0.04",
    "max_rate": "0.18",
}


def resident_id(serial: int) -> str:
    """A syntactically valid resident ID (GB 11643 check digit) that belongs to nobody real."""
    born = date(1990, 1, 1) + timedelta(days=serial // 1000)
    body = f"110105{born:%Y%m%d}{serial % 1000:03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
    return body + check


@dataclass
class Lender:
    """A bank with a published product, a customer and the staff to act for it."""

    bank: Any
    admin: Actor
    customer_id: str
    product_code: str

    @property
    def container(self) -> Any:
        return self.bank.container

    @property
    def today(self) -> date:
        return self.container.clock.today()

    def handle(self, command_type: type, **fields: Any) -> Any:
        return self.container.handle(command_type(tenant_id=self.bank.tenant_id, **fields), actor=self.admin)

    def uow(self) -> Any:
        return self.container.uow(self.bank.tenant_id, self.admin)

    def customer(self) -> str:
        return self.container.handle(
            identity_commands.RegisterCustomer(
                tenant_id=self.bank.tenant_id, name="李四", id_number=resident_id(next(_serial))
            ),
            actor=self.admin,
        )

    def offer_fields(self, **overrides: Any) -> dict[str, Any]:
        fields = {
            "customer_id": self.customer_id,
            "product_code": self.product_code,
            "amount_minor": 1_000_000,
            "term": 12,
            "method": "equal-installment",
            "annual_rate": Decimal("0.072"),
            "start": self.today,
        }
        return {**fields, **overrides}

    def offer(self, **overrides: Any) -> queries.OfferView:
        return self.handle(commands.MakeOffer, **self.offer_fields(**overrides))

    def create(self, key: str | None = None, **overrides: Any) -> str:
        return self.handle(
            commands.CreateLoan, idempotency_key=key or uuid.uuid4().hex, **self.offer_fields(**overrides)
        )

    def disburse(self, loan_id: str, key: str | None = None, **fields: Any) -> queries.DisbursementView:
        return self.handle(
            commands.DisburseLoan, loan_id=loan_id, idempotency_key=key or uuid.uuid4().hex, **fields
        )

    def line(self, limit_minor: int = 3_000_000, expires_on: date | None = None, **fields: Any) -> str:
        return self.handle(
            commands.ApproveCreditLine,
            customer_id=fields.pop("customer_id", self.customer_id),
            product_code=fields.pop("product_code", self.product_code),
            currency=fields.pop("currency", "CNY"),
            limit_minor=limit_minor,
            expires_on=expires_on or self.today + timedelta(days=365),
            **fields,
        )

    def balance(self, account_code: str, currency: str = "CNY") -> int:
        return ledger.account_balance(self.uow(), account_code, self.today + timedelta(days=400), currency)


def publish_product(bank: Any, admin: Actor, **terms: Any) -> str:
    """Create a product and publish version 1 through maker-checker (effective today)."""
    code = f"P{next(_serial):04d}-{uuid.uuid4().hex[:6]}"
    container, tid = bank.container, bank.tenant_id
    product_id = container.handle(
        commands.CreateProduct(
            tenant_id=tid, code=code, name="消费贷", name_en="Consumer loan", terms={**BASE_TERMS, **terms}
        ),
        actor=admin,
    )
    proposal = container.handle(
        commands.SubmitProductVersion(tenant_id=tid, product_id=product_id, version_no=1), actor=admin
    )
    change_id = container.handle(proposal, actor=admin)
    checker_name = f"checker{next(_serial)}"
    checker = Actor(kind="user", id=bank.add_user(checker_name, ("product_manager",)), name=checker_name)
    container.handle(
        access_commands.DecideChange(tenant_id=tid, change_id=change_id, approve=True), actor=checker
    )
    return code


def make_lender(bank: Any, **terms: Any) -> Lender:
    admin = Actor(kind="user", id=bank.admin_id, name="admin")
    lender = Lender(
        bank=bank, admin=admin, customer_id="", product_code=publish_product(bank, admin, **terms)
    )
    lender.customer_id = lender.customer()
    return lender


def set_apr_ceiling(bank: Any, ceiling: str) -> None:
    """Tenant settings change through maker-checker too."""
    admin = Actor(kind="user", id=bank.admin_id, name="admin")
    change_id = bank.container.handle(
        access_commands.ProposeChange(
            tenant_id=bank.tenant_id,
            kind="tenant.settings",
            target=bank.tenant_id,
            summary="APR ceiling",
            payload={"apr_ceiling": ceiling},
        ),
        actor=admin,
    )
    name = f"settings{next(_serial)}"
    checker = Actor(kind="user", id=bank.add_user(name, ("admin",)), name=name)
    bank.container.handle(
        access_commands.DecideChange(tenant_id=bank.tenant_id, change_id=change_id, approve=True),
        actor=checker,
    )


def raises(error: type[DomainError], code: str, fn: Any, *args: Any, **kwargs: Any) -> DomainError:
    with pytest.raises(error) as caught:
        fn(*args, **kwargs)
    assert caught.value.code == code, caught.value
    return caught.value


@pytest.fixture
def lender(bank: Any) -> Lender:
    return make_lender(bank)


# -- offers -------------------------------------------------------------------------------------------


def test_offer_prices_the_schedule_and_discloses_the_apr(lender):
    offer = lender.offer()
    assert offer.currency == "CNY" and offer.amount_minor == 1_000_000
    assert len(offer.installments) == 12
    assert sum(i.principal_minor for i in offer.installments) == 1_000_000
    assert offer.installments[-1].balance_minor == 0
    # Equal installments without fees disclose the contract rate (IRR method), up to the fen rounding
    # of the installments.
    assert abs(offer.apr - Decimal("0.072")) <= Decimal("0.000002")
    assert offer.apr_ceiling == Decimal("0.24")
    assert offer.total_interest_minor == sum(i.interest_minor for i in offer.installments)
    assert offer.total_repayment_minor == 1_000_000 + offer.total_interest_minor
    assert offer.paid_out_minor == 1_000_000 and offer.upfront_fee_minor == 0
    assert offer.maturity_date == offer.installments[-1].due_date
    # Stateless but reproducible: the same inputs give the same digest, other inputs another one.
    assert lender.offer().offer_digest == offer.offer_digest
    assert lender.offer(annual_rate=Decimal("0.0720")).offer_digest == offer.offer_digest
    assert lender.offer(term=6).offer_digest != offer.offer_digest


def test_offer_counts_every_fee_in_the_apr(bank):
    lender = make_lender(bank, upfront_fee_kind="rate", upfront_fee_rate="0.01")
    offer = lender.offer()
    assert offer.upfront_fee_minor == 10_000
    assert offer.paid_out_minor == 990_000
    assert offer.total_fees_minor == 10_000
    assert offer.apr > Decimal("0.072")  # the fee deducted at source raises the real cost


def test_offer_is_held_to_the_published_product_ranges(lender):
    raises(ValidationFailed, "amount_out_of_range", lender.offer, amount_minor=99_999)
    raises(ValidationFailed, "amount_out_of_range", lender.offer, amount_minor=5_000_001)
    raises(ValidationFailed, "term_out_of_range", lender.offer, term=5)  # within 3-24 but not allowed
    raises(ValidationFailed, "term_out_of_range", lender.offer, term=36)
    raises(ValidationFailed, "method_not_offered", lender.offer, method="interest-only")
    raises(ValidationFailed, "rate_out_of_range", lender.offer, annual_rate=Decimal("0.0399"))
    raises(ValidationFailed, "rate_out_of_range", lender.offer, annual_rate=Decimal("0.1801"))
    raises(ValidationFailed, "invalid_rate", lender.offer, annual_rate=Decimal("0.0720000001"))
    raises(NotFound, "product_not_found", lender.offer, product_code="NO-SUCH")
    raises(NotFound, "customer_not_found", lender.offer, customer_id="01JD0000000000000000000000")
    raises(ValidationFailed, "invalid_start_date", lender.offer, start=lender.today - timedelta(days=1))
    # The edges of the ranges are inside.
    edge = lender.offer(amount_minor=100_000, annual_rate=Decimal("0.04"), term=3)
    assert abs(edge.apr - Decimal("0.04")) <= Decimal("0.0001")  # 1,000 yuan: the fen rounding shows


def test_apr_above_the_banks_ceiling_is_refused(bank):
    # 5% taken at source on a 3-month loan: far above 24% a year.
    lender = make_lender(bank, upfront_fee_kind="rate", upfront_fee_rate="0.05")
    error = raises(ValidationFailed, "apr_above_ceiling", lender.offer, term=3)
    assert Decimal(error.details["apr"]) > Decimal("0.24")
    assert lender.offer(term=24).apr < Decimal("0.24")
    set_apr_ceiling(bank, "0.08")
    raises(ValidationFailed, "apr_above_ceiling", lender.offer, term=24)


# -- loan creation ------------------------------------------------------------------------------------


def test_create_loan_books_the_offer_exactly(bank):
    lender = make_lender(bank, penalty_uplift="0.5", grace_days=3)
    offer = lender.offer()
    loan_id = lender.create(offer_digest=offer.offer_digest)
    loan = queries.get_loan(lender.uow(), loan_id)
    assert loan.status == "pending"
    assert loan.principal_minor == 1_000_000 and loan.principal_outstanding_minor == 0
    assert loan.annual_rate == Decimal("0.072") and loan.apr == offer.apr
    assert loan.penalty_rate == Decimal("0.108")  # contract x (1 + 50%)
    assert loan.day_count_basis == 360 and loan.grace_days == 3
    assert loan.allocation["order"] == ["penalty", "interest", "principal", "fee"]
    assert loan.product_version_id == offer.product_version_id
    assert (loan.start_date, loan.maturity_date) == (offer.start, offer.maturity_date)
    schedule = queries.loan_schedule(lender.uow(), loan_id)
    assert schedule.apr == offer.apr
    assert [(i.n, i.due_date, i.principal_minor, i.interest_minor) for i in schedule.installments] == [
        (i.n, i.due_date, i.principal_minor, i.interest_minor) for i in offer.installments
    ]
    assert schedule.total_interest_minor == offer.total_interest_minor
    assert all(
        i.status == "scheduled" and i.outstanding_minor == i.total_minor for i in schedule.installments
    )


def test_rates_are_stored_as_exact_integers(lender):
    loan_id = lender.create(annual_rate=Decimal("0.123456789"))
    with lender.uow() as uow:
        from dipper.loans.adapters.accounts import Loan

        row = uow.session.get(Loan, loan_id)
        assert row.annual_rate_e9 == 123_456_789
        assert row.penalty_rate_e9 == 185_185_183  # floor(123456789 x 1.5): never round a charge up
        assert row.annual_rate == Decimal("0.123456789")


def test_create_loan_is_idempotent_by_key(lender):
    first = lender.create(key="loan-key-1")
    assert lender.create(key="loan-key-1") == first
    raises(Conflict, "idempotency_key_reused", lender.create, key="loan-key-1", amount_minor=2_000_000)
    assert queries.list_loans(lender.uow(), customer_id=lender.customer_id).total == 1


def test_create_loan_refuses_a_changed_offer(lender):
    offer = lender.offer(term=6)
    raises(Conflict, "offer_changed", lender.create, offer_digest=offer.offer_digest)  # the term is 12
    assert queries.list_loans(lender.uow(), customer_id=lender.customer_id).total == 0


# -- disbursement -------------------------------------------------------------------------------------


def test_disbursement_posts_balanced_entries_and_the_sub_ledger_equals_the_gl(bank):
    lender = make_lender(bank, upfront_fee_kind="fixed", upfront_fee_minor=5_000)
    plain = lender.create(amount_minor=1_000_000)
    with_fee = lender.create(amount_minor=2_345_678, term=24, method="equal-principal")
    first = lender.disburse(plain)
    second = lender.disburse(with_fee, to="merchant", merchant_id="M-10086")

    assert (first.principal_minor, first.fee_minor, first.paid_out_minor) == (1_000_000, 5_000, 995_000)
    entry = ledger.get_entry(lender.uow(), second.journal_entry_id)
    lines = {(ln.account_code, ln.debit_minor, ln.credit_minor) for ln in entry.lines}
    assert lines == {
        (ledger.LOAN_PRINCIPAL, 2_345_678, 0),
        (ledger.CLEARING, 0, 2_340_678),
        (ledger.FEE_INCOME, 0, 5_000),
    }
    assert sum(ln.debit_minor for ln in entry.lines) == sum(ln.credit_minor for ln in entry.lines)

    loan = queries.get_loan(lender.uow(), with_fee)
    assert loan.status == "active" and loan.principal_outstanding_minor == 2_345_678
    assert loan.disburse_to == "merchant" and loan.merchant_id == "M-10086"
    assert loan.accrued_through == lender.today - timedelta(days=1)  # the drawdown day earns interest
    (txn,) = queries.loan_transactions(lender.uow(), with_fee)
    assert (txn.kind, txn.amount_minor, txn.channel_amount_minor) == ("disbursement", 2_345_678, 2_340_678)
    assert txn.channel_reference == second.channel_reference and txn.channel_status == "sent"
    assert txn.journal_entry_id == second.journal_entry_id

    report = queries.reconcile(lender.uow(), "CNY")
    assert report.balanced, report
    principal = next(ln for ln in report.lines if ln.column == "principal_outstanding")
    assert principal.sub_ledger_minor == principal.gl_minor == 3_345_678
    assert lender.balance(ledger.FEE_INCOME) == 10_000
    assert lender.balance(ledger.CLEARING) == -(995_000 + 2_340_678)  # owed to the channel until it settles
    assert ledger.trial_balance(lender.uow(), lender.today).balanced


def test_disbursement_is_idempotent_and_happens_once(lender):
    loan_id = lender.create()
    first = lender.disburse(loan_id, key="pay-1")
    again = lender.disburse(loan_id, key="pay-1")
    assert again.replayed and not first.replayed
    assert (again.transaction_id, again.journal_entry_id, again.channel_reference) == (
        first.transaction_id,
        first.journal_entry_id,
        first.channel_reference,
    )
    raises(
        Conflict,
        "idempotency_key_reused",
        lender.disburse,
        loan_id,
        key="pay-1",
        to="merchant",
        merchant_id="M1",
    )
    raises(Conflict, "loan_not_pending", lender.disburse, loan_id, key="pay-2")
    assert len(queries.loan_transactions(lender.uow(), loan_id)) == 1
    assert lender.balance(ledger.LOAN_PRINCIPAL) == 1_000_000


def test_disbursement_only_on_the_start_date(lender):
    loan_id = lender.create(start=lender.today + timedelta(days=1))
    raises(Conflict, "disbursement_date_mismatch", lender.disburse, loan_id)
    raises(ValidationFailed, "invalid_merchant_id", lender.disburse, loan_id, to="merchant")
    raises(NotFound, "loan_not_found", lender.disburse, "01JD0000000000000000000000")
    assert queries.get_loan(lender.uow(), loan_id).status == "pending"
    assert lender.balance(ledger.LOAN_PRINCIPAL) == 0  # nothing half-written


# -- closing ------------------------------------------------------------------------------------------


def test_close_only_when_nothing_is_owed(lender):
    active = lender.create()
    lender.disburse(active)
    error = raises(Conflict, "loan_not_settled", lender.handle, commands.CloseLoan, loan_id=active)
    assert error.details["balances"] == {"principal_outstanding_minor": 1_000_000}
    pending = lender.create()
    closed = lender.handle(commands.CloseLoan, loan_id=pending)  # never paid out: nothing owed
    assert closed.status == "closed" and closed.closed_on == lender.today
    raises(Conflict, "loan_closed", lender.handle, commands.CloseLoan, loan_id=pending)
    raises(Conflict, "loan_not_pending", lender.disburse, pending)
