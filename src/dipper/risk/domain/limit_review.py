"""In-loan limit review (贷中额度管理): a periodic pass over the book that raises, lowers or freezes lines.

Set-based: every line's behaviour inputs go into one frame, the review features are computed over it
at once (``FeatureSet.frame``), an optional behaviour model scores the whole frame (``score_many``),
and the strategy (a JDM document, ``strategies/limit_review.json`` by default: freeze when over 30
days past due, lower after delinquency or late payments or a low score, raise a well-used line that
was always paid on time) runs once per line. Python then keeps the proposal within what the loan
core accepts: a lower limit never goes below what is drawn, a raise never above ``max_limit_minor``,
a frozen line is not raised, and a change that changes nothing is ``keep``. Pure: no I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from importlib import resources
from typing import Any, Final

from dipper.kernel.errors import ValidationFailed
from dipper.risk.domain.decision import ModelBinding, ReasonItem, rule_texts
from dipper.risk.domain.feature_set import DType, Feature, FeatureSet, MissingPolicy, Num, Source
from dipper.risk.domain.strategy import Strategy

__all__ = [
    "ACTIONS",
    "LIMIT_REVIEW_FEATURE_SET",
    "LineInput",
    "LineProposal",
    "default_limit_strategy",
    "review_lines",
]

ACTIONS: Final = ("raise", "lower", "freeze", "keep")


def _features() -> FeatureSet:
    H, F, N = Source.BEHAVIOUR, DType.FLOAT, DType.INT  # noqa: N806
    return FeatureSet(
        "credit_line_review",
        1,
        [
            Feature("max_dpd_now", 1, H, N, Num("dipper_max_dpd_now"), "Days past due now", "当前逾期天数"),
            Feature(
                "max_dpd_12m",
                1,
                H,
                N,
                Num("dipper_max_dpd_12m"),
                "Worst days past due in 12 months",
                "近12个月最大逾期天数",
            ),
            Feature(
                "on_time_ratio",
                1,
                H,
                F,
                Num("dipper_on_time_ratio"),
                "Share of installments paid on time",
                "按时还款比例",
            ),
            Feature(
                "months_on_book",
                1,
                H,
                N,
                Num("dipper_months_since_first_loan"),
                "Months since the first loan here",
                "首笔贷款至今月数",
            ),
            Feature(
                "active_loans",
                1,
                H,
                N,
                Num("dipper_active_loans"),
                "Loans open here",
                "在贷笔数",
                missing=MissingPolicy.FILL,
                fill_value=0.0,
            ),
            Feature(
                "line_limit",
                1,
                H,
                F,
                Num("line_limit_minor") / 100.0,
                "Line limit (yuan)",
                "授信额度（元）",
                missing=MissingPolicy.REJECT,
            ),
            Feature("line_used", 1, H, F, Num("line_used_minor") / 100.0, "Drawn (yuan)", "已用额度（元）"),
            Feature(
                "line_utilisation",
                1,
                H,
                F,
                Num("line_used_minor") / Num("line_limit_minor"),
                "Drawn share of the line",
                "额度使用率",
            ),
            Feature(
                "outstanding",
                1,
                H,
                F,
                Num("dipper_outstanding_minor") / 100.0,
                "Principal outstanding here (yuan)",
                "本行未还本金（元）",
            ),
        ],
    )


LIMIT_REVIEW_FEATURE_SET: Final = _features()


def default_limit_strategy() -> Strategy:
    """The packaged limit-review strategy (``dipper/risk/strategies/limit_review.json``)."""
    text = resources.files("dipper.risk").joinpath("strategies/limit_review.json").read_text("utf-8")
    meta = json.loads(text).get("dipper", {})
    return Strategy(str(meta.get("strategy_id", "limit_review")), int(meta.get("version", 1)), text)


@dataclass(frozen=True, slots=True)
class LineInput:
    credit_line_id: str
    customer_id: str
    status: str  # active | frozen
    limit_minor: int
    used_minor: int
    behaviour: Mapping[str, object]  # the customer's ``dipper_*`` inputs


@dataclass(frozen=True, slots=True)
class LineProposal:
    credit_line_id: str
    customer_id: str
    action: str  # raise | lower | freeze | keep
    limit_minor: int
    new_limit_minor: int
    used_minor: int
    reasons: tuple[ReasonItem, ...]
    features: Mapping[str, float | None]
    score: float | None
    strategy_id: str
    strategy_version: int
    strategy_hash: str

    def to_json(self) -> dict[str, Any]:
        return {
            "credit_line_id": self.credit_line_id,
            "customer_id": self.customer_id,
            "action": self.action,
            "limit_minor": self.limit_minor,
            "new_limit_minor": self.new_limit_minor,
            "used_minor": self.used_minor,
            "reasons": [r.to_json() for r in self.reasons],
            "features": dict(self.features),
            "score": self.score,
            "strategy": {
                "strategy_id": self.strategy_id,
                "version": self.strategy_version,
                "content_hash": self.strategy_hash,
            },
        }


def _bad(field: str, value: object) -> ValidationFailed:
    return ValidationFailed(
        f"the limit strategy returned an invalid {field}: {value!r}",
        code="strategy_output_invalid",
        details={"field": field},
    )


def review_lines(
    lines: Sequence[LineInput],
    strategy: Strategy,
    *,
    model: ModelBinding | None = None,
    max_limit_minor: int = 20_000_000,
    feature_set: FeatureSet = LIMIT_REVIEW_FEATURE_SET,
) -> list[LineProposal]:
    """A proposal per line (in the order given)."""
    if not lines:
        return []
    columns: dict[str, list[object]] = {name: [] for name in feature_set.inputs}
    for line in lines:
        row = {**line.behaviour, "line_limit_minor": line.limit_minor, "line_used_minor": line.used_minor}
        for name, values in columns.items():
            values.append(row.get(name))
    frame = feature_set.frame(columns)
    scores = None
    if model is not None:
        scores = model.runtime.score_many(frame)
    texts = rule_texts(strategy.document)
    names = list(frame)
    out: list[LineProposal] = []
    for i, line in enumerate(lines):
        features = {n: (None if math.isnan(v) else float(v)) for n in names for v in (frame[n][i],)}
        score = None if scores is None else float(scores[i])
        context: dict[str, Any] = {**features, "score": score, "max_limit": max_limit_minor / 100}
        result = strategy.run(context)
        action = result.get("action")
        if action not in ACTIONS:
            raise _bad("action", action)
        proposed = result.get("limit")
        if isinstance(proposed, bool) or not isinstance(proposed, int | float) or not math.isfinite(proposed):
            raise _bad("limit", proposed)
        new = int((Decimal(str(proposed)) * 100).to_integral_value(ROUND_FLOOR))
        current = line.limit_minor
        if action == "raise":
            new = min(new, max_limit_minor)
            if line.status == "frozen" or new <= current:
                action, new = "keep", current
        elif action == "lower":
            new = max(new, line.used_minor)
            if new >= current:
                action, new = "keep", current
        elif action == "freeze":
            new = current
            if line.status == "frozen":
                action = "keep"
        else:
            new = current
        codes = result.get("reasons") or []
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise _bad("reasons", codes)
        reasons = tuple(
            ReasonItem(
                code,
                "rule",
                (texts.get(code) or {}).get("zh-CN") or code,
                (texts.get(code) or {}).get("en") or code,
            )
            for code in codes
        )
        out.append(
            LineProposal(
                credit_line_id=line.credit_line_id,
                customer_id=line.customer_id,
                action=action,
                limit_minor=current,
                new_limit_minor=new,
                used_minor=line.used_minor,
                reasons=reasons if action != "keep" else (),
                features=features,
                score=score,
                strategy_id=strategy.strategy_id,
                strategy_version=strategy.version,
                strategy_hash=strategy.content_hash,
            )
        )
    return out
