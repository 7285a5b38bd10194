"""Tables of loan accounts: credit lines, loans, their installments and money movements.

Balances live on the loan row as integer minor units so that the end-of-day batch can move
a whole book with a handful of set-based UPDATEs; installments carry what is due and what was
paid per period; every money movement is a ``LoanTransaction`` that names its journal entry.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from dipper.kernel.ids import new_id
from dipper.persistence.base import ID, Audited, Base, TenantScoped, UTCDateTime, utcnow
from dipper.persistence.types import DecimalRate


class CreditLine(TenantScoped, Audited, Base):
    """授信: an approved limit for one customer under one product, drawn down by loans."""

    __tablename__ = "loans_credit_line"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(ID, index=True)
    product_code: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    limit_minor: Mapped[int] = mapped_column(BigInteger)
    #: Principal outstanding on loans drawn under this line; available = limit - used.
    used_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    expires_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | frozen | closed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Loan(TenantScoped, Audited, Base):
    """A loan account. Balance columns are the loan sub-ledger; the GL control accounts must equal
    their sums (``queries.reconcile``)."""

    __tablename__ = "loans_loan"
    __table_args__ = (
        Index("ix_loans_loan_tenant_status", "tenant_id", "status"),
        UniqueConstraint("tenant_id", "idempotency_key"),
        # End of day: the delinquent loans, and the revolving lines maturing on a date.
        Index("ix_loans_loan_tenant_oldest_unpaid", "tenant_id", "oldest_unpaid_due"),
        Index("ix_loans_loan_tenant_maturity", "tenant_id", "maturity_date"),
        # The end of day updates every live loan daily: half-empty pages let PostgreSQL keep the
        # new row versions on the same page (HOT), without touching any index.
        {"postgresql_with": {"fillfactor": 50}},
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(ID, index=True)
    credit_line_id: Mapped[str | None] = mapped_column(ForeignKey("loans_credit_line.id"), index=True)
    product_code: Mapped[str] = mapped_column(String(32))
    product_version_id: Mapped[str | None] = mapped_column(ID)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(24))
    term: Mapped[int] = mapped_column(Integer)
    annual_rate: Mapped[Decimal] = mapped_column(DecimalRate())
    #: Contract rate x 1e9, an exact integer, so SQL can accrue interest without floats.
    annual_rate_e9: Mapped[int] = mapped_column(BigInteger)
    penalty_rate_e9: Mapped[int] = mapped_column(BigInteger)
    compound_overdue_interest: Mapped[bool] = mapped_column(default=False)
    day_count_basis: Mapped[int] = mapped_column(Integer)  # 360 | 365
    rounding: Mapped[str] = mapped_column(String(16))
    grace_days: Mapped[int] = mapped_column(Integer, default=0)
    allocation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    disburse_to: Mapped[str] = mapped_column(String(16), default="borrower")  # borrower | merchant
    merchant_id: Mapped[str | None] = mapped_column(String(64))
    principal_minor: Mapped[int] = mapped_column(BigInteger)
    start_date: Mapped[date | None] = mapped_column(Date)
    #: The day of month installments fall due on (the first due date's or the start's day); a
    #: schedule rebuilt by a prepayment or reschedule keeps it. NULL: the start date's day.
    due_day: Mapped[int | None] = mapped_column(SmallInteger)
    maturity_date: Mapped[date | None] = mapped_column(Date)
    # pending | active | overdue | non_accrual | written_off | closed
    status: Mapped[str] = mapped_column(String(16), default="pending")

    # -- the sub-ledger, minor units --
    principal_outstanding_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    interest_receivable_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    penalty_receivable_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    fee_receivable_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Interest of non-accrual loans, kept off the income statement (表外应收利息).
    suspended_interest_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    credit_balance_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    written_off_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Sub-fen remainders of daily accrual, in units of 1/(basis x 1e9) fen, carried to the next day.
    interest_carry: Mapped[int] = mapped_column(BigInteger, default=0)
    penalty_carry: Mapped[int] = mapped_column(BigInteger, default=0)

    accrued_through: Mapped[date | None] = mapped_column(Date)
    #: Last business date penalty interest was accrued for: the end of day accrues it once per date.
    penalty_accrued_through: Mapped[date | None] = mapped_column(Date)
    days_past_due: Mapped[int] = mapped_column(Integer, default=0)
    bucket: Mapped[str] = mapped_column(String(8), default="current")
    oldest_unpaid_due: Mapped[date | None] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    #: The disclosed annualized rate of all costs (PBOC 2021 No. 3), fixed when the loan is created.
    apr: Mapped[Decimal | None] = mapped_column(DecimalRate())
    #: Fee deducted from the payout at disbursement (Cr 6021); the borrower receives principal - fee.
    upfront_fee_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    #: CreateLoan is idempotent by this key within the bank (NULL for loans booked otherwise).
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    content_digest: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Installment(TenantScoped, Base):
    """One period of a loan's schedule: what falls due, and what has been paid against it."""

    __tablename__ = "loans_installment"
    __table_args__ = (
        UniqueConstraint("loan_id", "n"),
        Index("ix_loans_installment_due", "tenant_id", "due_date", "status"),
        # End of day: installments falling due / past due by status, without scanning paid ones.
        Index("ix_loans_installment_status_due", "tenant_id", "status", "due_date"),
        # End of day: a loan's periods by end date with their interest, read without the table.
        Index("ix_loans_installment_accrual", "loan_id", "accrual_end", "accrual_start", "interest_minor"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans_loan.id"), index=True)
    n: Mapped[int] = mapped_column(Integer)
    due_date: Mapped[date] = mapped_column(Date)
    accrual_start: Mapped[date] = mapped_column(Date)
    accrual_end: Mapped[date] = mapped_column(Date)
    principal_minor: Mapped[int] = mapped_column(BigInteger)
    interest_minor: Mapped[int] = mapped_column(BigInteger)
    fee_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    principal_paid_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    interest_paid_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    fee_paid_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    penalty_paid_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(12), default="scheduled")  # scheduled | due | overdue | paid
    paid_on: Mapped[date | None] = mapped_column(Date)


class LoanTransaction(TenantScoped, Audited, Base):
    """A money movement on a loan (disbursement, repayment, reversal, write-off, recovery, accrual
    correction). Idempotent by ``idempotency_key`` within the bank."""

    __tablename__ = "loans_transaction"
    __table_args__ = (UniqueConstraint("tenant_id", "idempotency_key"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans_loan.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    value_date: Mapped[date] = mapped_column(Date)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    idempotency_key: Mapped[str] = mapped_column(String(128))
    content_digest: Mapped[str] = mapped_column(String(64))
    #: How the amount was split: {"principal": .., "interest": .., "penalty": .., "fee": .., "credit": ..}.
    allocation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    journal_entry_id: Mapped[str | None] = mapped_column(ID)
    reverses_id: Mapped[str | None] = mapped_column(ID)
    reversed: Mapped[bool] = mapped_column(default=False)
    channel_reference: Mapped[str | None] = mapped_column(String(64))
    #: What the payment channel moved (a disbursement pays out principal - upfront fee).
    channel_amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    channel_status: Mapped[str | None] = mapped_column(String(16))  # sent | reconciled
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BatchRun(TenantScoped, Base):
    """One end-of-day run for one business date: idempotent per date, resumable by step."""

    __tablename__ = "loans_batch_run"
    __table_args__ = (UniqueConstraint("tenant_id", "business_date"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    business_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default="running")  # running | done | failed
    steps_done: Mapped[list[str]] = mapped_column(JSON, default=list)
    figures: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
