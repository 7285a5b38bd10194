"""Monitoring statistics against hand-computed examples and against scikit-learn and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import ks_2samp
from sklearn.metrics import roc_auc_score

from dipper.kernel.errors import ValidationFailed
from dipper.risk.domain import monitoring as m


def test_psi_by_hand() -> None:
    # (0.25 - 0.5) ln(0.25/0.5) + (0.75 - 0.5) ln(0.75/0.5)
    expected = 0.25 * math.log(2) + 0.25 * math.log(1.5)
    assert m.psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(expected, abs=1e-12)
    assert m.psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0.0


def test_psi_floors_empty_bins_at_epsilon() -> None:
    value = m.psi([0.5, 0.5, 0.0], [0.5, 0.4, 0.1])
    by_hand = (0.4 - 0.5) * math.log(0.4 / 0.5) + (0.1 - m.EPSILON) * math.log(0.1 / m.EPSILON)
    assert math.isfinite(value)
    assert value == pytest.approx(by_hand, abs=1e-12)
    with pytest.raises(ValidationFailed):
        m.psi([0.5, 0.5], [1.0])


def test_psi_levels_follow_the_thresholds() -> None:
    t = m.Thresholds()
    assert [m.psi_level(v, t) for v in (0.05, 0.1, 0.2, 0.25, 0.9, None)] == [
        "ok",
        "warn",
        "warn",
        "alert",
        "alert",
        "unknown",
    ]
    assert m.psi_level(0.2, m.Thresholds(psi_warn=0.05, psi_alert=0.15)) == "alert"
    with pytest.raises(ValidationFailed):
        m.Thresholds(psi_warn=0.3, psi_alert=0.2)


def test_numeric_reference_is_deciles_with_a_missing_bin() -> None:
    values = np.r_[np.arange(1.0, 101.0), [np.nan] * 25]
    ref = m.variable_reference(values)
    assert ref.kind == "numeric"
    assert ref.edges == pytest.approx([10.9, 20.8, 30.7, 40.6, 50.5, 60.4, 70.3, 80.2, 90.1])
    assert ref.shares == pytest.approx([0.08] * 10 + [0.2])
    assert ref.labels[0] == "(-inf, 10.9]" and ref.labels[-1] == m.MISSING
    # The training data against itself is perfectly stable.
    assert m.variable_psi("x", ref, values, m.Thresholds())["psi"] == 0.0
    # Everything above the top decile: one bin holds all.
    shifted = m.variable_psi("x", ref, np.full(50, 500.0), m.Thresholds())
    top = shifted["bins"][9]
    assert (top["count"], top["actual"], shifted["level"]) == (50, 1.0, "alert")
    by_hand = sum((a - e) * math.log(a / e) for e, a in [(0.08, 1.0)] + [(0.08, 1e-4)] * 9 + [(0.2, 1e-4)])
    assert shifted["psi"] == pytest.approx(by_hand, abs=1e-6)


def test_a_column_of_few_codes_gets_a_bin_per_code() -> None:
    ref = m.variable_reference(np.array([1, 1, 2, 3, 3, 3], dtype=np.float64))
    assert ref.edges == (1.0, 2.0)
    assert ref.counts(np.array([1.0, 2.0, 3.0, 4.0, np.nan])).tolist() == [1, 1, 2, 1]


def test_categorical_reference_counts_unseen_values_as_other() -> None:
    values = np.array(["app", "app", "branch", None, "app", "partner"], dtype=object)
    ref = m.variable_reference(values)
    assert ref.kind == "categorical"
    assert ref.categories == ("app", "branch", "partner")
    assert ref.shares == pytest.approx([0.5, 1 / 6, 1 / 6, 0.0, 1 / 6])
    counts = ref.counts(np.array(["app", "web", None, "web"], dtype=object))
    assert counts.tolist() == [1, 0, 0, 2, 1]
    entry = m.variable_psi(
        "channel", ref, np.array(["app", "web", None, "web"], dtype=object), m.Thresholds()
    )
    assert [b["bin"] for b in entry["bins"]] == ["app", "branch", "partner", m.OTHER, m.MISSING]


def test_reference_round_trips_through_json() -> None:
    rng = np.random.default_rng(1)
    ref = m.build_reference(
        rng.normal(600, 40, 500),
        {"income": rng.lognormal(9, 1, 500), "channel": rng.choice(np.array(["a", "b"], dtype=object), 500)},
    )
    again = m.Reference.from_json(ref.to_json())
    assert again == ref
    with pytest.raises(ValidationFailed):
        m.Reference.from_json({**ref.to_json(), "format": "other"})


def test_ks_and_auc_by_hand() -> None:
    y = np.array([0, 0, 1, 1])
    pd_ = np.array([0.1, 0.4, 0.35, 0.8])
    # Pairs (bad, good): (0.35 > 0.1), (0.35 < 0.4), (0.8 > 0.1), (0.8 > 0.4): 3 of 4.
    assert m.auc(y, pd_) == 0.75
    # Cumulative at 0.1: goods 1/2, bads 0 -> gap 0.5 (the largest).
    assert m.ks(y, pd_) == 0.5
    # Ties count half: one bad and one good at the same PD.
    assert m.auc(np.array([0, 1]), np.array([0.3, 0.3])) == 0.5


def test_ks_and_auc_match_scipy_and_sklearn() -> None:
    rng = np.random.default_rng(7)
    y = (rng.uniform(size=3000) < 0.2).astype(int)
    score = np.round(rng.normal(0, 1, 3000) + y * 0.8, 1)  # rounded: many ties
    assert m.auc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert m.ks(y, score) == pytest.approx(ks_2samp(score[y == 1], score[y == 0]).statistic, abs=1e-12)
    with pytest.raises(ValidationFailed):
        m.auc(np.zeros(5), np.arange(5.0))
    with pytest.raises(ValidationFailed):
        m.ks(np.array([0, 1, 2]), np.arange(3.0))


def test_vintage_performance_uses_matured_outcomes_only() -> None:
    rng = np.random.default_rng(3)
    n = 400
    vintages = ["2024-01"] * 200 + ["2024-02"] * 190 + ["2024-03"] * 10
    y = (rng.uniform(size=n) < 0.3).astype(float)
    pd_ = np.clip(0.3 + (y - 0.3) * 0.3 + rng.normal(0, 0.1, n), 0.01, 0.99)
    y[200:250] = np.nan  # not matured yet
    rows = m.vintage_performance(vintages, y, pd_, min_rows=30)
    assert [r["vintage"] for r in rows] == ["2024-01", "2024-02", "2024-03"]
    first, second, third = rows
    assert (first["rows"], first["matured"]) == (200, 200)
    assert (second["rows"], second["matured"]) == (190, 140)
    matured = slice(250, 390)
    assert second["auc"] == pytest.approx(roc_auc_score(y[matured], pd_[matured]), abs=1e-6)
    assert second["ks"] == pytest.approx(
        ks_2samp(pd_[matured][y[matured] == 1], pd_[matured][y[matured] == 0]).statistic, abs=1e-6
    )
    assert third["ks"] is None and third["auc"] is None  # 10 rows: too few


def test_rule_hits_count_each_code_once_per_row() -> None:
    hits = m.rule_hits([("KO_AGE", "KO_DTI"), ("KO_AGE",), (), ("KO_AGE", "KO_AGE")])
    assert hits == [
        {"code": "KO_AGE", "hits": 3, "rate": 0.75},
        {"code": "KO_DTI", "hits": 1, "rate": 0.25},
        {"code": "ANY", "hits": 3, "rate": 0.75},
    ]


def test_override_rate_by_hand() -> None:
    strategy = ["approve", "approve", "decline", "decline", "review", "review", "approve", "decline"]
    final = ["approve", "decline", "decline", "approve", "approve", "decline", None, "Decline"]
    out = m.override_rates(strategy, final)
    # Outright with a final decision: rows 0, 1, 2, 3 and 7; overrides: rows 1 and 3.
    assert out["outright"] == 5
    assert out["overrides"] == 2
    assert out["override_rate"] == 0.4
    assert (out["declined_then_approved"], out["approved_then_declined"]) == (1, 1)
    assert (out["review_resolved"], out["review_approved"], out["review_approve_rate"]) == (2, 1, 0.5)


def test_alerts_list_breaches_most_severe_first() -> None:
    t = m.Thresholds(ks_min=0.3, override_max=0.1)
    figures = {
        "reference": {"rows": 10},
        "score_psi": {"name": "score", "psi": 0.12, "level": "warn"},
        "feature_psi": [
            {"name": "income", "psi": 0.4, "level": "alert"},
            {"name": "age", "psi": 0.01, "level": "ok"},
        ],
        "vintages": [
            {"vintage": "2024-01", "ks": 0.2, "auc": 0.7},
            {"vintage": "2024-02", "ks": 0.35, "auc": 0.7},
        ],
        "overrides": {"override_rate": 0.05},
    }
    out = m.alerts(figures, t)
    assert [(a["level"], a["kind"], a["subject"]) for a in out] == [
        ("alert", "psi", "income"),
        ("alert", "ks", "2024-01"),
        ("warn", "psi", "score"),
    ]
    no_ref = m.alerts({"reference": None}, t)
    assert [a["kind"] for a in no_ref] == ["no_reference"]
