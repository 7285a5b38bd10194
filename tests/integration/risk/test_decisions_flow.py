"""Pre-loan decisions end to end through the bus: stored with versions and encrypted personal inputs,
idempotent, replayable, the gray zone in the review queue, resolved by someone else holding risk.approve."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, text
from tests.integration.loans.test_repay_support import Book, book_fixture, key, raises, resident_id  # noqa: F401

from dipper.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from dipper.kernel.uow import Actor
from dipper.persistence.outbox import OutboxMessage
from dipper.risk import commands, queries
from dipper.risk.adapters.demo_models import demo_setup, simulated_application
from dipper.risk.domain.strategy import ChampionChallenger, Strategy, default_strategy
from dipper.risk.handlers.decisions import StaticSetupSource, use_setup_source

_serial = itertools.count(70_000)


@pytest.fixture(autouse=True)
def source() -> Iterator[StaticSetupSource]:
    static = StaticSetupSource(demo_setup(), source="demo")
    previous = use_setup_source(static)
    try:
        yield static
    finally:
        use_setup_source(previous)


def application(book: Book, i: int, **changes: Any) -> dict[str, Any]:
    app = simulated_application(i, seed=3)
    for k in [k for k in app if k.startswith("bureau_")]:
        del app[k]  # the handler asks the (simulated) bureau
    app.update(
        id_number=resident_id(next(_serial)),
        name="李四",
        phone="13812345678",
        bank_card="6222021234567890128",
        application_date=book.today.isoformat(),
        kyc_passed=True,
        four_elements_verified=True,
        blacklisted=False,
        device_risky=False,
    )
    app.update(changes)
    return app


def decide(
    book: Book, app: dict[str, Any], *, idem: str | None = None, actor: Actor | None = None, **fields: Any
) -> dict[str, Any]:
    cmd = commands.DecideApplication(
        tenant_id=book.tenant_id,
        idempotency_key=idem or key(),
        product_code=book.product_code,
        application=app,
        **fields,
    )
    return book.container.handle(cmd, actor=actor or book.admin)  # type: ignore[no-any-return]


def first_with(book: Book, decision: str, start: int = 0) -> dict[str, Any]:
    for i in range(start, start + 300):
        view = decide(book, application(book, i))
        if view["decision"] == decision:
            return view
    raise AssertionError(f"no {decision} in 300 applications")


def analyst(book: Book, name: str, roles: tuple[str, ...] = ("risk_analyst",)) -> Actor:
    return Actor(kind="user", id=book.bank.add_user(f"{name}{next(_serial)}", roles), name=name)


def test_a_decision_is_stored_with_versions_and_masked_inputs(book: Book) -> None:
    view = decide(book, application(book, 1))
    assert view["decision"] in ("approve", "review", "decline")
    assert view["setup_source"] == "demo" and view["stage"] == "pre_loan"
    record = view["record"]
    assert record["strategy"]["content_hash"] == default_strategy().content_hash
    assert [m["role"] for m in record["models"]] == ["scorecard", "gbdt"]
    assert view["input_digest"] == record["input_digest"]
    app = view["inputs"]["application"]
    assert app["id_number"].startswith("310") and "*" in app["id_number"]
    assert (
        app["name"] == "李*" and app["phone"] == "138****5678" and app["bank_card"] == "622202*********0128"
    )
    assert set(view["inputs"]["bureau"]) >= {"bureau_inquiries_3m", "bureau_thin_file"}
    assert view["inputs"]["behaviour"] == {"dipper_loans_total": 0}
    again = queries.get_decision(book.uow(), view["id"])
    assert again["record"] == record and again["inputs"] == view["inputs"]


def test_personal_inputs_are_encrypted_in_the_table(book: Book) -> None:
    app = application(book, 2)
    view = decide(book, app)
    with book.container.engine.connect() as conn:
        row = conn.execute(
            text("SELECT inputs, inputs_personal, record FROM risk_decisions WHERE id = :id"),
            {"id": view["id"]},
        ).one()
    raw = " ".join(str(v) for v in row)
    for secret in (app["id_number"], app["name"], app["phone"], app["bank_card"], "5678"):
        assert secret not in raw
    assert row.inputs_personal and not row.inputs_personal.lstrip().startswith("{")
    plain = queries.decision_inputs(book.uow(), view["id"])
    assert plain["application"]["id_number"] == app["id_number"]


def test_the_same_key_returns_the_stored_decision(book: Book) -> None:
    app, idem = application(book, 3), key()
    first = decide(book, app, idem=idem)
    second = decide(book, app, idem=idem)
    assert second["id"] == first["id"] and second["replayed"] is True
    assert second["record"] == first["record"]
    err = raises(
        Conflict, "idempotency_key_reused", decide, book, {**app, "employment_years": 9.0}, idem=idem
    )
    assert err.details["idempotency_key"] == idem
    assert queries.list_decisions(book.uow()).total == 1


def test_replay_reproduces_and_a_new_version_is_a_difference(book: Book, source: StaticSetupSource) -> None:
    view = decide(book, application(book, 4))
    same = book.handle(commands.ReplayDecision, decision_id=view["id"])
    assert same["equal"] is True and same["versions"] == "stored" and same["differences"] == []

    doc = json.loads(json.dumps(default_strategy().document))
    for node in doc["nodes"]:
        if node["id"] == "grades":
            node["content"]["rules"][0]["grade-score"] = ">= 9999"  # no grade A any more
    newer = Strategy("default_consumer", 2, doc)
    use_setup_source(StaticSetupSource(demo_setup(strategy=newer)))
    changed = book.handle(commands.ReplayDecision, decision_id=view["id"])
    assert changed["equal"] is False and changed["versions"] == "current"
    fields = {d["field"] for d in changed["differences"]}
    assert {"strategy.version", "strategy.content_hash", "routing.champion.version"} <= fields
    assert queries.get_decision(book.uow(), view["id"])["record"] == view["record"]  # never re-decided

    use_setup_source(StaticSetupSource(demo_setup(strategy=newer), source.setups[0]))
    assert book.handle(commands.ReplayDecision, decision_id=view["id"])["equal"] is True


def test_history_here_feeds_the_decision(book: Book) -> None:
    book.open_loan()
    view = decide(book, application(book, 5), customer_id=book.customer_id)
    behaviour = view["inputs"]["behaviour"]
    assert behaviour["dipper_loans_total"] == 1 and behaviour["dipper_active_loans"] == 1
    assert behaviour["dipper_outstanding_minor"] == 1_200_000
    assert view["record"]["features"]["dipper_has_history"] == 1.0
    assert view["customer_id"] == book.customer_id
    replayed = book.handle(commands.ReplayDecision, decision_id=view["id"])
    assert replayed["equal"] is True


def test_gray_zone_opens_a_case_that_another_analyst_resolves(book: Book) -> None:
    view = first_with(book, "review")
    case = view["review_case"]
    assert case is not None and case["status"] == "open"
    queue = queries.list_review_cases(book.uow())
    assert [c["id"] for c in queue.cases] == [case["id"]]
    assert queue.cases[0]["decision"]["grade"] == view["grade"]
    with book.uow() as uow:
        topics = set(uow.session.scalars(select(OutboxMessage.topic)))
    assert any("DecisionMade" in t for t in topics)

    bounds = view["record"]  # the offer the strategy made in the gray zone
    limit = int(bounds["limit_minor"])
    resolve = commands.ResolveCase
    # The maker (who submitted the application) cannot check it.
    raises(
        PermissionDenied,
        "maker_checker",
        book.handle,
        resolve,
        case_id=case["id"],
        outcome="decline",
        note="self-review",
    )
    # Without risk.approve, nobody resolves.
    clerk = analyst(book, "clerk", ("operations",))
    raises(
        PermissionDenied,
        "permission_denied",
        book.container.handle,
        resolve(tenant_id=book.tenant_id, case_id=case["id"], outcome="decline", note="no"),
        actor=clerk,
    )

    checker = analyst(book, "checker")
    other = analyst(book, "other")
    taken = book.container.handle(
        commands.AssignCase(tenant_id=book.tenant_id, case_id=case["id"]), actor=checker
    )
    assert taken["status"] == "assigned" and taken["assignee"] == checker.id
    raises(
        Conflict,
        "review_case_assigned_to_other",
        book.container.handle,
        resolve(tenant_id=book.tenant_id, case_id=case["id"], outcome="decline", note="mine"),
        actor=other,
    )

    def approve(**fields: Any) -> Any:
        cmd = resolve(
            tenant_id=book.tenant_id,
            case_id=case["id"],
            outcome="approve",
            note="收入核实 verified",
            **fields,
        )
        return book.container.handle(cmd, actor=checker)

    raises(
        ValidationFailed, "limit_out_of_bounds", approve, limit_minor=60_000_000, annual_rate=Decimal("0.1")
    )
    raises(ValidationFailed, "rate_out_of_bounds", approve, limit_minor=limit, annual_rate=Decimal("0.2"))
    raises(ValidationFailed, "invalid_limit", approve, limit_minor=None, annual_rate=Decimal("0.1"))
    raises(
        ValidationFailed,
        "note_required",
        book.container.handle,
        resolve(tenant_id=book.tenant_id, case_id=case["id"], outcome="decline", note="  "),
        actor=checker,
    )
    done = approve(limit_minor=limit, annual_rate=Decimal("0.15"))
    assert done["status"] == "approved" and done["limit_minor"] == limit and done["annual_rate"] == "0.15"
    assert done["resolved_by"] == checker.id and done["note"] == "收入核实 verified"
    raises(Conflict, "review_case_resolved", approve, limit_minor=limit, annual_rate=Decimal("0.15"))
    assert queries.list_review_cases(book.uow()).total == 0
    assert queries.list_review_cases(book.uow(), status="approved").total == 1


def test_bad_input_is_refused_and_stores_nothing(book: Book) -> None:
    raises(
        ValidationFailed,
        "invalid_feature_input",
        decide,
        book,
        application(book, 6, income_monthly_minor="lots"),
    )
    raises(ValidationFailed, "invalid_decision_input", decide, book, application(book, 6, id_number=None))
    raises(
        ValidationFailed,
        "feature_missing",
        decide,
        book,
        application(book, 6, id_number=None),
        customer_id=book.customer_id,
    )
    raises(ValidationFailed, "invalid_idempotency_key", decide, book, application(book, 6), idem="has space")
    raises(
        NotFound,
        "product_not_published",
        book.handle,
        commands.DecideApplication,
        idempotency_key=key(),
        product_code="NOPE",
        application=application(book, 6),
    )
    raises(ValidationFailed, "invalid_decision_input", decide, book, application(book, 6, extra=[1, 2]))
    assert queries.list_decisions(book.uow()).total == 0


def test_another_bank_sees_no_decision_and_no_case(book: Book, make_bank: Any) -> None:
    view = first_with(book, "review")
    other = make_bank()
    uow = book.container.uow(other.tenant_id)
    raises(NotFound, "decision_not_found", queries.get_decision, uow, view["id"])
    raises(NotFound, "review_case_not_found", queries.get_review_case, uow, view["review_case"]["id"])
    assert queries.list_review_cases(uow).total == 0 and queries.list_decisions(uow).total == 0
    raises(
        NotFound,
        "decision_not_found",
        book.container.handle,
        commands.ReplayDecision(tenant_id=other.tenant_id, decision_id=view["id"]),
    )


def test_champion_challenger_split_is_recorded(book: Book) -> None:
    challenger = Strategy("default_consumer", 2, dict(default_strategy().document))
    base = demo_setup()
    split = type(base).of(
        base.feature_set,
        ChampionChallenger("default_consumer", default_strategy(), challenger, Decimal("0.5")),
        scorecard=base.scorecard,
        gbdt=base.gbdt,
    )
    use_setup_source(StaticSetupSource(split))
    arms = {decide(book, application(book, i))["arm"] for i in range(12)}
    assert arms == {"champion", "challenger"}
