"""The payment channel that moves disbursed money to the borrower or the merchant (放款通道).

``PaymentChannel`` is the port; ``SimulatedChannel`` the default adapter until a bank connects its
real one. The simulated channel pays every payout at once and keeps no ledger of its own: its
record of a payout is the disbursement transaction row (``channel_reference``,
``channel_amount_minor``), and its daily file lists those rows. A reconciliation therefore finds
nothing wrong unless the file is tampered with - which is exactly what tests do.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from sqlalchemy import select

from dipper.loans.adapters.accounts import LoanTransaction
from dipper.loans.domain.origination import ChannelRow, render_channel_file
from dipper.persistence.uow import SqlAlchemyUnitOfWork

__all__ = ["PaymentChannel", "Payout", "PayoutReceipt", "SimulatedChannel", "get_channel", "use_channel"]

DISBURSEMENT = "disbursement"


@dataclass(frozen=True)
class Payout:
    """One instruction to the channel. ``idempotency_key`` makes the channel's reference (and so a
    retried instruction) the same every time it is sent."""

    tenant_id: str
    loan_id: str
    amount_minor: int
    currency: str
    to: str
    merchant_id: str | None
    value_date: date
    idempotency_key: str


@dataclass(frozen=True)
class PayoutReceipt:
    reference: str
    status: str  # accepted: the channel took the instruction; its file later confirms the money moved


class PaymentChannel(Protocol):
    name: str

    def pay_out(self, payout: Payout) -> PayoutReceipt: ...

    def reconciliation_file(self, uow: SqlAlchemyUnitOfWork, business_date: date) -> str:
        """The channel's CSV of the payouts it made on ``business_date`` (one bank)."""
        ...


class SimulatedChannel:
    name = "simulated"

    def pay_out(self, payout: Payout) -> PayoutReceipt:
        # Deterministic, so a retry of the same disbursement is recognisably the same payout.
        seed = f"{payout.tenant_id}:{payout.idempotency_key}".encode()
        return PayoutReceipt(
            reference="SIM" + hashlib.sha256(seed).hexdigest()[:29].upper(), status="accepted"
        )

    def reconciliation_file(self, uow: SqlAlchemyUnitOfWork, business_date: date) -> str:
        with uow:
            rows = uow.session.execute(
                select(
                    LoanTransaction.channel_reference,
                    LoanTransaction.loan_id,
                    LoanTransaction.channel_amount_minor,
                    LoanTransaction.currency,
                )
                .where(
                    LoanTransaction.tenant_id == uow.tenant_id,
                    LoanTransaction.kind == DISBURSEMENT,
                    LoanTransaction.value_date == business_date,
                    LoanTransaction.channel_reference.is_not(None),
                )
                .order_by(LoanTransaction.channel_reference)
            ).all()
        return render_channel_file(
            [
                ChannelRow(str(ref), loan_id, int(amount or 0), currency, "success")
                for ref, loan_id, amount, currency in rows
            ]
        )


_channel: PaymentChannel = SimulatedChannel()


def get_channel() -> PaymentChannel:
    return _channel


def use_channel(channel: PaymentChannel) -> PaymentChannel:
    """Install another channel (a bank's adapter, a failing one in tests); returns the previous one."""
    global _channel
    previous, _channel = _channel, channel
    return previous
