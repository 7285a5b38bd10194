"""Simulated applications and small models trained on them: for tests, benchmarks and the demo.

A bank brings its own trained models (``dipper risk train`` over its history); until it has them, the
decision path still needs a scorecard and a gbdt that read the default feature set. This module draws
applications (the simulated bureau supplies their bureau part), computes the default features over
them, labels each with a default drawn from a known logistic model of those features, and trains
both families on the result. Deterministic for a seed. Training takes a few seconds, so the
runtimes are built once per process (``demo_setup`` caches them).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import math
import random
from typing import Any

import numpy as np

from dipper.risk.domain.bureau import SimulatedBureau
from dipper.risk.domain.decision import DecisionSetup, ModelBinding
from dipper.risk.domain.feature_set import DEFAULT_FEATURE_SET, SCENES, FeatureSet
from dipper.risk.domain.strategy import Strategy, default_strategy

__all__ = ["demo_models", "demo_setup", "simulated_application", "simulated_applications", "synthetic_labels"]

AS_OF = dt.date(2026, 1, 15)


def simulated_application(i: int, *, seed: int = 0, as_of: dt.date = AS_OF) -> dict[str, Any]:
    """One plausible application (application, identity and bureau inputs; no history here)."""
    rng = random.Random(f"dipper-demo-application\x1f{seed}\x1f{i}")
    born = dt.date(as_of.year - rng.randint(20, 60), rng.randint(1, 12), rng.randint(1, 28))
    area = rng.choice(("110105", "310104", "440305", "510107", "330106"))
    id_number = f"{area}{born:%Y%m%d}{rng.randint(100, 999)}X"
    report = SimulatedBureau().report(f"demo-{seed}-{i}", as_of)
    income = int(rng.lognormvariate(math.log(9_000), 0.5)) * 100
    return {
        **report.as_inputs(),
        "id_number": id_number,
        "application_date": as_of.isoformat(),
        "income_monthly_minor": income,
        "requested_amount_minor": rng.choice((1_000_000, 2_000_000, 3_000_000, 5_000_000, 8_000_000)),
        "requested_term_months": rng.choice((6, 12, 12, 24, 36)),
        "employment_years": round(rng.uniform(0, 15), 1),
        "scene": rng.choice(SCENES),
        "application_hour": rng.randint(0, 23),
        "kyc_passed": rng.random() > 0.02,
        "four_elements_verified": rng.random() > 0.02,
        "phone_tenure_months": rng.randint(1, 180),
        "device_risky": rng.random() < 0.01,
        "device_customer_count": rng.choice((1, 1, 1, 1, 2, 3)),
        "blacklisted": rng.random() < 0.005,
    }


def simulated_applications(n: int, *, seed: int = 0) -> list[dict[str, Any]]:
    return [simulated_application(i, seed=seed) for i in range(n)]


def synthetic_labels(features: dict[str, np.ndarray[Any, Any]], seed: int) -> np.ndarray[Any, Any]:
    """A default (1) or not (0) per row, drawn from a known logistic model of the default features."""

    def col(name: str, fill: float) -> np.ndarray[Any, Any]:
        filled: np.ndarray[Any, Any] = np.nan_to_num(features[name], nan=fill)
        return filled

    logit = (
        -5.6
        + 1.0 * np.minimum(col("dti_after_loan", 0.3), 2.0)
        + 0.12 * col("bureau_inquiries_3m", 0.0)
        + 0.25 * col("bureau_delinquencies_24m", 0.0)
        + 0.8 * col("bureau_card_utilisation", 0.5)
        - 0.3 * np.log1p(col("monthly_income", 5_000.0) / 5_000.0)
        - 0.02 * col("age", 35.0)
        + 0.5 * col("night_application", 0.0)
        + 0.6 * col("bureau_thin_file", 0.0)
    )
    rng = np.random.default_rng(seed)
    out: np.ndarray[Any, Any] = (rng.uniform(size=logit.size) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    return out


def _runtime_hash(runtime: Any) -> str:
    text = json.dumps(runtime.to_json(), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@functools.cache
def demo_models(n: int = 6_000, seed: int = 0) -> tuple[ModelBinding, ModelBinding]:
    """A scorecard and a gbdt over the default feature set, trained on simulated applications.

    The bindings' content hash is the sha256 of the runtime's JSON (there is no model directory)."""
    import pandas as pd

    from dipper.risk.domain.gbdt import GradientBoostingModel
    from dipper.risk.domain.scorecard import ScorecardModel

    fs = DEFAULT_FEATURE_SET
    apps = simulated_applications(n, seed=seed)
    features = fs.frame({k: [a.get(k) for a in apps] for k in fs.inputs})
    y = synthetic_labels(features, seed)
    frame = pd.DataFrame(features)
    frame = frame[[c for c in frame.columns if frame[c].nunique(dropna=False) > 1]]
    scorecard = ScorecardModel(random_state=seed).fit(frame, y)
    gbdt = GradientBoostingModel(
        n_estimators=120, learning_rate=0.05, min_child_samples=50, random_state=seed
    ).fit(frame, y)
    return (
        ModelBinding(scorecard.runtime_, _runtime_hash(scorecard.runtime_), "demo_scorecard", 1),
        ModelBinding(gbdt.runtime_, _runtime_hash(gbdt.runtime_), "demo_gbdt", 1),
    )


def demo_setup(
    *,
    strategy: Strategy | None = None,
    feature_set: FeatureSet = DEFAULT_FEATURE_SET,
    scorecard: bool = True,
    gbdt: bool = True,
) -> DecisionSetup:
    """The default strategy with the demo models (either may be left out)."""
    sc, gb = demo_models()
    return DecisionSetup.of(
        feature_set,
        strategy or default_strategy(),
        scorecard=sc if scorecard else None,
        gbdt=gb if gbdt else None,
    )
