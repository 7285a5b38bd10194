"""Decision strategies (风控策略): versioned JDM decision models evaluated by zen-engine, then bounded.

A strategy is a GoRules JSON Decision Model (JDM): a graph of decision tables and expressions that a
risk analyst edits (knock-out rules, score cut-offs to grades, a rate per grade, limit rules). The
document is stored as is and identified by a content hash; zen-engine evaluates it. The output
contract is five fields: ``decision`` (approve / review / decline), ``grade``, ``annual_rate``,
``limit`` (yuan) and ``reasons`` (rule codes).

What the tables say is then bounded in Python, because these bounds are regulation and product terms,
not editable policy: the rate is raised to the product's minimum, capped at its maximum and at the
bank's APR ceiling; the limit is capped at the product's maximum amount, and an offer below the
product's minimum amount is declined. Every adjustment is recorded on the outcome. (The nominal rate
under the ceiling does not prove the APR with fees is; the offer check in ``loans`` still applies.)

Champion/challenger (冠军挑战者): a stable hash of (strategy id, application key) puts each application
in one of 10,000 buckets; the first ``challenger_share`` of them go to the challenger. The same
application always gets the same arm, and the arm is recorded on the outcome.

Speed: ``ZenEngine.create_decision(...).evaluate`` re-reads the decision on every call (~150 µs of
CPU for an empty graph); an engine with a static loader keeps the parsed graph and evaluates the
default strategy in ~20 µs, so each :class:`Strategy` holds its own such engine.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from enum import StrEnum
from importlib import resources
from typing import Any, Final

import zen

from dipper.kernel.errors import ValidationFailed

__all__ = [
    "CONTENT_TYPE",
    "Arm",
    "ChampionChallenger",
    "Decision",
    "ProductBounds",
    "Strategy",
    "StrategyOutcome",
    "apply_bounds",
    "choose_arm",
    "default_strategy",
    "strategy_context",
]

CONTENT_TYPE: Final = "application/vnd.gorules.decision"
#: Champion/challenger buckets: shares are set to 0.01% (one bucket).
BUCKETS: Final = 10_000
_MAX_RATE_PLACES: Final = 10


class Decision(StrEnum):
    APPROVE = "approve"  # 通过
    REVIEW = "review"  # 人工复核 (the gray zone)
    DECLINE = "decline"  # 拒绝


class Arm(StrEnum):
    CHAMPION = "champion"
    CHALLENGER = "challenger"


# Reason codes added by the bounds (the tables' own codes come from the document).
LIMIT_BELOW_PRODUCT_MIN: Final = "LIMIT_BELOW_PRODUCT_MIN"
PRICE_ABOVE_APR_CEILING: Final = "PRICE_ABOVE_APR_CEILING"
RATE_RAISED_TO_PRODUCT_MIN: Final = "RATE_RAISED_TO_PRODUCT_MIN"
RATE_CAPPED_AT_PRODUCT_MAX: Final = "RATE_CAPPED_AT_PRODUCT_MAX"
RATE_CAPPED_AT_APR_CEILING: Final = "RATE_CAPPED_AT_APR_CEILING"
LIMIT_CAPPED_AT_PRODUCT_MAX: Final = "LIMIT_CAPPED_AT_PRODUCT_MAX"


def _invalid_document(reason: str) -> ValidationFailed:
    return ValidationFailed(
        f"invalid strategy document: {reason}", code="invalid_strategy_document", details={"reason": reason}
    )


def _zen_reason(exc: BaseException) -> str:
    # zen-engine errors carry a Rust backtrace after the message; keep the message.
    return str(exc).split("Stack backtrace:")[0].strip().replace("\n\n", " ").replace("\n", " ")[:500]


@dataclass(frozen=True, slots=True)
class ProductBounds:
    """The product version's ranges and the bank's APR ceiling, as the decision must respect them."""

    min_rate: Decimal
    max_rate: Decimal
    min_amount_minor: int
    max_amount_minor: int
    apr_ceiling: Decimal

    def __post_init__(self) -> None:
        for name in ("min_rate", "max_rate", "apr_ceiling"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise ValidationFailed(
                    f"{name} must be a non-negative Decimal", code="invalid_product_bounds"
                )
        if self.min_rate > self.max_rate or not 0 < self.min_amount_minor <= self.max_amount_minor:
            raise ValidationFailed("product ranges are empty or reversed", code="invalid_product_bounds")


@dataclass(frozen=True, slots=True)
class StrategyOutcome:
    decision: Decision
    grade: str | None
    annual_rate: Decimal | None  # None when declined
    limit_minor: int | None  # None when declined
    reasons: tuple[str, ...]  # why declined or sent to review
    adjustments: tuple[str, ...]  # what the product and APR bounds changed
    arm: Arm
    strategy_id: str
    strategy_version: int
    strategy_hash: str


def _number(value: object, field: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad_output(field, value)
    if isinstance(value, float) and not math.isfinite(value):
        raise _bad_output(field, value)
    return Decimal(str(value))  # the shortest repr: 0.096 stays 0.096, not its binary expansion


def _bad_output(field: str, value: object) -> ValidationFailed:
    return ValidationFailed(
        f"the strategy returned an invalid {field}: {value!r}",
        code="strategy_output_invalid",
        details={"field": field},
    )


def apply_bounds(
    decision: Decision, annual_rate: Decimal | None, limit_minor: int | None, bounds: ProductBounds
) -> tuple[Decision, Decimal | None, int | None, tuple[str, ...], tuple[str, ...]]:
    """Bound the tables' price and limit by the product and the APR ceiling.

    Returns (decision, rate, limit, added reasons, adjustments). A declined application keeps no
    price or limit."""
    if decision is Decision.DECLINE:
        return decision, None, None, (), ()
    if annual_rate is None or limit_minor is None:
        raise _bad_output("annual_rate" if annual_rate is None else "limit", None)
    ceiling = min(bounds.max_rate, bounds.apr_ceiling)
    if bounds.min_rate > ceiling:
        return Decision.DECLINE, None, None, (PRICE_ABOVE_APR_CEILING,), ()
    adjustments: list[str] = []
    rate = annual_rate
    if rate < bounds.min_rate:
        rate = bounds.min_rate
        adjustments.append(RATE_RAISED_TO_PRODUCT_MIN)
    if rate > ceiling:
        adjustments.append(
            RATE_CAPPED_AT_APR_CEILING if bounds.apr_ceiling < bounds.max_rate else RATE_CAPPED_AT_PRODUCT_MAX
        )
        rate = ceiling
    limit = limit_minor
    if limit > bounds.max_amount_minor:
        limit = bounds.max_amount_minor
        adjustments.append(LIMIT_CAPPED_AT_PRODUCT_MAX)
    if limit < bounds.min_amount_minor:
        return Decision.DECLINE, None, None, (LIMIT_BELOW_PRODUCT_MIN,), tuple(adjustments)
    return decision, rate, limit, (), tuple(adjustments)


def strategy_context(features: Mapping[str, float], score: float | None, **extra: object) -> dict[str, Any]:
    """The JSON context a strategy reads: features (NaN becomes null), the score and any extra fields."""
    if score is not None and (isinstance(score, bool) or not math.isfinite(score)):
        raise ValidationFailed("the score must be a finite number or missing", code="invalid_score")
    context: dict[str, Any] = {k: (None if v != v else v) for k, v in features.items()}  # noqa: PLR0124
    context["score"] = score
    context.update(extra)
    return context


class Strategy:
    """One version of a strategy document, parsed once and evaluated many times."""

    __slots__ = ("_engine", "content_hash", "document", "strategy_id", "version")

    def __init__(self, strategy_id: str, version: int, document: Mapping[str, Any] | str | bytes) -> None:
        if not strategy_id or not isinstance(version, int) or version < 1:
            raise _invalid_document("a strategy needs an id and a version from 1")
        if isinstance(document, str | bytes):
            try:
                parsed = json.loads(document)
            except ValueError as exc:
                raise _invalid_document(f"not JSON ({exc})") from None
        else:
            parsed = json.loads(json.dumps(document))  # a private, JSON-clean copy
        if not isinstance(parsed, dict):
            raise _invalid_document("the document is not a JSON object")
        if parsed.get("contentType") != CONTENT_TYPE:
            raise _invalid_document(f"contentType must be {CONTENT_TYPE!r}")
        if not isinstance(parsed.get("nodes"), list) or not isinstance(parsed.get("edges"), list):
            raise _invalid_document("nodes and edges must be lists")
        canonical = json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        try:
            # create_decision parses the graph and validate() checks its shape (one input node, no
            # cycles, known node types); the static-loader engine below is the one that evaluates.
            zen.ZenEngine().create_decision(canonical).validate()
        except RuntimeError as exc:
            raise _invalid_document(_zen_reason(exc)) from None
        self.strategy_id = strategy_id
        self.version = version
        self.document: Mapping[str, Any] = parsed
        self.content_hash = hashlib.sha256(canonical.encode()).hexdigest()
        self._engine = zen.ZenEngine({"loader": {"type": "static", "content": {"strategy": parsed}}})

    def run(self, context: Mapping[str, Any]) -> dict[str, Any]:
        """The document's raw result for one context."""
        try:
            response = self._engine.evaluate("strategy", dict(context))
        except RuntimeError as exc:
            raise ValidationFailed(
                f"strategy {self.strategy_id} v{self.version} failed: {_zen_reason(exc)}",
                code="strategy_evaluation_failed",
                details={
                    "strategy_id": self.strategy_id,
                    "version": self.version,
                    "reason": _zen_reason(exc),
                },
            ) from None
        result = response["result"]
        if not isinstance(result, dict):
            raise _bad_output("result", result)
        return result

    def evaluate(
        self, context: Mapping[str, Any], bounds: ProductBounds, *, arm: Arm = Arm.CHAMPION
    ) -> StrategyOutcome:
        result = self.run(context)
        try:
            decision = Decision(str(result.get("decision")))
        except ValueError:
            raise _bad_output("decision", result.get("decision")) from None
        grade = result.get("grade")
        if grade is not None and not isinstance(grade, str):
            raise _bad_output("grade", grade)
        reasons = result.get("reasons", [])
        if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
            raise _bad_output("reasons", reasons)
        rate = _number(result.get("annual_rate"), "annual_rate")
        if rate is not None and (not 0 <= rate < 1 or -int(rate.as_tuple().exponent) > _MAX_RATE_PLACES):
            raise _bad_output("annual_rate", result.get("annual_rate"))
        limit_yuan = _number(result.get("limit"), "limit")
        limit_minor = None
        if limit_yuan is not None:
            if limit_yuan < 0:
                raise _bad_output("limit", result.get("limit"))
            try:
                limit_minor = int((limit_yuan * 100).to_integral_value(ROUND_FLOOR))
            except InvalidOperation:
                raise _bad_output("limit", result.get("limit")) from None
        final, final_rate, final_limit, added, adjustments = apply_bounds(decision, rate, limit_minor, bounds)
        return StrategyOutcome(
            decision=final,
            grade=grade,
            annual_rate=final_rate,
            limit_minor=final_limit,
            reasons=(*reasons, *added),
            adjustments=adjustments,
            arm=arm,
            strategy_id=self.strategy_id,
            strategy_version=self.version,
            strategy_hash=self.content_hash,
        )


def default_strategy() -> Strategy:
    """The packaged default consumer-loan strategy (``dipper/risk/strategies/default_consumer.json``)."""
    text = resources.files("dipper.risk").joinpath("strategies/default_consumer.json").read_text("utf-8")
    meta = json.loads(text).get("dipper", {})
    return Strategy(str(meta.get("strategy_id", "default_consumer")), int(meta.get("version", 1)), text)


def choose_arm(strategy_id: str, application_key: str, challenger_share: Decimal) -> Arm:
    """The arm for one application: stable for a (strategy, application) pair, independent across
    strategies (the strategy id is hashed in, so one customer is not always the guinea pig)."""
    digest = hashlib.sha256(f"{strategy_id}\x1f{application_key}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") % BUCKETS
    return Arm.CHALLENGER if bucket < int(challenger_share * BUCKETS) else Arm.CHAMPION


@dataclass(frozen=True, slots=True)
class ChampionChallenger:
    strategy_id: str
    champion: Strategy
    challenger: Strategy | None = None
    challenger_share: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        share = self.challenger_share
        if not isinstance(share, Decimal) or not share.is_finite() or not 0 <= share <= 1:
            raise ValidationFailed("the challenger share is a Decimal from 0 to 1", code="invalid_split")
        if (share * BUCKETS) != (share * BUCKETS).to_integral_value():
            raise ValidationFailed("the challenger share has at most 4 decimal places", code="invalid_split")
        if self.challenger is None and share != 0:
            raise ValidationFailed("a challenger share needs a challenger strategy", code="invalid_split")

    def arm_for(self, application_key: str) -> Arm:
        if not isinstance(application_key, str) or not application_key:
            raise ValidationFailed("an application key is required", code="invalid_application_key")
        if self.challenger is None:
            return Arm.CHAMPION
        return choose_arm(self.strategy_id, application_key, self.challenger_share)

    def decide(
        self, application_key: str, context: Mapping[str, Any], bounds: ProductBounds
    ) -> StrategyOutcome:
        arm = self.arm_for(application_key)
        strategy = self.challenger if arm is Arm.CHALLENGER and self.challenger is not None else self.champion
        return strategy.evaluate(context, bounds, arm=arm)
