"""Handlers of risk decisions and of the manual review queue.

Deciding an application: the product's published version gives the bounds (rate and amount ranges,
the bank's APR ceiling); the customer's history here comes from ``loans.queries.customer_behaviour``;
the bureau's inputs from the caller or the bureau adapter (simulated by default); the setup (feature
set, models, strategy and split) from the setup source. The pure pipeline
(:func:`dipper.risk.domain.decision.decide`) makes the record; one transaction stores it (personal
inputs encrypted) and, in the gray zone, opens a review case. Other modules' queries run on a side
unit of work (``_side``), as in loans' handlers, because a unit of work is not re-entrant.

The setup source: the model registry's published strategy and approved models when it has them
(``risk.queries.champion_setup``), else the packaged default strategy with the models named by
``DIPPER_RISK_DECISION_MODELS`` (``demo``: models trained on simulated applications; a directory:
its ``scorecard/`` and ``gbdt/`` model directories; unset: no models, so every application the
knock-outs let through goes to review with ``NO_SCORE``). Tests and benchmarks set their own with
:func:`use_setup_source`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from dipper.access import queries as access
from dipper.access.queries import Permission, permissions_for
from dipper.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from dipper.kernel.ids import new_id
from dipper.loans import commands as loans_commands
from dipper.loans import queries as loans
from dipper.persistence.uow import SqlAlchemyUnitOfWork
from dipper.risk import queries as risk_queries
from dipper.risk.adapters.decision_tables import RiskDecision, RiskReviewCase
from dipper.risk.adapters.model_archive import read_archive, runtime_from_archive
from dipper.risk.adapters.registry_tables import RiskModel, RiskStrategy
from dipper.risk.commands import decisions as commands
from dipper.risk.domain.bureau import SimulatedBureau
from dipper.risk.domain.decision import (
    PERSONAL_INPUTS,
    ArmModels,
    DecisionInputs,
    DecisionSetup,
    ModelBinding,
    bounds_from_json,
    decide,
    replay,
)
from dipper.risk.domain.early_warning import default_warning_strategy, score_customers
from dipper.risk.domain.feature_set import DEFAULT_FEATURE_SET
from dipper.risk.domain.limit_review import LineInput, default_limit_strategy, review_lines
from dipper.risk.domain.strategy import (
    ChampionChallenger,
    Decision,
    ProductBounds,
    Strategy,
    default_strategy,
)
from dipper.risk.events import decisions as events
from dipper.risk.queries import decisions as views

__all__ = [
    "COMMAND_HANDLERS",
    "EVENT_HANDLERS",
    "DefaultSetupSource",
    "SetupSource",
    "StaticSetupSource",
    "behaviour_inputs",
    "setup_matches",
    "use_setup_source",
]

_KEY: Final = re.compile(r"[\x21-\x7e]{1,128}")
_ID: Final = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_DEFAULT_APR_CEILING: Final = Decimal("0.24")
_SECTIONS: Final = ("application", "bureau", "behaviour")


# -- the setup a decision runs on -------------------------------------------------------------------------


class SetupSource(Protocol):
    def current(self, uow: SqlAlchemyUnitOfWork) -> tuple[DecisionSetup, str]:
        """The setup new decisions use and where it came from (``registry``, ``default``, ...)."""
        ...

    def stored(self, uow: SqlAlchemyUnitOfWork, record: Mapping[str, Any]) -> DecisionSetup | None:
        """The setup of exactly the versions ``record`` names, or ``None`` when they are gone."""
        ...


def setup_matches(setup: DecisionSetup, record: Mapping[str, Any]) -> bool:
    """Whether ``setup`` holds the very versions a stored record names (strategy split, models, features)."""
    return setup.routing() == record.get("routing") and setup.feature_set.content_hash == (
        record.get("feature_set") or {}
    ).get("content_hash")


class StaticSetupSource:
    """Fixed setups: the first is current; any of them replays the records it made (tests, benchmarks)."""

    def __init__(self, *setups: DecisionSetup, source: str = "static") -> None:
        if not setups:
            raise ValueError("a static setup source needs a setup")
        self.setups = setups
        self.source = source

    def current(self, uow: SqlAlchemyUnitOfWork) -> tuple[DecisionSetup, str]:
        return self.setups[0], self.source

    def stored(self, uow: SqlAlchemyUnitOfWork, record: Mapping[str, Any]) -> DecisionSetup | None:
        return next((s for s in self.setups if setup_matches(s, record)), None)


class DefaultSetupSource:
    """The registry's champion when the bank has published one, else the packaged default (see the
    module docstring). Setups built here are kept, one per distinct set of versions (they hold
    compiled engines); the registry caches its runtimes per content hash."""

    def __init__(self, models: str | None = None) -> None:
        self._models = models
        self._default: DecisionSetup | None = None
        self._seen: dict[str, DecisionSetup] = {}

    def _remember(self, setup: DecisionSetup) -> DecisionSetup:
        key = json.dumps([setup.routing(), setup.feature_set.content_hash], sort_keys=True)
        return self._seen.setdefault(key, setup)

    def default(self) -> DecisionSetup:
        if self._default is None:
            scorecard, gbdt = _default_models(
                self._models if self._models is not None else os.environ.get("DIPPER_RISK_DECISION_MODELS")
            )
            self._default = self._remember(
                DecisionSetup.of(DEFAULT_FEATURE_SET, default_strategy(), scorecard=scorecard, gbdt=gbdt)
            )
        return self._default

    def current(self, uow: SqlAlchemyUnitOfWork) -> tuple[DecisionSetup, str]:
        champion = risk_queries.champion_setup(uow)
        if champion.source == "packaged":
            return self.default(), "default"
        arms = [champion.champion] + ([champion.challenger] if champion.challenger is not None else [])
        key = json.dumps(
            [
                champion.strategy_id,
                str(champion.challenger_share),
                [[a.strategy.content_hash, *(m.content_hash for m in a.models.values())] for a in arms],
            ]
        )
        setup = self._seen.get(key)
        if setup is None:
            setup = DecisionSetup.of(
                DEFAULT_FEATURE_SET,
                champion.split,
                scorecard=_binding(champion.champion.scorecard),
                gbdt=_binding(champion.champion.gbdt),
                challenger_models=None
                if champion.challenger is None
                else ArmModels(_binding(champion.challenger.scorecard), _binding(champion.challenger.gbdt)),
            )
            self._seen[key] = setup
        return setup, "registry"

    def stored(self, uow: SqlAlchemyUnitOfWork, record: Mapping[str, Any]) -> DecisionSetup | None:
        self.default()
        for known in list(self._seen.values()):
            if setup_matches(known, record):
                return known
        with uow:
            found = _setup_from_registry(uow, record)
        return None if found is None else self._remember(found)


def _binding(model: Any) -> ModelBinding | None:
    if model is None:
        return None
    return ModelBinding(model.runtime, model.content_hash, model.name, model.version)


def _setup_from_registry(uow: SqlAlchemyUnitOfWork, record: Mapping[str, Any]) -> DecisionSetup | None:
    """The exact versions a record names, from the registry's rows (retired ones too: a replay
    reproduces the past), or None when any of them is gone or no longer matches its hash."""
    routing = record.get("routing")
    if not isinstance(routing, Mapping) or not isinstance(routing.get("champion"), Mapping):
        return None
    packaged = default_strategy()

    def strategy(ref: Mapping[str, Any]) -> Strategy | None:
        if ref.get("content_hash") == packaged.content_hash:
            return packaged
        row = uow.session.execute(
            select(RiskStrategy).where(
                RiskStrategy.tenant_id == uow.tenant_id,
                RiskStrategy.strategy_id == ref.get("strategy_id"),
                RiskStrategy.version == ref.get("version"),
            )
        ).scalar_one_or_none()
        if row is None:
            return None
        parsed = Strategy(row.strategy_id, row.version, row.document)
        return parsed if parsed.content_hash == ref.get("content_hash") else None

    def models(refs: Any) -> ArmModels | None:
        found: dict[str, ModelBinding] = {}
        for ref in refs or []:
            row = uow.session.execute(
                select(RiskModel).where(
                    RiskModel.tenant_id == uow.tenant_id, RiskModel.content_hash == ref.get("content_hash")
                )
            ).scalar_one_or_none()
            if row is None:
                return None
            try:
                runtime = runtime_from_archive(read_archive(row.artifact), row.content_hash)
            except ValidationFailed:
                return None
            found[str(ref.get("role"))] = ModelBinding(
                runtime, row.content_hash, ref.get("model_id"), ref.get("version")
            )
        return ArmModels(found.get("scorecard"), found.get("gbdt"))

    champion_ref = routing["champion"]
    champion = strategy(champion_ref)
    champion_models = models(champion_ref.get("models"))
    if champion is None or champion_models is None:
        return None
    challenger = challenger_models = None
    if isinstance(routing.get("challenger"), Mapping):
        challenger = strategy(routing["challenger"])
        challenger_models = models(routing["challenger"].get("models"))
        if challenger is None or challenger_models is None:
            return None
    try:
        split = ChampionChallenger(
            str(routing.get("strategy_id")),
            champion,
            challenger,
            Decimal(str(routing.get("challenger_share", "0"))),
        )
        setup = DecisionSetup.of(
            DEFAULT_FEATURE_SET,
            split,
            scorecard=champion_models.scorecard,
            gbdt=champion_models.gbdt,
            challenger_models=challenger_models,
        )
    except (ValidationFailed, InvalidOperation):
        return None
    return setup if setup_matches(setup, record) else None


def _default_models(spec: str | None) -> tuple[ModelBinding | None, ModelBinding | None]:
    if not spec:
        return None, None
    if spec == "demo":
        from dipper.risk.adapters.demo_models import demo_models

        return demo_models()
    from dipper.risk.queries.models import load_model

    out: list[ModelBinding | None] = []
    for kind in ("scorecard", "gbdt"):
        directory = Path(spec) / kind
        if directory.is_dir():
            model = load_model(directory)
            out.append(ModelBinding(model.runtime, model.content_hash))
        else:
            out.append(None)
    return out[0], out[1]


_source: SetupSource = DefaultSetupSource()


def use_setup_source(source: SetupSource | None) -> SetupSource:
    """Set the setup source (``None``: the default one); returns the previous one."""
    global _source  # noqa: PLW0603 - one process-wide source, like the bus's handler tables
    previous = _source
    _source = source if source is not None else DefaultSetupSource()
    return previous


# -- inputs -----------------------------------------------------------------------------------------------


def _side(uow: SqlAlchemyUnitOfWork) -> SqlAlchemyUnitOfWork:
    """A separate unit of work for other modules' queries (a unit of work is not re-entrant)."""
    assert uow.tenant_id is not None
    return uow.for_tenant(uow.tenant_id)


def behaviour_inputs(view: Any) -> dict[str, object]:
    """``loans.queries.CustomerBehaviour`` under the feature set's behaviour inputs (``dipper_*``)."""
    history = view.loans_total > 0
    return {
        "dipper_loans_total": view.loans_total,
        "dipper_active_loans": view.loans_active,
        "dipper_max_dpd_12m": view.max_dpd_12m if history else None,
        "dipper_max_dpd_now": view.max_dpd_now if history else None,
        "dipper_max_dpd_ever": view.max_dpd_ever if history else None,
        "dipper_on_time_ratio": view.on_time_ratio,
        "dipper_outstanding_minor": view.principal_outstanding_minor,
        "dipper_line_limit_minor": view.line_limit_minor,
        "dipper_line_used_minor": view.line_used_minor,
        "dipper_months_since_first_loan": view.months_since_first_loan,
    }


def _bounds(uow: SqlAlchemyUnitOfWork, product_code: str, on: date) -> tuple[ProductBounds, str]:
    version = loans.published_version(_side(uow), product_code, on)
    if version is None:
        raise NotFound(
            f"product {product_code!r} has no version published on {on.isoformat()}",
            code="product_not_published",
            details={"product_code": product_code},
        )
    terms = loans.product_terms(version)
    settings = access.get_tenant(_side(uow)).get("settings") or {}
    try:
        ceiling = Decimal(str(settings.get("apr_ceiling", _DEFAULT_APR_CEILING)))
    except InvalidOperation:
        ceiling = _DEFAULT_APR_CEILING
    bounds = ProductBounds(
        min_rate=terms.min_rate,
        max_rate=terms.max_rate,
        min_amount_minor=terms.min_amount_minor,
        max_amount_minor=terms.max_amount_minor,
        apr_ceiling=ceiling,
    )
    return bounds, terms.currency


def _as_of(cmd: commands.DecideApplication, uow: SqlAlchemyUnitOfWork) -> date:
    if cmd.as_of is not None:
        if not isinstance(cmd.as_of, date):
            raise ValidationFailed("as_of must be a date", code="invalid_date")
        return cmd.as_of
    raw = cmd.application.get("application_date") if isinstance(cmd.application, Mapping) else None
    if isinstance(raw, date):
        return raw
    if isinstance(raw, str):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise ValidationFailed("application_date must be YYYY-MM-DD", code="invalid_date") from None
    return uow.clock.today()


def _bureau_key(tenant_id: str, customer_id: str | None, application: Mapping[str, Any]) -> str:
    # Never the plain resident ID: a hash of it (per bank) when there is no customer id.
    if customer_id:
        return customer_id
    ident = application.get("id_number")
    if isinstance(ident, str) and ident:
        return hashlib.sha256(f"{tenant_id}\x1f{ident.upper()}".encode()).hexdigest()
    raise ValidationFailed(
        "an application needs a customer_id or an id_number", code="invalid_decision_input"
    )


def _split_personal(inputs: DecisionInputs) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    doc = inputs.to_json()
    personal: dict[str, dict[str, Any]] = {}
    for section in _SECTIONS:
        values = doc[section]
        hidden = {k: values.pop(k) for k in sorted(values) if k in PERSONAL_INPUTS}
        if hidden:
            personal[section] = hidden
    return doc, personal


def _request_digest(cmd: commands.DecideApplication) -> str:
    try:
        doc = {
            "product_code": cmd.product_code,
            "customer_id": cmd.customer_id,
            "application_key": cmd.application_key,
            "application": dict(cmd.application),
            "bureau": None if cmd.bureau is None else dict(cmd.bureau),
            "as_of": None if cmd.as_of is None else str(cmd.as_of),
        }
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        raise ValidationFailed(
            "the application must be a JSON object", code="invalid_decision_input"
        ) from None
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _check_command(cmd: commands.DecideApplication) -> None:
    if not isinstance(cmd.idempotency_key, str) or not _KEY.fullmatch(cmd.idempotency_key):
        raise ValidationFailed(
            "idempotency key: 1-128 printable ASCII characters without spaces", code="invalid_idempotency_key"
        )
    if not isinstance(cmd.product_code, str) or not 1 <= len(cmd.product_code) <= 32:
        raise ValidationFailed("product_code is 1-32 characters", code="invalid_product_code")
    if cmd.customer_id is not None and (
        not isinstance(cmd.customer_id, str) or not _ID.fullmatch(cmd.customer_id)
    ):
        raise ValidationFailed("customer_id is an id", code="invalid_customer_id")
    if not isinstance(cmd.application, Mapping):
        raise ValidationFailed("the application must be an object", code="invalid_decision_input")
    if cmd.bureau is not None and not isinstance(cmd.bureau, Mapping):
        raise ValidationFailed("bureau must be an object", code="invalid_decision_input")


def _existing(uow: SqlAlchemyUnitOfWork, key: str) -> RiskDecision | None:
    return uow.session.execute(
        select(RiskDecision).where(
            RiskDecision.tenant_id == uow.tenant_id, RiskDecision.idempotency_key == key
        )
    ).scalar_one_or_none()


def _replayed(uow: SqlAlchemyUnitOfWork, row: RiskDecision, digest: str) -> dict[str, Any]:
    if row.request_digest != digest:
        raise Conflict(
            "this Idempotency-Key was used for a different request",
            code="idempotency_key_reused",
            details={"idempotency_key": row.idempotency_key},
        )
    case = uow.session.execute(
        select(RiskReviewCase).where(RiskReviewCase.decision_id == row.id)
    ).scalar_one_or_none()
    return {**views.decision_view(row, case), "replayed": True}


# -- deciding ---------------------------------------------------------------------------------------------


def decide_application(cmd: commands.DecideApplication, uow: SqlAlchemyUnitOfWork) -> dict[str, Any]:
    _check_command(cmd)
    digest = _request_digest(cmd)
    with uow:
        found = _existing(uow, cmd.idempotency_key)
        if found is not None:
            return _replayed(uow, found, digest)

    as_of = _as_of(cmd, uow)
    application = dict(cmd.application)
    application.setdefault("application_date", as_of.isoformat())
    bounds, currency = _bounds(uow, cmd.product_code, as_of)
    bureau = (
        dict(cmd.bureau)
        if cmd.bureau is not None
        else SimulatedBureau()
        .report(_bureau_key(cmd.tenant_id, cmd.customer_id, application), as_of)
        .as_inputs()
    )
    behaviour: dict[str, object] = {"dipper_loans_total": 0}
    if cmd.customer_id is not None:
        behaviour = behaviour_inputs(loans.customer_behaviour(_side(uow), cmd.customer_id, as_of))
    inputs = DecisionInputs.of(
        cmd.application_key or cmd.idempotency_key,
        application,
        bounds=bounds,
        bureau=bureau,
        behaviour=behaviour,
    )
    setup, source = _source.current(_side(uow))
    record = decide(inputs, setup)
    stored_inputs, personal = _split_personal(inputs)

    with uow:
        row = RiskDecision(
            id=new_id(),
            idempotency_key=cmd.idempotency_key,
            request_digest=digest,
            stage="pre_loan",
            customer_id=cmd.customer_id,
            product_code=cmd.product_code,
            application_key=inputs.application_key,
            decision=record.decision.value,
            arm=record.arm.value,
            grade=record.grade,
            limit_minor=record.limit_minor,
            currency=currency,
            annual_rate=record.annual_rate,
            score=record.score,
            strategy_id=record.strategy_id,
            strategy_version=record.strategy_version,
            strategy_hash=record.strategy_hash,
            feature_set_hash=setup.feature_set.content_hash,
            input_digest=record.input_digest,
            setup_source=source,
            record=record.to_json(),
            inputs=stored_inputs,
            inputs_personal=json.dumps(personal, sort_keys=True, ensure_ascii=False) if personal else None,
            created_by=uow.actor.id,
        )
        uow.session.add(row)
        case = None
        if record.decision is Decision.REVIEW:
            case = RiskReviewCase(id=new_id(), decision_id=row.id, status="open", note="")
            uow.session.add(case)
        uow.emit(
            events.DecisionMade(
                tenant_id=cmd.tenant_id,
                decision_id=row.id,
                stage=row.stage,
                decision=row.decision,
                customer_id=row.customer_id,
                product_code=row.product_code,
                review_case_id=None if case is None else case.id,
            )
        )
        try:
            uow.commit()
        except IntegrityError:
            uow.rollback()
            found = _existing(uow, cmd.idempotency_key)  # the same key, decided concurrently
            if found is None:
                raise
            return _replayed(uow, found, digest)
        return views.decision_view(row, case)


def replay_decision(cmd: commands.ReplayDecision, uow: SqlAlchemyUnitOfWork) -> dict[str, Any]:
    """Decide again from the stored inputs with the stored versions; with the current versions when the
    stored ones are gone (the differences then name the versions, and nothing is stored either way)."""
    with uow:
        row = views._decision(uow, cmd.decision_id)
        record = dict(row.record)
    inputs = views.decision_inputs(_side(uow), cmd.decision_id)
    setup = _source.stored(_side(uow), record)
    versions = "stored"
    if setup is None:
        setup, _ = _source.current(_side(uow))
        versions = "current"
    result = replay(record, inputs, setup)
    return {"decision_id": cmd.decision_id, "versions": versions, **result.to_json()}


# -- the review queue -------------------------------------------------------------------------------------


def _case(uow: SqlAlchemyUnitOfWork, case_id: str) -> RiskReviewCase:
    case = uow.session.execute(
        select(RiskReviewCase).where(RiskReviewCase.tenant_id == uow.tenant_id, RiskReviewCase.id == case_id)
    ).scalar_one_or_none()
    if case is None:
        raise NotFound("no such review case", code="review_case_not_found")
    return case


def _require_approver(uow: SqlAlchemyUnitOfWork) -> None:
    """The resolver holds ``risk.approve``: a staff user's roles say so; the system may; a partner key
    may not."""
    actor = uow.actor
    if actor.kind == "system":
        return
    if actor.kind != "user":
        raise PermissionDenied("only a person may resolve a review case", code="reviewer_required")
    user = access.get_user(_side(uow), actor.id)
    if Permission.RISK_APPROVE.value not in permissions_for(user.get("roles") or []):
        raise PermissionDenied(
            f"this needs the permission {Permission.RISK_APPROVE.value}",
            details={"permission": Permission.RISK_APPROVE.value},
        )


def assign_case(cmd: commands.AssignCase, uow: SqlAlchemyUnitOfWork) -> dict[str, Any]:
    with uow:
        _case(uow, cmd.case_id)  # another bank's case is not found, whoever asks
    _require_approver(uow)
    assignee = cmd.assignee or uow.actor.id
    if not isinstance(assignee, str) or not _ID.fullmatch(assignee):
        raise ValidationFailed("assignee is a user id", code="invalid_assignee")
    if assignee != uow.actor.id:
        access.get_user(_side(uow), assignee)  # NotFound for someone not of this bank
    with uow:
        case = _case(uow, cmd.case_id)
        if case.status not in ("open", "assigned"):
            raise Conflict("the case is already resolved", code="review_case_resolved")
        case.status = "assigned"
        case.assignee = assignee
        case.assigned_at = uow.clock.now()
        uow.commit()
    return views.get_review_case(uow, cmd.case_id)


def _rate(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | str | int):
        raise ValidationFailed("annual_rate is a decimal string such as 0.12", code="invalid_rate")
    try:
        rate = Decimal(str(value))
    except InvalidOperation:
        raise ValidationFailed("annual_rate is a decimal string such as 0.12", code="invalid_rate") from None
    if not rate.is_finite() or -int(rate.as_tuple().exponent) > 9:
        raise ValidationFailed("annual_rate has at most nine decimal places", code="invalid_rate")
    return rate


def resolve_case(cmd: commands.ResolveCase, uow: SqlAlchemyUnitOfWork) -> dict[str, Any]:
    with uow:
        _case(uow, cmd.case_id)  # another bank's case is not found, whoever asks
    _require_approver(uow)
    if cmd.outcome not in ("approve", "decline"):
        raise ValidationFailed("outcome is approve or decline", code="invalid_outcome")
    note = (cmd.note or "").strip() if isinstance(cmd.note, str) else ""
    if not 1 <= len(note) <= 1000:
        raise ValidationFailed("a resolution needs a note of 1-1000 characters", code="note_required")
    with uow:
        case = _case(uow, cmd.case_id)
        decision = uow.session.execute(
            select(RiskDecision).where(
                RiskDecision.tenant_id == uow.tenant_id, RiskDecision.id == case.decision_id
            )
        ).scalar_one()
        if case.status not in ("open", "assigned"):
            raise Conflict("the case is already resolved", code="review_case_resolved")
        if case.status == "assigned" and case.assignee != uow.actor.id:
            raise Conflict("the case is assigned to someone else", code="review_case_assigned_to_other")
        if decision.created_by == uow.actor.id and uow.actor.kind != "system":
            raise PermissionDenied(
                "whoever submitted the application cannot also review it", code="maker_checker"
            )
        limit = rate = None
        if cmd.outcome == "approve":
            bounds = bounds_from_json(decision.inputs["bounds"])
            if type(cmd.limit_minor) is not int:
                raise ValidationFailed("an approval needs limit_minor (integer fen)", code="invalid_limit")
            rate = _rate(cmd.annual_rate)
            if not bounds.min_amount_minor <= cmd.limit_minor <= bounds.max_amount_minor:
                raise ValidationFailed(
                    "the limit is outside the product's amount range",
                    code="limit_out_of_bounds",
                    details={"min": bounds.min_amount_minor, "max": bounds.max_amount_minor},
                )
            ceiling = min(bounds.max_rate, bounds.apr_ceiling)
            if not bounds.min_rate <= rate <= ceiling:
                raise ValidationFailed(
                    "the rate is outside the product's range or above the APR ceiling",
                    code="rate_out_of_bounds",
                    details={"min": str(bounds.min_rate), "max": str(ceiling)},
                )
            limit = cmd.limit_minor
        case.status = "approved" if cmd.outcome == "approve" else "declined"
        case.assignee = case.assignee or uow.actor.id
        case.limit_minor = limit
        case.annual_rate = rate
        case.note = note
        case.resolved_by = uow.actor.id
        case.resolved_at = uow.clock.now()
        uow.emit(
            events.ReviewResolved(
                tenant_id=cmd.tenant_id,
                case_id=case.id,
                decision_id=decision.id,
                outcome=cmd.outcome,
                limit_minor=limit,
                annual_rate=None if rate is None else str(rate),
            )
        )
        uow.commit()
    return views.get_review_case(uow, cmd.case_id)


# -- in-loan limit review -----------------------------------------------------------------------------------


def review_credit_limits(cmd: commands.ReviewCreditLimits, uow: SqlAlchemyUnitOfWork) -> dict[str, Any]:
    """Propose a change for every open line (set-based: one frame, one pass); change nothing."""
    if type(cmd.max_limit_minor) is not int or not 1 <= cmd.max_limit_minor <= 10**12:
        raise ValidationFailed("max_limit_minor is a positive integer of fen", code="invalid_limit")
    as_of = cmd.as_of if cmd.as_of is not None else uow.clock.today()
    if not isinstance(as_of, date):
        raise ValidationFailed("as_of must be a date", code="invalid_date")
    lines = loans.open_credit_lines(_side(uow))
    history = loans.customer_behaviour_many(_side(uow), {line.customer_id for line in lines}, as_of)
    strategy = default_limit_strategy()
    proposals = review_lines(
        [
            LineInput(
                credit_line_id=line.id,
                customer_id=line.customer_id,
                status=line.status,
                limit_minor=line.limit_minor,
                used_minor=line.used_minor,
                behaviour=behaviour_inputs(history[line.customer_id]),
            )
            for line in lines
        ],
        strategy,
        max_limit_minor=cmd.max_limit_minor,
    )
    apply: list[Any] = []
    for p in proposals:
        reason = f"limit review {as_of.isoformat()}: {', '.join(r.code for r in p.reasons)}"[:300]
        if p.action in ("raise", "lower"):
            apply.append(
                loans_commands.ChangeCreditLimit(
                    tenant_id=cmd.tenant_id,
                    credit_line_id=p.credit_line_id,
                    limit_minor=p.new_limit_minor,
                    reason=reason,
                )
            )
        elif p.action == "freeze":
            apply.append(
                loans_commands.FreezeCreditLine(
                    tenant_id=cmd.tenant_id, credit_line_id=p.credit_line_id, reason=reason
                )
            )
    counts = {a: sum(1 for p in proposals if p.action == a) for a in ("raise", "lower", "freeze", "keep")}
    return {
        "as_of": as_of.isoformat(),
        "strategy": {
            "strategy_id": strategy.strategy_id,
            "version": strategy.version,
            "content_hash": strategy.content_hash,
        },
        "counts": counts,
        "proposals": [p.to_json() for p in proposals],
        "apply": apply,
    }


# -- post-loan early warning ------------------------------------------------------------------------------


def score_early_warning(cmd: commands.ScoreEarlyWarning, uow: SqlAlchemyUnitOfWork) -> dict[str, Any]:
    """A warning per customer with a loan open (set-based: one frame, one pass); change nothing."""
    as_of = cmd.as_of if cmd.as_of is not None else uow.clock.today()
    if not isinstance(as_of, date):
        raise ValidationFailed("as_of must be a date", code="invalid_date")
    customers = loans.open_loan_customers(_side(uow))
    history = loans.customer_behaviour_many(_side(uow), customers, as_of)
    bureau = SimulatedBureau()
    strategy = default_warning_strategy()
    warnings = score_customers(
        [
            (cid, {**behaviour_inputs(history[cid]), **bureau.report(cid, as_of).as_inputs()})
            for cid in customers
        ],
        strategy,
    )
    return {
        "as_of": as_of.isoformat(),
        "strategy": {
            "strategy_id": strategy.strategy_id,
            "version": strategy.version,
            "content_hash": strategy.content_hash,
        },
        "counts": {
            level: sum(1 for w in warnings if w.level == level) for level in ("green", "amber", "red")
        },
        "warnings": [w.to_json() for w in warnings],
    }


COMMAND_HANDLERS: dict[type, Any] = {
    commands.DecideApplication: decide_application,
    commands.ReplayDecision: replay_decision,
    commands.AssignCase: assign_case,
    commands.ResolveCase: resolve_case,
    commands.ReviewCreditLimits: review_credit_limits,
    commands.ScoreEarlyWarning: score_early_warning,
}
EVENT_HANDLERS: dict[type, list[Any]] = {}
