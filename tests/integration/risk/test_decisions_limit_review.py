"""In-loan limit review over the book: one pass proposes raise, lower, freeze or keep per open line,
and the loans commands it returns carry the changes out through the loan core."""

from __future__ import annotations

from datetime import date

from tests.integration.risk.test_decisions_behaviour import _installment, _loan

from dipper.bootstrap import Container
from dipper.kernel.ids import new_id
from dipper.loans import queries as loans
from dipper.loans.adapters.accounts import CreditLine
from dipper.risk import commands

AS_OF = date(2026, 6, 30)


def _line(customer: str, limit: int, used: int, status: str = "active") -> CreditLine:
    return CreditLine(
        id=new_id(),
        customer_id=customer,
        product_code="P",
        currency="CNY",
        limit_minor=limit,
        used_minor=used,
        expires_on=date(2027, 12, 31),
        status=status,
    )


def _seed(container: Container, tenant: str) -> dict[str, str]:
    good, late, cured, idle, frozen = (new_id() for _ in range(5))
    lines = {
        "good": _line(good, 1_000_000, 800_000),
        "late": _line(late, 1_000_000, 500_000),
        "cured": _line(cured, 1_000_000, 200_000),
        "idle": _line(idle, 1_000_000, 0),
        "frozen": _line(frozen, 1_000_000, 900_000, status="frozen"),
    }
    with container.uow(tenant) as uow:
        uow.session.add_all(lines.values())
        loans_ = {
            name: _loan(cid, date(2025, 6, 1), outstanding=300_000)
            for name, cid in (("good", good), ("late", late), ("cured", cured), ("frozen", frozen))
        }
        uow.session.add_all(loans_.values())
        uow.session.flush()
        rows = []
        for name, loan in loans_.items():
            for n, month in enumerate(range(7, 13), start=1):
                due = date(2025, month, 1)
                paid = due
                if name == "cured" and n == 3:
                    paid = date(2025, 9, 22)  # 20 days late, within 12 months
                rows.append(_installment(loan, n, due, paid))
            if name == "late":
                rows.append(_installment(loan, 7, date(2026, 5, 15), None))  # 46 days past due
        uow.session.add_all(rows)
        uow.commit()
    return {name: line.id for name, line in lines.items()}


def test_one_pass_proposes_and_the_loans_commands_apply_it(container: Container, make_bank) -> None:
    bank = make_bank()
    ids = _seed(container, bank.tenant_id)
    result = container.handle(commands.ReviewCreditLimits(tenant_id=bank.tenant_id, as_of=AS_OF))
    by_line = {p["credit_line_id"]: p for p in result["proposals"]}
    assert set(by_line) == set(ids.values())
    good, late, cured = by_line[ids["good"]], by_line[ids["late"]], by_line[ids["cured"]]
    assert (good["action"], good["new_limit_minor"]) == ("raise", 1_300_000)
    assert good["reasons"][0]["code"] == "LR_RAISE_GOOD_USE" and good["reasons"][0]["text"]["zh-CN"]
    assert (late["action"], late["new_limit_minor"]) == ("freeze", 1_000_000)
    assert late["features"]["max_dpd_now"] == 46.0
    assert (cured["action"], cured["new_limit_minor"]) == ("lower", 700_000)
    assert by_line[ids["idle"]]["action"] == "keep"
    assert by_line[ids["frozen"]]["action"] == "keep"  # a frozen line is not raised
    assert result["counts"] == {"raise": 1, "lower": 1, "freeze": 1, "keep": 2}
    assert result["strategy"]["strategy_id"] == "limit_review"

    for command in result["apply"]:
        container.handle(command)
    after = {line.id: line for line in loans.open_credit_lines(container.uow(bank.tenant_id))}
    assert after[ids["good"]].limit_minor == 1_300_000
    assert after[ids["cured"]].limit_minor == 700_000
    assert after[ids["late"]].status == "frozen"
    again = container.handle(commands.ReviewCreditLimits(tenant_id=bank.tenant_id, as_of=AS_OF))
    assert again["counts"]["freeze"] == 0  # already frozen


def test_another_bank_reviews_only_its_own_lines(container: Container, make_bank) -> None:
    bank, other = make_bank(), make_bank()
    _seed(container, bank.tenant_id)
    result = container.handle(commands.ReviewCreditLimits(tenant_id=other.tenant_id, as_of=AS_OF))
    assert result["proposals"] == [] and result["apply"] == []
