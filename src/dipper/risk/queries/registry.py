"""Queries of the model registry and of strategies, and :func:`champion_setup` for the decision path.

Every query is tenant-scoped (the unit of work's session sees one bank). A model is handed out for use
only while ``approved``: :func:`champion_setup` and :func:`approved_model` never return a pending,
rejected or retired one. Loaded runtimes and parsed strategies are kept in this process per content
hash, so after the first load the decision path runs two small queries (three with a challenger)
and reads no artifact.

"Pending" is the change request: a model or strategy version waiting for a checker has an open
request in ``access``; when the checker rejects it, the row keeps its status and these views show
``rejected`` (the request is the record, as for loan products).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, TypeVar

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from dipper.access import queries as access
from dipper.kernel.errors import NotFound, ValidationFailed
from dipper.persistence.uow import SqlAlchemyUnitOfWork
from dipper.risk.adapters.model_archive import ModelArchive, read_archive, runtime_from_archive
from dipper.risk.adapters.registry_tables import RiskModel, RiskStrategy, RiskStrategySplit
from dipper.risk.domain.strategy import Arm, ChampionChallenger, Strategy, default_strategy
from dipper.risk.domain.strategy_document import decision_tables

if TYPE_CHECKING:
    from dipper.risk.domain.base import ModelRuntime

__all__ = [
    "DEFAULT_STRATEGY_ID",
    "MODEL_APPROVE_KIND",
    "REGISTRY_KINDS",
    "STRATEGY_CHALLENGER_KIND",
    "STRATEGY_PUBLISH_KIND",
    "ArmSetup",
    "ChampionSetup",
    "RegisteredModel",
    "approved_model",
    "champion_setup",
    "champion_setup_in",
    "clear_caches",
    "get_model",
    "get_strategy",
    "list_models",
    "list_strategies",
    "model_file",
    "packaged_strategy",
    "pending_registry_changes",
    "strategy_split",
    "strategy_tables",
]

#: The change kinds of ``access`` (approved by a holder of ``risk.approve``, never the maker).
MODEL_APPROVE_KIND: Final = "risk.model.approve"
STRATEGY_PUBLISH_KIND: Final = "risk.strategy.publish"
STRATEGY_CHALLENGER_KIND: Final = "risk.strategy.challenger"
REGISTRY_KINDS: Final = (MODEL_APPROVE_KIND, STRATEGY_PUBLISH_KIND, STRATEGY_CHALLENGER_KIND)
#: The strategy the decision path uses when it names none (the packaged default's id).
DEFAULT_STRATEGY_ID: Final = "default_consumer"
_CHANGES_SCAN: Final = 500
_CACHE_SIZE: Final = 64

# -- in-process caches (per content hash: the same bytes give the same runtime in every bank) ------------

_K = TypeVar("_K")
_V = TypeVar("_V")


class _Lru(OrderedDict[_K, _V]):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.lock = threading.Lock()

    def get_or_make(self, key: _K, make: Callable[[], _V]) -> _V:
        with self.lock:
            if key in self:
                self.move_to_end(key)
                return self[key]
        value = make()  # outside the lock: a slow first load does not block other keys
        with self.lock:
            self[key] = value
            while len(self) > self.size:
                self.popitem(last=False)
        return value


_RUNTIMES: _Lru[str, tuple[Any, dict[str, Any]]] = _Lru(_CACHE_SIZE)
_STRATEGIES: _Lru[tuple[str, int, str], Strategy] = _Lru(_CACHE_SIZE)


def clear_caches() -> None:
    """Forget loaded runtimes and strategies (tests; a process never needs it: keys are content hashes)."""
    for cache in (_RUNTIMES, _STRATEGIES):
        with cache.lock:
            cache.clear()


# -- views -----------------------------------------------------------------------------------------------


def pending_registry_changes(uow: SqlAlchemyUnitOfWork) -> list[dict[str, Any]]:
    """The registry's change requests waiting for a checker (models, strategies, splits)."""
    return [
        c for c in access.list_changes(uow, "pending", limit=_CHANGES_SCAN) if c["kind"] in REGISTRY_KINDS
    ]


def _latest_changes(uow: SqlAlchemyUnitOfWork) -> dict[str, dict[str, Any]]:
    """The newest registry change request per target (a model or strategy row id)."""
    latest: dict[str, dict[str, Any]] = {}
    for change in access.list_changes(uow, None, limit=_CHANGES_SCAN):  # newest first
        if change["kind"] in REGISTRY_KINDS:
            latest.setdefault(change["target"], change)
    return latest


def _effective(status: str, change: dict[str, Any] | None) -> str:
    if status in ("pending", "draft") and change is not None and change["status"] == "rejected":
        return "rejected"
    return status


def _summary(metrics: Mapping[str, Any]) -> dict[str, Any]:
    validation = metrics.get("validation") or {}
    return {k: validation.get(k) for k in ("auc", "ks", "gini", "rows") if k in validation}


def _model_view(m: RiskModel, change: dict[str, Any] | None, *, full: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": m.id,
        "name": m.name,
        "version": m.version,
        "kind": m.kind,
        "role": m.role,
        "status": _effective(m.status, change),
        "content_hash": m.content_hash,
        "data_fingerprint": m.data_fingerprint,
        "metrics_summary": _summary(m.metrics),
        "artifact_size": m.artifact_size,
        "note": m.note,
        "created_by": m.created_by,
        "created_at": m.created_at,
        "approved_by": m.approved_by,
        "approved_at": m.approved_at,
        "retired_at": m.retired_at,
        "change_id": change["id"] if change is not None else None,
        "change_status": change["status"] if change is not None else None,
    }
    if full:
        view["metrics"] = dict(m.metrics)
        view["manifest"] = dict(m.manifest)
        view["files"] = sorted((m.manifest.get("artifacts") or {}).keys())
    return view


def list_models(uow: SqlAlchemyUnitOfWork, name: str | None = None) -> list[dict[str, Any]]:
    """The bank's models by name, newest version first (no artifact bytes)."""
    latest = _latest_changes(uow)
    with uow:
        q = select(RiskModel).order_by(RiskModel.name, RiskModel.version.desc())
        if name:
            q = q.where(RiskModel.name == name)
        return [_model_view(m, latest.get(m.id)) for m in uow.session.scalars(q)]


def _model_row(session: Session, model_id: str) -> RiskModel:
    m = session.scalar(select(RiskModel).where(RiskModel.id == model_id))
    if m is None:
        raise NotFound("no such model", code="model_not_found")
    return m


def get_model(uow: SqlAlchemyUnitOfWork, model_id: str) -> dict[str, Any]:
    """One model version with its metrics, manifest and file list."""
    latest = _latest_changes(uow)
    with uow:
        m = _model_row(uow.session, model_id)
        return _model_view(m, latest.get(m.id), full=True)


def _stored_archive(m: RiskModel) -> ModelArchive:
    archive = read_archive(m.artifact)
    archive.verify(m.content_hash)  # model_tampered when the stored bytes are not the registered model
    return archive


def model_file(uow: SqlAlchemyUnitOfWork, model_id: str, path: str) -> bytes:
    """One file of a model's artifact (``report/report.html``, ``metrics.json``...), verified first;
    ``archive.zip`` is the whole deterministic zip."""
    with uow:
        m = _model_row(uow.session, model_id)
        if path == "archive.zip":
            archive = _stored_archive(m)
            return archive.to_bytes()
        archive = _stored_archive(m)
        if path not in archive.files:
            raise NotFound("no such file in this model", code="model_file_not_found", details={"path": path})
        return archive.files[path]


# -- models for use ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisteredModel:
    """An approved model version, compiled: ``runtime.score_one(application)`` and ``decide``."""

    model_id: str
    name: str
    version: int
    kind: str
    content_hash: str
    runtime: ModelRuntime
    manifest: Mapping[str, Any] = field(repr=False)

    def decide(self, application: Mapping[str, Any], *, reasons: int = 4) -> dict[str, Any]:
        """Score, probability of default and reason codes (zh-CN and en) of one application."""
        self.runtime.check_inputs(list(application))
        score = self.runtime.score_one(application)
        return {
            "score": score,
            "pd": self.runtime.scale.pd(score),
            "reasons": [r.to_json() for r in self.runtime.reasons(application, reasons)],
            "model": self.content_hash,
            "model_name": self.name,
            "model_version": self.version,
        }


_LIGHT_MODEL_COLUMNS = (
    RiskModel.id,
    RiskModel.name,
    RiskModel.version,
    RiskModel.kind,
    RiskModel.content_hash,
    RiskModel.status,
)


# Built once: the decision path runs these on every call (parameters bound, statements cached).
_MODEL_BY_NAME = select(*_LIGHT_MODEL_COLUMNS).where(RiskModel.name.in_(bindparam("names", expanding=True)))
_ARTIFACT = select(RiskModel.artifact).where(RiskModel.id == bindparam("model_id"))


def _registered(session: Session, row: Any, name: str, version: int, slot: str | None) -> RegisteredModel:
    """An approved model's compiled runtime, from its light row (``None``: not registered)."""
    if row is None:
        raise NotFound(
            f"no model {name} v{version}", code="model_not_found", details={"name": name, "version": version}
        )
    if row.status != "approved":
        raise ValidationFailed(
            f"model {name} v{version} is {row.status}: only an approved model is used",
            code="model_not_approved",
            details={"name": name, "version": version, "status": row.status},
        )
    if slot is not None and row.kind != slot:
        raise ValidationFailed(
            f"model {name} v{version} is a {row.kind}, not a {slot}",
            code="model_kind_mismatch",
            details={"name": name, "version": version, "kind": row.kind, "slot": slot},
        )

    def load() -> tuple[Any, dict[str, Any]]:
        artifact = session.scalar(_ARTIFACT, {"model_id": row.id})
        archive = read_archive(artifact or b"")
        return runtime_from_archive(archive, row.content_hash), archive.manifest

    runtime, manifest = _RUNTIMES.get_or_make(row.content_hash, load)
    return RegisteredModel(
        model_id=row.id,
        name=row.name,
        version=row.version,
        kind=row.kind,
        content_hash=row.content_hash,
        runtime=runtime,
        manifest=manifest,
    )


def _model_rows(session: Session, names: set[str]) -> dict[tuple[str, int], Any]:
    if not names:
        return {}
    return {(r.name, r.version): r for r in session.execute(_MODEL_BY_NAME, {"names": sorted(names)})}


def load_approved(session: Session, name: str, version: int, slot: str | None = None) -> RegisteredModel:
    """An approved model version inside an open unit of work (see :func:`approved_model`)."""
    return _registered(session, _model_rows(session, {name}).get((name, version)), name, version, slot)


def approved_model(uow: SqlAlchemyUnitOfWork, name: str, version: int) -> RegisteredModel:
    """The compiled runtime of an approved model version; ``model_not_approved`` (422) for a pending,
    rejected or retired one, ``model_tampered`` when its stored artifact does not match its hash."""
    with uow:
        return load_approved(uow.session, name, version)


# -- strategies -------------------------------------------------------------------------------------------


def packaged_strategy() -> Strategy:
    """The packaged default (``strategies/default_consumer.json``): no models, so every application
    without a score goes to review (its ``NO_SCORE`` row) until the bank publishes its own version."""
    return default_strategy()


def _strategy_view(s: RiskStrategy, change: dict[str, Any] | None, *, full: bool = False) -> dict[str, Any]:
    refs = {
        "scorecard": {"name": s.scorecard_name, "version": s.scorecard_version} if s.scorecard_name else None,
        "gbdt": {"name": s.gbdt_name, "version": s.gbdt_version} if s.gbdt_name else None,
    }
    meta = s.document.get("dipper") or {}
    view: dict[str, Any] = {
        "id": s.id,
        "strategy_id": s.strategy_id,
        "version": s.version,
        "status": _effective(s.status, change),
        "content_hash": s.content_hash,
        "name_en": str(meta.get("name_en", "")),
        "name_zh": str(meta.get("name_zh", "")),
        "models": refs,
        "note": s.note,
        "source": "registry",
        "created_by": s.created_by,
        "created_at": s.created_at,
        "approved_by": s.approved_by,
        "approved_at": s.approved_at,
        "retired_at": s.retired_at,
        "change_id": change["id"] if change is not None else None,
        "change_status": change["status"] if change is not None else None,
    }
    if full:
        view["document"] = dict(s.document)
    return view


def _packaged_view(*, full: bool = False) -> dict[str, Any]:
    strategy = packaged_strategy()
    meta = strategy.document.get("dipper") or {}
    view: dict[str, Any] = {
        "id": None,
        "strategy_id": strategy.strategy_id,
        "version": strategy.version,
        "status": "published",
        "content_hash": strategy.content_hash,
        "name_en": str(meta.get("name_en", "")),
        "name_zh": str(meta.get("name_zh", "")),
        "models": {"scorecard": None, "gbdt": None},
        "note": "",
        "source": "packaged",
        "created_by": None,
        "created_at": None,
        "approved_by": None,
        "approved_at": None,
        "retired_at": None,
        "change_id": None,
        "change_status": None,
    }
    if full:
        view["document"] = dict(strategy.document)
    return view


def list_strategies(uow: SqlAlchemyUnitOfWork) -> list[dict[str, Any]]:
    """Every stored version (newest first per id), plus the packaged default while the bank has
    published no version of its id (``source: packaged``)."""
    latest = _latest_changes(uow)
    with uow:
        rows = list(
            uow.session.scalars(
                select(RiskStrategy).order_by(RiskStrategy.strategy_id, RiskStrategy.version.desc())
            )
        )
        views = [_strategy_view(s, latest.get(s.id)) for s in rows]
    if not any(v["strategy_id"] == DEFAULT_STRATEGY_ID and v["status"] == "published" for v in views):
        views.append(_packaged_view())
    return views


def _strategy_row(session: Session, strategy_id: str, version: int | None) -> RiskStrategy | None:
    q = select(RiskStrategy).where(RiskStrategy.strategy_id == strategy_id)
    q = (
        q.where(RiskStrategy.status == "published")
        if version is None
        else q.where(RiskStrategy.version == version)
    )
    return session.scalar(q)


def get_strategy(uow: SqlAlchemyUnitOfWork, strategy_id: str, version: int | None = None) -> dict[str, Any]:
    """A version with its document; ``version=None`` is the published one (or the packaged default)."""
    latest = _latest_changes(uow)
    with uow:
        row = _strategy_row(uow.session, strategy_id, version)
        if row is not None:
            return _strategy_view(row, latest.get(row.id), full=True)
    packaged = packaged_strategy()
    if strategy_id == packaged.strategy_id and version in (None, packaged.version):
        return _packaged_view(full=True)
    raise NotFound(
        f"no version {version if version is not None else '(published)'} of strategy {strategy_id!r}",
        code="strategy_not_found",
        details={"strategy_id": strategy_id, "version": version},
    )


def strategy_tables(
    uow: SqlAlchemyUnitOfWork, strategy_id: str, version: int | None = None
) -> dict[str, Any]:
    """A version's decision tables as rows, for the console's editor (``PUT`` them back as a new version)."""
    view = get_strategy(uow, strategy_id, version)
    return {
        "strategy_id": view["strategy_id"],
        "version": view["version"],
        "status": view["status"],
        "source": view["source"],
        "content_hash": view["content_hash"],
        "models": view["models"],
        "tables": decision_tables(view["document"]),
    }


def _split_view(split: RiskStrategySplit, challenger: RiskStrategy | None) -> dict[str, Any]:
    return {
        "id": split.id,
        "strategy_id": split.strategy_id,
        "challenger_version": challenger.version if challenger is not None else None,
        "challenger_share": split.challenger_share,
        "status": split.status,
        "note": split.note,
        "created_by": split.created_by,
        "created_at": split.created_at,
        "approved_by": split.approved_by,
        "approved_at": split.approved_at,
    }


def strategy_split(uow: SqlAlchemyUnitOfWork, strategy_id: str) -> dict[str, Any]:
    """The champion version, the active split (or none) and the splits waiting for approval.

    ``strategy_not_found`` (404) for an id with no stored version (other than the packaged default's)."""
    with uow:
        known = uow.session.scalar(
            select(RiskStrategy.id).where(RiskStrategy.strategy_id == strategy_id).limit(1)
        )
        if known is None and strategy_id != DEFAULT_STRATEGY_ID:
            raise NotFound(
                f"no strategy {strategy_id!r}",
                code="strategy_not_found",
                details={"strategy_id": strategy_id},
            )
        champion = uow.session.scalar(
            select(RiskStrategy.version).where(
                RiskStrategy.strategy_id == strategy_id, RiskStrategy.status == "published"
            )
        )
        splits = list(
            uow.session.scalars(
                select(RiskStrategySplit)
                .where(
                    RiskStrategySplit.strategy_id == strategy_id,
                    RiskStrategySplit.status.in_(("active", "pending")),
                )
                .order_by(RiskStrategySplit.created_at.desc())
            )
        )
        ids = [s.challenger_id for s in splits if s.challenger_id]
        challengers = (
            {s.id: s for s in uow.session.scalars(select(RiskStrategy).where(RiskStrategy.id.in_(ids)))}
            if ids
            else {}
        )
        views = [_split_view(s, challengers.get(s.challenger_id or "")) for s in splits]
    pending_ids = {
        c["target"] for c in pending_registry_changes(uow) if c["kind"] == STRATEGY_CHALLENGER_KIND
    }
    active = next((v for v in views if v["status"] == "active"), None)
    return {
        "strategy_id": strategy_id,
        "champion_version": champion,
        "active": active,
        "pending": [v for v in views if v["status"] == "pending" and v["id"] in pending_ids],
    }


# -- the decision path ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArmSetup:
    """One arm: its strategy version and the approved models it scores with (None: slot unused)."""

    strategy: Strategy
    scorecard: RegisteredModel | None = None
    gbdt: RegisteredModel | None = None

    @property
    def models(self) -> dict[str, RegisteredModel]:
        return {slot: m for slot, m in (("scorecard", self.scorecard), ("gbdt", self.gbdt)) if m is not None}


@dataclass(frozen=True)
class ChampionSetup:
    """What the decision path needs for one strategy id: the champion, the optional challenger and
    its share, and each arm's approved model runtimes (see :func:`champion_setup`)."""

    strategy_id: str
    champion: ArmSetup
    challenger: ArmSetup | None = None
    challenger_share: Decimal = Decimal(0)
    #: ``registry`` (a published version of this bank) or ``packaged`` (the built-in default).
    source: str = "registry"

    @property
    def split(self) -> ChampionChallenger:
        """The domain's router: ``split.arm_for(key)`` and ``split.decide(key, context, bounds)``."""
        return ChampionChallenger(
            strategy_id=self.strategy_id,
            champion=self.champion.strategy,
            challenger=self.challenger.strategy if self.challenger is not None else None,
            challenger_share=self.challenger_share if self.challenger is not None else Decimal(0),
        )

    def arm_for(self, application_key: str) -> Arm:
        """The arm of one application: stable per (strategy id, application key)."""
        return self.split.arm_for(application_key)

    def setup_for(self, arm: Arm) -> ArmSetup:
        return self.challenger if arm is Arm.CHALLENGER and self.challenger is not None else self.champion


def _parsed(row_id: str, strategy_id: str, version: int, content_hash: str, session: Session) -> Strategy:
    def load() -> Strategy:
        document = session.scalar(select(RiskStrategy.document).where(RiskStrategy.id == row_id))
        strategy = Strategy(strategy_id, version, document or {})
        if strategy.content_hash != content_hash:
            raise ValidationFailed(
                f"strategy {strategy_id} v{version} does not match its content hash",
                code="strategy_tampered",
                details={"strategy_id": strategy_id, "version": version},
            )
        return strategy

    return _STRATEGIES.get_or_make((strategy_id, version, content_hash), load)


_LIGHT_STRATEGY_COLUMNS = (
    RiskStrategy.id,
    RiskStrategy.strategy_id,
    RiskStrategy.version,
    RiskStrategy.content_hash,
    RiskStrategy.scorecard_name,
    RiskStrategy.scorecard_version,
    RiskStrategy.gbdt_name,
    RiskStrategy.gbdt_version,
)


_SETUP_ROWS = select(*_LIGHT_STRATEGY_COLUMNS, RiskStrategy.status).where(
    RiskStrategy.strategy_id == bindparam("strategy_id"), RiskStrategy.status.in_(("published", "challenger"))
)
_ACTIVE_SPLIT = select(RiskStrategySplit.challenger_id, RiskStrategySplit.challenger_share).where(
    RiskStrategySplit.strategy_id == bindparam("strategy_id"), RiskStrategySplit.status == "active"
)


def _arm(session: Session, row: Any, models: dict[tuple[str, int], Any]) -> ArmSetup:
    strategy = _parsed(row.id, row.strategy_id, row.version, row.content_hash, session)
    slots: dict[str, RegisteredModel | None] = {"scorecard": None, "gbdt": None}
    for slot, name, version in (
        ("scorecard", row.scorecard_name, row.scorecard_version),
        ("gbdt", row.gbdt_name, row.gbdt_version),
    ):
        if name:
            slots[slot] = _registered(session, models.get((name, version)), name, version, slot)
    return ArmSetup(strategy=strategy, scorecard=slots["scorecard"], gbdt=slots["gbdt"])


def champion_setup_in(uow: SqlAlchemyUnitOfWork, strategy_id: str = DEFAULT_STRATEGY_ID) -> ChampionSetup:
    """:func:`champion_setup` inside a unit of work the caller already opened (``with uow:``)."""
    session = uow.session
    rows = session.execute(_SETUP_ROWS, {"strategy_id": strategy_id}).all()
    champion = next((r for r in rows if r.status == "published"), None)
    if champion is None:
        packaged = packaged_strategy()
        if strategy_id != packaged.strategy_id:
            raise NotFound(
                f"strategy {strategy_id!r} has no published version",
                code="strategy_not_published",
                details={"strategy_id": strategy_id},
            )
        return ChampionSetup(strategy_id=strategy_id, champion=ArmSetup(packaged), source="packaged")
    challenger_row, share = None, Decimal(0)
    if any(r.status == "challenger" for r in rows):  # only then is a split active
        split = session.execute(_ACTIVE_SPLIT, {"strategy_id": strategy_id}).first()
        if split is not None and split.challenger_id:
            challenger_row = next((r for r in rows if r.id == split.challenger_id), None)
            share = Decimal(split.challenger_share) if challenger_row is not None else Decimal(0)
    arms = [r for r in (champion, challenger_row) if r is not None]
    models = _model_rows(session, {n for r in arms for n in (r.scorecard_name, r.gbdt_name) if n})
    return ChampionSetup(
        strategy_id=strategy_id,
        champion=_arm(session, champion, models),
        challenger=_arm(session, challenger_row, models) if challenger_row is not None else None,
        challenger_share=share,
    )


def champion_setup(uow: SqlAlchemyUnitOfWork, strategy_id: str = DEFAULT_STRATEGY_ID) -> ChampionSetup:
    """Everything the decision path needs for ``strategy_id``, approved and loaded.

    - ``champion``: the published version of ``strategy_id`` with its approved models
      (``ArmSetup.strategy``, ``.scorecard``, ``.gbdt``; a slot the document's ``dipper.models`` block
      leaves out is None). While the bank has published no version of the packaged default's id,
      the packaged default is the champion (``source == "packaged"``, no models: every application
      has ``score`` None and goes to review by its ``NO_SCORE`` row).
    - ``challenger`` and ``challenger_share``: the active split's version and share, or None and 0.
      ``setup.arm_for(application_key)`` picks the arm (stable hash; record it on the outcome),
      ``setup.setup_for(arm)`` gives that arm's strategy and models, ``setup.split`` is the domain's
      ``ChampionChallenger``.

    Only approved models are returned: a referenced model that is pending, rejected or retired
    raises ``model_not_approved`` (the handlers refuse to publish such a strategy, and refuse to
    retire a model in use, so this means the rows were changed by hand). A stored artifact that does
    not match its content hash raises ``model_tampered``. Runtimes and parsed strategies are cached
    per content hash in this process: after the first call it runs two small queries (three with a
    challenger) and reads no artifact.

    Opens its own ``with uow:``; inside one already open, call :func:`champion_setup_in`.
    Raises ``strategy_not_published`` (404) for another id with no published version.
    """
    with uow:
        return champion_setup_in(uow, strategy_id)
