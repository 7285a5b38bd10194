"""The registry over HTTP: upload, approve, strategy tables round trip, split, stable error codes."""

from __future__ import annotations

import pytest
from tests.integration.risk.conftest import default_document

SID = "default_consumer"


@pytest.fixture
def heads(bank, client):
    bank.add_user("analyst", ("risk_analyst",))
    bank.add_user("reviewer", ("risk_analyst",))
    bank.add_user("teller", ("operations",))
    return {u: bank.login(client, u) for u in ("analyst", "reviewer", "teller")}


def _approve(client, heads, change_id, who="reviewer"):
    return client.post(f"/api/v1/changes/{change_id}/approve", json={"note": "ok"}, headers=heads[who])


def _upload(client, heads, archive, name="card", who="analyst"):
    return client.post(
        f"/api/v1/risk/models?name={name}",
        content=archive,
        headers={**heads[who], "Content-Type": "application/zip"},
    )


def test_upload_approve_and_read_a_model(client, heads, archives):
    r = _upload(client, heads, archives["scorecard"])
    assert r.status_code == 201, r.text
    body = r.json()
    model, change = body["model"], body["change"]
    assert model["status"] == "pending" and change["kind"] == "risk.model.approve"
    assert _approve(client, heads, change["change_id"], "analyst").json()["code"] == "maker_cannot_check"
    assert _approve(client, heads, change["change_id"]).status_code == 200
    r = client.get(f"/api/v1/risk/models/{model['id']}", headers=heads["teller"])
    assert r.status_code == 200 and r.json()["status"] == "approved"
    assert "report/report.html" in r.json()["files"]
    report = client.get(
        f"/api/v1/risk/models/{model['id']}/files/report/report.html", headers=heads["teller"]
    )
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "<html" in report.text.lower()
    missing = client.get(f"/api/v1/risk/models/{model['id']}/files/nope.txt", headers=heads["teller"])
    assert missing.status_code == 404 and missing.json()["code"] == "model_file_not_found"
    # Operations staff read but cannot register.
    assert _upload(client, heads, archives["gbdt"], who="teller").status_code == 403


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [(b"not a zip", 422, "invalid_model_archive"), (b"", 422, "invalid_request")],
)
def test_bad_uploads_answer_stable_codes(client, heads, content, status, code):
    r = _upload(client, heads, content)
    assert r.status_code == status and r.json()["code"] == code


def test_strategy_documents_are_checked(client, heads, archives):
    def post(document):
        return client.post(
            "/api/v1/risk/strategies",
            json={"strategy_id": SID, "document": document},
            headers=heads["analyst"],
        )

    r = post(default_document(scorecard=("ghost", 1)))
    assert r.status_code == 422 and r.json()["code"] == "unknown_model"
    r = post({"contentType": "nope", "nodes": [], "edges": []})
    assert r.status_code == 422 and r.json()["code"] == "invalid_strategy_document"
    r = client.post(
        "/api/v1/risk/strategies",
        json={"strategy_id": "bad id!", "document": default_document()},
        headers=heads["analyst"],
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_strategy_id"


def test_edit_tables_round_trip_and_split(client, heads):
    r = client.get(f"/api/v1/risk/strategies/{SID}/tables", headers=heads["teller"])
    assert r.status_code == 200 and r.json()["source"] == "packaged"
    tables = {t["id"]: t for t in r.json()["tables"]}
    pricing = tables["pricing"]["rules"]
    assert pricing[0]["pricing-rate"] == "0.072"
    pricing[0]["pricing-rate"] = "0.0699"
    pricing[0]["_description"] = "Grade A promo / A级优惠"
    r = client.put(
        f"/api/v1/risk/strategies/{SID}/tables",
        json={"tables": {"pricing": pricing}, "note": "A promo"},
        headers=heads["analyst"],
    )
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "risk.strategy.publish"
    assert _approve(client, heads, r.json()["change_id"]).status_code == 200
    r = client.get(f"/api/v1/risk/strategies/{SID}/tables", headers=heads["teller"])
    body = r.json()
    assert body["source"] == "registry" and body["version"] == 2 and body["status"] == "published"
    rows = {t["id"]: t for t in body["tables"]}["pricing"]["rules"]
    assert rows[0]["pricing-rate"] == "0.0699" and rows[0]["_description"] == "Grade A promo / A级优惠"
    assert rows[1:] == pricing[1:]
    # A cell that does not parse names its place.
    pricing[1]["pricing-rate"] = "0.1 +"
    r = client.put(
        f"/api/v1/risk/strategies/{SID}/tables",
        json={"tables": {"pricing": pricing}},
        headers=heads["analyst"],
    )
    assert r.status_code == 422 and r.json()["details"]["row"] == 2
    r = client.put(
        f"/api/v1/risk/strategies/{SID}/tables", json={"tables": {"nope": []}}, headers=heads["analyst"]
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_strategy_document"
    # A draft becomes the challenger for 10% once approved.
    r = client.post(
        "/api/v1/risk/strategies",
        json={"strategy_id": SID, "document": default_document(), "submit": False},
        headers=heads["analyst"],
    )
    assert r.status_code == 201 and r.json() == {"strategy_id": SID, "version": 3, "status": "draft"}
    r = client.put(
        f"/api/v1/risk/strategies/{SID}/split",
        json={"challenger_version": 3, "share": "0.1"},
        headers=heads["analyst"],
    )
    assert r.status_code == 201, r.text
    assert _approve(client, heads, r.json()["change_id"]).status_code == 200
    split = client.get(f"/api/v1/risk/strategies/{SID}/split", headers=heads["teller"]).json()
    assert split["champion_version"] == 2 and split["active"]["challenger_version"] == 3
    assert split["active"]["challenger_share"] == "0.1"
    r = client.put(
        f"/api/v1/risk/strategies/{SID}/split",
        json={"challenger_version": 3, "share": "2"},
        headers=heads["analyst"],
    )
    assert r.status_code == 422 and r.json()["code"] == "invalid_split"


def test_another_bank_sees_nothing_and_a_checker_needs_risk_approve(client, bank, make_bank, heads, archives):
    r = _upload(client, heads, archives["gbdt"], name="trees")
    model_id, change_id = r.json()["model"]["id"], r.json()["change"]["change_id"]
    bank.add_user("products", ("product_manager",))
    products = bank.login(client, "products")
    r = client.post(f"/api/v1/changes/{change_id}/approve", json={"note": ""}, headers=products)
    assert r.status_code == 403 and r.json()["code"] == "permission_denied"
    other = make_bank("Other Bank")
    theirs = other.login(client)
    assert client.get("/api/v1/risk/models", headers=theirs).json() == []
    r = client.get(f"/api/v1/risk/models/{model_id}", headers=theirs)
    assert r.status_code == 404 and r.json()["code"] == "model_not_found"
    r = client.post(f"/api/v1/changes/{change_id}/approve", json={"note": ""}, headers=theirs)
    assert r.status_code == 404
