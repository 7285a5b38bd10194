"""Events of risk decisions: ids and outcomes only, never personal data (events leave through the outbox)."""

from __future__ import annotations

from dataclasses import dataclass

from dipper.kernel.messages import Event

__all__ = ["DecisionMade", "ReviewResolved"]


@dataclass(frozen=True, kw_only=True)
class DecisionMade(Event):
    decision_id: str
    stage: str  # pre_loan | in_loan | post_loan
    decision: str  # approve | review | decline
    customer_id: str | None
    product_code: str | None
    review_case_id: str | None  # the case a gray-zone decision opened


@dataclass(frozen=True, kw_only=True)
class ReviewResolved(Event):
    case_id: str
    decision_id: str
    outcome: str  # approve | decline
    limit_minor: int | None
    annual_rate: str | None  # a decimal string
