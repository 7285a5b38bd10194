"""Risk strategies: the default JDM document, the product and APR bounds, champion/challenger."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest

from dipper.kernel.errors import ValidationFailed
from dipper.risk.domain.strategy import (
    BUCKETS,
    Arm,
    ChampionChallenger,
    Decision,
    ProductBounds,
    Strategy,
    apply_bounds,
    choose_arm,
    default_strategy,
    strategy_context,
)

STRATEGY = default_strategy()
BOUNDS = ProductBounds(
    min_rate=Decimal("0.06"),
    max_rate=Decimal("0.18"),
    min_amount_minor=100_000,  # 1,000 yuan
    max_amount_minor=20_000_000,  # 200,000 yuan
    apr_ceiling=Decimal("0.24"),
)
GOOD: dict[str, Any] = {
    "age": 30.0,
    "blacklisted": 0.0,
    "bureau_current_delinquency": 0.0,
    "kyc_passed": 1.0,
    "four_elements_verified": 1.0,
    "monthly_income": 12_000.0,
    "dti": 0.25,
    "device_risky": 0.0,
    "dipper_max_dpd_12m": float("nan"),
    "requested_term_months": 12.0,
}


def _decide(score: float | None = 700.0, bounds: ProductBounds = BOUNDS, **changes: float | None):
    return STRATEGY.evaluate(strategy_context({**GOOD, **changes}, score), bounds)  # type: ignore[arg-type]


def test_good_applicant_is_approved_with_grade_rate_and_limit() -> None:
    out = _decide(700.0)
    assert out.decision is Decision.APPROVE
    assert out.grade == "B"
    assert out.annual_rate == Decimal("0.096")
    # grade B: min(6 x 12,000 income; (0.55 - 0.25) x 12,000 x 12 months; 100,000 cap) = 43,200 yuan
    assert out.limit_minor == 4_320_000
    assert out.reasons == () and out.adjustments == ()
    assert out.arm is Arm.CHAMPION
    assert out.strategy_id == "default_consumer" and out.strategy_version == 1
    assert len(out.strategy_hash) == 64


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"age": 17.0}, "KO_AGE"),
        ({"age": 66.0}, "KO_AGE"),
        ({"age": None}, "KO_AGE"),
        ({"blacklisted": 1.0}, "KO_BLACKLIST"),
        ({"bureau_current_delinquency": 1.0}, "KO_BUREAU_DELINQUENT"),
        ({"kyc_passed": 0.0}, "KO_KYC_FAILED"),
        ({"kyc_passed": None}, "KO_KYC_FAILED"),  # not done is not passed
        ({"four_elements_verified": 0.0}, "KO_IDENTITY_UNVERIFIED"),
        ({"monthly_income": None}, "KO_NO_INCOME"),
        ({"dti": 0.61}, "KO_DTI"),
        ({"device_risky": 1.0}, "KO_DEVICE"),
        ({"dipper_max_dpd_12m": 31.0}, "KO_OWN_DELINQUENCY"),
    ],
)
def test_each_knock_out(changes: dict[str, float | None], code: str) -> None:
    out = _decide(800.0, **changes)
    assert out.decision is Decision.DECLINE
    assert out.reasons == (code,)
    assert out.grade is None and out.annual_rate is None and out.limit_minor is None


def test_knock_out_edges_pass() -> None:
    for changes in ({"age": 18.0}, {"age": 65.0}, {"dipper_max_dpd_12m": 30.0}):
        assert _decide(800.0, **changes).decision is Decision.APPROVE, changes
    # DTI at 60% passes the knock-out but leaves no room for a new loan under grade A's 60% cap.
    assert _decide(800.0, dti=0.6).reasons == ("LIMIT_BELOW_PRODUCT_MIN",)


def test_knock_outs_are_all_reported() -> None:
    out = _decide(800.0, age=70.0, blacklisted=1.0)
    assert out.decision is Decision.DECLINE
    assert set(out.reasons) == {"KO_AGE", "KO_BLACKLIST"}


@pytest.mark.parametrize(
    ("score", "grade", "decision", "rate"),
    [
        (720.0, "A", Decision.APPROVE, "0.072"),
        (719.99, "B", Decision.APPROVE, "0.096"),
        (680.0, "B", Decision.APPROVE, "0.096"),
        (679.0, "C", Decision.APPROVE, "0.128"),
        (640.0, "C", Decision.APPROVE, "0.128"),
        (639.5, "D", Decision.REVIEW, "0.168"),
        (600.0, "D", Decision.REVIEW, "0.168"),
        (599.9, "E", Decision.DECLINE, None),
    ],
)
def test_grade_boundaries(score: float, grade: str, decision: Decision, rate: str | None) -> None:
    out = _decide(score)
    assert (out.grade, out.decision) == (grade, decision)
    assert out.annual_rate == (None if rate is None else Decimal(rate))


def test_gray_zone_goes_to_review_with_a_proposal() -> None:
    out = _decide(620.0)
    assert out.decision is Decision.REVIEW
    assert out.reasons == ("SCORE_GRAY_ZONE",)
    assert out.annual_rate is not None and out.limit_minor is not None  # the reviewer sees the offer


def test_no_score_goes_to_review() -> None:
    out = _decide(None)
    assert out.decision is Decision.REVIEW
    assert out.reasons == ("NO_SCORE",)


def test_below_cut_off_is_declined() -> None:
    out = _decide(550.0)
    assert (out.decision, out.reasons) == (Decision.DECLINE, ("SCORE_BELOW_CUTOFF",))


# ------------------------------------------------------------------------------------ bounds


def test_rate_raised_to_the_product_minimum() -> None:
    bounds = ProductBounds(Decimal("0.10"), Decimal("0.18"), 100_000, 20_000_000, Decimal("0.24"))
    out = _decide(750.0, bounds)  # grade A prices 7.2%
    assert out.annual_rate == Decimal("0.10")
    assert out.adjustments == ("RATE_RAISED_TO_PRODUCT_MIN",)


def test_rate_capped_at_the_product_maximum() -> None:
    bounds = ProductBounds(Decimal("0.05"), Decimal("0.12"), 100_000, 20_000_000, Decimal("0.24"))
    out = _decide(650.0, bounds)  # grade C prices 12.8%
    assert out.annual_rate == Decimal("0.12")
    assert out.adjustments == ("RATE_CAPPED_AT_PRODUCT_MAX",)


def test_rate_capped_at_the_apr_ceiling() -> None:
    bounds = ProductBounds(Decimal("0.05"), Decimal("0.36"), 100_000, 20_000_000, Decimal("0.15"))
    out = _decide(620.0, bounds)  # grade D prices 16.8%
    assert out.annual_rate == Decimal("0.15")
    assert out.adjustments == ("RATE_CAPPED_AT_APR_CEILING",)


def test_product_priced_above_the_ceiling_is_declined() -> None:
    bounds = ProductBounds(Decimal("0.25"), Decimal("0.30"), 100_000, 20_000_000, Decimal("0.24"))
    out = _decide(750.0, bounds)
    assert out.decision is Decision.DECLINE
    assert out.reasons == ("PRICE_ABOVE_APR_CEILING",)


def test_limit_capped_at_the_product_maximum() -> None:
    bounds = ProductBounds(Decimal("0.05"), Decimal("0.18"), 100_000, 1_000_000, Decimal("0.24"))
    out = _decide(750.0, bounds)
    assert out.limit_minor == 1_000_000
    assert out.adjustments == ("LIMIT_CAPPED_AT_PRODUCT_MAX",)


def test_limit_below_the_product_minimum_is_declined() -> None:
    bounds = ProductBounds(Decimal("0.05"), Decimal("0.18"), 5_000_000, 20_000_000, Decimal("0.24"))
    out = _decide(700.0, bounds, dti=0.5)  # (0.55 - 0.5) x 12,000 x 12 = 7,200 yuan < 50,000 minimum
    assert out.decision is Decision.DECLINE
    assert out.reasons == ("LIMIT_BELOW_PRODUCT_MIN",)
    assert out.limit_minor is None


def test_apply_bounds_keeps_a_decline_without_terms() -> None:
    assert apply_bounds(Decision.DECLINE, Decimal("0.5"), 10, BOUNDS) == (
        Decision.DECLINE,
        None,
        None,
        (),
        (),
    )


def test_bounds_are_checked() -> None:
    with pytest.raises(ValidationFailed) as err:
        ProductBounds(Decimal("0.2"), Decimal("0.1"), 1, 2, Decimal("0.24"))
    assert err.value.code == "invalid_product_bounds"
    with pytest.raises(ValidationFailed):
        ProductBounds(Decimal("0.1"), Decimal("0.2"), 0, 2, Decimal("0.24"))


# ------------------------------------------------------------------------------------ champion/challenger


def _challenger() -> Strategy:
    doc = copy.deepcopy(dict(STRATEGY.document))
    for node in doc["nodes"]:
        if node["id"] == "grades":
            node["content"]["rules"][3]["grade-decision"] = '"approve"'  # the challenger approves grade D
    return Strategy("default_consumer", 2, doc)


def test_same_application_same_arm_and_share_respected() -> None:
    split = ChampionChallenger("default_consumer", STRATEGY, _challenger(), Decimal("0.2"))
    arms = [split.arm_for(f"app-{i}") for i in range(10_000)]
    share = arms.count(Arm.CHALLENGER) / len(arms)
    assert 0.18 < share < 0.22
    assert [split.arm_for(f"app-{i}") for i in range(200)] == arms[:200]
    assert choose_arm("default_consumer", "app-1", Decimal("0.2")) is arms[1]
    assert choose_arm("other_strategy", "app-1", Decimal("1")) is Arm.CHALLENGER
    assert choose_arm("other_strategy", "app-1", Decimal("0")) is Arm.CHAMPION


def test_arm_is_recorded_and_uses_its_strategy() -> None:
    challenger = _challenger()
    split = ChampionChallenger("default_consumer", STRATEGY, challenger, Decimal("0.5"))
    context = strategy_context(GOOD, 620.0)
    keys = {split.arm_for(f"k{i}"): f"k{i}" for i in range(50)}
    champion_out = split.decide(keys[Arm.CHAMPION], context, BOUNDS)
    challenger_out = split.decide(keys[Arm.CHALLENGER], context, BOUNDS)
    assert (champion_out.arm, champion_out.decision) == (Arm.CHAMPION, Decision.REVIEW)
    assert (challenger_out.arm, challenger_out.decision) == (Arm.CHALLENGER, Decision.APPROVE)
    assert challenger_out.strategy_version == 2
    assert challenger_out.strategy_hash == challenger.content_hash != STRATEGY.content_hash


def test_split_is_checked() -> None:
    with pytest.raises(ValidationFailed) as err:
        ChampionChallenger("s", STRATEGY, None, Decimal("0.1"))
    assert err.value.code == "invalid_split"
    with pytest.raises(ValidationFailed):
        ChampionChallenger("s", STRATEGY, STRATEGY, Decimal("1.5"))
    with pytest.raises(ValidationFailed):
        ChampionChallenger("s", STRATEGY, STRATEGY, Decimal("0.00001"))
    with pytest.raises(ValidationFailed) as err:
        ChampionChallenger("s", STRATEGY).arm_for("")
    assert err.value.code == "invalid_application_key"
    assert BUCKETS == 10_000


# ------------------------------------------------------------------------------------ documents


def test_hash_is_stable_and_follows_content() -> None:
    again = default_strategy()
    assert again.content_hash == STRATEGY.content_hash
    assert _challenger().content_hash != STRATEGY.content_hash
    text = json.dumps(STRATEGY.document, indent=4)
    assert (
        Strategy("default_consumer", 1, text).content_hash == STRATEGY.content_hash
    )  # layout does not count


@pytest.mark.parametrize(
    "document",
    [
        "{not json",
        "[]",
        json.dumps({"nodes": [], "edges": []}),  # no contentType
        json.dumps({"contentType": "application/vnd.gorules.decision", "nodes": {}, "edges": []}),
        json.dumps({"contentType": "application/vnd.gorules.decision", "nodes": [], "edges": []}),
        json.dumps({"contentType": "application/vnd.gorules.decision", "nodes": [{"id": "x"}], "edges": []}),
    ],
)
def test_malformed_document_is_a_clear_error(document: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        Strategy("bad", 1, document)
    assert err.value.code == "invalid_strategy_document"
    assert "Stack backtrace" not in err.value.message


def test_document_breaking_the_output_contract() -> None:
    doc = copy.deepcopy(dict(STRATEGY.document))
    for node in doc["nodes"]:
        if node["id"] == "offer":
            for item in node["content"]["expressions"]:
                if item["key"] == "decision":
                    item["value"] = '"maybe"'
    with pytest.raises(ValidationFailed) as err:
        Strategy("broken", 1, doc).evaluate(strategy_context(GOOD, 700.0), BOUNDS)
    assert err.value.code == "strategy_output_invalid"
    assert err.value.details == {"field": "decision"}


def test_evaluation_error_is_a_clear_error() -> None:
    doc = copy.deepcopy(dict(STRATEGY.document))
    for node in doc["nodes"]:
        if node["id"] == "offer":
            node["content"]["expressions"][0]["value"] = "monthly_income * unknown_field"
    with pytest.raises(ValidationFailed) as err:
        Strategy("broken", 1, doc).run(strategy_context(GOOD, 700.0))
    assert err.value.code == "strategy_evaluation_failed"


def test_score_must_be_finite() -> None:
    with pytest.raises(ValidationFailed) as err:
        strategy_context(GOOD, float("inf"))
    assert err.value.code == "invalid_score"
