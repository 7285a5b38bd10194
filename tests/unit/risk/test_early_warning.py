"""The early-warning pass: points per signal, capped, levels by threshold, riskiest first."""

from __future__ import annotations

from dipper.risk.domain.early_warning import default_warning_strategy, score_customers

CLEAN = {
    "dipper_max_dpd_now": 0,
    "dipper_max_dpd_12m": 0,
    "dipper_on_time_ratio": 1.0,
    "bureau_current_delinquency": False,
    "bureau_inquiries_3m": 1,
}


def test_levels_and_order() -> None:
    out = score_customers(
        [
            ("a-clean", CLEAN),
            ("b-amber", {**CLEAN, "bureau_current_delinquency": True}),
            ("c-red", {**CLEAN, "dipper_max_dpd_now": 40, "dipper_max_dpd_12m": 40}),
            ("d-unknown", {}),
        ],
        default_warning_strategy(),
    )
    assert [(w.customer_id, w.score, w.level) for w in out] == [
        ("c-red", 70, "red"),
        ("b-amber", 30, "amber"),
        ("a-clean", 0, "green"),
        ("d-unknown", 0, "green"),
    ]
    assert [r.code for r in out[1].reasons] == ["EW_BUREAU_DELINQUENT"]
    assert out[1].reasons[0].text_en == "Past due at another lender now"
    assert score_customers([], default_warning_strategy()) == []
