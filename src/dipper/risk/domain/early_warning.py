"""Post-loan early warning (贷后预警): a warning score and level per customer with a loan open.

Like the limit review, set-based: the customers' history here and their refreshed bureau inputs go
into one frame, the warning features are computed over it at once, and the strategy
(``strategies/early_warning.json`` by default: points per signal collected from a decision table,
capped at 100; ``red`` from 60, ``amber`` from 30) runs once per customer. Pure: no I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

from dipper.kernel.errors import ValidationFailed
from dipper.risk.domain.decision import ReasonItem, rule_texts
from dipper.risk.domain.feature_set import DType, Feature, FeatureSet, Flag, MissingPolicy, Num, Source
from dipper.risk.domain.strategy import Strategy

__all__ = ["LEVELS", "WARNING_FEATURE_SET", "CustomerWarning", "default_warning_strategy", "score_customers"]

LEVELS: Final = ("green", "amber", "red")


def _features() -> FeatureSet:
    H, B, F, N, G = Source.BEHAVIOUR, Source.BUREAU, DType.FLOAT, DType.INT, DType.FLAG  # noqa: N806
    return FeatureSet(
        "post_loan_warning",
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
                "outstanding",
                1,
                H,
                F,
                Num("dipper_outstanding_minor") / 100.0,
                "Principal outstanding here (yuan)",
                "本行未还本金（元）",
            ),
            Feature(
                "line_utilisation",
                1,
                H,
                F,
                Num("dipper_line_used_minor") / Num("dipper_line_limit_minor"),
                "Drawn share of the lines here",
                "本行授信额度使用率",
            ),
            Feature(
                "bureau_current_delinquency",
                1,
                B,
                G,
                Flag("bureau_current_delinquency"),
                "Past due at another lender now",
                "他行当前逾期",
            ),
            Feature(
                "bureau_inquiries_3m",
                1,
                B,
                N,
                Num("bureau_inquiries_3m"),
                "Hard inquiries in 3 months",
                "近3个月查询次数",
            ),
            Feature(
                "bureau_card_utilisation",
                1,
                B,
                F,
                Num("bureau_card_utilisation").clip(0.0, 2.0),
                "Credit card balances over limits (capped at 2)",
                "信用卡额度使用率（上限2）",
            ),
        ],
    )


WARNING_FEATURE_SET: Final = _features()


def default_warning_strategy() -> Strategy:
    """The packaged early-warning strategy (``dipper/risk/strategies/early_warning.json``)."""
    text = resources.files("dipper.risk").joinpath("strategies/early_warning.json").read_text("utf-8")
    meta = json.loads(text).get("dipper", {})
    return Strategy(str(meta.get("strategy_id", "early_warning")), int(meta.get("version", 1)), text)


@dataclass(frozen=True, slots=True)
class CustomerWarning:
    customer_id: str
    score: int  # 0-100, higher is riskier
    level: str  # green | amber | red
    reasons: tuple[ReasonItem, ...]
    features: Mapping[str, float | None]
    strategy_id: str
    strategy_version: int
    strategy_hash: str

    def to_json(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "score": self.score,
            "level": self.level,
            "reasons": [r.to_json() for r in self.reasons],
            "features": dict(self.features),
            "strategy": {
                "strategy_id": self.strategy_id,
                "version": self.strategy_version,
                "content_hash": self.strategy_hash,
            },
        }


def _bad(field: str, value: object) -> ValidationFailed:
    return ValidationFailed(
        f"the early-warning strategy returned an invalid {field}: {value!r}",
        code="strategy_output_invalid",
        details={"field": field},
    )


def score_customers(
    customers: Sequence[tuple[str, Mapping[str, object]]],
    strategy: Strategy,
    *,
    feature_set: FeatureSet = WARNING_FEATURE_SET,
) -> list[CustomerWarning]:
    """A warning per (customer id, inputs), riskiest first (ties by customer id)."""
    if not customers:
        return []
    columns: dict[str, list[object]] = {name: [] for name in feature_set.inputs}
    for _, inputs in customers:
        for name, values in columns.items():
            values.append(inputs.get(name))
    frame = feature_set.frame(columns)
    texts = rule_texts(strategy.document)
    out: list[CustomerWarning] = []
    for i, (customer_id, _) in enumerate(customers):
        features = {n: (None if math.isnan(col[i]) else float(col[i])) for n, col in frame.items()}
        result = strategy.run(features)
        score, level, codes = result.get("score"), result.get("level"), result.get("reasons") or []
        if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 100:
            raise _bad("score", score)
        if level not in LEVELS:
            raise _bad("level", level)
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise _bad("reasons", codes)
        reasons = tuple(
            ReasonItem(c, "rule", (texts.get(c) or {}).get("zh-CN") or c, (texts.get(c) or {}).get("en") or c)
            for c in codes
        )
        out.append(
            CustomerWarning(
                customer_id,
                int(score),
                str(level),
                reasons,
                features,
                strategy.strategy_id,
                strategy.version,
                strategy.content_hash,
            )
        )
    out.sort(key=lambda w: (-w.score, w.customer_id))
    return out
