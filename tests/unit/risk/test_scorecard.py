"""The scorecard: sklearn conventions, monotonic bins, the points table on one row and on a file, reasons."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from dipper.kernel.errors import ValidationFailed
from dipper.risk.domain.base import columns_of
from dipper.risk.domain.scorecard import PointsTable, ScorecardModel


def synthetic(n: int = 4000, seed: int = 7) -> tuple[pd.DataFrame, np.ndarray]:
    """Risk rises with utilisation, falls with income; a channel category and a few integer codes."""
    rng = np.random.default_rng(seed)
    utilisation = rng.uniform(0, 1.2, n)
    income = rng.lognormal(9, 0.5, n)
    channel = rng.choice(["app", "branch", "partner"], n, p=[0.5, 0.3, 0.2])
    delays = rng.integers(0, 4, n).astype(float)
    partner = (channel == "partner") * 0.7
    logit = -2.0 + 2.5 * utilisation - 0.8 * (np.log(income) - 9) + 0.6 * delays + partner
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    income[rng.uniform(size=n) < 0.05] = np.nan  # missing values get their own bin
    utilisation[rng.uniform(size=n) < 0.03] = -1.0  # a special code ("no line")
    frame = pd.DataFrame({"utilisation": utilisation, "income": income, "channel": channel, "delays": delays})
    return frame, y


@pytest.fixture(scope="module")
def fitted() -> tuple[ScorecardModel, pd.DataFrame, np.ndarray]:
    X, y = synthetic()
    model = ScorecardModel(special_codes={"utilisation": [-1.0]})
    return model.fit(X, y), X, y


def test_fit_returns_self_and_learned_state_ends_in_underscore(fitted) -> None:
    model, X, _ = fitted
    assert isinstance(model.runtime_, PointsTable)
    assert list(model.feature_names_in_) == list(X.columns)
    assert set(model.selected_features_) == {"utilisation", "income", "channel", "delays"}
    params = clone(model).get_params()
    assert params["pdo"] == 20.0
    assert params["special_codes"] == {"utilisation": [-1.0]}


def test_scoring_before_fit_raises_not_fitted() -> None:
    X, _ = synthetic(200)
    with pytest.raises(NotFittedError):
        ScorecardModel().predict_proba(X)
    with pytest.raises(NotFittedError):
        ScorecardModel().reasons({"utilisation": 0.5})


def test_monotonic_trend_is_respected(fitted) -> None:
    model, _, _ = fitted
    table = model.runtime_
    for feature in table.features:
        if feature.kind != "numerical":
            continue
        regular = feature.points[: feature.special]
        assert len(regular) >= 2, feature.name
        steps = np.diff(regular)
        assert np.all(steps <= 1e-12) or np.all(steps >= -1e-12), (feature.name, regular)
    util = next(f for f in table.features if f.name == "utilisation")
    assert util.points[0] > util.points[util.special - 1]  # more utilisation, fewer points
    assert util.special_codes == [-1.0]
    assert util.labels[util.special] == "Special"
    assert util.labels[util.missing] == "Missing"


def test_single_row_score_equals_vectorized_score_exactly(fitted) -> None:
    model, X, _ = fitted
    vector = model.predict_score(X)
    rows = X.to_dict("records")
    one = np.array([model.runtime_.score_one(r) for r in rows])
    assert np.array_equal(one, vector)
    # Values as a form or an API sends them (strings, None) score the same.
    row = {k: (None if isinstance(v, float) and math.isnan(v) else str(v)) for k, v in rows[3].items()}
    assert model.runtime_.score_one(row) == vector[3]


def test_points_reproduce_the_logistic_regression(fitted) -> None:
    model, X, _ = fitted
    table = model.runtime_
    columns = columns_of(X)
    bins = table.bins_many(columns)
    woe = np.column_stack([np.asarray(f.woe)[bins[f.name]] for f in table.features])
    expected = model.logistic_.predict_proba(woe)[:, 1]
    assert np.max(np.abs(model.predict_proba(X)[:, 1] - expected)) < 1e-9
    # PDO: 20 more points double the odds of good.
    scale = table.scale

    def odds_bad(score: float) -> float:
        return scale.pd(score) / (1 - scale.pd(score))

    assert odds_bad(620.0) == pytest.approx(odds_bad(600.0) / 2)
    assert (1 - scale.pd(600.0)) / scale.pd(600.0) == pytest.approx(50.0)


def test_points_table_round_trips_through_json(fitted) -> None:
    model, X, _ = fitted
    table = PointsTable.from_json(json.loads(json.dumps(model.runtime_.to_json())))
    assert np.array_equal(table.score_many(columns_of(X)), model.predict_score(X))


def test_reason_codes_are_the_largest_adverse_points_in_both_languages(fitted) -> None:
    model, X, _ = fitted
    table = model.runtime_
    risky = X.assign(pd_=model.predict_proba(X)[:, 1]).sort_values("pd_").iloc[-1].drop("pd_").to_dict()
    reasons = model.reasons(risky, top=3)
    assert 1 <= len(reasons) <= 3
    lost = [r.points_lost for r in reasons]
    assert lost == sorted(lost, reverse=True) and lost[0] > 0
    # Each reason's loss is that feature's best points minus its points for this application.
    by_name = {f.name: f for f in table.features}
    first = by_name[reasons[0].feature]
    own = first.points[first.index_one(risky[first.name])]
    assert reasons[0].points_lost == pytest.approx(max(first.points) - own)
    en, zh = reasons[0].text("en"), reasons[0].text("zh-CN")
    assert reasons[0].feature in en and "lowered the score by" in en
    assert "使评分降低" in zh and "分" in zh
    as_json = reasons[0].to_json({reasons[0].feature: {"zh-CN": "特征", "en": "Feature"}})
    assert as_json["code"] == f"R_{reasons[0].feature}"
    assert as_json["text"]["zh-CN"].startswith("特征")
    # The safest applicant loses no points anywhere.
    bins = table.bins_many(columns_of(X))
    best = {}
    for f in table.features:
        i = int(np.argmax(f.points))
        best[f.name] = X[f.name][bins[f.name] == i].iloc[0] if i < f.special else None
    if all(v is not None for v in best.values()):
        assert model.reasons(best) == []


def test_unseen_category_and_missing_values_score_as_missing(fitted) -> None:
    model, _, _ = fitted
    table = model.runtime_
    channel = next(f for f in table.features if f.name == "channel")
    assert channel.index_one("never-seen") == channel.missing
    assert channel.index_one(None) == channel.missing
    income = next(f for f in table.features if f.name == "income")
    assert income.index_one(float("nan")) == income.missing
    assert income.woe[income.missing] != 0.0  # missing incomes were seen in training


def test_constant_column_is_refused() -> None:
    X, y = synthetic(500)
    with pytest.raises(ValidationFailed) as caught:
        ScorecardModel().fit(X.assign(flat=1.0), y)
    assert caught.value.code == "constant_column"
    assert caught.value.details["columns"] == ["flat"]


def test_derived_features_score_the_same_on_one_row_and_a_file() -> None:
    X, y = synthetic(2000)
    X = X.assign(limit=np.where(np.arange(len(X)) % 5 == 0, 0.0, 1000.0), balance=X["utilisation"] * 900)
    derived = [{"name": "used", "op": "ratio", "inputs": ["balance", "limit"]}]
    model = ScorecardModel(derived_features=derived).fit(X, y)
    assert "used" in model.iv_
    vector = model.predict_score(X)
    one = np.array([model.runtime_.score_one(r) for r in X.to_dict("records")])
    assert np.array_equal(one, vector)
