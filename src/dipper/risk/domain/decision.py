"""Risk decisions (风控决策): features, models and a strategy composed into one stored, replayable record.

A decision is a pure function of its inputs and its setup:

    inputs (application + bureau + behaviour + product bounds + application key)
      -> FeatureSet.row             the feature values (one generated function, ~25 µs)
      -> model runtimes             scorecard and/or gbdt: score and probability of default
      -> Strategy / ChampionChallenger + ProductBounds
                                    decision, grade, rate, limit, rule reasons, bound adjustments
      -> reasons                    rule codes and the model's adverse factors, in zh-CN and en
      -> DecisionRecord             frozen; everything needed to explain and to replay it

No I/O, no pandas, no clock: the same inputs and setup give the same record, bit for bit, so a stored
record is replayed by running :func:`decide` again on its stored inputs with the stored versions and
comparing (:func:`replay`). The inputs are first normalised to JSON values (dates as ISO text,
Decimals as floats, NaN as null), and the normalised inputs are both what the pipeline reads and what
is stored and digested: a replay reads exactly what the first run read.

Which model does what: every model of the arm scores (both scores are recorded and the strategy's
context has ``scorecard_score``/``gbdt_score``), and the strategy's ``score`` is one of them: the
gbdt's when it is there (usually the stronger model), else the scorecard's (``score_role`` chooses
otherwise). The reasons explain that same score: the scorecard's adverse points (a few look-ups), or
the gbdt's TreeSHAP contributions (a fraction of a millisecond on the compiled trees).

Champion/challenger: the application key picks the arm (a stable hash); each arm has its strategy
version and its models, and the record keeps the arm, the versions it used and the whole split
(``routing``), so a replay needs exactly the same split.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from dipper.kernel.errors import ValidationFailed
from dipper.risk.domain.base import ModelRuntime
from dipper.risk.domain.feature_set import FeatureSet
from dipper.risk.domain.reasons import Reason
from dipper.risk.domain.strategy import (
    Arm,
    ChampionChallenger,
    Decision,
    ProductBounds,
    Strategy,
    StrategyOutcome,
    strategy_context,
)

__all__ = [
    "PERSONAL_INPUTS",
    "ArmModels",
    "DecisionInputs",
    "DecisionRecord",
    "DecisionSetup",
    "Difference",
    "ModelBinding",
    "ModelRole",
    "ReasonItem",
    "ReplayResult",
    "bounds_from_json",
    "bounds_to_json",
    "canonical_json",
    "compare",
    "decide",
    "model_refs",
    "normalise_inputs",
    "replay",
    "rule_texts",
]

#: Inputs that identify a person (个人信息): stored encrypted, shown masked, never logged.
PERSONAL_INPUTS: Final = frozenset(
    {"id_number", "name", "full_name", "phone", "mobile", "bank_card", "bank_card_number", "email", "address"}
)
_MAX_INPUTS: Final = 400
_MAX_TEXT: Final = 2_000
_MODEL_REASONS: Final = 4
RECORD_FORMAT: Final = 1


class ModelRole(StrEnum):
    SCORECARD = "scorecard"
    GBDT = "gbdt"


# ------------------------------------------------------------------------------------ canonical JSON


def canonical_json(doc: object) -> bytes:
    """Sorted keys, no spaces, UTF-8, no NaN: the bytes a digest is taken over."""
    return json.dumps(
        doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def _bad_input(name: str, reason: str) -> ValidationFailed:
    return ValidationFailed(
        f"decision input {name!r}: {reason}", code="invalid_decision_input", details={"input": name}
    )


def _json_value(name: str, value: object) -> object:
    """One input value as a JSON value the feature set reads the same way as the original."""
    if value is None or isinstance(value, bool | str):
        if isinstance(value, str) and len(value) > _MAX_TEXT:
            raise _bad_input(name, f"text longer than {_MAX_TEXT} characters")
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal):
        if isinstance(value, Decimal) and not value.is_finite() and not value.is_nan():
            raise _bad_input(name, "not a finite number")
        f = float(value)
        if f != f:  # noqa: PLR0124 - NaN is missing, and JSON has no NaN
            return None
        if math.isinf(f):
            raise _bad_input(name, "not a finite number")
        return f
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    raise _bad_input(name, f"unsupported type {type(value).__name__}")


def _section(name: str, values: Mapping[str, object] | None) -> dict[str, object]:
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise _bad_input(name, "must be an object")
    if len(values) > _MAX_INPUTS:
        raise _bad_input(name, f"more than {_MAX_INPUTS} fields")
    out: dict[str, object] = {}
    for key, value in values.items():
        if not isinstance(key, str) or not key or len(key) > 64:
            raise _bad_input(str(key)[:64], "field names are texts of 1 to 64 characters")
        out[key] = _json_value(key, value)
    return out


def normalise_inputs(
    application: Mapping[str, object],
    bureau: Mapping[str, object] | None = None,
    behaviour: Mapping[str, object] | None = None,
) -> tuple[dict[str, object], dict[str, object], dict[str, object]]:
    """The three input sections as JSON values; a field given by two sections must agree."""
    app = _section("application", application)
    bur = _section("bureau", bureau)
    beh = _section("behaviour", behaviour)
    for a, b in ((app, bur), (app, beh), (bur, beh)):
        for key in a.keys() & b.keys():
            if a[key] != b[key]:
                raise ValidationFailed(
                    f"decision input {key!r} is given twice with different values",
                    code="decision_input_conflict",
                    details={"input": key},
                )
    return app, bur, beh


def bounds_to_json(bounds: ProductBounds) -> dict[str, object]:
    return {
        "min_rate": str(bounds.min_rate),
        "max_rate": str(bounds.max_rate),
        "min_amount_minor": bounds.min_amount_minor,
        "max_amount_minor": bounds.max_amount_minor,
        "apr_ceiling": str(bounds.apr_ceiling),
    }


def bounds_from_json(doc: Mapping[str, Any]) -> ProductBounds:
    try:
        return ProductBounds(
            min_rate=Decimal(str(doc["min_rate"])),
            max_rate=Decimal(str(doc["max_rate"])),
            min_amount_minor=int(doc["min_amount_minor"]),
            max_amount_minor=int(doc["max_amount_minor"]),
            apr_ceiling=Decimal(str(doc["apr_ceiling"])),
        )
    except (KeyError, TypeError, ValueError, ArithmeticError):
        raise ValidationFailed("invalid product bounds", code="invalid_product_bounds") from None


@dataclass(frozen=True, slots=True)
class DecisionInputs:
    """Everything a decision reads besides its setup, as JSON values (see :func:`normalise_inputs`)."""

    application_key: str  # stable per application: routes champion/challenger, never personal data
    application: Mapping[str, object]
    bureau: Mapping[str, object]
    behaviour: Mapping[str, object]
    bounds: ProductBounds

    @classmethod
    def of(
        cls,
        application_key: str,
        application: Mapping[str, object],
        *,
        bounds: ProductBounds,
        bureau: Mapping[str, object] | None = None,
        behaviour: Mapping[str, object] | None = None,
    ) -> DecisionInputs:
        if not isinstance(application_key, str) or not application_key.strip() or len(application_key) > 200:
            raise ValidationFailed(
                "an application key is a text of 1 to 200 characters", code="invalid_application_key"
            )
        app, bur, beh = normalise_inputs(application, bureau, behaviour)
        return cls(application_key, app, bur, beh, bounds)

    def merged(self) -> dict[str, object]:
        return {**self.application, **self.bureau, **self.behaviour}

    def to_json(self) -> dict[str, Any]:
        return {
            "application_key": self.application_key,
            "application": dict(self.application),
            "bureau": dict(self.bureau),
            "behaviour": dict(self.behaviour),
            "bounds": bounds_to_json(self.bounds),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> DecisionInputs:
        return cls.of(
            str(doc["application_key"]),
            doc.get("application") or {},
            bureau=doc.get("bureau") or {},
            behaviour=doc.get("behaviour") or {},
            bounds=bounds_from_json(doc["bounds"]),
        )

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(canonical_json(self.to_json())).hexdigest()


# ------------------------------------------------------------------------------------ setup


@dataclass(frozen=True, slots=True)
class ModelBinding:
    """A model runtime with the identity a record keeps: the directory's content hash and, when the
    registry knows it, the model's id and version."""

    runtime: ModelRuntime
    content_hash: str
    model_id: str | None = None
    version: int | None = None

    def ref(self, role: ModelRole) -> dict[str, Any]:
        return {
            "role": role.value,
            "kind": self.runtime.kind,
            "content_hash": self.content_hash,
            "model_id": self.model_id,
            "version": self.version,
        }


@dataclass(frozen=True, slots=True)
class ArmModels:
    """The models one arm of a split scores with (either may be absent)."""

    scorecard: ModelBinding | None = None
    gbdt: ModelBinding | None = None

    def bindings(self) -> list[tuple[ModelRole, ModelBinding]]:
        return [
            (role, binding)
            for role, binding in ((ModelRole.SCORECARD, self.scorecard), (ModelRole.GBDT, self.gbdt))
            if binding is not None
        ]

    def refs(self) -> list[dict[str, Any]]:
        """What a record stores of each model present (``ModelBinding.ref``), scorecard first."""
        return [binding.ref(role) for role, binding in self.bindings()]


@dataclass(frozen=True)
class DecisionSetup:
    """The versions a decision runs on. Build once, decide many times (it holds compiled engines).

    ``scorecard``/``gbdt`` are the champion's models; ``challenger_models`` the challenger's (None: the
    challenger scores with the champion's models)."""

    feature_set: FeatureSet
    strategy: ChampionChallenger
    scorecard: ModelBinding | None = None
    gbdt: ModelBinding | None = None
    score_role: ModelRole | None = None  # None: the gbdt when present, else the scorecard
    challenger_models: ArmModels | None = None
    _texts: dict[str, dict[str, str]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.strategy, ChampionChallenger):
            raise TypeError(
                "a decision setup takes a ChampionChallenger (use DecisionSetup.of for one strategy)"
            )
        features = set(self.feature_set.names)
        arms = [self.champion_models]
        if self.challenger_models is not None:
            arms.append(self.challenger_models)
        for arm in arms:
            for role, binding in (
                (ModelRole.SCORECARD, arm.scorecard),
                (ModelRole.GBDT, arm.gbdt),
            ):
                if binding is None:
                    continue
                if binding.runtime.kind != role.value:
                    raise ValidationFailed(
                        f"the {role.value} slot holds a {binding.runtime.kind} model",
                        code="model_role_mismatch",
                    )
                missing = [c for c in binding.runtime.inputs if c not in features]
                if missing:
                    raise ValidationFailed(
                        f"the {role.value} model reads inputs the feature set does not compute: "
                        f"{', '.join(missing[:10])}",
                        code="model_feature_mismatch",
                        details={"model": binding.content_hash, "missing": missing},
                    )
            if self.score_role is not None and _slot(arm, self.score_role) is None:
                raise ValidationFailed(
                    f"no {self.score_role.value} model to score with", code="model_role_mismatch"
                )
        texts: dict[str, dict[str, str]] = {}
        for s in (self.strategy.champion, self.strategy.challenger):
            if s is not None:
                for code, text in rule_texts(s.document).items():
                    texts.setdefault(code, text)
        self._texts.update(texts)

    @classmethod
    def of(
        cls,
        feature_set: FeatureSet,
        strategy: Strategy | ChampionChallenger,
        *,
        scorecard: ModelBinding | None = None,
        gbdt: ModelBinding | None = None,
        score_role: ModelRole | None = None,
        challenger_models: ArmModels | None = None,
    ) -> DecisionSetup:
        routing = (
            strategy
            if isinstance(strategy, ChampionChallenger)
            else ChampionChallenger(strategy.strategy_id, strategy)
        )
        return cls(feature_set, routing, scorecard, gbdt, score_role, challenger_models)

    @property
    def champion_models(self) -> ArmModels:
        return ArmModels(self.scorecard, self.gbdt)

    def models_for(self, arm: Arm) -> ArmModels:
        if arm is Arm.CHALLENGER and self.challenger_models is not None:
            return self.challenger_models
        return self.champion_models

    def scoring(self, models: ArmModels) -> tuple[ModelRole, ModelBinding] | None:
        """The model whose score the strategy reads (and whose factors explain it)."""
        if self.score_role is not None:
            binding = _slot(models, self.score_role)
            assert binding is not None
            return self.score_role, binding
        if models.gbdt is not None:
            return ModelRole.GBDT, models.gbdt
        if models.scorecard is not None:
            return ModelRole.SCORECARD, models.scorecard
        return None

    def routing(self) -> dict[str, Any]:
        """The split and every version in it: two setups with equal routings decide alike."""
        cc = self.strategy
        challenger = None
        if cc.challenger is not None:
            challenger = {**_strategy_ref(cc.challenger), "models": self.models_for(Arm.CHALLENGER).refs()}
        return {
            "strategy_id": cc.strategy_id,
            "challenger_share": str(cc.challenger_share),
            "champion": {**_strategy_ref(cc.champion), "models": self.champion_models.refs()},
            "challenger": challenger,
        }

    def model_refs(self) -> list[dict[str, Any]]:
        """The champion's models as a record stores them."""
        return self.champion_models.refs()

    def text_of(self, code: str) -> dict[str, str]:
        return self._texts.get(code) or _STATIC_TEXTS.get(code) or {"zh-CN": code, "en": code}


def _slot(models: ArmModels, role: ModelRole) -> ModelBinding | None:
    return models.scorecard if role is ModelRole.SCORECARD else models.gbdt


def _strategy_ref(s: Strategy) -> dict[str, Any]:
    return {"strategy_id": s.strategy_id, "version": s.version, "content_hash": s.content_hash}


# Reason codes not written in a strategy document (the bounds add them; the default strategy's grade
# table emits the score codes without a description of their own).
_STATIC_TEXTS: Final[dict[str, dict[str, str]]] = {
    "SCORE_GRAY_ZONE": {
        "zh-CN": "评分处于灰色区间，转人工复核",
        "en": "Score in the gray zone: manual review",
    },
    "SCORE_BELOW_CUTOFF": {"zh-CN": "评分低于准入线", "en": "Score below the cut-off"},
    "NO_SCORE": {"zh-CN": "无评分：人工复核", "en": "No score: manual review"},
    "LIMIT_BELOW_PRODUCT_MIN": {
        "zh-CN": "可授信额度低于产品最低金额",
        "en": "The limit is below the product's minimum amount",
    },
    "PRICE_ABOVE_APR_CEILING": {
        "zh-CN": "产品最低利率高于年化利率上限",
        "en": "The product's minimum rate is above the APR ceiling",
    },
    "RATE_RAISED_TO_PRODUCT_MIN": {
        "zh-CN": "利率上调至产品下限",
        "en": "Rate raised to the product's minimum",
    },
    "RATE_CAPPED_AT_PRODUCT_MAX": {
        "zh-CN": "利率下调至产品上限",
        "en": "Rate capped at the product's maximum",
    },
    "RATE_CAPPED_AT_APR_CEILING": {"zh-CN": "利率下调至年化利率上限", "en": "Rate capped at the APR ceiling"},
    "LIMIT_CAPPED_AT_PRODUCT_MAX": {
        "zh-CN": "额度下调至产品最高金额",
        "en": "Limit capped at the product's maximum amount",
    },
}


def rule_texts(document: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Texts of the reason codes a JDM document emits, from its rules' ``_description``
    ("English / 中文"): a rule whose output cell is one quoted code names that code."""
    out: dict[str, dict[str, str]] = {}
    for node in document.get("nodes", []) if isinstance(document.get("nodes"), list) else []:
        content = node.get("content") if isinstance(node, Mapping) else None
        rules = content.get("rules") if isinstance(content, Mapping) else None
        if not isinstance(rules, list):
            continue
        for rule in rules:
            if not isinstance(rule, Mapping):
                continue
            description = rule.get("_description")
            if not isinstance(description, str) or " / " not in description:
                continue
            en, zh = (part.strip() for part in description.split(" / ", 1))
            for cell in rule.values():
                if isinstance(cell, str) and len(cell) > 2 and cell[0] == cell[-1] == '"':
                    code = cell[1:-1]
                    if code.isupper() and code.replace("_", "").isalnum() and code not in _OUTCOMES:
                        out.setdefault(code, {"zh-CN": zh, "en": en})
    return out


_OUTCOMES: Final = frozenset({"APPROVE", "REVIEW", "DECLINE", "A", "B", "C", "D", "E"})


# ------------------------------------------------------------------------------------ the record


@dataclass(frozen=True, slots=True)
class ReasonItem:
    """One reason of a decision: a strategy rule (``KO_DTI``) or a model factor (``R_dti``)."""

    code: str
    source: str  # "rule" | "adjustment" | "model"
    text_zh: str
    text_en: str
    feature: str | None = None
    points_lost: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "source": self.source,
            "text": {"zh-CN": self.text_zh, "en": self.text_en},
            "feature": self.feature,
            "points_lost": self.points_lost,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> ReasonItem:
        text = doc.get("text") or {}
        points = doc.get("points_lost")
        return cls(
            code=str(doc["code"]),
            source=str(doc["source"]),
            text_zh=str(text.get("zh-CN", "")),
            text_en=str(text.get("en", "")),
            feature=doc.get("feature"),
            points_lost=None if points is None else float(points),
        )


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One decision and everything that explains and reproduces it (JSON via ``to_json``)."""

    decision: Decision
    arm: Arm
    grade: str | None
    limit_minor: int | None
    annual_rate: Decimal | None
    reasons: tuple[ReasonItem, ...]
    rule_codes: tuple[str, ...]  # the strategy's and the bounds' codes, in order
    adjustments: tuple[str, ...]
    features: Mapping[str, float | None]  # NaN as None
    score: float | None
    pd: float | None
    score_role: str | None
    model_scores: Mapping[str, Mapping[str, float]]  # role -> {"score", "pd"}
    models: tuple[Mapping[str, Any], ...]  # ModelBinding.ref of each model present
    strategy_id: str
    strategy_version: int
    strategy_hash: str
    routing: Mapping[str, Any]
    feature_set: Mapping[str, Any]  # name, version, content_hash
    input_digest: str

    def to_json(self) -> dict[str, Any]:
        return {
            "format": RECORD_FORMAT,
            "decision": self.decision.value,
            "arm": self.arm.value,
            "grade": self.grade,
            "limit_minor": self.limit_minor,
            "annual_rate": None if self.annual_rate is None else str(self.annual_rate),
            "reasons": [r.to_json() for r in self.reasons],
            "rule_codes": list(self.rule_codes),
            "adjustments": list(self.adjustments),
            "features": dict(self.features),
            "score": self.score,
            "pd": self.pd,
            "score_role": self.score_role,
            "model_scores": {k: dict(v) for k, v in self.model_scores.items()},
            "models": [dict(m) for m in self.models],
            "strategy": {
                "strategy_id": self.strategy_id,
                "version": self.strategy_version,
                "content_hash": self.strategy_hash,
            },
            "routing": _plain(self.routing),
            "feature_set": dict(self.feature_set),
            "input_digest": self.input_digest,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> DecisionRecord:
        strategy = doc["strategy"]
        rate = doc.get("annual_rate")
        return cls(
            decision=Decision(doc["decision"]),
            arm=Arm(doc["arm"]),
            grade=doc.get("grade"),
            limit_minor=doc.get("limit_minor"),
            annual_rate=None if rate is None else Decimal(str(rate)),
            reasons=tuple(ReasonItem.from_json(r) for r in doc.get("reasons", [])),
            rule_codes=tuple(doc.get("rule_codes", [])),
            adjustments=tuple(doc.get("adjustments", [])),
            features={str(k): (None if v is None else float(v)) for k, v in doc["features"].items()},
            score=_opt_float(doc.get("score")),
            pd=_opt_float(doc.get("pd")),
            score_role=doc.get("score_role"),
            model_scores={
                str(k): {str(a): float(b) for a, b in v.items()}
                for k, v in doc.get("model_scores", {}).items()
            },
            models=tuple(dict(m) for m in doc.get("models", [])),
            strategy_id=str(strategy["strategy_id"]),
            strategy_version=int(strategy["version"]),
            strategy_hash=str(strategy["content_hash"]),
            routing=dict(doc.get("routing", {})),
            feature_set=dict(doc["feature_set"]),
            input_digest=str(doc["input_digest"]),
        )


def _opt_float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# ------------------------------------------------------------------------------------ the pipeline


def _finite(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise ValidationFailed(f"the {what} is not a finite number", code="model_output_invalid")
    return value


def decide(
    inputs: DecisionInputs, setup: DecisionSetup, *, model_reasons: int = _MODEL_REASONS
) -> DecisionRecord:
    """Run the pipeline on one application (pure; raises ``ValidationFailed`` on bad input)."""
    fs = setup.feature_set
    features = fs.row(inputs.merged())
    arm = setup.strategy.arm_for(inputs.application_key)
    models = setup.models_for(arm)

    model_scores: dict[str, dict[str, float]] = {}
    for role, binding in models.bindings():
        s = _finite(binding.runtime.score_one(features), f"{role.value} score")
        model_scores[role.value] = {"score": s, "pd": binding.runtime.scale.pd(s)}
    scoring = setup.scoring(models)
    score = pd = None
    if scoring is not None:
        score = model_scores[scoring[0].value]["score"]
        pd = model_scores[scoring[0].value]["pd"]

    extra: dict[str, object] = {"pd": pd}
    for role_name, figures in model_scores.items():
        extra[f"{role_name}_score"] = figures["score"]
    context = strategy_context(features, score, **extra)
    cc = setup.strategy
    strategy = cc.challenger if arm is Arm.CHALLENGER and cc.challenger is not None else cc.champion
    outcome: StrategyOutcome = strategy.evaluate(context, inputs.bounds, arm=arm)

    reasons: list[ReasonItem] = []
    for code in outcome.reasons:
        text = setup.text_of(code)
        reasons.append(ReasonItem(code, "rule", text["zh-CN"], text["en"]))
    for code in outcome.adjustments:
        text = setup.text_of(code)
        reasons.append(ReasonItem(code, "adjustment", text["zh-CN"], text["en"]))
    if scoring is not None and model_reasons > 0:
        labels = {f.name: {"zh-CN": f.description_zh, "en": f.description_en} for f in fs.features}
        found: list[Reason] = scoring[1].runtime.reasons(features, model_reasons)
        for r in found:
            reasons.append(
                ReasonItem(
                    r.code,
                    "model",
                    r.text("zh-CN", labels),
                    r.text("en", labels),
                    feature=r.feature,
                    points_lost=round(r.points_lost, 6),
                )
            )

    return DecisionRecord(
        decision=outcome.decision,
        arm=outcome.arm,
        grade=outcome.grade,
        limit_minor=outcome.limit_minor,
        annual_rate=outcome.annual_rate,
        reasons=tuple(reasons),
        rule_codes=outcome.reasons,
        adjustments=outcome.adjustments,
        features={k: (None if v != v else v) for k, v in features.items()},  # noqa: PLR0124
        score=score,
        pd=pd,
        score_role=None if scoring is None else scoring[0].value,
        model_scores=model_scores,
        models=tuple(models.refs()),
        strategy_id=outcome.strategy_id,
        strategy_version=outcome.strategy_version,
        strategy_hash=outcome.strategy_hash,
        routing=setup.routing(),
        feature_set={"name": fs.name, "version": fs.version, "content_hash": fs.content_hash},
        input_digest=inputs.digest,
    )


# ------------------------------------------------------------------------------------ replay


@dataclass(frozen=True, slots=True)
class Difference:
    field: str  # a dotted path into the record's JSON, e.g. "strategy.content_hash"
    stored: Any
    replayed: Any

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "stored": self.stored, "replayed": self.replayed}


@dataclass(frozen=True, slots=True)
class ReplayResult:
    equal: bool
    differences: tuple[Difference, ...]
    replayed: DecisionRecord | None  # None when the inputs could no longer be decided at all

    def to_json(self) -> dict[str, Any]:
        return {
            "equal": self.equal,
            "differences": [d.to_json() for d in self.differences],
            "replayed": None if self.replayed is None else self.replayed.to_json(),
        }


def _diff(path: str, a: Any, b: Any, out: list[Difference]) -> None:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in sorted(set(a) | set(b), key=str):
            _diff(f"{path}.{key}" if path else str(key), a.get(key), b.get(key), out)
        return
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _diff(f"{path}[{i}]", x, y, out)
        return
    # Exact equality: floats compare bit for bit (a replay that drifts by one ulp is a difference).
    if type(a) is not type(b) or a != b:
        out.append(Difference(path, a, b))


def compare(stored: DecisionRecord | Mapping[str, Any], replayed: DecisionRecord) -> tuple[Difference, ...]:
    """Every field where the replayed record differs from the stored one (none: reproduced exactly)."""
    a = stored.to_json() if isinstance(stored, DecisionRecord) else _plain(stored)
    b = json.loads(json.dumps(replayed.to_json()))  # the stored form went through JSON; so does this
    a = json.loads(json.dumps(a))
    out: list[Difference] = []
    _diff("", a, b, out)
    return tuple(out)


def replay(
    stored: DecisionRecord | Mapping[str, Any],
    inputs: DecisionInputs | Mapping[str, Any],
    setup: DecisionSetup,
) -> ReplayResult:
    """Decide again on the stored inputs with ``setup`` (the stored versions, as the caller rebuilt
    them) and compare field by field. A setup whose versions differ from the stored ones shows up
    as differences in ``models``/``strategy``/``feature_set``; it never silently replaces the record."""
    try:
        decided = inputs if isinstance(inputs, DecisionInputs) else DecisionInputs.from_json(inputs)
        again = decide(decided, setup)
    except ValidationFailed as exc:
        return ReplayResult(False, (Difference("error", None, exc.code),), None)
    differences = compare(stored, again)
    return ReplayResult(not differences, differences, again)


def model_refs(models: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The stored model references by role."""
    return {str(m["role"]): m for m in models}
