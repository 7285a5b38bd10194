"""Events of origination: credit lines, loan creation, disbursement, closing, channel reconciliation.

They leave the process through the outbox as plain JSON, so they carry ids and amounts, never
personal data. ``LoanPrincipalChanged`` is the one event other loan areas raise for origination:
servicing emits it after every repayment, reversal or write-off, and origination recomputes the
credit line's used amount in response.
"""

from __future__ import annotations

from dataclasses import dataclass

from dipper.kernel.messages import Event

__all__ = [
    "ChannelFileReconciled",
    "CreditLimitChanged",
    "CreditLineApproved",
    "CreditLineFrozen",
    "CreditLineUnfrozen",
    "LoanClosed",
    "LoanCreated",
    "LoanDisbursed",
    "LoanPrincipalChanged",
]


@dataclass(frozen=True, kw_only=True)
class CreditLineApproved(Event):
    credit_line_id: str
    customer_id: str
    product_code: str
    currency: str
    limit_minor: int
    expires_on: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class CreditLimitChanged(Event):
    credit_line_id: str
    old_limit_minor: int
    new_limit_minor: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class CreditLineFrozen(Event):
    credit_line_id: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class CreditLineUnfrozen(Event):
    credit_line_id: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class LoanCreated(Event):
    loan_id: str
    customer_id: str
    credit_line_id: str | None
    product_code: str
    currency: str
    principal_minor: int
    apr: str


@dataclass(frozen=True, kw_only=True)
class LoanDisbursed(Event):
    loan_id: str
    credit_line_id: str | None
    currency: str
    principal_minor: int
    fee_minor: int
    paid_out_minor: int
    value_date: str
    channel_reference: str
    journal_entry_id: str


@dataclass(frozen=True, kw_only=True)
class LoanClosed(Event):
    loan_id: str
    credit_line_id: str | None
    closed_on: str


@dataclass(frozen=True, kw_only=True)
class LoanPrincipalChanged(Event):
    """A loan's principal outstanding changed outside origination (repayment, reversal, write-off):
    the credit line it was drawn under recomputes its used amount."""

    loan_id: str
    credit_line_id: str | None


@dataclass(frozen=True, kw_only=True)
class ChannelFileReconciled(Event):
    business_date: str
    matched: int
    matched_minor: int
    mismatches: int
    journal_entry_id: str | None
