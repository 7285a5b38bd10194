"""Commands of risk decisions and of the manual review queue (the public write surface).

``DecideApplication`` runs the pre-loan decision on one application and stores it; the same
``idempotency_key`` returns the stored decision (the same key with other content is a conflict).
``ReplayDecision`` decides a stored decision again from its stored inputs and versions and reports
whether it came out the same. A gray-zone decision (``review``) opens a case; ``AssignCase`` takes it,
``ResolveCase`` approves it (a limit and a rate within the product's bounds) or declines it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from dipper.kernel.messages import Command

__all__ = [
    "AssignCase",
    "DecideApplication",
    "ReplayDecision",
    "ResolveCase",
    "ReviewCreditLimits",
    "ScoreEarlyWarning",
]


@dataclass(frozen=True, kw_only=True)
class DecideApplication(Command):
    """Decide one loan application (贷前审批) and store the decision. Returns the decision's view.

    ``application``: the application and identity/KYC fields the feature set reads (``id_number``,
    ``income_monthly_minor``, ``requested_amount_minor``, ``kyc_passed``, ...); personal fields are
    stored encrypted. ``bureau``: the credit report's inputs (``bureau_*``) when the caller fetched
    them; absent, the bank's bureau adapter (the simulated bureau by default) is asked.
    ``customer_id``: an existing customer, whose history here (``loans.queries.customer_behaviour``)
    the decision reads. ``application_key`` routes champion/challenger (default: the idempotency key).
    """

    idempotency_key: str
    product_code: str
    application: Mapping[str, Any] = field(default_factory=dict)
    customer_id: str | None = None
    application_key: str | None = None
    bureau: Mapping[str, Any] | None = None
    as_of: date | None = None  # default: the application's date, else the bank's business date


@dataclass(frozen=True, kw_only=True)
class ReplayDecision(Command):
    """Recompute a stored decision; returns ``{"equal", "versions", "differences", ...}``."""

    decision_id: str


@dataclass(frozen=True, kw_only=True)
class AssignCase(Command):
    """Take a review case (default: for the caller)."""

    case_id: str
    assignee: str | None = None


@dataclass(frozen=True, kw_only=True)
class ResolveCase(Command):
    """Approve (``limit_minor`` and ``annual_rate`` within the product's bounds) or decline a case."""

    case_id: str
    outcome: str  # "approve" | "decline"
    note: str
    limit_minor: int | None = None
    annual_rate: Decimal | None = None


@dataclass(frozen=True, kw_only=True)
class ReviewCreditLimits(Command):
    """The periodic in-loan limit review over every active or frozen line (贷中额度复审).

    Returns ``{"as_of", "strategy", "counts", "proposals", "apply"}``: a proposal per line (raise,
    lower, freeze or keep, with the features and reasons), and under ``apply`` the loans commands
    that carry the changes out (``ChangeCreditLimit``, ``FreezeCreditLine``) for the caller to send,
    each through the loan core's own checks. Nothing changes until they are sent."""

    as_of: date | None = None  # default: the bank's business date
    max_limit_minor: int = 20_000_000


@dataclass(frozen=True, kw_only=True)
class ScoreEarlyWarning(Command):
    """Post-loan early warning (贷后预警) over every customer with a loan open: their history here and
    a refreshed bureau report, one frame, the ``early_warning`` strategy per customer. Returns
    ``{"as_of", "strategy", "counts", "warnings"}`` (riskiest first; ``level`` green, amber or red).
    Stores nothing."""

    as_of: date | None = None  # default: the bank's business date
