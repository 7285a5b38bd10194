"""Which version an offer uses on a given business date, through publish, supersede and retire."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from dipper.access import commands as access_commands
from dipper.access import queries as access
from dipper.kernel.clock import FixedClock
from dipper.kernel.errors import Conflict, PermissionDenied
from dipper.kernel.uow import Actor
from dipper.loans import commands, queries

TERMS = {
    "currency": "CNY",
    "min_amount_minor": 100_000,
    "max_amount_minor": 5_000_000,
    "min_term_months": 6,
    "max_term_months": 12,
    "allowed_terms": [6, 12],
    "repayment_methods": ["revolving"],
    "min_rate": "0.0365",
    "max_rate": "0.1825",
}


@pytest.fixture
def clock(container, monkeypatch):
    fixed = FixedClock(datetime(2026, 3, 1, 2, 0, tzinfo=UTC))  # 10:00 in Beijing
    monkeypatch.setattr(container, "clock", fixed)
    return fixed


@pytest.fixture
def staff(bank):
    maker = Actor(kind="user", id=bank.add_user("maker", ("product_manager",)), name="maker")
    checker = Actor(kind="user", id=bank.add_user("checker", ("product_manager",)), name="checker")
    return maker, checker


def run(bank, command, actor):
    return bank.container.handle(command, actor=actor, tenant_id=bank.tenant_id)


def publish(bank, staff, product_id: str, version_no: int) -> str:
    maker, checker = staff
    proposal = run(
        bank,
        commands.SubmitProductVersion(tenant_id=bank.tenant_id, product_id=product_id, version_no=version_no),
        maker,
    )
    change_id = run(bank, proposal, maker)
    decision = access_commands.DecideChange(tenant_id=bank.tenant_id, change_id=change_id, approve=True)
    assert run(bank, decision, checker) == "approved"
    return change_id


def on(bank, day: date):
    return queries.published_version(bank.container.uow(bank.tenant_id), "RL-1", on=day)


def test_the_version_in_force_follows_the_business_date(bank, staff, clock):
    maker, checker = staff
    pid = run(
        bank,
        commands.CreateProduct(
            tenant_id=bank.tenant_id, code="RL-1", name="随借随还", name_en="Revolving line", terms=TERMS
        ),
        maker,
    )
    day1 = clock.today()
    assert on(bank, day1) is None  # a draft is never offered

    publish(bank, staff, pid, 1)
    v1 = on(bank, day1)
    assert v1["version_no"] == 1 and v1["effective_from"] == day1
    assert v1["terms"]["revolving_interest_rule"] == "drawdown-day-counted-repayment-day-not"
    assert on(bank, day1 - timedelta(days=1)) is None

    clock.advance(timedelta(days=4))
    day5 = clock.today()
    no = run(bank, commands.DraftProductVersion(tenant_id=bank.tenant_id, product_id=pid), maker)
    assert no == 2
    run(
        bank,
        commands.UpdateDraftVersion(
            tenant_id=bank.tenant_id, product_id=pid, version_no=2, terms={**TERMS, "max_rate": "0.146"}
        ),
        maker,
    )
    assert on(bank, day5)["version_no"] == 1  # a draft does not change what is offered
    publish(bank, staff, pid, 2)
    assert on(bank, day5)["version_no"] == 2
    assert on(bank, day5 - timedelta(days=1))["version_no"] == 1  # history keeps its version
    assert on(bank, day1)["version_no"] == 1

    clock.advance(timedelta(days=4))
    day9 = clock.today()
    proposal = run(
        bank, commands.RetireProduct(tenant_id=bank.tenant_id, product_id=pid, reason="end"), maker
    )
    change_id = run(bank, proposal, maker)
    with pytest.raises(PermissionDenied):
        run(
            bank,
            access_commands.DecideChange(tenant_id=bank.tenant_id, change_id=change_id, approve=True),
            maker,
        )
    run(
        bank,
        access_commands.DecideChange(tenant_id=bank.tenant_id, change_id=change_id, approve=True),
        checker,
    )
    assert on(bank, day9) is None
    assert on(bank, day9 - timedelta(days=1))["version_no"] == 2
    product = queries.get_product(bank.container.uow(bank.tenant_id), pid)
    assert product["status"] == "retired" and product["retired_on"] == day9

    # The retire kind is registered with access: the console and /changes show it like any other.
    kinds = {k["kind"]: k["approve_permission"] for k in access.change_kinds()}
    assert kinds["loans.product.publish"] == kinds["loans.product.retire"] == "products.approve"


def test_a_version_published_and_replaced_on_the_same_day_is_never_in_force(bank, staff, clock):
    maker, _ = staff
    pid = run(
        bank,
        commands.CreateProduct(
            tenant_id=bank.tenant_id, code="RL-1", name="随借随还", name_en="Line", terms=TERMS
        ),
        maker,
    )
    publish(bank, staff, pid, 1)
    run(bank, commands.DraftProductVersion(tenant_id=bank.tenant_id, product_id=pid), maker)
    publish(bank, staff, pid, 2)
    assert on(bank, clock.today())["version_no"] == 2
    versions = {
        v["version_no"]: v for v in queries.get_product(bank.container.uow(bank.tenant_id), pid)["versions"]
    }
    assert versions[1]["status"] == "superseded"
    assert versions[1]["effective_from"] == versions[1]["effective_to"] == clock.today()


def test_a_second_approval_of_the_same_version_fails_and_changes_nothing(bank, staff, clock):
    maker, checker = staff
    pid = run(
        bank,
        commands.CreateProduct(
            tenant_id=bank.tenant_id, code="RL-1", name="随借随还", name_en="Line", terms=TERMS
        ),
        maker,
    )
    # Two requests for one draft (e.g. one proposed by hand through /changes with the same payload).
    proposal = run(
        bank, commands.SubmitProductVersion(tenant_id=bank.tenant_id, product_id=pid, version_no=1), maker
    )
    first, second = run(bank, proposal, maker), run(bank, proposal, maker)
    run(bank, access_commands.DecideChange(tenant_id=bank.tenant_id, change_id=first, approve=True), checker)
    with pytest.raises(Conflict) as info:
        run(
            bank,
            access_commands.DecideChange(tenant_id=bank.tenant_id, change_id=second, approve=True),
            checker,
        )
    assert info.value.code == "version_not_editable"
    assert access.get_change(bank.container.uow(bank.tenant_id), second)["status"] == "pending"
