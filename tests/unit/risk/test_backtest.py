"""Strategy backtest: per-row decisions equal the strategy's own, and the summary equals a hand count."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from dipper.kernel.errors import ValidationFailed
from dipper.risk.domain import backtest as bt
from dipper.risk.domain.strategy import ProductBounds, Strategy, default_strategy, strategy_context

BOUNDS = ProductBounds(Decimal("0.06"), Decimal("0.18"), 100_000, 20_000_000, Decimal("0.24"))


def candidate_strategy() -> Strategy:
    """The default strategy with cut-offs 40 points lower (approves more)."""
    text = json.dumps(default_strategy().document)
    cutoffs = {
        '">= 720"': '">= 680"',
        "[680..720)": "[640..680)",
        "[640..680)": "[600..640)",
        "[600..640)": "[560..600)",
        '"< 600"': '"< 560"',
    }
    for i, old in enumerate(cutoffs):  # through placeholders: the new bands are the old ones' text
        text = text.replace(old, f"@{i}@", 1)
    for i, new in enumerate(cutoffs.values()):
        text = text.replace(f"@{i}@", new)
    return Strategy("lower_cutoffs", 1, text)


def frame(n: int = 12) -> dict[str, np.ndarray[Any, Any]]:
    income = np.full(n, 10_000.0)
    income[0] = np.nan  # knocked out: no income
    return {
        "age": np.full(n, 35.0),
        "blacklisted": np.zeros(n),
        "bureau_current_delinquency": np.zeros(n),
        "kyc_passed": np.ones(n),
        "four_elements_verified": np.ones(n),
        "monthly_income": income,
        "dti": np.full(n, 0.2),
        "device_risky": np.zeros(n),
        "dipper_max_dpd_12m": np.zeros(n),
        "requested_term_months": np.full(n, 12.0),
    }


SCORES = np.array([700, 730, 700, 690, 660, 650, 630, 620, 590, 580, 570, 540], dtype=np.float64)
PD = np.linspace(0.01, 0.12, 12)
#                 ko   A    B    B    C    C    D    D    E    E    E    E     (champion)
#                 ko   A    A    A    B    B    C    C    D    D    D    E     (candidate)
BAD = np.array([np.nan, 0, 0, 1, 0, 1, np.nan, 0, np.nan, 1, np.nan, np.nan])


def run(review_as: bt.ReviewAs = "decline", **outcomes: Any) -> bt.BacktestResult:
    champion = bt.ArmInput("champion", default_strategy(), BOUNDS, SCORES, PD)
    candidate = bt.ArmInput("candidate", candidate_strategy(), BOUNDS, SCORES, PD)
    return bt.run_backtest(frame(), bt.Outcomes(BAD, **outcomes), champion, candidate, review_as=review_as)


def test_rows_are_the_strategys_own_decisions() -> None:
    result = run()
    context = frame()
    for name, strategy in (("champion", default_strategy()), ("candidate", candidate_strategy())):
        rows = result.rows[name]
        for i in range(len(SCORES)):
            row = {k: float(v[i]) for k, v in context.items()}
            expected = strategy.evaluate(strategy_context(row, float(SCORES[i])), BOUNDS)
            assert rows.decision[i] == expected.decision.value
            assert rows.grade[i] == (expected.grade or bt.NO_GRADE)
            assert rows.limit_minor[i] == (expected.limit_minor or 0)
            assert rows.annual_rate[i] == (
                None if expected.annual_rate is None else str(expected.annual_rate)
            )
            assert rows.reasons[i] == expected.reasons
    assert result.rows["champion"].grade.tolist() == [
        "-",
        "A",
        "B",
        "B",
        "C",
        "C",
        "D",
        "D",
        "E",
        "E",
        "E",
        "E",
    ]
    assert result.rows["candidate"].grade.tolist() == [
        "-",
        "A",
        "A",
        "A",
        "B",
        "B",
        "C",
        "C",
        "D",
        "D",
        "D",
        "E",
    ]


def test_summary_by_hand() -> None:
    s = run().summary
    champ, cand = s["champion"], s["candidate"]
    assert (s["rows"], s["rows_with_outcome"], s["rows_without_outcome"]) == (12, 7, 5)
    # Champion approves A-C: rows 1-5; outcomes 0 0 1 0 1 -> 2 bads of 5.
    assert champ["decisions"] == {"approve": 5, "review": 2, "decline": 5}
    assert (champ["approved"], champ["approval_rate"], champ["bad_rate"]) == (5, round(5 / 12, 6), 0.4)
    # Candidate approves rows 1-7; outcomes 0 0 1 0 1 ? 0 -> 2 bads of 6 known, one unknown.
    assert (cand["approved"], cand["approved_known"], cand["approved_unknown"]) == (7, 6, 1)
    assert cand["bad_rate"] == round(2 / 6, 6)
    assert s["swap"]["in"] == {"count": 2, "known": 1, "unknown": 1, "bads": 0, "bad_rate": 0.0}
    assert s["swap"]["out"]["count"] == 0
    assert s["swap"]["kept_approved"]["count"] == 5
    assert s["swap"]["in_by_grade"] == [
        {"grade": "C", "count": 2, "known": 1, "unknown": 1, "bads": 0, "bad_rate": 0.0}
    ]
    cell = next(c for c in s["swap"]["matrix"] if c["champion"] == "review" and c["candidate"] == "approve")
    assert cell["count"] == 2
    assert sum(c["count"] for c in s["swap"]["matrix"]) == 12
    assert any("reject inference" in c for c in s["caveats"])
    assert champ["reasons"]["KO_NO_INCOME"] == 1
    by_grade = {g["grade"]: g for g in champ["by_grade"]}
    assert by_grade["B"]["approved"] == 2 and by_grade["B"]["bad_rate"] == 0.5
    assert by_grade["D"]["approval_rate"] == 0.0


def test_expected_loss_is_pd_times_limit_times_lgd() -> None:
    result = run(default_lgd=0.5)
    rows = result.rows["champion"]
    approved = rows.decision == "approve"
    by_hand = float(np.sum(PD[approved] * rows.limit_minor[approved] * 0.5))
    assert result.summary["champion"]["expected_loss_minor"] == round(by_hand)
    observed = float(np.nansum(np.nan_to_num(BAD[approved]) * rows.limit_minor[approved] * 0.5))
    assert result.summary["champion"]["observed_loss_minor"] == round(observed)
    # A historical exposure caps the limit; a per-row LGD replaces the parameter where given.
    exposure = np.full(12, 1_000_000.0)
    lgd = np.full(12, np.nan)
    lgd[1] = 1.0
    capped = run(default_lgd=0.5, exposure_minor=exposure, lgd=lgd).summary["champion"]
    exp = np.minimum(rows.limit_minor[approved], 1_000_000.0)
    lgds = np.where(np.arange(12) == 1, 1.0, 0.5)[approved]
    assert capped["expected_loss_minor"] == round(float(np.sum(PD[approved] * exp * lgds)))


def test_review_can_count_as_approved() -> None:
    s = run("approve").summary
    assert s["champion"]["approved"] == 7  # A-D
    assert s["swap"]["in"]["count"] == 3  # candidate's D rows 8-10 that the champion declined
    assert s["review_as"] == "approve"


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValidationFailed) as exc:
        bt.Outcomes(np.array([0.0, 2.0]))
    assert exc.value.code == "target_not_binary"
    with pytest.raises(ValidationFailed) as exc:
        bt.Outcomes(np.array([0.0, 1.0]), default_lgd=1.5)
    assert exc.value.code == "invalid_lgd"
    champion = bt.ArmInput("champion", default_strategy(), BOUNDS, SCORES[:5], PD[:5])
    with pytest.raises(ValidationFailed) as exc:
        bt.run_backtest(frame(), bt.Outcomes(BAD), champion, champion)
    assert exc.value.code == "backtest_ragged"


def test_scores_without_a_model_come_from_the_file() -> None:
    scores, pd_ = bt.scores_for({"score": np.array([600.0, 620.0])}, None)
    assert scores.tolist() == [600.0, 620.0]
    assert pd_[0] == pytest.approx(1 / 51)  # 50:1 odds at 600 on the default scale
    with pytest.raises(ValidationFailed) as exc:
        bt.scores_for({"x": np.array([1.0])}, None)
    assert exc.value.code == "missing_feature"
