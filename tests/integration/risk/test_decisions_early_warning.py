"""Post-loan early warning over the customers with a loan open: one pass, riskiest first, per bank."""

from __future__ import annotations

from tests.integration.risk.test_decisions_limit_review import AS_OF, _seed

from dipper.bootstrap import Container
from dipper.risk import commands


def test_customers_with_open_loans_are_scored_riskiest_first(container: Container, make_bank) -> None:
    bank = make_bank()
    _seed(container, bank.tenant_id)
    result = container.handle(commands.ScoreEarlyWarning(tenant_id=bank.tenant_id, as_of=AS_OF))
    warnings = result["warnings"]
    assert len(warnings) == 4  # the idle line's customer has no loan
    assert [w["score"] for w in warnings] == sorted((w["score"] for w in warnings), reverse=True)
    late = warnings[0]
    assert late["level"] == "red" and late["features"]["max_dpd_now"] == 46.0
    codes = {r["code"] for r in late["reasons"]}
    assert {"EW_PAST_DUE_NOW", "EW_PAST_DUE_30", "EW_PAST_DUE_12M", "EW_LATE_PAYER"} <= codes
    assert late["reasons"][0]["text"]["zh-CN"] == "本行当前逾期"
    for w in warnings[1:]:
        assert not {"EW_PAST_DUE_NOW", "EW_PAST_DUE_30"} & {r["code"] for r in w["reasons"]}
    assert sum(result["counts"].values()) == 4 and result["strategy"]["strategy_id"] == "early_warning"
    other = make_bank()
    assert (
        container.handle(commands.ScoreEarlyWarning(tenant_id=other.tenant_id, as_of=AS_OF))["warnings"] == []
    )
