"""Loan products over the API: drafts, validation, and publishing through maker-checker."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from dipper.loans import queries as products
from dipper.persistence.outbox import OutboxMessage

TERMS: dict[str, Any] = {
    "currency": "CNY",
    "min_amount_minor": 100_000,
    "max_amount_minor": 5_000_000,
    "min_term_months": 3,
    "max_term_months": 24,
    "allowed_terms": [3, 6, 12, 24],
    "repayment_methods": ["equal-installment", "equal-principal"],
    "min_rate": "0.072",
    "max_rate": "0.18",
    "grace_days": 3,
    "penalty_uplift": "0.5",
}


def product_body(code: str = "XFD-01", **terms: Any) -> dict[str, Any]:
    return {
        "code": code,
        "name": "惠民消费贷",
        "name_en": "Huimin consumer loan",
        "scene": "家装分期",
        "segment": "salaried",
        "terms": {**TERMS, **terms},
    }


@pytest.fixture
def people(client, bank):
    """A maker and a checker (both product managers), and a risk analyst who may approve other changes."""
    bank.add_user("pm.maker", ("product_manager",))
    bank.add_user("pm.checker", ("product_manager",))
    bank.add_user("risk.one", ("risk_analyst",))
    bank.add_user("viewer", ("read_only",))
    return {
        "maker": bank.login(client, "pm.maker"),
        "checker": bank.login(client, "pm.checker"),
        "risk": bank.login(client, "risk.one"),
        "viewer": bank.login(client, "viewer"),
    }


def create(client, headers, **kw: Any) -> dict[str, Any]:
    r = client.post("/api/v1/products", json=product_body(**kw), headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def submit(client, headers, product_id: str, version_no: int) -> str:
    r = client.post(
        f"/api/v1/products/{product_id}/versions/{version_no}/submit",
        json={"note": "ALCO approved"},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "loans.product.publish" and r.json()["status"] == "pending"
    return r.json()["change_id"]


def test_a_product_starts_as_a_draft_with_the_full_terms(client, people):
    product = create(client, people["maker"])
    assert product["code"] == "XFD-01" and product["status"] == "active"
    assert product["draft_version_no"] == 1 and product["published_version_no"] is None
    (v1,) = product["versions"]
    assert v1["status"] == "draft" and v1["effective_from"] is None
    assert v1["terms"]["min_rate"] == "0.072" and v1["terms"]["allowed_terms"] == [3, 6, 12, 24]
    # Defaults are written out: the document is the whole contract, nothing is implied.
    assert v1["terms"]["allocation_order"] == ["penalty", "interest", "principal", "fee"]
    assert v1["terms"]["overdue_first"] is True and v1["terms"]["holiday_roll"] == "following"
    listed = client.get("/api/v1/products", headers=people["viewer"]).json()
    assert [p["code"] for p in listed] == ["XFD-01"]
    r = client.post("/api/v1/products", json=product_body(), headers=people["maker"])
    assert r.status_code == 409 and r.json()["code"] == "product_exists"


def test_bad_input_is_a_4xx_with_a_stable_code(client, people):
    maker = people["maker"]
    cases = [
        (product_body(min_rate="0.2", max_rate="0.1"), 422, "invalid_rate_range"),
        (product_body(penalty_uplift="0.6"), 422, "invalid_penalty_uplift"),
        (product_body(repayment_methods=["balloon"]), 422, "unknown_method"),
        (product_body(min_amount_minor=9_000_000), 422, "invalid_amount_range"),
        (product_body(code="x"), 422, "invalid_product_code"),
        (product_body(min_rate=0.07), 422, "invalid_request"),  # a float is refused by the schema
        ({**product_body(), "extra": 1}, 422, "invalid_request"),
    ]
    for body, status, code in cases:
        r = client.post("/api/v1/products", json=body, headers=maker)
        assert r.status_code == status and r.json()["code"] == code, (code, r.text)
    r = client.post(
        "/api/v1/products", json=product_body(min_rate="0.2", max_rate="0.1", grace_days=40), headers=maker
    )
    assert {v["code"] for v in r.json()["details"]["violations"]} == {
        "invalid_rate_range",
        "invalid_grace_days",
    }
    assert client.post("/api/v1/products", json=product_body(), headers=people["viewer"]).status_code == 403
    assert client.get("/api/v1/products/nope", headers=maker).json()["code"] == "product_not_found"
    product = create(client, maker)
    r = client.get(f"/api/v1/products/{product['id']}/versions/7", headers=maker)
    assert r.status_code == 404 and r.json()["code"] == "version_not_found"


def test_publish_needs_a_second_person_and_supersedes_the_previous_version(client, people, bank):
    maker, checker = people["maker"], people["checker"]
    product = create(client, maker)
    pid = product["id"]
    change_id = submit(client, maker, pid, 1)

    # While a checker has it, the draft is frozen and cannot be submitted twice.
    detail = client.get(f"/api/v1/products/{pid}", headers=maker).json()
    assert [(c["id"], c["version_no"]) for c in detail["pending_changes"]] == [(change_id, 1)]
    r = client.put(f"/api/v1/products/{pid}/versions/1", json=TERMS, headers=maker)
    assert r.status_code == 409 and r.json()["code"] == "version_pending_approval"
    r = client.post(f"/api/v1/products/{pid}/versions/1/submit", json={}, headers=maker)
    assert r.status_code == 409 and r.json()["code"] == "version_pending_approval"
    change = client.get(f"/api/v1/changes/{change_id}", headers=checker).json()
    assert change["payload"]["terms"]["max_rate"] == "0.18"  # the checker sees exactly what is published

    # The maker cannot approve their own publish; approval needs products.approve.
    r = client.post(f"/api/v1/changes/{change_id}/approve", json={}, headers=maker)
    assert r.status_code == 403 and r.json()["code"] == "maker_cannot_check"
    r = client.post(f"/api/v1/changes/{change_id}/approve", json={}, headers=people["risk"])
    assert r.status_code == 403 and r.json()["code"] == "permission_denied"
    assert client.get(f"/api/v1/products/{pid}/versions/1", headers=maker).json()["status"] == "draft"

    r = client.post(f"/api/v1/changes/{change_id}/approve", json={"note": "ok"}, headers=checker)
    assert r.status_code == 200 and r.json()["status"] == "approved"
    v1 = client.get(f"/api/v1/products/{pid}/versions/1", headers=maker).json()
    assert v1["status"] == "published" and v1["effective_from"] is not None
    assert v1["published_by"] == bank.users["pm.checker"]

    # Published versions are immutable.
    r = client.put(f"/api/v1/products/{pid}/versions/1", json={**TERMS, "max_rate": "0.2"}, headers=maker)
    assert r.status_code == 409 and r.json()["code"] == "version_not_editable"
    r = client.post(f"/api/v1/products/{pid}/versions/1/submit", json={}, headers=maker)
    assert r.status_code == 409 and r.json()["code"] == "version_not_editable"

    # Version 2 starts as a copy, is edited, published; version 1 is superseded.
    r = client.post(f"/api/v1/products/{pid}/versions", json={}, headers=maker)
    assert r.status_code == 201 and r.json()["version_no"] == 2 and r.json()["terms"] == v1["terms"]
    r = client.post(f"/api/v1/products/{pid}/versions", json={}, headers=maker)
    assert r.status_code == 409 and r.json()["code"] == "draft_exists"
    r = client.put(f"/api/v1/products/{pid}/versions/2", json={**TERMS, "max_rate": "0.2"}, headers=maker)
    assert r.status_code == 200 and r.json()["terms"]["max_rate"] == "0.2"
    r = client.put(f"/api/v1/products/{pid}/versions/2", json={**TERMS, "grace_days": 31}, headers=maker)
    assert r.status_code == 422 and r.json()["code"] == "invalid_grace_days"
    change_2 = submit(client, maker, pid, 2)
    assert client.post(f"/api/v1/changes/{change_2}/approve", json={}, headers=checker).status_code == 200

    detail = client.get(f"/api/v1/products/{pid}", headers=maker).json()
    assert detail["published_version_no"] == 2 and detail["draft_version_no"] is None
    assert detail["pending_changes"] == []
    statuses = {v["version_no"]: (v["status"], v["effective_to"]) for v in detail["versions"]}
    assert statuses[2] == ("published", None)
    assert statuses[1][0] == "superseded" and statuses[1][1] is not None

    current = products.published_version(bank.container.uow(bank.tenant_id), "XFD-01")
    assert current["version_no"] == 2
    assert products.product_terms(current).max_rate == Decimal("0.2")
    with bank.container.uow(bank.tenant_id) as uow:
        topics = [
            (m.topic, m.payload["version_no"])
            for m in uow.session.scalars(
                select(OutboxMessage)
                .where(
                    OutboxMessage.tenant_id == bank.tenant_id, OutboxMessage.topic == "loans.ProductPublished"
                )
                .order_by(OutboxMessage.created_at)
            )
        ]
    assert topics == [("loans.ProductPublished", 1), ("loans.ProductPublished", 2)]


def test_a_rejected_version_stays_an_editable_draft(client, people):
    maker, checker = people["maker"], people["checker"]
    pid = create(client, maker)["id"]
    change_id = submit(client, maker, pid, 1)
    r = client.post(f"/api/v1/changes/{change_id}/reject", json={"note": "rate too high"}, headers=checker)
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    v1 = client.get(f"/api/v1/products/{pid}/versions/1", headers=maker).json()
    assert v1["status"] == "draft"
    r = client.put(f"/api/v1/products/{pid}/versions/1", json={**TERMS, "max_rate": "0.15"}, headers=maker)
    assert r.status_code == 200
    again = submit(client, maker, pid, 1)
    assert again != change_id
    assert client.post(f"/api/v1/changes/{again}/approve", json={}, headers=checker).status_code == 200
    assert (
        client.get(f"/api/v1/products/{pid}/versions/1", headers=maker).json()["terms"]["max_rate"] == "0.15"
    )


def test_an_approval_publishes_only_the_terms_that_were_submitted(client, people, bank):
    """A change proposed by hand through /changes cannot publish terms other than the draft's."""
    maker, checker = people["maker"], people["checker"]
    product = create(client, maker)
    v1 = product["versions"][0]
    forged_terms = {**v1["terms"], "max_rate": "0.35"}
    payload = {
        "product_id": product["id"],
        "product_code": product["code"],
        "version_id": v1["id"],
        "version_no": 1,
        "terms": forged_terms,
        "terms_digest": v1["terms_digest"],
    }
    r = client.post(
        "/api/v1/changes",
        json={"kind": "loans.product.publish", "target": product["id"], "payload": payload},
        headers=maker,
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_change_payload"  # digest does not match

    from dipper.loans.domain.product import parse_terms, terms_digest

    payload["terms_digest"] = terms_digest(parse_terms(forged_terms))
    r = client.post(
        "/api/v1/changes",
        json={"kind": "loans.product.publish", "target": product["id"], "payload": payload},
        headers=maker,
    )
    assert r.status_code == 201, r.text
    r = client.post(f"/api/v1/changes/{r.json()['id']}/approve", json={}, headers=checker)
    assert r.status_code == 409 and r.json()["code"] == "version_changed_since_submission"
    assert (
        client.get(f"/api/v1/products/{product['id']}/versions/1", headers=maker).json()["status"] == "draft"
    )


def test_retiring_goes_through_maker_checker(client, people, bank):
    maker, checker = people["maker"], people["checker"]
    pid = create(client, maker)["id"]
    change = submit(client, maker, pid, 1)
    client.post(f"/api/v1/changes/{change}/approve", json={}, headers=checker)
    r = client.post(f"/api/v1/products/{pid}/retire", json={"reason": "replaced"}, headers=maker)
    assert r.status_code == 201 and r.json()["kind"] == "loans.product.retire"
    retire_id = r.json()["change_id"]
    r = client.post(f"/api/v1/products/{pid}/retire", json={}, headers=maker)
    assert r.status_code == 409 and r.json()["code"] == "retirement_pending"
    assert client.get(f"/api/v1/products/{pid}", headers=maker).json()["status"] == "active"
    assert client.post(f"/api/v1/changes/{retire_id}/approve", json={}, headers=maker).status_code == 403
    assert client.post(f"/api/v1/changes/{retire_id}/approve", json={}, headers=checker).status_code == 200
    product = client.get(f"/api/v1/products/{pid}", headers=maker).json()
    assert product["status"] == "retired" and product["retired_on"] is not None
    r = client.post(f"/api/v1/products/{pid}/versions", json={}, headers=maker)
    assert r.status_code == 409 and r.json()["code"] == "product_retired"
    assert products.published_version(bank.container.uow(bank.tenant_id), "XFD-01") is None
