"""Read side of servicing: what a servicing command returns, a loan's servicing transactions, one
transaction, and the payoff quote (what ``PrepayLoan(full=True)`` takes on a date).

The quote's arithmetic (:func:`quote`) is shared with the prepayment handler, so that the amount
quoted is exactly the amount a payoff on that date takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.orm import Session

from dipper.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from dipper.kernel.money import Money
from dipper.kernel.rounding import RoundingRule
from dipper.loans.adapters.accounts import Installment, Loan, LoanTransaction
from dipper.loans.adapters.products import ProductVersion
from dipper.loans.domain import allocation as rules
from dipper.loans.domain.accrual import accrue_daily
from dipper.loans.domain.origination import LoanStatus
from dipper.loans.domain.product import PrepaymentFeeKind, ProductTerms, parse_terms
from dipper.loans.domain.terms import RepaymentMethod
from dipper.loans.queries.loans import TransactionView, transaction_view
from dipper.persistence.uow import SqlAlchemyUnitOfWork

__all__ = [
    "MAX_SERVICING_PAGE",
    "SERVICING_KINDS",
    "PayoffQuote",
    "ServicingResult",
    "get_servicing_transaction",
    "list_servicing_transactions",
    "payoff_quote",
]

#: Kinds of ``LoanTransaction`` that servicing writes.
SERVICING_KINDS = ("repayment", "prepayment", "reversal", "reschedule", "write_off", "recovery")
MAX_SERVICING_PAGE = 1000
DUE_STATUSES = ("due", "overdue")


@dataclass(frozen=True)
class ServicingResult:
    """What a servicing command answers: its transaction, and whether this call replayed an earlier one."""

    transaction_id: str
    loan_id: str
    replayed: bool
    #: The transaction as committed (None for a replay): what an answer shows, without reading it again.
    view: TransactionView | None = None


@dataclass(frozen=True)
class PayoffQuote:
    """What settles a loan on ``value_date`` (提前结清试算), by part."""

    loan_id: str
    value_date: date
    currency: str
    due_minor: int  # everything due: installments' principal, interest and fee, and the penalty
    principal_not_due_minor: int
    interest_to_date_minor: int  # the current period's interest up to (not including) the value date
    prepayment_fee_minor: int
    total_minor: int


def _tenant(uow: SqlAlchemyUnitOfWork) -> str:
    if uow.tenant_id is None:
        raise PermissionDenied("loan queries need a bank", code="tenant_required")
    return uow.tenant_id


# -- shared with the handlers ---------------------------------------------------------------------------


def outstanding(i: Installment) -> int:
    return int(
        i.principal_minor
        + i.interest_minor
        + i.fee_minor
        - i.principal_paid_minor
        - i.interest_paid_minor
        - i.fee_paid_minor
    )


def product_terms_of(session: Session, loan: Loan) -> ProductTerms | None:
    """The terms of the product version the loan was signed under (None for a loan booked without one)."""
    if loan.product_version_id is None:
        return None
    terms = session.scalar(select(ProductVersion.terms).where(ProductVersion.id == loan.product_version_id))
    return parse_terms(terms) if terms is not None else None


def due_buckets(loan: Loan, installments: Sequence[Installment]) -> list[rules.Due]:
    """What a repayment may pay, oldest first: every due or overdue installment's unpaid parts, the
    loan's penalty receivable on the oldest (penalty is accrued per loan, not per installment). A
    revolving loan has no installments: everything it owes is payable at any time (随借随还)."""
    if loan.method == RepaymentMethod.REVOLVING:
        return [
            rules.Due(
                n=0,
                penalty=int(loan.penalty_receivable_minor),
                interest=int(loan.interest_receivable_minor),
                principal=int(loan.principal_outstanding_minor),
                fee=int(loan.fee_receivable_minor),
            )
        ]
    rows = sorted(
        (i for i in installments if i.status in DUE_STATUSES and outstanding(i) > 0),
        key=lambda i: (i.due_date, i.n),
    )
    dues = [
        rules.Due(
            n=i.n,
            interest=int(i.interest_minor - i.interest_paid_minor),
            principal=int(i.principal_minor - i.principal_paid_minor),
            fee=int(i.fee_minor - i.fee_paid_minor),
        )
        for i in rows
    ]
    penalty = int(loan.penalty_receivable_minor)
    if penalty > 0:
        if dues:
            first = dues[0]
            dues[0] = rules.Due(
                n=first.n, penalty=penalty, interest=first.interest, principal=first.principal, fee=first.fee
            )
        else:
            dues.insert(0, rules.Due(n=0, penalty=penalty))
    return dues


def prepayment_fee(terms: ProductTerms | None, principal_minor: int, currency: str) -> int:
    """The product's fee on ``principal_minor`` of prepaid principal (none without a product)."""
    if terms is None or principal_minor <= 0:
        return 0
    if terms.prepayment_fee_kind is PrepaymentFeeKind.FIXED:
        return int(terms.prepayment_fee_minor or 0)
    if terms.prepayment_fee_kind is PrepaymentFeeKind.PERCENTAGE and terms.prepayment_fee_rate is not None:
        rule = RoundingRule.HALF_UP if terms.rounding is RoundingRule.WHOLE_UNIT_UP else terms.rounding
        return Money(principal_minor, currency).multiply(terms.prepayment_fee_rate, rule).minor
    return 0


def principal_for(rest: int, cap: int, terms: ProductTerms | None, currency: str) -> int:
    """The most principal (at most ``cap``) that ``rest`` pays together with its prepayment fee."""
    if rest <= 0:
        return 0
    if terms is not None and terms.prepayment_fee_kind is PrepaymentFeeKind.FIXED:
        return max(min(rest - int(terms.prepayment_fee_minor or 0), cap), 0)
    rate = Decimal(0)
    if terms is not None and terms.prepayment_fee_kind is PrepaymentFeeKind.PERCENTAGE:
        rate = terms.prepayment_fee_rate or Decimal(0)
    share = Fraction(rest) / (1 + Fraction(rate))
    p = min(share.numerator // share.denominator, cap)
    # Rounding of the fee can leave room for a fen more, or take one: settle on the exact best.
    while p < cap and p + 1 + prepayment_fee(terms, p + 1, currency) <= rest:
        p += 1
    while p > 0 and p + prepayment_fee(terms, p, currency) > rest:
        p -= 1
    return p


@dataclass(frozen=True)
class Quote:
    """The figures of a prepayment on a date (see :func:`quote`)."""

    dues: list[rules.Due]
    due_total: int
    due_interest: int
    future: list[Installment]  # installments not yet due, by number
    principal_not_due: int
    interest_to_date: int
    #: interest_to_date minus what end of day already accrued for the current period (posted on payoff)
    accrual_adjustment: int
    full_fee: int

    @property
    def payoff(self) -> int:
        return self.due_total + self.principal_not_due + self.interest_to_date + self.full_fee


def quote(
    loan: Loan, installments: Sequence[Installment], value_date: date, terms: ProductTerms | None
) -> Quote:
    """Prepayment figures on ``value_date``: what is due, the principal not yet due, and the current
    period's interest to the value date by ADR 0005's exact integer rule on the principal not yet
    due, for the days from the period's start (the last due date) to the value date, which itself
    does not count."""
    if loan.method == RepaymentMethod.REVOLVING:
        raise Conflict(
            "a revolving loan is repaid at any time with a repayment", code="prepayment_not_applicable"
        )
    if loan.status not in (LoanStatus.ACTIVE, LoanStatus.OVERDUE):
        raise Conflict(
            "only an active or overdue loan can be prepaid",
            code="loan_not_prepayable",
            details={"status": loan.status},
        )
    dues = due_buckets(loan, installments)
    future = sorted((i for i in installments if i.status == "scheduled"), key=lambda i: i.n)
    if not future:
        raise Conflict("all principal is already due: repay it with a repayment", code="nothing_to_prepay")
    current = future[0]
    if value_date < current.accrual_start:
        raise ValidationFailed(
            "the value date is before the current period began",
            code="value_date_before_period",
            details={"period_start": current.accrual_start.isoformat()},
        )
    if value_date >= current.accrual_end:
        raise Conflict(
            "the current installment falls due on or before the value date: let end of day bill it first",
            code="installment_falling_due",
            details={"due_date": current.due_date.isoformat()},
        )
    if loan.accrued_through is not None and value_date <= loan.accrued_through:
        raise Conflict(
            "interest has been accrued through the value date already: date the prepayment later",
            code="value_date_accrued",
            details={"accrued_through": loan.accrued_through.isoformat()},
        )
    principal_not_due = sum(int(i.principal_minor - i.principal_paid_minor) for i in future)
    days = (value_date - current.accrual_start).days
    interest = accrue_daily(
        principal_not_due, int(loan.annual_rate_e9), days, 0, int(loan.day_count_basis)
    ).accrued_minor
    due_interest = sum(d.interest for d in dues)
    accrued_unbilled = int(loan.interest_receivable_minor) - due_interest
    return Quote(
        dues=dues,
        due_total=sum(d.penalty + d.interest + d.principal + d.fee for d in dues),
        due_interest=due_interest,
        future=future,
        principal_not_due=principal_not_due,
        interest_to_date=interest,
        accrual_adjustment=interest - accrued_unbilled,
        full_fee=prepayment_fee(terms, principal_not_due, loan.currency),
    )


# -- queries --------------------------------------------------------------------------------------------


def list_servicing_transactions(
    uow: SqlAlchemyUnitOfWork, loan_id: str, *, limit: int = 200, offset: int = 0
) -> list[TransactionView]:
    """Repayments, prepayments, reversals, reschedules, write-offs and recoveries of a loan, in the
    order they were applied."""
    if type(limit) is not int or not 1 <= limit <= MAX_SERVICING_PAGE:
        raise ValidationFailed(f"limit must be 1-{MAX_SERVICING_PAGE}", code="invalid_limit")
    if type(offset) is not int or offset < 0:
        raise ValidationFailed("offset must be 0 or more", code="invalid_offset")
    tid = _tenant(uow)
    with uow:
        if uow.session.scalar(select(Loan.id).where(Loan.tenant_id == tid, Loan.id == loan_id)) is None:
            raise NotFound("no such loan", code="loan_not_found")
        rows = uow.session.scalars(
            select(LoanTransaction)
            .where(
                LoanTransaction.tenant_id == tid,
                LoanTransaction.loan_id == loan_id,
                LoanTransaction.kind.in_(SERVICING_KINDS),
            )
            .order_by(LoanTransaction.created_at, LoanTransaction.id)
            .limit(limit)
            .offset(offset)
        ).all()
        return [transaction_view(t) for t in rows]


def get_servicing_transaction(uow: SqlAlchemyUnitOfWork, transaction_id: str) -> TransactionView:
    tid = _tenant(uow)
    with uow:
        t = uow.session.scalar(
            select(LoanTransaction).where(
                LoanTransaction.tenant_id == tid,
                LoanTransaction.id == transaction_id,
                LoanTransaction.kind.in_(SERVICING_KINDS),
            )
        )
        if t is None:
            raise NotFound("no such servicing transaction", code="transaction_not_found")
        return transaction_view(t)


def payoff_quote(uow: SqlAlchemyUnitOfWork, loan_id: str, value_date: date | None = None) -> PayoffQuote:
    """What ``PrepayLoan(full=True)`` would take on ``value_date`` (default: the business date)."""
    tid = _tenant(uow)
    with uow:
        day = value_date or uow.clock.today()
        loan = uow.session.scalar(select(Loan).where(Loan.tenant_id == tid, Loan.id == loan_id))
        if loan is None:
            raise NotFound("no such loan", code="loan_not_found")
        installments = uow.session.scalars(
            select(Installment).where(Installment.tenant_id == tid, Installment.loan_id == loan_id)
        ).all()
        q = quote(loan, installments, day, product_terms_of(uow.session, loan))
        return PayoffQuote(
            loan_id=loan.id,
            value_date=day,
            currency=loan.currency,
            due_minor=q.due_total,
            principal_not_due_minor=q.principal_not_due,
            interest_to_date_minor=q.interest_to_date,
            prepayment_fee_minor=q.full_fee,
            total_minor=q.payoff,
        )
