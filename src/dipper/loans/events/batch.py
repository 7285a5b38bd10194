"""Events of the end-of-day batch. They are written to the outbox set-based (one ``INSERT ...
SELECT`` per kind and date), in the same transaction as the change they report; the dataclasses
fix their names and fields. Dates are ISO strings, amounts integer minor units."""

from __future__ import annotations

from dataclasses import dataclass

from dipper.kernel.messages import Event

__all__ = ["DaysPastDueChanged", "EndOfDayCompleted", "InstallmentDue", "InstallmentMissed"]


@dataclass(frozen=True, kw_only=True)
class InstallmentDue(Event):
    """An installment reached its due date unpaid (at the end of that day)."""

    loan_id: str
    installment_id: str
    n: int
    due_date: str
    currency: str
    principal_minor: int
    interest_minor: int
    fee_minor: int
    outstanding_minor: int


@dataclass(frozen=True, kw_only=True)
class InstallmentMissed(Event):
    """An installment is still unpaid the day after its due date: it is overdue."""

    loan_id: str
    installment_id: str
    n: int
    due_date: str
    currency: str
    outstanding_minor: int


@dataclass(frozen=True, kw_only=True)
class DaysPastDueChanged(Event):
    """A loan moved to another delinquency bucket (current, M1, M2, M3, M4+). Sent on a bucket
    change, not for every day past due, which would be one event per overdue loan per day."""

    loan_id: str
    business_date: str
    days_past_due: int
    oldest_unpaid_due: str | None
    previous_bucket: str
    bucket: str


@dataclass(frozen=True, kw_only=True)
class EndOfDayCompleted(Event):
    run_id: str
    business_date: str
