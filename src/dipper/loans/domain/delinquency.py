"""Delinquency rules of the end of day: days past due, buckets, penalty eligibility, loan status.

The batch renders the same rules as SQL ``CASE`` expressions from the data below (the bucket
table, the policy), so a threshold lives in one place; the functions are the Python twins the
tests compare the SQL with.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from dipper.kernel.errors import ValidationFailed

__all__ = [
    "ACCRUING",
    "BUCKETS",
    "LIVE",
    "MAX_POLICY_DPD",
    "DelinquencyPolicy",
    "InstallmentStatus",
    "bucket_of",
    "days_past_due",
    "in_penalty",
    "next_status",
]


class InstallmentStatus(StrEnum):
    SCHEDULED = "scheduled"  # not yet due
    DUE = "due"  # due date reached, unpaid, not yet past it
    OVERDUE = "overdue"  # unpaid after its due date
    PAID = "paid"


#: Buckets by days past due, each with its inclusive upper bound (None: no bound).
#: current: 0; M1 1-30; M2 31-60; M3 61-90; M4+ over 90 (逾期 M1..M4+).
BUCKETS: Final[tuple[tuple[str, int | None], ...]] = (
    ("current", 0),
    ("M1", 30),
    ("M2", 60),
    ("M3", 90),
    ("M4+", None),
)

ACTIVE, OVERDUE, NON_ACCRUAL, WRITTEN_OFF = "active", "overdue", "non_accrual", "written_off"
#: Statuses the batch works on: disbursed and neither written off nor closed.
LIVE: Final = (ACTIVE, OVERDUE, NON_ACCRUAL)
#: Statuses whose interest is income; a non-accrual loan's goes to a memorandum column.
ACCRUING: Final = (ACTIVE, OVERDUE)
MAX_POLICY_DPD: Final = 3660


def days_past_due(business_date: dt.date, oldest_unpaid_due: dt.date | None) -> int:
    """``D - oldest unpaid due date``; 0 when nothing is unpaid or the oldest falls due today."""
    if oldest_unpaid_due is None:
        return 0
    return max(0, (business_date - oldest_unpaid_due).days)


def bucket_of(dpd: int) -> str:
    if type(dpd) is not int or dpd < 0:
        raise ValidationFailed("days past due is a non-negative integer", code="invalid_days_past_due")
    for name, upper in BUCKETS:
        if upper is None or dpd <= upper:
            return name
    raise AssertionError("the last bucket has no bound")


def in_penalty(installment_dpd: int, grace_days: int) -> bool:
    """Penalty interest runs on an installment's unpaid principal for each day past due beyond
    the grace days (a payment within the grace days costs no penalty)."""
    return installment_dpd > grace_days


@dataclass(frozen=True)
class DelinquencyPolicy:
    """When a loan stops accruing income and when it is written off by rule.

    ``non_accrual_after_dpd``: more than this many days past due makes a loan non-accrual (90:
    the M4+ bucket). ``write_off_after_dpd``: more than this many days writes it off; ``None``
    (the default) leaves every write-off to a decision (核销 needs approval), 180 is usual when on.
    """

    non_accrual_after_dpd: int = 90
    write_off_after_dpd: int | None = None

    def __post_init__(self) -> None:
        na = self.non_accrual_after_dpd
        if type(na) is not int or not 1 <= na <= MAX_POLICY_DPD:
            raise ValidationFailed(
                f"non_accrual_after_dpd must be 1-{MAX_POLICY_DPD}", code="invalid_delinquency_policy"
            )
        wo = self.write_off_after_dpd
        if wo is not None and (type(wo) is not int or not na < wo <= MAX_POLICY_DPD):
            raise ValidationFailed(
                f"write_off_after_dpd must be above non_accrual_after_dpd and at most {MAX_POLICY_DPD}",
                code="invalid_delinquency_policy",
            )


def next_status(status: str, dpd: int, policy: DelinquencyPolicy) -> str:
    """A live loan's status after aging. Non-accrual is left only once the loan is fully current
    again (a partial catch-up does not restore income recognition)."""
    if status not in LIVE:
        return status
    if policy.write_off_after_dpd is not None and dpd > policy.write_off_after_dpd:
        return WRITTEN_OFF
    if dpd > policy.non_accrual_after_dpd:
        return NON_ACCRUAL
    if status == NON_ACCRUAL and dpd > 0:
        return NON_ACCRUAL
    return OVERDUE if dpd > 0 else ACTIVE
