"""Handlers of the model registry and of strategy publishing, and their three maker-checker kinds.

Registering a model, proposing a strategy version and setting a challenger each store a row and
answer the ``ProposeChange`` the entry point sends to ``access``; what the decision path uses changes
only in ``_apply_*``, which ``access`` calls in the checker's transaction (another person holding
``risk.approve``; ``access`` refuses the maker). Everything is checked again there: the request may
be old, a model may have been retired since, or the request may have come by hand through ``/changes``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dipper.access import commands as access_commands
from dipper.access import queries as access
from dipper.access.queries import Permission
from dipper.kernel.errors import Conflict, NotFound, ValidationFailed
from dipper.kernel.ids import new_id
from dipper.persistence.uow import SqlAlchemyUnitOfWork
from dipper.risk.adapters.model_archive import read_archive, runtime_from_archive
from dipper.risk.adapters.registry_tables import RiskModel, RiskStrategy, RiskStrategySplit
from dipper.risk.commands import registry as commands
from dipper.risk.domain.errors import INVALID_MODEL
from dipper.risk.domain.strategy import BUCKETS, Strategy
from dipper.risk.domain.strategy_document import check_expressions, model_refs, replace_rules, with_meta
from dipper.risk.events import registry as events
from dipper.risk.queries import registry as queries
from dipper.risk.queries.registry import (
    MODEL_APPROVE_KIND,
    STRATEGY_CHALLENGER_KIND,
    STRATEGY_PUBLISH_KIND,
)

__all__ = ["COMMAND_HANDLERS", "EVENT_HANDLERS", "MODEL_ROLES"]

_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
MODEL_ROLES: Final = ("application", "behaviour", "fraud", "collection")
#: Statuses a version may be published or made challenger from (a pending one only once its request
#: was rejected or lost: the open request is checked separately).
_REUSABLE: Final = ("draft", "pending", "challenger", "retired")


def _check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ValidationFailed(
            f"{what} must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit",
            code=f"invalid_{what.replace(' ', '_')}",
        )
    return value


def _note(value: str) -> str:
    return (value or "").strip()[:500]


def _open_request(pending: list[dict[str, Any]], kind: str, target: str) -> dict[str, Any] | None:
    return next((c for c in pending if c["kind"] == kind and c["target"] == target), None)


# -- models -----------------------------------------------------------------------------------------------


def _manifest_fields(manifest: Mapping[str, Any], runtime_kind: str) -> tuple[str, str, dict[str, Any]]:
    kind = manifest.get("kind")
    if kind not in ("scorecard", "gbdt") or kind != runtime_kind:
        raise ValidationFailed(
            f"the manifest's kind {kind!r} is not the model's ({runtime_kind})", code=INVALID_MODEL
        )
    training = manifest.get("training_data")
    fingerprint = training.get("sha256") if isinstance(training, Mapping) else None
    if not isinstance(fingerprint, str) or not 1 <= len(fingerprint) <= 80:
        raise ValidationFailed("the manifest has no training-data fingerprint", code=INVALID_MODEL)
    metrics = manifest.get("metrics")
    return kind, fingerprint, dict(metrics) if isinstance(metrics, Mapping) else {}


def _model_proposal(cmd_tenant: str, model: RiskModel, note: str) -> access_commands.ProposeChange:
    payload = _check_model_payload(
        {
            "model_id": model.id,
            "name": model.name,
            "version": model.version,
            "kind": model.kind,
            "content_hash": model.content_hash,
            "note": note,
        }
    )
    return access_commands.ProposeChange(
        tenant_id=cmd_tenant,
        kind=MODEL_APPROVE_KIND,
        target=model.id,
        summary=f"Approve model {model.name} v{model.version} ({model.kind}) · "
        f"批准模型 {model.name} 第 {model.version} 版",
        payload=payload,
    )


def register_model(cmd: commands.RegisterModel, uow: SqlAlchemyUnitOfWork) -> access_commands.ProposeChange:
    """Verify the archive, store it as the next version of its name (pending) and answer the proposal.

    The same files registered again while still pending with no open request (its request was
    rejected, or never sent) are proposed again; otherwise they are a ``model_exists`` conflict."""
    name = _check_name(cmd.name, "model name")
    if cmd.role not in MODEL_ROLES:
        raise ValidationFailed(
            f"unknown model role {cmd.role!r}",
            code="invalid_model_role",
            details={"allowed": list(MODEL_ROLES)},
        )
    archive = read_archive(cmd.archive)
    runtime = runtime_from_archive(archive)  # model_tampered unless every file matches the manifest
    kind, fingerprint, metrics = _manifest_fields(archive.manifest, runtime.kind)
    stored = archive.to_bytes()
    pending = queries.pending_registry_changes(uow)
    with uow:
        existing = uow.session.scalar(select(RiskModel).where(RiskModel.content_hash == archive.content_hash))
        if existing is not None:
            if (
                existing.status != "pending"
                or existing.name != name
                or _open_request(pending, MODEL_APPROVE_KIND, existing.id) is not None
            ):
                raise Conflict(
                    f"this model is registered as {existing.name} v{existing.version} ({existing.status})",
                    code="model_exists",
                    details={
                        "model_id": existing.id,
                        "name": existing.name,
                        "version": existing.version,
                        "status": existing.status,
                    },
                )
            return _model_proposal(cmd.tenant_id, existing, _note(cmd.note))
        latest = uow.session.scalar(select(func.max(RiskModel.version)).where(RiskModel.name == name))
        model = RiskModel(
            id=new_id(),
            name=name,
            version=(latest or 0) + 1,
            kind=kind,
            content_hash=archive.content_hash,
            data_fingerprint=fingerprint,
            metrics=metrics,
            manifest=archive.manifest,
            artifact=stored,
            artifact_size=len(stored),
            status="pending",
            role=cmd.role,
            note=_note(cmd.note),
            created_by=uow.actor.id,
        )
        uow.session.add(model)
        uow.emit(
            events.ModelRegistered(
                tenant_id=cmd.tenant_id,
                model_id=model.id,
                name=model.name,
                version=model.version,
                kind=model.kind,
                content_hash=model.content_hash,
            )
        )
        try:
            uow.commit()
        except IntegrityError:  # the same files or the same name and version, registered concurrently
            raise Conflict("this model or version was registered just now", code="model_exists") from None
        return _model_proposal(cmd.tenant_id, model, _note(cmd.note))


def _in_use(session: Session, name: str, version: int) -> list[str]:
    rows = session.execute(
        select(RiskStrategy.strategy_id, RiskStrategy.version).where(
            RiskStrategy.status.in_(("published", "challenger")),
            (
                (RiskStrategy.scorecard_name == name) & (RiskStrategy.scorecard_version == version)
                | (RiskStrategy.gbdt_name == name) & (RiskStrategy.gbdt_version == version)
            ),
        )
    ).all()
    return [f"{r.strategy_id} v{r.version}" for r in rows]


def retire_model(cmd: commands.RetireModel, uow: SqlAlchemyUnitOfWork) -> None:
    """No strategy may use the model again (audited; no checker needed: it only takes something away).
    Refused while a published or challenger strategy version uses it."""
    with uow:
        model = uow.session.scalar(select(RiskModel).where(RiskModel.id == cmd.model_id))
        if model is None:
            raise NotFound("no such model", code="model_not_found")
        if model.status == "retired":
            raise Conflict("the model is already retired", code="model_retired")
        users = _in_use(uow.session, model.name, model.version)
        if users:
            raise Conflict(
                f"the model is used by {', '.join(users)}: publish a strategy without it first",
                code="model_in_use",
                details={"strategies": users},
            )
        model.status = "retired"
        model.retired_at = uow.clock.now()
        if cmd.reason:
            model.note = _note(
                f"{model.note} · retired: {cmd.reason}" if model.note else f"retired: {cmd.reason}"
            )
        uow.emit(
            events.ModelRetired(
                tenant_id=cmd.tenant_id, model_id=model.id, name=model.name, version=model.version
            )
        )
        uow.commit()


def _check_model_payload(payload: dict[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key in ("model_id", "name", "kind", "content_hash"):
        value = payload.get(key)
        if not isinstance(value, str) or not value:
            raise ValidationFailed(f"{key} is required", code="invalid_change_payload")
        clean[key] = value
    version = payload.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValidationFailed("version must be an integer from 1", code="invalid_change_payload")
    clean["version"] = version
    clean["note"] = str(payload.get("note") or "")[:500]
    return clean


def _apply_model_approval(payload: dict[str, Any], target: str, uow: SqlAlchemyUnitOfWork) -> None:
    """Approve the model: its stored artifact is verified and compiled now (and kept in the cache)."""
    if target != payload.get("model_id"):
        raise ValidationFailed("the change's target is not its model", code="invalid_change_payload")
    model = uow.session.scalar(select(RiskModel).where(RiskModel.id == target))
    if model is None:
        raise NotFound("no such model", code="model_not_found")
    if model.status != "pending":
        raise Conflict(f"the model is {model.status}, not pending", code="model_not_pending")
    if model.content_hash != payload["content_hash"]:
        raise Conflict("the model changed after it was proposed", code="model_changed_since_submission")
    runtime_from_archive(read_archive(model.artifact), model.content_hash)  # model_tampered
    model.status = "approved"
    model.approved_by = uow.actor.id
    model.approved_at = uow.clock.now()
    uow.emit(
        events.ModelApproved(
            tenant_id=model.tenant_id,
            model_id=model.id,
            name=model.name,
            version=model.version,
            content_hash=model.content_hash,
            approved_by=uow.actor.id,
        )
    )


# -- strategies -------------------------------------------------------------------------------------------


def _next_version(session: Session, strategy_id: str) -> int:
    latest = session.scalar(
        select(func.max(RiskStrategy.version)).where(RiskStrategy.strategy_id == strategy_id)
    )
    if latest is not None:
        return int(latest) + 1
    packaged = queries.packaged_strategy()
    # The packaged default is version 1 of its id: the bank's first own version comes after it.
    return packaged.version + 1 if strategy_id == packaged.strategy_id else 1


def _require_models(session: Session, refs: Mapping[str, tuple[str, int]]) -> None:
    """Every model a version names exists, is approved and fits its slot."""
    for slot, (name, version) in refs.items():
        try:
            queries.load_approved(session, name, version, slot)
        except NotFound:
            raise ValidationFailed(
                f"the strategy names model {name} v{version}, which is not registered",
                code="unknown_model",
                details={"slot": slot, "name": name, "version": version},
            ) from None


def _refs(row: RiskStrategy) -> dict[str, tuple[str, int]]:
    refs: dict[str, tuple[str, int]] = {}
    if row.scorecard_name and row.scorecard_version:
        refs["scorecard"] = (row.scorecard_name, row.scorecard_version)
    if row.gbdt_name and row.gbdt_version:
        refs["gbdt"] = (row.gbdt_name, row.gbdt_version)
    return refs


def _new_version(
    uow: SqlAlchemyUnitOfWork, strategy_id: str, document: Mapping[str, Any], note: str, status: str
) -> RiskStrategy:
    """Check a document and add it as the next version (the caller commits)."""
    strategy_id = _check_name(strategy_id, "strategy id")
    if not isinstance(document, Mapping):
        raise ValidationFailed(
            "invalid strategy document: not a JSON object", code="invalid_strategy_document"
        )
    version = _next_version(uow.session, strategy_id)
    stamped = with_meta(document, strategy_id=strategy_id, version=version)
    strategy = Strategy(strategy_id, version, stamped)  # invalid_strategy_document: shape and graph
    check_expressions(strategy.document)  # ...and every cell
    refs = {slot: (r.name, r.version) for slot, r in model_refs(strategy.document).items()}
    _require_models(uow.session, refs)
    row = RiskStrategy(
        id=new_id(),
        strategy_id=strategy_id,
        version=version,
        document=dict(strategy.document),
        content_hash=strategy.content_hash,
        status=status,
        scorecard_name=refs["scorecard"][0] if "scorecard" in refs else None,
        scorecard_version=refs["scorecard"][1] if "scorecard" in refs else None,
        gbdt_name=refs["gbdt"][0] if "gbdt" in refs else None,
        gbdt_version=refs["gbdt"][1] if "gbdt" in refs else None,
        note=_note(note),
        created_by=uow.actor.id,
    )
    uow.session.add(row)
    return row


def _commit_version(uow: SqlAlchemyUnitOfWork) -> None:
    try:
        uow.commit()
    except IntegrityError:  # another version of this strategy was stored concurrently
        raise Conflict(
            "another version was stored just now; try again", code="strategy_version_exists"
        ) from None


def _refuse_second_publish(pending: list[dict[str, Any]], strategy_id: str) -> None:
    waiting = next(
        (
            c
            for c in pending
            if c["kind"] == STRATEGY_PUBLISH_KIND and c["payload"].get("strategy_id") == strategy_id
        ),
        None,
    )
    if waiting is not None:
        raise Conflict(
            f"version {waiting['payload'].get('version')} of {strategy_id} is waiting for approval",
            code="strategy_pending_approval",
            details={"change_id": waiting["id"], "version": waiting["payload"].get("version")},
        )


def _publish_proposal(tenant_id: str, row: RiskStrategy, note: str) -> access_commands.ProposeChange:
    payload = _check_publish_payload(
        {
            "strategy_row_id": row.id,
            "strategy_id": row.strategy_id,
            "version": row.version,
            "content_hash": row.content_hash,
            "note": note,
        }
    )
    return access_commands.ProposeChange(
        tenant_id=tenant_id,
        kind=STRATEGY_PUBLISH_KIND,
        target=row.id,
        summary=f"Publish strategy {row.strategy_id} v{row.version} · "
        f"发布策略 {row.strategy_id} 第 {row.version} 版",
        payload=payload,
    )


def draft_strategy(cmd: commands.DraftStrategy, uow: SqlAlchemyUnitOfWork) -> int:
    with uow:
        row = _new_version(uow, cmd.strategy_id, cmd.document, cmd.note, "draft")
        _commit_version(uow)
        return row.version


def propose_strategy(
    cmd: commands.ProposeStrategy, uow: SqlAlchemyUnitOfWork
) -> access_commands.ProposeChange:
    pending = queries.pending_registry_changes(uow)
    _refuse_second_publish(pending, cmd.strategy_id)
    with uow:
        row = _new_version(uow, cmd.strategy_id, cmd.document, cmd.note, "pending")
        _commit_version(uow)
        return _publish_proposal(cmd.tenant_id, row, _note(cmd.note))


def edit_strategy_tables(
    cmd: commands.EditStrategyTables, uow: SqlAlchemyUnitOfWork
) -> access_commands.ProposeChange:
    """A new version from a base version's document with some tables' rows replaced, proposed."""
    if not isinstance(cmd.tables, Mapping) or not cmd.tables:
        raise ValidationFailed("no tables to change", code="invalid_strategy_document")
    base = queries.get_strategy(uow, cmd.strategy_id, cmd.base_version)
    document = replace_rules(base["document"], cmd.tables)
    return propose_strategy(
        commands.ProposeStrategy(
            tenant_id=cmd.tenant_id, strategy_id=cmd.strategy_id, document=document, note=cmd.note
        ),
        uow,
    )


def _version_row(session: Session, strategy_id: str, version: int) -> RiskStrategy:
    row = session.scalar(
        select(RiskStrategy).where(RiskStrategy.strategy_id == strategy_id, RiskStrategy.version == version)
    )
    if row is None:
        raise NotFound(
            f"no version {version} of strategy {strategy_id!r}",
            code="strategy_not_found",
            details={"strategy_id": strategy_id, "version": version},
        )
    return row


def submit_strategy(cmd: commands.SubmitStrategy, uow: SqlAlchemyUnitOfWork) -> access_commands.ProposeChange:
    pending = queries.pending_registry_changes(uow)
    _refuse_second_publish(pending, cmd.strategy_id)
    with uow:
        row = _version_row(uow.session, cmd.strategy_id, cmd.version)
        if row.status not in _REUSABLE:
            raise Conflict(f"version {row.version} is {row.status}", code="strategy_not_submittable")
        _require_models(uow.session, _refs(row))
        if row.status == "draft":
            row.status = "pending"
            uow.commit()
        return _publish_proposal(cmd.tenant_id, row, _note(cmd.note))


def _check_publish_payload(payload: dict[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key in ("strategy_row_id", "strategy_id", "content_hash"):
        value = payload.get(key)
        if not isinstance(value, str) or not value:
            raise ValidationFailed(f"{key} is required", code="invalid_change_payload")
        clean[key] = value
    version = payload.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValidationFailed("version must be an integer from 1", code="invalid_change_payload")
    clean["version"] = version
    clean["note"] = str(payload.get("note") or "")[:500]
    return clean


def _checked_row(uow: SqlAlchemyUnitOfWork, row_id: str, strategy_id: str, content_hash: str) -> RiskStrategy:
    """The version a request names, unchanged since, still usable, its models still approved."""
    row = uow.session.scalar(select(RiskStrategy).where(RiskStrategy.id == row_id))
    if row is None or row.strategy_id != strategy_id:
        raise NotFound("no such strategy version", code="strategy_not_found")
    if row.content_hash != content_hash:
        raise Conflict("the version changed after it was proposed", code="strategy_changed_since_submission")
    if Strategy(row.strategy_id, row.version, row.document).content_hash != row.content_hash:
        raise Conflict("the stored document does not match its content hash", code="strategy_tampered")
    if row.status not in _REUSABLE:
        raise Conflict(f"version {row.version} is {row.status}", code="strategy_not_submittable")
    _require_models(uow.session, _refs(row))
    return row


def _apply_publish(payload: dict[str, Any], target: str, uow: SqlAlchemyUnitOfWork) -> None:
    """The version becomes the champion; the one it replaces is retired, and a split whose challenger
    it was ends (it won)."""
    if target != payload.get("strategy_row_id"):
        raise ValidationFailed(
            "the change's target is not its strategy version", code="invalid_change_payload"
        )
    row = _checked_row(uow, target, payload["strategy_id"], payload["content_hash"])
    now = uow.clock.now()
    previous = uow.session.scalar(
        select(RiskStrategy).where(
            RiskStrategy.strategy_id == row.strategy_id, RiskStrategy.status == "published"
        )
    )
    if previous is not None:
        previous.status = "retired"
        previous.retired_at = now
    for split in uow.session.scalars(
        select(RiskStrategySplit).where(
            RiskStrategySplit.strategy_id == row.strategy_id, RiskStrategySplit.status == "active"
        )
    ):
        if split.challenger_id == row.id:
            split.status = "retired"
            split.retired_at = now
    row.status = "published"
    row.approved_by = uow.actor.id
    row.approved_at = now
    row.retired_at = None
    uow.emit(
        events.StrategyPublished(
            tenant_id=row.tenant_id,
            strategy_id=row.strategy_id,
            version=row.version,
            content_hash=row.content_hash,
            previous_version=previous.version if previous is not None else None,
            approved_by=uow.actor.id,
        )
    )


# -- champion/challenger ----------------------------------------------------------------------------------


def _share(value: Any) -> Decimal:
    try:
        share = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):
        raise ValidationFailed(
            "the challenger share is a decimal from 0 to 1", code="invalid_split"
        ) from None
    if isinstance(value, float) or not share.is_finite() or not 0 <= share <= 1:
        raise ValidationFailed("the challenger share is a decimal from 0 to 1", code="invalid_split")
    if share * BUCKETS != (share * BUCKETS).to_integral_value():
        raise ValidationFailed("the challenger share has at most 4 decimal places", code="invalid_split")
    return share


def set_challenger(cmd: commands.SetChallenger, uow: SqlAlchemyUnitOfWork) -> access_commands.ProposeChange:
    share = _share(cmd.share)
    if cmd.challenger_version is None and share != 0:
        raise ValidationFailed("a challenger share needs a challenger version", code="invalid_split")
    if cmd.challenger_version is not None and share == 0:
        raise ValidationFailed("a challenger needs a share above 0", code="invalid_split")
    pending = queries.pending_registry_changes(uow)
    waiting = next(
        (
            c
            for c in pending
            if c["kind"] == STRATEGY_CHALLENGER_KIND and c["payload"].get("strategy_id") == cmd.strategy_id
        ),
        None,
    )
    if waiting is not None:
        raise Conflict(
            "a split of this strategy is waiting for approval",
            code="split_pending_approval",
            details={"change_id": waiting["id"]},
        )
    with uow:
        champion = uow.session.scalar(
            select(RiskStrategy).where(
                RiskStrategy.strategy_id == cmd.strategy_id, RiskStrategy.status == "published"
            )
        )
        if champion is None:
            if (
                uow.session.scalar(
                    select(RiskStrategy.id).where(RiskStrategy.strategy_id == cmd.strategy_id).limit(1)
                )
                is None
            ):
                raise NotFound(f"no strategy {cmd.strategy_id!r}", code="strategy_not_found")
            raise Conflict(
                f"strategy {cmd.strategy_id!r} has no published version to challenge",
                code="strategy_not_published",
            )
        challenger: RiskStrategy | None = None
        if cmd.challenger_version is not None:
            challenger = _version_row(uow.session, cmd.strategy_id, cmd.challenger_version)
            if challenger.status not in _REUSABLE or _open_request(
                pending, STRATEGY_PUBLISH_KIND, challenger.id
            ):
                raise Conflict(
                    f"version {challenger.version} is {challenger.status}: a challenger is a draft, "
                    "retired or challenger version",
                    code="invalid_challenger",
                )
            _require_models(uow.session, _refs(challenger))
        split = RiskStrategySplit(
            id=new_id(),
            strategy_id=cmd.strategy_id,
            challenger_id=challenger.id if challenger is not None else None,
            challenger_share=str(share),
            status="pending",
            note=_note(cmd.note),
            created_by=uow.actor.id,
        )
        uow.session.add(split)
        uow.commit()
        payload = _check_split_payload(
            {
                "split_id": split.id,
                "strategy_id": cmd.strategy_id,
                "challenger_id": split.challenger_id,
                "challenger_version": challenger.version if challenger is not None else None,
                "challenger_content_hash": challenger.content_hash if challenger is not None else None,
                "share": str(share),
                "note": split.note,
            }
        )
        what = (
            f"v{challenger.version} takes {share * 100:g}% · "
            f"挑战者第 {challenger.version} 版分流 {share * 100:g}%"
            if challenger is not None
            else "end the split · 结束分流"
        )
        return access_commands.ProposeChange(
            tenant_id=cmd.tenant_id,
            kind=STRATEGY_CHALLENGER_KIND,
            target=split.id,
            summary=f"Champion/challenger of {cmd.strategy_id}: {what}",
            payload=payload,
        )


def _check_split_payload(payload: dict[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key in ("split_id", "strategy_id"):
        value = payload.get(key)
        if not isinstance(value, str) or not value:
            raise ValidationFailed(f"{key} is required", code="invalid_change_payload")
        clean[key] = value
    for key in ("challenger_id", "challenger_content_hash"):
        value = payload.get(key)
        if value is not None and not isinstance(value, str):
            raise ValidationFailed(f"{key} must be text", code="invalid_change_payload")
        clean[key] = value
    version = payload.get("challenger_version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        raise ValidationFailed("challenger_version must be an integer from 1", code="invalid_change_payload")
    clean["challenger_version"] = version
    clean["share"] = str(_share(payload.get("share", "0")))
    clean["note"] = str(payload.get("note") or "")[:500]
    return clean


def _apply_challenger(payload: dict[str, Any], target: str, uow: SqlAlchemyUnitOfWork) -> None:
    if target != payload.get("split_id"):
        raise ValidationFailed("the change's target is not its split", code="invalid_change_payload")
    split = uow.session.scalar(select(RiskStrategySplit).where(RiskStrategySplit.id == target))
    if split is None or split.strategy_id != payload["strategy_id"]:
        raise NotFound("no such split", code="split_not_found")
    if split.status != "pending":
        raise Conflict(f"the split is {split.status}", code="split_not_pending")
    challenger = None
    if split.challenger_id is not None:
        challenger = _checked_row(
            uow, split.challenger_id, split.strategy_id, str(payload.get("challenger_content_hash") or "")
        )
    now = uow.clock.now()
    for active in uow.session.scalars(
        select(RiskStrategySplit).where(
            RiskStrategySplit.strategy_id == split.strategy_id, RiskStrategySplit.status == "active"
        )
    ):
        active.status = "retired"
        active.retired_at = now
        if active.challenger_id and active.challenger_id != split.challenger_id:
            old = uow.session.scalar(select(RiskStrategy).where(RiskStrategy.id == active.challenger_id))
            if old is not None and old.status == "challenger":
                old.status = "retired"
                old.retired_at = now
    split.status = "active"
    split.approved_by = uow.actor.id
    split.approved_at = now
    if challenger is not None:
        challenger.status = "challenger"
        challenger.approved_by = uow.actor.id
        challenger.approved_at = now
        challenger.retired_at = None
    uow.emit(
        events.ChallengerSet(
            tenant_id=split.tenant_id,
            strategy_id=split.strategy_id,
            challenger_version=challenger.version if challenger is not None else None,
            share=split.challenger_share,
            approved_by=uow.actor.id,
        )
    )


# -- registration with access ------------------------------------------------------------------------------


def _register(
    name: str,
    description: str,
    validate: Callable[[dict[str, Any]], dict[str, Any]],
    apply: Callable[[dict[str, Any], str, SqlAlchemyUnitOfWork], None],
) -> None:
    access.register_change_kind(
        access.ChangeKind(name, Permission.RISK_APPROVE.value, description), validate=validate, apply=apply
    )


_register(
    MODEL_APPROVE_KIND,
    "Approve a registered risk model version (strategies may then score with it)",
    _check_model_payload,
    _apply_model_approval,
)
_register(
    STRATEGY_PUBLISH_KIND,
    "Publish a decision strategy version (it becomes the champion)",
    _check_publish_payload,
    _apply_publish,
)
_register(
    STRATEGY_CHALLENGER_KIND,
    "Set or end a strategy's champion/challenger split",
    _check_split_payload,
    _apply_challenger,
)

COMMAND_HANDLERS: dict[type, Any] = {
    commands.RegisterModel: register_model,
    commands.RetireModel: retire_model,
    commands.DraftStrategy: draft_strategy,
    commands.ProposeStrategy: propose_strategy,
    commands.SubmitStrategy: submit_strategy,
    commands.EditStrategyTables: edit_strategy_tables,
    commands.SetChallenger: set_challenger,
}
EVENT_HANDLERS: dict[type, list[Any]] = {}
