"""Risk decisions and the review queue over HTTP: idempotency key, masking, replay, resolve, 4xx codes."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from tests.integration.loans.test_repay_support import Book, book_fixture, key, resident_id  # noqa: F401

from dipper.risk.adapters.demo_models import demo_setup, simulated_application
from dipper.risk.handlers.decisions import StaticSetupSource, use_setup_source

_serial = itertools.count(80_000)


@pytest.fixture(autouse=True)
def source() -> Iterator[None]:
    previous = use_setup_source(StaticSetupSource(demo_setup(), source="demo"))
    try:
        yield
    finally:
        use_setup_source(previous)


def body(book: Book, i: int, **changes: Any) -> dict[str, Any]:
    app = {k: v for k, v in simulated_application(i, seed=4).items() if not k.startswith("bureau_")}
    app.update(
        id_number=resident_id(next(_serial)),
        name="王五",
        phone="13912345678",
        application_date=book.today.isoformat(),
        kyc_passed=True,
        four_elements_verified=True,
        blacklisted=False,
        device_risky=False,
    )
    app.update(changes)
    return {"product_code": book.product_code, "application": app}


def post(client: Any, headers: dict[str, str], payload: dict[str, Any], idem: str | None = None) -> Any:
    return client.post(
        "/api/v1/risk/decisions", json=payload, headers={**headers, "Idempotency-Key": idem or key()}
    )


def test_decide_read_masked_and_replay(client: Any, book: Book) -> None:
    admin = book.bank.login(client)
    payload, idem = body(book, 1), key()
    r = post(client, admin, payload, idem)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["decision"] in ("approve", "review", "decline") and out["replayed"] is False
    assert out["inputs"]["application"]["phone"] == "139****5678"
    assert payload["application"]["id_number"] not in r.text and "王五" not in r.text
    assert {x["source"] for x in out["reasons"]} >= {"model"}
    assert all(set(x["text"]) == {"zh-CN", "en"} for x in out["reasons"])
    assert (len(out["features"]) == 32 and out["annual_rate"] is None) or isinstance(out["annual_rate"], str)

    again = post(client, admin, payload, idem)
    assert again.status_code == 201 and again.json()["id"] == out["id"] and again.json()["replayed"] is True
    reused = post(client, admin, body(book, 2), idem)
    assert reused.status_code == 409 and reused.json()["code"] == "idempotency_key_reused"

    got = client.get(f"/api/v1/risk/decisions/{out['id']}", headers=admin)
    assert got.status_code == 200 and got.json()["record"] == out["record"]
    assert payload["application"]["id_number"] not in got.text
    replay = client.post(f"/api/v1/risk/decisions/{out['id']}/replay", headers=admin)
    assert replay.status_code == 200 and replay.json() == {
        "decision_id": out["id"],
        "equal": True,
        "versions": "stored",
        "differences": [],
    }
    listed = client.get("/api/v1/risk/decisions", headers=admin).json()
    assert listed["total"] == 1 and listed["decisions"][0]["id"] == out["id"]


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"income_monthly_minor": "lots"}, 422, "invalid_feature_input"),
        ({"id_number": None}, 422, "invalid_decision_input"),
        ({"income_monthly_minor": [1]}, 422, "invalid_request"),
    ],
)
def test_bad_input_answers_4xx_with_a_code(
    client: Any, book: Book, changes: dict[str, Any], status: int, code: str
) -> None:
    admin = book.bank.login(client)
    r = post(client, admin, body(book, 3, **changes))
    assert r.status_code == status, r.text
    assert r.json()["code"] == code


def test_the_idempotency_key_is_required(client: Any, book: Book) -> None:
    admin = book.bank.login(client)
    r = client.post("/api/v1/risk/decisions", json=body(book, 4), headers=admin)
    assert r.status_code == 400 and r.json()["code"] == "idempotency_key_required"
    r = client.post(
        "/api/v1/risk/decisions",
        json={**body(book, 4), "product_code": "NOPE"},
        headers={**admin, "Idempotency-Key": key()},
    )
    assert r.status_code == 404 and r.json()["code"] == "product_not_published"


def test_review_queue_resolve_needs_risk_approve_and_another_person(client: Any, book: Book) -> None:
    admin = book.bank.login(client)
    case = None
    for i in range(300):
        out = post(client, admin, body(book, 100 + i)).json()
        if out["decision"] == "review":
            case = out["review_case"]
            break
    assert case is not None
    queue = client.get("/api/v1/risk/reviews", headers=admin).json()
    assert [c["id"] for c in queue["cases"]] == [case["id"]]

    resolve = f"/api/v1/risk/reviews/{case['id']}/resolve"
    decline = {"outcome": "decline", "note": "多头借贷"}
    r = client.post(resolve, json=decline, headers=admin)
    assert r.status_code == 403 and r.json()["code"] == "maker_checker"
    book.bank.add_user("ops", ("operations",))
    r = client.post(resolve, json=decline, headers=book.bank.login(client, "ops"))
    assert r.status_code == 403 and r.json()["code"] == "permission_denied"

    book.bank.add_user("analyst", ("risk_analyst",))
    analyst = book.bank.login(client, "analyst")
    r = client.post(
        resolve,
        json={"outcome": "approve", "limit_minor": 100, "annual_rate": "0.1", "note": "x"},
        headers=analyst,
    )
    assert r.status_code == 422 and r.json()["code"] == "limit_out_of_bounds"
    r = client.post(resolve, json={"outcome": "maybe", "note": "x"}, headers=analyst)
    assert r.status_code == 422
    r = client.post(resolve, json=decline, headers=analyst)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "declined" and r.json()["note"] == "多头借贷"
    assert client.get("/api/v1/risk/reviews", headers=admin).json()["total"] == 0
    got = client.get(f"/api/v1/risk/decisions/{case['decision_id']}", headers=admin).json()
    assert got["review_case"]["status"] == "declined"


def test_another_bank_cannot_read_or_replay(client: Any, book: Book, make_bank: Any) -> None:
    admin = book.bank.login(client)
    out = post(client, admin, body(book, 5)).json()
    other = make_bank()
    theirs = other.login(client)
    assert client.get(f"/api/v1/risk/decisions/{out['id']}", headers=theirs).status_code == 404
    assert client.post(f"/api/v1/risk/decisions/{out['id']}/replay", headers=theirs).status_code == 404
    assert client.get("/api/v1/risk/decisions", headers=theirs).json()["total"] == 0


def test_paging_is_bounded(client: Any, book: Book) -> None:
    admin = book.bank.login(client)
    for path in ("/api/v1/risk/decisions", "/api/v1/risk/reviews"):
        r = client.get(f"{path}?offset=9223372036854775808", headers=admin)
        assert r.status_code == 422 and r.json()["code"] == "invalid_request"


def test_limit_review_and_early_warning_over_http(client: Any, make_bank: Any) -> None:
    from datetime import date as _date

    from tests.integration.risk.test_decisions_limit_review import AS_OF, _seed

    bank = make_bank()  # loans written as rows (no ledger postings): not the book's reconciled bank
    admin = bank.login(client)
    ids = _seed(bank.container, bank.tenant_id)
    r = client.post("/api/v1/risk/limit-reviews", json={"as_of": AS_OF.isoformat()}, headers=admin)
    assert r.status_code == 200, r.text
    by_line = {p["credit_line_id"]: p for p in r.json()["proposals"]}
    assert by_line[ids["good"]]["action"] == "raise" and by_line[ids["good"]]["applied"] is False
    bank.add_user("viewer", ("auditor",))
    viewer = bank.login(client, "viewer")
    refused = client.post("/api/v1/risk/limit-reviews", json={"apply": True}, headers=viewer)
    assert refused.status_code == 403
    done = client.post(
        "/api/v1/risk/limit-reviews", json={"as_of": AS_OF.isoformat(), "apply": True}, headers=admin
    )
    applied = {p["credit_line_id"]: p for p in done.json()["proposals"]}
    assert applied[ids["good"]]["applied"] is True and applied[ids["late"]]["applied"] is True
    line = client.get(f"/api/v1/credit-lines/{ids['good']}", headers=admin).json()
    assert line["limit_minor"] == 1_300_000
    warnings = client.get(f"/api/v1/risk/early-warnings?as_of={AS_OF.isoformat()}", headers=admin).json()
    assert warnings["warnings"][0]["level"] == "red" and _date.fromisoformat(warnings["as_of"]) == AS_OF
