"""Strategy versions under maker-checker, champion/challenger, and ``champion_setup``."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tests.integration.risk.conftest import approved_model, decide, default_document, propose, run

from dipper.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from dipper.risk import commands, queries
from dipper.risk.domain.strategy import Arm, ProductBounds, strategy_context

SID = "default_consumer"
BOUNDS = ProductBounds(
    min_rate=Decimal("0.05"),
    max_rate=Decimal("0.2"),
    min_amount_minor=100_000,
    max_amount_minor=10_000_000,
    apr_ceiling=Decimal("0.24"),
)


def _uow(bank):
    return bank.container.uow(bank.tenant_id)


def _propose(bank, maker, document, sid=SID):
    return propose(
        bank, commands.ProposeStrategy(tenant_id=bank.tenant_id, strategy_id=sid, document=document), maker
    )


def test_a_bank_without_its_own_version_runs_the_packaged_default_without_models(bank):
    setup = queries.champion_setup(_uow(bank))
    assert setup.source == "packaged" and setup.challenger is None
    assert setup.champion.scorecard is None and setup.champion.gbdt is None
    context = strategy_context(
        {"age": 30, "kyc_passed": 1, "four_elements_verified": 1, "monthly_income": 9000}, None
    )
    outcome = setup.champion.strategy.evaluate(context, BOUNDS)
    assert outcome.decision.value == "review" and "NO_SCORE" in outcome.reasons
    with pytest.raises(NotFound) as caught:
        queries.champion_setup(_uow(bank), "unknown_strategy")
    assert caught.value.code == "strategy_not_published"


def test_publishing_needs_a_second_person_and_then_the_version_is_the_champion(bank, staff, archives):
    maker, checker = staff
    approved_model(bank, staff, archives["scorecard"], "card")
    approved_model(bank, staff, archives["gbdt"], "trees")
    document = default_document(scorecard=("card", 1), gbdt=("trees", 1))
    change_id = _propose(bank, maker, document)
    assert queries.champion_setup(_uow(bank)).source == "packaged"  # pending: not used yet
    with pytest.raises(PermissionDenied):
        decide(bank, change_id, maker)
    decide(bank, change_id, checker)
    setup = queries.champion_setup(_uow(bank))
    assert setup.source == "registry" and setup.champion.strategy.version == 2  # after the packaged v1
    assert setup.champion.scorecard.name == "card" and setup.champion.gbdt.name == "trees"
    assert setup.champion.strategy.document["dipper"]["models"]["gbdt"] == {"name": "trees", "version": 1}
    score = setup.champion.scorecard.decide({"utilisation": 0.1, "monthly_income": 20000.0})["score"]
    assert isinstance(score, float)
    # Cached per content hash: the second call hands out the very same compiled objects.
    again = queries.champion_setup(_uow(bank))
    assert again.champion.scorecard.runtime is setup.champion.scorecard.runtime
    assert again.champion.strategy is setup.champion.strategy
    # A new version replaces it; the old one is retired.
    decide(bank, _propose(bank, maker, default_document(scorecard=("card", 1))), checker)
    versions = {
        s["version"]: s["status"] for s in queries.list_strategies(_uow(bank)) if s["source"] == "registry"
    }
    assert versions == {2: "retired", 3: "published"}
    assert queries.champion_setup(_uow(bank)).champion.gbdt is None


def test_a_strategy_naming_an_unknown_or_unapproved_model_is_refused(bank, staff, archives):
    maker, _ = staff
    with pytest.raises(ValidationFailed) as caught:
        _propose(bank, maker, default_document(scorecard=("nope", 1)))
    assert caught.value.code == "unknown_model"
    run(
        bank,
        commands.RegisterModel(tenant_id=bank.tenant_id, name="card", archive=archives["scorecard"]),
        maker,
    )
    with pytest.raises(ValidationFailed) as caught:
        _propose(bank, maker, default_document(scorecard=("card", 1)))
    assert caught.value.code == "model_not_approved"
    approved_model(bank, staff, archives["gbdt"], "trees")
    with pytest.raises(ValidationFailed) as caught:
        _propose(bank, maker, default_document(scorecard=("trees", 1)))
    assert caught.value.code == "model_kind_mismatch"
    assert [s["source"] for s in queries.list_strategies(_uow(bank))] == ["packaged"]


@pytest.mark.parametrize(
    ("document", "code"),
    [
        ({"nodes": [], "edges": []}, "invalid_strategy_document"),
        ({**default_document(), "nodes": "x"}, "invalid_strategy_document"),
        (default_document(unknown=("a", 1)), "invalid_strategy_document"),
    ],
)
def test_bad_documents_are_refused_with_a_stable_code(bank, staff, document, code):
    maker, _ = staff
    with pytest.raises(ValidationFailed) as caught:
        _propose(bank, maker, document)
    assert caught.value.code == code


def test_a_cell_that_does_not_parse_is_refused(bank, staff):
    maker, _ = staff
    tables = {t["id"]: t for t in queries.strategy_tables(_uow(bank), SID)["tables"]}
    rows = [dict(r) for r in tables["pricing"]["rules"]]
    rows[0]["pricing-rate"] = "0.07 +* )("
    from dipper.risk.domain.strategy_document import replace_rules

    with pytest.raises(ValidationFailed) as caught:
        _propose(bank, maker, replace_rules(default_document(), {"pricing": rows}))
    assert caught.value.details["table"] == "pricing" and caught.value.details["row"] == 1


def test_one_publish_at_a_time(bank, staff):
    maker, _ = staff
    _propose(bank, maker, default_document())
    with pytest.raises(Conflict) as caught:
        _propose(bank, maker, default_document())
    assert caught.value.code == "strategy_pending_approval"


def test_champion_challenger_split_under_maker_checker(bank, staff, archives):
    maker, checker = staff
    approved_model(bank, staff, archives["scorecard"], "card")
    decide(bank, _propose(bank, maker, default_document(scorecard=("card", 1))), checker)
    draft = run(
        bank,
        commands.DraftStrategy(tenant_id=bank.tenant_id, strategy_id=SID, document=default_document()),
        maker,
    )
    with pytest.raises(ValidationFailed) as caught:
        run(
            bank,
            commands.SetChallenger(
                tenant_id=bank.tenant_id, strategy_id=SID, challenger_version=draft, share=Decimal("0.00001")
            ),
            maker,
        )
    assert caught.value.code == "invalid_split"
    change_id = propose(
        bank,
        commands.SetChallenger(
            tenant_id=bank.tenant_id, strategy_id=SID, challenger_version=draft, share=Decimal("0.2")
        ),
        maker,
    )
    assert queries.champion_setup(_uow(bank)).challenger is None  # not before approval
    assert queries.strategy_split(_uow(bank), SID)["pending"][0]["challenger_version"] == draft
    decide(bank, change_id, checker)
    setup = queries.champion_setup(_uow(bank))
    assert setup.challenger is not None and setup.challenger.strategy.version == draft
    assert setup.challenger_share == Decimal("0.2") and setup.challenger.scorecard is None
    arms = [setup.arm_for(f"app-{i}") for i in range(2000)]
    assert arms == [setup.arm_for(f"app-{i}") for i in range(2000)]  # stable
    assert 300 < arms.count(Arm.CHALLENGER) < 500
    assert setup.setup_for(Arm.CHALLENGER) is setup.challenger
    # Publishing the challenger ends the split: it is the champion now.
    decide(
        bank,
        propose(
            bank, commands.SubmitStrategy(tenant_id=bank.tenant_id, strategy_id=SID, version=draft), maker
        ),
        checker,
    )
    setup = queries.champion_setup(_uow(bank))
    assert setup.champion.strategy.version == draft and setup.challenger is None


def test_strategies_of_another_bank_look_absent(make_bank, bank, staff):
    maker, checker = staff
    decide(bank, _propose(bank, maker, default_document()), checker)
    other = make_bank("Other Bank")
    uow = other.container.uow(other.tenant_id)
    assert queries.champion_setup(uow).source == "packaged"
    assert [s["source"] for s in queries.list_strategies(other.container.uow(other.tenant_id))] == [
        "packaged"
    ]
    with pytest.raises(NotFound):
        queries.get_strategy(other.container.uow(other.tenant_id), SID, 2)
