"""Gradient boosting: the compiled runtime equals LightGBM (one row and a file), TreeSHAP equals
LightGBM's pred_contrib, reasons in both languages, sklearn conventions."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from dipper.risk.domain.base import columns_of
from dipper.risk.domain.gbdt import GradientBoostingModel, TreeEnsemble


def synthetic(n: int = 3000, seed: int = 11) -> tuple[pd.DataFrame, np.ndarray]:
    """Numbers with NaNs and exact zeros, a string category with an unseen value later, integer codes."""
    rng = np.random.default_rng(seed)
    utilisation = rng.uniform(0, 1.2, n)
    income = rng.lognormal(9, 0.5, n)
    balance = np.where(rng.uniform(size=n) < 0.3, 0.0, rng.normal(500, 300, n))
    channel = rng.choice(["app", "branch", "partner"], n, p=[0.5, 0.3, 0.2]).astype(object)
    delays = rng.integers(-2, 4, n).astype(float)
    partner = (channel == "partner") * 0.7
    logit = -1.5 + 2.0 * utilisation - 0.6 * (np.log(income) - 9) + 0.5 * delays + partner + 0.001 * balance
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    income[rng.uniform(size=n) < 0.05] = np.nan
    channel[rng.uniform(size=n) < 0.05] = None
    frame = pd.DataFrame(
        {
            "utilisation": utilisation,
            "income": income,
            "balance": balance,
            "channel": channel,
            "delays": delays,
        }
    )
    return frame, y


@pytest.fixture(scope="module")
def fitted() -> tuple[GradientBoostingModel, pd.DataFrame, np.ndarray]:
    X, y = synthetic()
    derived = [{"name": "income_per_delay", "op": "ratio", "inputs": ["income", "delays"]}]
    model = GradientBoostingModel(
        n_estimators=60, num_leaves=15, min_child_samples=20, derived_features=derived
    )
    return model.fit(X, y), X, y


def test_fit_returns_self_and_learned_state_ends_in_underscore(fitted) -> None:
    model, X, _ = fitted
    assert isinstance(model.runtime_, TreeEnsemble)
    assert model.n_rounds_ == [60]
    assert list(model.feature_names_in_) == list(X.columns)
    assert model.runtime_.inputs == list(X.columns)
    assert "income_per_delay" in model.runtime_.features
    assert clone(model).get_params()["n_estimators"] == 60
    assert {row["feature"] for row in model.report_["importance"]} == set(model.runtime_.features)


def test_scoring_before_fit_raises_not_fitted() -> None:
    X, _ = synthetic(100)
    with pytest.raises(NotFittedError):
        GradientBoostingModel().predict_proba(X)


def test_rounds_chosen_by_cross_validation() -> None:
    X, y = synthetic(1500)
    model = GradientBoostingModel(learning_rate=0.1, max_rounds=300, early_stopping_rounds=20).fit(X, y)
    assert 1 <= model.n_rounds_[0] < 300


def test_runtime_equals_lightgbm_on_a_file_and_on_single_rows(fitted) -> None:
    model, _, _ = fitted
    test, _ = synthetic(800, seed=99)
    test.loc[::17, "channel"] = "never-seen"  # unseen category: treated as missing
    test.loc[::13, "utilisation"] = np.nan
    reference = model.lightgbm_raw(test)
    runtime = model.runtime_
    assert np.max(np.abs(runtime.raw_many(columns_of(test)) - reference)) <= 1e-9
    rows = test.to_dict("records")
    one = np.array([runtime.raw_one(r) for r in rows])
    assert np.max(np.abs(one - reference)) <= 1e-9
    # Score: the same float on both paths.
    assert np.array_equal(np.array([runtime.score_one(r) for r in rows]), model.predict_score(test))
    pd_lightgbm = 1 / (1 + np.exp(-reference))
    assert np.max(np.abs(model.predict_proba(test)[:, 1] - pd_lightgbm)) <= 1e-9


def test_runtime_survives_json_without_lightgbm(fitted) -> None:
    model, X, _ = fitted
    runtime = TreeEnsemble.from_json(json.loads(json.dumps(model.runtime_.to_json())))
    assert np.array_equal(runtime.score_many(columns_of(X)), model.predict_score(X))


def test_tree_shap_equals_lightgbm_pred_contrib(fitted) -> None:
    model, X, _ = fitted
    runtime = model.runtime_
    sample = X.iloc[:60]
    matrix = runtime.matrix(columns_of(sample))
    expected = model.boosters_[0].predict(matrix, pred_contrib=True)
    mine = np.array([runtime.contributions(r) for r in sample.to_dict("records")])
    assert np.max(np.abs(mine - expected)) <= 1e-9
    # Contributions add up to the raw score.
    assert np.allclose(mine.sum(axis=1), model.lightgbm_raw(sample), atol=1e-9)


def test_reason_codes_ordered_and_worded_in_both_languages(fitted) -> None:
    model, X, _ = fitted
    riskiest = X.iloc[int(np.argmax(model.predict_proba(X)[:, 1]))].to_dict()
    reasons = model.reasons(riskiest, top=3)
    assert len(reasons) == 3
    lost = [r.points_lost for r in reasons]
    assert lost == sorted(lost, reverse=True) and lost[-1] > 0
    # A reason's points are its TreeSHAP contribution times the PDO factor.
    phi = model.runtime_.contributions(riskiest)
    top = model.runtime_.features.index(reasons[0].feature)
    assert reasons[0].points_lost == pytest.approx(phi[top] * model.scale.factor)
    assert [r.rank for r in reasons] == [1, 2, 3]
    assert "lowered the score by" in reasons[0].text("en")
    assert "使评分降低" in reasons[0].text("zh-CN")
    with pytest.raises(ValueError):
        reasons[0].text("fr")


def test_single_row_accepts_form_values(fitted) -> None:
    model, X, _ = fitted
    row = X.iloc[5].to_dict()
    as_text = {k: (None if isinstance(v, float) and math.isnan(v) else str(v)) for k, v in row.items()}
    as_text["channel"] = row["channel"]
    assert model.runtime_.score_one(as_text) == model.runtime_.score_one(row)
