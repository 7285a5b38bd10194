"""Commands of origination: credit lines (授信), offers, loan creation, disbursement and closing,
and the payment channel's daily reconciliation file.

Amounts are integer minor units in the product's (or the line's) currency; rates are Decimal
fractions (0.0435 is 4.35%). Money-moving commands carry an ``idempotency_key``: the same key
with the same content returns the first result; with other content it is ``idempotency_key_reused``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from dipper.kernel.messages import Command

__all__ = [
    "ApproveCreditLine",
    "ChangeCreditLimit",
    "CloseLoan",
    "CreateLoan",
    "DisburseLoan",
    "FreezeCreditLine",
    "MakeOffer",
    "ReconcileChannelFile",
    "UnfreezeCreditLine",
]


@dataclass(frozen=True, kw_only=True)
class ApproveCreditLine(Command):
    """Grant a customer a limit under a product until ``expires_on`` (inclusive). Returns the line id."""

    customer_id: str
    product_code: str
    currency: str
    limit_minor: int
    expires_on: date
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class ChangeCreditLimit(Command):
    """Raise or lower a limit; never below what is drawn (``limit_below_used``)."""

    credit_line_id: str
    limit_minor: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class FreezeCreditLine(Command):
    """Stop new drawdowns and disbursements on a line; loans already paid out are unaffected."""

    credit_line_id: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class UnfreezeCreditLine(Command):
    credit_line_id: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class MakeOffer(Command):
    """Price a loan under the product version published on ``start``: validates the ranges, builds
    the schedule, discloses the APR with every fee and checks the bank's APR ceiling. Stores nothing;
    returns an ``OfferView`` whose ``offer_digest`` ``CreateLoan`` can pin."""

    customer_id: str
    product_code: str
    amount_minor: int
    term: int
    method: str
    annual_rate: Decimal
    start: date
    first_due: date | None = None


@dataclass(frozen=True, kw_only=True)
class CreateLoan(Command):
    """Book an accepted offer as a ``pending`` loan, drawing on ``credit_line_id`` if given. The same
    inputs give the same schedule and APR as the offer; with ``offer_digest`` a changed product (or
    anything else) is refused as ``offer_changed``. Returns the loan id."""

    customer_id: str
    product_code: str
    amount_minor: int
    term: int
    method: str
    annual_rate: Decimal
    start: date
    first_due: date | None = None
    credit_line_id: str | None = None
    idempotency_key: str
    offer_digest: str | None = None


@dataclass(frozen=True, kw_only=True)
class DisburseLoan(Command):
    """Pay a pending loan out through the payment channel on its start date (放款). Returns a
    ``DisbursementView``."""

    loan_id: str
    idempotency_key: str
    to: str = "borrower"  # borrower | merchant (受托支付)
    merchant_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class CloseLoan(Command):
    """Close a loan whose every balance is zero (结清)."""

    loan_id: str


@dataclass(frozen=True, kw_only=True)
class ReconcileChannelFile(Command):
    """Match the payment channel's file for ``business_date`` against the payouts booked that day.
    Confirmed payouts settle clearing against the bank account; mismatches are reported, not booked.
    Returns a ``ChannelReconciliation``."""

    business_date: date
    csv_text: str
