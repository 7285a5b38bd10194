"""Tables of stored risk decisions and of the manual review queue.

``risk_decisions``: one row per decision (pre-loan application, in-loan limit review, post-loan early
warning). ``record`` is the full :class:`~dipper.risk.domain.decision.DecisionRecord` as JSON (the
feature values, scores, reasons and every version), and the columns beside it repeat what lists and
filters need. The inputs are split: ``inputs`` holds the non-personal fields as JSON, and the
personal ones (resident ID, name, phone, bank card, ...) are one JSON document in ``inputs_personal``,
encrypted (AES-256-GCM, bound to this column); together they are exactly what the pipeline read, so
a replay needs nothing else. ``(tenant_id, idempotency_key)`` is unique: the same key returns the
stored decision; ``request_digest`` catches the same key sent with other content.

``risk_review_cases``: the gray zone (``decision == review``) opens one case per decision; a risk
officer takes it (``assigned``) and resolves it (``approved`` with a limit and a rate within the
product's bounds, or ``declined``), with a note. Every change is audited (both tables are
``Audited``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from dipper.kernel.ids import new_id
from dipper.persistence.base import ID, Audited, Base, TenantScoped, UTCDateTime, utcnow
from dipper.persistence.types import DecimalRate, EncryptedString

__all__ = ["ENCRYPTED_COLUMNS", "RiskDecision", "RiskReviewCase"]

#: For key rotation (``dipper.persistence.rotation.reencrypt``).
ENCRYPTED_COLUMNS = ("inputs_personal",)


class RiskDecision(TenantScoped, Audited, Base):
    """One stored decision (风控决策记录)."""

    __tablename__ = "risk_decisions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        CheckConstraint("stage IN ('pre_loan', 'in_loan', 'post_loan')", name="stage"),
        CheckConstraint("decision IN ('approve', 'review', 'decline')", name="decision"),
        Index("ix_risk_decisions_tenant_created", "tenant_id", "created_at"),
        Index("ix_risk_decisions_tenant_customer", "tenant_id", "customer_id"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    idempotency_key: Mapped[str] = mapped_column(String(128))
    #: sha256 of the request as sent (the same key with other content is a conflict).
    request_digest: Mapped[str] = mapped_column(String(80))
    stage: Mapped[str] = mapped_column(String(16), default="pre_loan")
    customer_id: Mapped[str | None] = mapped_column(ID)
    product_code: Mapped[str | None] = mapped_column(String(32))
    application_key: Mapped[str] = mapped_column(String(200))
    decision: Mapped[str] = mapped_column(String(16))
    arm: Mapped[str] = mapped_column(String(16))
    grade: Mapped[str | None] = mapped_column(String(8))
    limit_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    annual_rate: Mapped[Decimal | None] = mapped_column(DecimalRate())
    score: Mapped[float | None] = mapped_column(Float)
    strategy_id: Mapped[str] = mapped_column(String(64))
    strategy_version: Mapped[int] = mapped_column(Integer)
    strategy_hash: Mapped[str] = mapped_column(String(80))
    feature_set_hash: Mapped[str] = mapped_column(String(80))
    input_digest: Mapped[str] = mapped_column(String(80))
    #: Where the setup came from: ``registry`` (approved models, published strategy) or ``default``.
    setup_source: Mapped[str] = mapped_column(String(16))
    record: Mapped[dict[str, Any]] = mapped_column(JSON)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    inputs_personal: Mapped[str | None] = mapped_column(EncryptedString("risk_decisions.inputs_personal"))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RiskReviewCase(TenantScoped, Audited, Base):
    """A gray-zone decision waiting for (or resolved by) a person (人工复核)."""

    __tablename__ = "risk_review_cases"
    __table_args__ = (
        UniqueConstraint("decision_id"),
        CheckConstraint("status IN ('open', 'assigned', 'approved', 'declined')", name="status"),
        Index("ix_risk_review_cases_tenant_status", "tenant_id", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    decision_id: Mapped[str] = mapped_column(ForeignKey("risk_decisions.id"))
    status: Mapped[str] = mapped_column(String(16), default="open")
    assignee: Mapped[str | None] = mapped_column(String(64))
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    limit_minor: Mapped[int | None] = mapped_column(BigInteger)
    annual_rate: Mapped[Decimal | None] = mapped_column(DecimalRate())
    note: Mapped[str] = mapped_column(String(1000), default="")
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
