"""The gbdt runtime's fast paths: the flattened, tabulated TreeSHAP equals LightGBM's pred_contrib (and
the pure-Python recursion), on tabulated and on padded (deep) paths, for one booster and a bag; a
file scored in bulk equals the same rows scored one by one."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from tests.unit.risk.test_gbdt import synthetic

from dipper.risk.domain import gbdt
from dipper.risk.domain.base import columns_of
from dipper.risk.domain.gbdt import GradientBoostingModel, TreeEnsemble


@pytest.fixture(scope="module")
def bagged() -> tuple[GradientBoostingModel, pd.DataFrame]:
    X, y = synthetic(2500, seed=5)
    model = GradientBoostingModel(
        n_estimators=40, num_leaves=31, min_child_samples=10, colsample_bytree=1.0, n_models=2
    )
    return model.fit(X, y), X


def _awkward_rows(seed: int = 123) -> pd.DataFrame:
    test, _ = synthetic(300, seed=seed)
    test.loc[::11, "channel"] = "never-seen"
    test.loc[::7, "utilisation"] = np.nan
    test.loc[::5, "balance"] = 0.0
    test.loc[::9, "delays"] = np.nan
    return test


def _lightgbm_contrib(model: GradientBoostingModel, frame: pd.DataFrame) -> np.ndarray:
    runtime = model.runtime_
    matrix = runtime.matrix(columns_of(frame.reset_index(drop=True)))
    total = sum(b.predict(matrix, pred_contrib=True) for b in model.boosters_)
    return np.asarray(total) / len(model.boosters_)


@pytest.mark.parametrize("table_depth", [12, 2, 0])
def test_fast_contributions_equal_lightgbm_pred_contrib(bagged, monkeypatch, table_depth) -> None:
    model, _ = bagged
    monkeypatch.setattr(gbdt, "_TABLE_MAX_DEPTH", table_depth)  # 0: every path padded, none tabulated
    runtime = TreeEnsemble.from_json(model.runtime_.to_json())
    test = _awkward_rows()
    mine = np.array([runtime.contributions(r) for r in test.to_dict("records")])
    expected = _lightgbm_contrib(model, test)
    assert mine.shape == expected.shape
    assert np.max(np.abs(mine - expected)) <= 1e-9
    plan = runtime._shap
    assert plan is not None
    if table_depth == 0:
        assert plan.n_tabled == 0 and plan.deep_index.size > 0
    elif table_depth == 2:
        assert plan.n_tabled > 0 and plan.deep_index.size > 0


def test_fast_contributions_equal_the_recursion(bagged) -> None:
    model, X = bagged
    runtime = model.runtime_
    for row in X.iloc[:25].to_dict("records"):
        fast = runtime.contributions(row)
        slow = runtime.contributions_reference(row)
        assert np.max(np.abs(np.array(fast) - np.array(slow))) <= 1e-12


def _shapley_by_enumeration(z: np.ndarray, o: np.ndarray, i: int) -> float:
    d = len(z)

    def f(s: set[int]) -> float:
        return math.prod(o[j] if j in s else z[j] for j in range(d))

    others = [j for j in range(d) if j != i]
    total = 0.0
    for k in range(d):
        weight = math.factorial(k) * math.factorial(d - 1 - k) / math.factorial(d)
        for s in itertools.combinations(others, k):
            total += weight * (f({*s, i}) - f(set(s)))
    return total


def test_leaf_factors_are_shapley_values_by_enumeration() -> None:
    """The closed form against the definition: every subset, Shapley weights, f(S) = Π o_S Π z_rest."""
    rng = np.random.default_rng(3)
    for d in (1, 2, 4):
        z = rng.uniform(0.05, 0.95, (6, d))
        o = rng.integers(0, 2, (6, d)).astype(float)
        got = gbdt._leaf_factors(z, o)
        for n in range(6):
            for i in range(d):
                assert got[n, i] == pytest.approx(_shapley_by_enumeration(z[n], o[n], i), abs=1e-14)


def test_bulk_scoring_equals_the_walker_and_single_rows(bagged) -> None:
    model, _ = bagged
    runtime = TreeEnsemble.from_json(model.runtime_.to_json())
    test = pd.concat([_awkward_rows(seed=s) for s in range(5)], ignore_index=True)  # 1,500 rows
    test.loc[::13, "channel"] = None
    assert len(test) >= gbdt._BULK_ROWS
    matrix = runtime.matrix(columns_of(test))
    bulk = runtime.raw_matrix(matrix)  # LightGBM's C++ walker on boosters rebuilt from the trees
    assert runtime._boosters_cache is not None
    assert np.array_equal(bulk, runtime.raw_matrix_walk(matrix))
    one = np.array([runtime.raw_one(r) for r in test.to_dict("records")])
    assert np.array_equal(bulk, one)
    assert np.array_equal(
        runtime.score_many(columns_of(test)), [runtime.score_one(r) for r in test.to_dict("records")]
    )
    assert np.max(np.abs(bulk - model.lightgbm_raw(test))) <= 1e-12


def test_scorecard_bins_a_file_as_it_bins_one_application() -> None:
    from dipper.risk.domain.scorecard import ScorecardModel

    X, y = synthetic(2000, seed=8)
    model = ScorecardModel().fit(X, y)
    test = _awkward_rows(seed=77)
    test["delays"] = test["delays"].astype(object)
    test.loc[::4, "delays"] = "2"  # a code arriving as text
    test.loc[::6, "channel"] = np.nan
    runtime = model.runtime_
    many = runtime.score_many(columns_of(test))
    assert np.array_equal(many, [runtime.score_one(r) for r in test.to_dict("records")])
    kinds = {f.kind for f in runtime.features}
    assert {"categorical", "discrete"} <= kinds


def _hand_built() -> TreeEnsemble:
    """Two trees with every kind of split LightGBM writes: no missing rule (NaN read as 0.0), a zero
    rule (|v| <= 1e-35 goes the default way, NaN too), a NaN rule, and a category set."""
    zero_rule = gbdt.Tree(
        feature=[0, 1, 2],
        threshold=[0.5, -1.0, 2.5],
        kind=[gbdt._NUM_ZERO, gbdt._NUM_NONE, gbdt._NUM_NAN],
        default_left=[False, True, True],
        left=[1, ~0, ~2],
        right=[2, ~1, ~3],
        categories=[frozenset()] * 3,
        internal_count=[100.0, 60.0, 40.0],
        leaf_value=[0.3, -0.2, 0.1, -0.4],
        leaf_count=[20.0, 40.0, 25.0, 15.0],
    )
    categorical = gbdt.Tree(
        feature=[3, 0],
        threshold=[0.0, 0.25],
        kind=[gbdt._CATEGORICAL, gbdt._NUM_NAN],
        default_left=[False, False],
        left=[~0, ~1],
        right=[1, ~2],
        categories=[frozenset({0, 2, 33}), frozenset()],
        internal_count=[90.0, 50.0],
        leaf_value=[0.05, -0.15, 0.25],
        leaf_count=[40.0, 30.0, 20.0],
    )
    stump = gbdt.Tree(
        feature=[], threshold=[], kind=[], default_left=[], left=[], right=[], categories=[],
        internal_count=[], leaf_value=[0.01], leaf_count=[90.0],
    )  # fmt: skip
    from dipper.risk.domain.scale import ScoreScale

    return TreeEnsemble(
        boosters=[[zero_rule, categorical, stump]],
        features=["a", "b", "c", "d"],
        categories={"d": [str(code) for code in range(41)]},
        scale=ScoreScale(600.0, 50.0, 20.0),
    )


def test_hand_built_splits_on_every_path() -> None:
    runtime = _hand_built()
    values = [math.nan, 0.0, 1e-36, -1e-36, 0.25, 0.5, 0.6, -1.0, -2.0, 2.5, 3.0]
    codes = [None, "unseen", "0", "1", "2", "33", "40"]
    rng = np.random.default_rng(9)
    rows = [
        {"a": rng.choice(values), "b": rng.choice(values), "c": rng.choice(values), "d": rng.choice(codes)}
        for _ in range(400)
    ]
    for row in rows:
        assert runtime.contributions(row) == pytest.approx(runtime.contributions_reference(row), abs=1e-12)
    frame = pd.DataFrame(rows)
    one = np.array([runtime.raw_one(r) for r in rows])
    matrix = runtime.matrix(columns_of(frame))
    assert np.array_equal(runtime.raw_matrix_walk(matrix), one)
    bulk = runtime._bulk()
    assert bulk is not None
    assert np.array_equal(
        bulk[0].predict(matrix, raw_score=True), one
    )  # LightGBM reads the rebuilt text alike
