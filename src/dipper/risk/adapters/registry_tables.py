"""Tables of the model registry and of decision strategies (per bank, under maker-checker).

``risk_models``: one row per registered model version. ``artifact`` holds the model directory's files
as a deterministic zip (sorted names, fixed timestamps); ``content_hash`` is the manifest's hash over
those files, checked again whenever the artifact is loaded, so a row edited behind the registry's
back is refused (``model_tampered``). Only an ``approved`` model is ever handed to the decision path.

``risk_strategies``: one row per version of a strategy (a GoRules JDM document). The models a
version scores with are named in its ``dipper.models`` block and copied into typed columns here.
One version per strategy id is ``published`` (the champion); superseded ones are ``retired``.

``risk_strategy_splits``: the champion/challenger split of a strategy id, under maker-checker like
the rest: at most one ``active`` split per strategy id; ``challenger_id`` empty means no challenger.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from dipper.kernel.ids import new_id
from dipper.persistence.base import ID, Audited, Base, TenantScoped, UTCDateTime, utcnow

__all__ = ["RiskModel", "RiskStrategy", "RiskStrategySplit"]


class RiskModel(TenantScoped, Audited, Base):
    """A registered model version (评分模型): its artifact, fingerprints, figures and approval."""

    __tablename__ = "risk_models"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", "version"),
        UniqueConstraint("tenant_id", "content_hash"),
        CheckConstraint("kind IN ('scorecard', 'gbdt')", name="kind"),
        CheckConstraint("status IN ('pending', 'approved', 'rejected', 'retired')", name="status"),
        CheckConstraint("version >= 1", name="version"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    #: ``sha256:<hex>`` over the artifact's files (the manifest's ``content_hash``).
    content_hash: Mapped[str] = mapped_column(String(80))
    #: The sha256 of the training file (the manifest's ``training_data.sha256``).
    data_fingerprint: Mapped[str] = mapped_column(String(80))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: The model directory as a deterministic zip. Deferred: lists never read it.
    artifact: Mapped[bytes] = mapped_column(LargeBinary, nullable=False, deferred=True)
    artifact_size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    #: What the model scores (application, behaviour, ...); which strategy uses it is the strategy's say.
    role: Mapped[str] = mapped_column(String(32), default="application")
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RiskStrategy(TenantScoped, Audited, Base):
    """One version of a decision strategy (风控策略): the JDM document and the models it scores with."""

    __tablename__ = "risk_strategies"
    __table_args__ = (
        UniqueConstraint("tenant_id", "strategy_id", "version"),
        CheckConstraint(
            "status IN ('draft', 'pending', 'published', 'challenger', 'rejected', 'retired')",
            name="status",
        ),
        CheckConstraint("version >= 1", name="version"),
        Index("ix_risk_strategies_tenant_strategy_status", "tenant_id", "strategy_id", "status"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    strategy_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: ``Strategy.content_hash``: the sha256 of the canonical JSON of the document.
    content_hash: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    scorecard_name: Mapped[str | None] = mapped_column(String(64))
    scorecard_version: Mapped[int | None] = mapped_column(Integer)
    gbdt_name: Mapped[str | None] = mapped_column(String(64))
    gbdt_version: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RiskStrategySplit(TenantScoped, Audited, Base):
    """The champion/challenger split of one strategy id: which version challenges, and its share."""

    __tablename__ = "risk_strategy_splits"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'active', 'rejected', 'retired')", name="status"),
        Index("ix_risk_strategy_splits_tenant_strategy_status", "tenant_id", "strategy_id", "status"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    #: The champion's strategy id (the published version of it is the champion).
    strategy_id: Mapped[str] = mapped_column(String(64))
    challenger_id: Mapped[str | None] = mapped_column(ForeignKey("risk_strategies.id"))
    #: A Decimal from 0 to 1 with at most 4 places, kept as its string ("0.1").
    challenger_share: Mapped[str] = mapped_column(String(16), default="0")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
