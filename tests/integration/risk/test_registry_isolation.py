"""Every registry route that names an object answers 404 to another bank (user and partner key)."""

from __future__ import annotations

import re

from dipper.access.queries import Permission

BODIES = {
    ("post", "/api/v1/risk/models/{model_id}/retire"): {},
    ("post", "/api/v1/risk/strategies/{strategy_id}/versions/{version}/submit"): {},
    ("put", "/api/v1/risk/strategies/{strategy_id}/tables"): {"tables": {"pricing": []}},
    ("put", "/api/v1/risk/strategies/{strategy_id}/split"): {"challenger_version": 1, "share": "0.1"},
}


def test_bank_a_gets_404_for_every_registry_object_of_bank_b(client, make_bank, archives):
    from tests.integration.risk.conftest import default_document

    bank_a, bank_b = make_bank("A"), make_bank("B")
    b_admin = bank_b.login(client)
    r = client.post(
        "/api/v1/risk/models?name=b-only",
        content=archives["scorecard"],
        headers={**b_admin, "Content-Type": "application/zip"},
    )
    assert r.status_code == 201, r.text
    r2 = client.post(
        "/api/v1/risk/strategies",
        json={"strategy_id": "b_only", "document": default_document(), "submit": False},
        headers=b_admin,
    )
    assert r2.status_code == 201, r2.text
    b_objects = {
        "model_id": r.json()["model"]["id"],
        "path": "report/report.html",
        "strategy_id": "b_only",
        "version": "1",
    }
    a_user = bank_a.login(client)
    r = client.post(
        "/api/v1/api-keys", json={"name": "all", "permissions": [p.value for p in Permission]}, headers=a_user
    )
    a_key = {"Authorization": f"Bearer {r.json()['secret']}"}
    spec = client.get("/openapi.json").json()
    checked = 0
    for path, operations in spec["paths"].items():
        if not re.match(r"/api/v1/risk/(models|strategies)/", path):
            continue
        url = path.format(**b_objects)
        for method in operations:
            for who, credentials in (("user", a_user), ("api key", a_key)):
                body = BODIES.get((method, path))
                r = client.request(method.upper(), url, json=body, headers=credentials)
                assert r.status_code == 404, f"{who} {method.upper()} {path}: {r.status_code} {r.text}"
                assert r.json()["code"].endswith("not_found")
                checked += 1
    assert checked == 2 * 10
    # Bank B still sees its own objects (the seeded ids are real).
    assert client.get(f"/api/v1/risk/models/{b_objects['model_id']}", headers=b_admin).status_code == 200
    assert client.get("/api/v1/risk/strategies/b_only/versions/1", headers=b_admin).status_code == 200
