"""Events of servicing: repayments, prepayments, reversals, reschedules, write-offs and recoveries.

Dates travel as ISO 8601 strings; amounts as integer minor units of ``currency``. Every change of
principal is also announced by ``LoanPrincipalChanged`` (origination's event), so the credit line
recomputes what is used.
"""

from __future__ import annotations

from dataclasses import dataclass

from dipper.kernel.messages import Event

__all__ = [
    "LoanPrepaid",
    "LoanRescheduled",
    "LoanWrittenOff",
    "RecoveryRecorded",
    "RepaymentApplied",
    "RepaymentReversed",
]


@dataclass(frozen=True, kw_only=True)
class RepaymentApplied(Event):
    """A repayment (or a prepayment, or a re-application after a reversal) was allocated."""

    loan_id: str
    credit_line_id: str | None
    transaction_id: str
    value_date: str
    currency: str
    amount_minor: int
    principal_minor: int
    interest_minor: int
    penalty_minor: int
    fee_minor: int
    credit_minor: int


@dataclass(frozen=True, kw_only=True)
class LoanPrepaid(Event):
    loan_id: str
    transaction_id: str
    value_date: str
    currency: str
    amount_minor: int
    principal_minor: int
    fee_minor: int
    full: bool
    mode: str | None


@dataclass(frozen=True, kw_only=True)
class RepaymentReversed(Event):
    """``transaction_id`` was undone by ``reversal_id``; ``reapplied`` are the new transactions of the
    later repayments applied again."""

    loan_id: str
    transaction_id: str
    reversal_id: str
    reapplied: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class LoanRescheduled(Event):
    loan_id: str
    transaction_id: str
    old_term: int
    new_term: int
    new_rate: str | None
    maturity_date: str


@dataclass(frozen=True, kw_only=True)
class LoanWrittenOff(Event):
    loan_id: str
    credit_line_id: str | None
    transaction_id: str
    currency: str
    amount_minor: int
    principal_minor: int


@dataclass(frozen=True, kw_only=True)
class RecoveryRecorded(Event):
    loan_id: str
    transaction_id: str
    currency: str
    amount_minor: int
