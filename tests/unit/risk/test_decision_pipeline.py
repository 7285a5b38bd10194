"""The decision pipeline: features + models + strategy -> a frozen record that replays exactly."""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
from decimal import Decimal

import pytest

from dipper.kernel.errors import ValidationFailed
from dipper.risk.adapters.demo_models import demo_models, demo_setup, simulated_applications
from dipper.risk.domain.decision import (
    ArmModels,
    DecisionInputs,
    DecisionRecord,
    DecisionSetup,
    ModelBinding,
    ModelRole,
    decide,
    replay,
    rule_texts,
)
from dipper.risk.domain.feature_set import DEFAULT_FEATURE_SET, DType, Feature, FeatureSet, Num, Source
from dipper.risk.domain.strategy import (
    ChampionChallenger,
    Decision,
    ProductBounds,
    Strategy,
    default_strategy,
)

BOUNDS = ProductBounds(Decimal("0.06"), Decimal("0.18"), 100_000, 20_000_000, Decimal("0.24"))
APPS = simulated_applications(400, seed=11)


@pytest.fixture(scope="module")
def setup() -> DecisionSetup:
    return demo_setup()


def _inputs(i: int, **changes: object) -> DecisionInputs:
    app = {**APPS[i], **changes}
    return DecisionInputs.of(f"app-{i}", app, bounds=BOUNDS, behaviour={"dipper_loans_total": 0})


def _records(setup: DecisionSetup) -> list[tuple[DecisionInputs, DecisionRecord]]:
    return [(_inputs(i), decide(_inputs(i), setup)) for i in range(len(APPS))]


def test_every_record_replays_exactly_from_its_json(setup: DecisionSetup) -> None:
    for inputs, record in _records(setup)[:150]:
        stored = json.loads(json.dumps(record.to_json()))
        stored_inputs = json.loads(json.dumps(inputs.to_json()))
        result = replay(stored, stored_inputs, setup)
        assert result.equal, result.differences
        assert DecisionRecord.from_json(stored) == record


def test_the_record_carries_versions_digest_and_features(setup: DecisionSetup) -> None:
    inputs, record = _records(setup)[0]
    doc = record.to_json()
    assert doc["feature_set"]["content_hash"] == DEFAULT_FEATURE_SET.content_hash
    assert doc["strategy"] == {
        "strategy_id": "default_consumer",
        "version": 1,
        "content_hash": default_strategy().content_hash,
    }
    assert [m["role"] for m in doc["models"]] == ["scorecard", "gbdt"]
    assert all(m["content_hash"].startswith("sha256:") for m in doc["models"])
    assert doc["score_role"] == "gbdt"
    assert doc["score"] == doc["model_scores"]["gbdt"]["score"]
    assert set(doc["features"]) == set(DEFAULT_FEATURE_SET.names)
    assert doc["input_digest"] == inputs.digest and inputs.digest.startswith("sha256:")
    assert _inputs(0, income_monthly_minor=APPS[0]["income_monthly_minor"] + 100).digest != inputs.digest


def test_outcomes_cover_the_three_decisions_with_bounded_offers(setup: DecisionSetup) -> None:
    records = [r for _, r in _records(setup)]
    seen = {r.decision for r in records}
    assert seen == {Decision.APPROVE, Decision.REVIEW, Decision.DECLINE}
    for r in records:
        if r.decision is Decision.DECLINE:
            assert r.limit_minor is None and r.annual_rate is None
            assert r.rule_codes, "a decline says why"
        else:
            assert (
                r.limit_minor is not None
                and BOUNDS.min_amount_minor <= r.limit_minor <= BOUNDS.max_amount_minor
            )
            assert r.annual_rate is not None and BOUNDS.min_rate <= r.annual_rate <= BOUNDS.max_rate
    gray = [r for r in records if r.decision is Decision.REVIEW]
    assert gray and all(r.grade == "D" and "SCORE_GRAY_ZONE" in r.rule_codes for r in gray)


def test_reasons_are_rule_texts_then_the_scoring_models_factors(setup: DecisionSetup) -> None:
    blacklisted = decide(_inputs(3, blacklisted=True, kyc_passed=True), setup)
    assert blacklisted.decision is Decision.DECLINE
    ko = next(r for r in blacklisted.reasons if r.code == "KO_BLACKLIST")
    assert ko.source == "rule" and ko.text_zh == "命中黑名单" and ko.text_en == "On a blacklist"
    model = [r for r in blacklisted.reasons if r.source == "model"]
    assert 1 <= len(model) <= 4
    assert all(r.code == f"R_{r.feature}" and r.points_lost and r.points_lost > 0 for r in model)
    assert [r.points_lost for r in model] == sorted((r.points_lost for r in model), reverse=True)
    assert all("所在区间" not in r.text_zh for r in model)  # the gbdt scores, so the gbdt explains


def test_a_scorecard_explains_its_own_score_by_bins() -> None:
    record = decide(_inputs(5), demo_setup(gbdt=False))
    assert record.score_role == "scorecard" and [m["role"] for m in record.models] == ["scorecard"]
    model = [r for r in record.reasons if r.source == "model"]
    assert model and all("所在区间" in r.text_zh and "in bin" in r.text_en for r in model)


def test_score_role_picks_the_scorecard_even_with_a_gbdt(setup: DecisionSetup) -> None:
    sc, gb = demo_models()
    chosen = DecisionSetup.of(
        DEFAULT_FEATURE_SET, default_strategy(), scorecard=sc, gbdt=gb, score_role=ModelRole.SCORECARD
    )
    record = decide(_inputs(5), chosen)
    assert record.score_role == "scorecard" and record.score == record.model_scores["scorecard"]["score"]
    assert set(record.model_scores) == {"scorecard", "gbdt"}


def test_without_models_the_strategy_sends_it_to_review() -> None:
    record = decide(_inputs(7, blacklisted=False, kyc_passed=True, four_elements_verified=True,
                            device_risky=False, bureau_current_delinquency=False,
                            income_monthly_minor=2_000_000, bureau_monthly_debt_minor=0),
                    DecisionSetup.of(DEFAULT_FEATURE_SET, default_strategy()))  # fmt: skip
    assert record.score is None and record.models == ()
    assert record.decision is Decision.REVIEW and record.rule_codes == ("NO_SCORE",)
    assert record.reasons[0].text_zh == "无评分：人工复核"


def test_a_new_strategy_version_is_a_difference_not_a_new_decision(setup: DecisionSetup) -> None:
    inputs, record = next((i, r) for i, r in _records(setup) if r.decision is Decision.APPROVE)
    doc = copy.deepcopy(dict(default_strategy().document))
    pricing = next(n for n in doc["nodes"] if n["id"] == "pricing")
    for rule in pricing["content"]["rules"]:
        if rule["pricing-rate"] not in ("null",):
            rule["pricing-rate"] = "0.15"
    changed = DecisionSetup(
        DEFAULT_FEATURE_SET,
        ChampionChallenger("default_consumer", Strategy("default_consumer", 2, doc)),
        setup.scorecard,
        setup.gbdt,
    )
    result = replay(record.to_json(), inputs.to_json(), changed)
    assert not result.equal
    fields = {d.field for d in result.differences}
    assert {"strategy.version", "strategy.content_hash"} <= fields
    assert "annual_rate" in fields
    assert record.strategy_version == 1  # the stored record is untouched


def test_a_changed_model_is_a_difference(setup: DecisionSetup) -> None:
    inputs, record = _records(setup)[1]
    sc, gb = demo_models()
    relabelled = DecisionSetup.of(
        DEFAULT_FEATURE_SET, default_strategy(), scorecard=sc, gbdt=ModelBinding(gb.runtime, "sha256:other")
    )
    result = replay(record.to_json(), inputs.to_json(), relabelled)
    fields = [d.field for d in result.differences]
    assert fields == [
        "models[1].content_hash",
        "models[1].model_id",
        "models[1].version",
        "routing.champion.models[1].content_hash",
        "routing.champion.models[1].model_id",
        "routing.champion.models[1].version",
    ]
    without = replay(record.to_json(), inputs.to_json(), demo_setup(gbdt=False))
    assert {"models", "score", "score_role"} <= {d.field for d in without.differences}


def test_changed_inputs_are_a_difference_in_the_digest(setup: DecisionSetup) -> None:
    inputs, record = _records(setup)[2]
    doc = inputs.to_json()
    doc["application"]["income_monthly_minor"] += 1
    result = replay(record.to_json(), doc, setup)
    assert "input_digest" in {d.field for d in result.differences}


def test_inputs_are_normalised_to_json_values() -> None:
    a = DecisionInputs.of(
        "k",
        {"application_date": dt.date(2026, 1, 15), "employment_years": Decimal("2.5"), "x": math.nan},
        bounds=BOUNDS,
    )
    assert a.application == {"application_date": "2026-01-15", "employment_years": 2.5, "x": None}
    b = DecisionInputs.of(
        "k", {"application_date": "2026-01-15", "employment_years": 2.5, "x": None}, bounds=BOUNDS
    )
    assert a.digest == b.digest


@pytest.mark.parametrize(
    ("application", "code"),
    [
        ({"income_monthly_minor": object()}, "invalid_decision_input"),  # checked before the conflict
        ({"income_monthly_minor": math.inf}, "invalid_decision_input"),
        ({"scene": "x" * 3000}, "invalid_decision_input"),
        ({"bureau_inquiries_3m": 1}, "decision_input_conflict"),
        ({"bureau_inquiries_3m": 99, "income_monthly_minor": "lots"}, "invalid_feature_input"),
        ({"bureau_inquiries_3m": 99, "id_number": None}, "feature_missing"),
    ],
)
def test_bad_input_is_refused_with_a_code(
    setup: DecisionSetup, application: dict[str, object], code: str
) -> None:
    bureau = {"bureau_inquiries_3m": 99}
    with pytest.raises(ValidationFailed) as err:
        decide(DecisionInputs.of("k", {**APPS[0], **application}, bounds=BOUNDS, bureau=bureau), setup)
    assert err.value.code == code


def test_an_empty_application_key_is_refused() -> None:
    with pytest.raises(ValidationFailed) as err:
        DecisionInputs.of(" ", APPS[0], bounds=BOUNDS)
    assert err.value.code == "invalid_application_key"


def test_champion_challenger_arm_is_recorded_and_stable(setup: DecisionSetup) -> None:
    doc = copy.deepcopy(dict(default_strategy().document))
    challenger = Strategy("default_consumer", 2, doc | {"dipper": {"version": 2}})
    cc = ChampionChallenger("default_consumer", default_strategy(), challenger, Decimal("0.5"))
    split = DecisionSetup(DEFAULT_FEATURE_SET, cc, setup.scorecard, setup.gbdt)
    records = [decide(_inputs(i), split) for i in range(60)]
    arms = {r.arm.value for r in records}
    assert arms == {"champion", "challenger"}
    for r in records:
        assert r.strategy_version == (2 if r.arm.value == "challenger" else 1)
        assert r.routing["challenger_share"] == "0.5"
    assert [decide(_inputs(i), split).arm for i in range(60)] == [r.arm for r in records]


def test_each_arm_scores_with_its_own_models(setup: DecisionSetup) -> None:
    challenger = Strategy("default_consumer", 2, dict(default_strategy().document))
    cc = ChampionChallenger("default_consumer", default_strategy(), challenger, Decimal("0.5"))
    split = DecisionSetup.of(
        DEFAULT_FEATURE_SET,
        cc,
        scorecard=setup.scorecard,
        gbdt=setup.gbdt,
        challenger_models=ArmModels(scorecard=setup.scorecard),
    )
    records = [decide(_inputs(i), split) for i in range(40)]
    for r in records:
        roles = [m["role"] for m in r.models]
        assert roles == (["scorecard"] if r.arm.value == "challenger" else ["scorecard", "gbdt"])
    assert {r.arm.value for r in records} == {"champion", "challenger"}
    assert records[0].routing["challenger"]["models"] == [setup.scorecard.ref(ModelRole.SCORECARD)]
    # Another split of the same versions is another routing: replay reports it.
    inputs = _inputs(0)
    other = DecisionSetup.of(DEFAULT_FEATURE_SET, cc, scorecard=setup.scorecard, gbdt=setup.gbdt)
    assert "routing.challenger.models" in {
        d.field for d in replay(records[0].to_json(), inputs.to_json(), other).differences
    }


def test_a_model_reading_other_inputs_is_refused(setup: DecisionSetup) -> None:
    other = FeatureSet(
        "other", 1, [Feature("income", 1, Source.APPLICATION, DType.FLOAT, Num("x"), "x", "x")]
    )
    with pytest.raises(ValidationFailed) as err:
        DecisionSetup.of(other, default_strategy(), scorecard=setup.scorecard)
    assert err.value.code == "model_feature_mismatch"


def test_rule_texts_read_the_documents_descriptions() -> None:
    texts = rule_texts(default_strategy().document)
    assert texts["KO_DTI"] == {"zh-CN": "负债收入比超过60%", "en": "Debt-to-income above 60%"}
    assert "NO_SCORE" in texts and "A" not in texts
