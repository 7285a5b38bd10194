"""Commands of servicing: repayment, prepayment, reversal of a repayment, reschedule, write-off
and recovery.

Amounts are integer minor units in the loan's currency; rates are Decimal fractions (0.0435 is
4.35%). Every command carries an ``idempotency_key`` (1-128 printable ASCII characters, no
spaces): the same key with the same content returns the first result (``replayed``); with other
content it is ``idempotency_key_reused``. Handlers return a ``ServicingResult``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from dipper.kernel.messages import Command

__all__ = [
    "PrepayLoan",
    "RecordRecovery",
    "RepayLoan",
    "RescheduleLoan",
    "ReverseRepayment",
    "WriteOffLoan",
]


@dataclass(frozen=True, kw_only=True)
class RepayLoan(Command):
    """A repayment received (还款) on ``value_date``: pays what is due in the product's allocation
    order; anything beyond what is due is held as the borrower's credit balance (not a prepayment)."""

    loan_id: str
    amount_minor: int
    currency: str
    value_date: date
    idempotency_key: str
    channel_reference: str | None = None


@dataclass(frozen=True, kw_only=True)
class PrepayLoan(Command):
    """Prepay (提前还款) on ``value_date``. ``full=True`` settles the loan: everything due, the principal,
    the current period's interest to the value date and the product's prepayment fee (give
    ``amount_minor`` too and it must equal that payoff). Otherwise ``amount_minor`` pays what is due,
    the current period's interest to the value date and the fee, and the rest reduces principal;
    the remaining schedule is rebuilt - ``shorten-term`` keeps the installment and ends earlier,
    ``lower-installment`` keeps the dates and lowers the installment."""

    loan_id: str
    value_date: date
    idempotency_key: str
    amount_minor: int | None = None
    full: bool = False
    mode: str = "shorten-term"
    currency: str | None = None
    channel_reference: str | None = None


@dataclass(frozen=True, kw_only=True)
class ReverseRepayment(Command):
    """Undo a repayment (冲正) as if it had never been received: later repayments of the loan are
    reversed (newest first) and applied again in their order, each as a new transaction."""

    transaction_id: str
    reason: str
    idempotency_key: str


@dataclass(frozen=True, kw_only=True)
class RescheduleLoan(Command):
    """Replace the installments not yet due by a new schedule (展期/重组) so that the loan has
    ``new_term`` installments in all; ``new_rate`` (optional) applies from the next period. The
    installment in progress keeps its interest; nothing is capitalised."""

    loan_id: str
    new_term: int
    reason: str
    idempotency_key: str
    new_rate: Decimal | None = None


@dataclass(frozen=True, kw_only=True)
class WriteOffLoan(Command):
    """Write a loan off (核销): principal and receivables leave the balance sheet against the loan
    loss provision (``charge_to="provision"``, 1304) or credit impairment loss (``"impairment"``,
    6702), and are kept in the off-balance memo pair 7001/7002."""

    loan_id: str
    reason: str
    idempotency_key: str
    charge_to: str = "provision"


@dataclass(frozen=True, kw_only=True)
class RecordRecovery(Command):
    """Money recovered on a written-off loan (核销后收回): income, and the memo pair reduced."""

    loan_id: str
    amount_minor: int
    value_date: date
    idempotency_key: str
    currency: str | None = None
    channel_reference: str | None = None
