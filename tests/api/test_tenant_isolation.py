"""Tenant isolation over the whole API: walk every path of the OpenAPI spec that names an
object, and prove that a user *and* a partner key of bank A get 404 for every object of bank B,
for every method. A new route whose path parameter has no seeded object of bank B fails this
test, so no route escapes it.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from dipper.access.queries import Permission
from dipper.risk import commands as risk_commands

VALID_ID_NUMBER = "11010519491231002X"  # the public sample resident ID (valid check digit)


def _seed_bank_b(client: Any, bank: Any, tmp_path: Path) -> dict[str, str]:
    """One object of every kind in bank B, keyed by the path parameter that names it."""
    admin = bank.login(client)
    objects: dict[str, str] = {}
    objects["user_id"] = bank.add_user("b.only", ("operations",))
    r = client.post("/api/v1/api-keys", json={"name": "b key", "permissions": ["tenant.read"]}, headers=admin)
    objects["api_key_id"] = r.json()["id"]
    r = client.post(
        "/api/v1/changes", json={"kind": "tenant.settings", "payload": {"apr_ceiling": "0.2"}}, headers=admin
    )
    objects["change_id"] = r.json()["id"]
    r = client.post(
        "/api/v1/customers",
        json={"name": "王小明", "id_number": VALID_ID_NUMBER, "phone": "13812345678"},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    objects["customer_id"] = r.json()["id"]
    r = client.post(
        "/api/v1/accounting/accounts",
        json={"code": "8801", "name": "乙行专用科目", "name_en": "Bank B only", "account_type": "asset"},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    objects["account_code"] = "8801"
    r = client.post(
        "/api/v1/accounting/entries",
        json={
            "value_date": "2026-01-05",
            "description": "B only",
            "lines": [
                {"account_code": "8801", "currency": "CNY", "debit_minor": 100},
                {"account_code": "4001", "currency": "CNY", "credit_minor": 100},
            ],
        },
        headers={**admin, "Idempotency-Key": "b-entry-1"},
    )
    assert r.status_code == 201, r.text
    objects["entry_id"] = r.json()["id"]
    r = client.post(
        "/api/v1/products",
        json={
            "code": "B-ONLY",
            "name": "乙行专用产品",
            "name_en": "Bank B only",
            "terms": {
                "currency": "CNY",
                "min_amount_minor": 100_000,
                "max_amount_minor": 1_000_000,
                "min_term_months": 3,
                "max_term_months": 12,
                "allowed_terms": [3, 6, 12],
                "repayment_methods": ["equal-installment"],
                "min_rate": "0.08",
                "max_rate": "0.18",
            },
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    objects["product_id"] = r.json()["id"]
    objects["version_no"] = "1"
    objects.update(_seed_bank_b_loans(client, bank, admin, objects["customer_id"]))
    objects["transaction_id"] = _seed_bank_b_repayment(client, admin, objects["loan_id"])
    today = bank.container.clock.today().isoformat()
    r = client.post(
        "/api/v1/batch/runs", json={"business_date": today}, headers={**admin, "Idempotency-Key": "b-eod-1"}
    )
    assert r.status_code == 201, r.text
    objects["run_id"] = r.json()["id"]
    objects.update(_seed_bank_b_decision(client, admin))
    objects.update(_seed_bank_b_registry(client, admin, tmp_path))
    return objects


def _seed_bank_b_registry(client: Any, admin: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """A model of bank B in the registry (a small scorecard) and a draft strategy of its own."""
    from tests.integration.risk.conftest import default_document, write_applications

    data = write_applications(tmp_path / "applications.csv", n=300)
    out = tmp_path / "scorecard"
    risk_commands.run(risk_commands.TrainModel(data=data, target="bad", kind="scorecard", out=out, seed=3))
    r = client.post(
        "/api/v1/risk/models?name=b-only",
        content=risk_commands.pack_model_directory(out),
        headers={**admin, "Content-Type": "application/zip"},
    )
    assert r.status_code == 201, r.text
    model_id = r.json()["model"]["id"]
    r = client.post(
        "/api/v1/risk/strategies",
        json={"strategy_id": "b_only", "document": default_document(), "submit": False},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    return {"model_id": model_id, "path": "report/report.html", "strategy_id": "b_only", "version": "1"}


def _seed_bank_b_decision(client: Any, admin: dict[str, str]) -> dict[str, str]:
    """A risk decision of bank B in the gray zone, and its review case."""
    application = {
        "id_number": "110105199003071239",  # a valid check digit, aged 18-65
        "income_monthly_minor": 2_000_000,
        "requested_amount_minor": 300_000,
        "requested_term_months": 6,
        "kyc_passed": True,
        "four_elements_verified": True,
        "device_risky": False,
        "blacklisted": False,
    }
    bureau = {"bureau_current_delinquency": False, "bureau_monthly_debt_minor": 0, "bureau_inquiries_3m": 0}
    r = client.post(
        "/api/v1/risk/decisions",
        json={"product_code": "B-LOANS", "application": application, "bureau": bureau},
        headers={**admin, "Idempotency-Key": "b-decision-1"},
    )
    assert r.status_code == 201, r.text
    case = r.json()["review_case"]
    assert case is not None, r.json()["reasons"]
    return {"decision_id": r.json()["id"], "case_id": case["id"]}


def _seed_bank_b_loans(client: Any, bank: Any, admin: dict[str, str], customer_id: str) -> dict[str, str]:
    """A published product of bank B, a credit line and a loan drawn on it (disbursed)."""
    terms = {
        "currency": "CNY",
        "min_amount_minor": 100_000,
        "max_amount_minor": 1_000_000,
        "min_term_months": 3,
        "max_term_months": 12,
        "allowed_terms": [3, 6, 12],
        "repayment_methods": ["equal-installment"],
        "min_rate": "0.08",
        "max_rate": "0.18",
    }
    r = client.post(
        "/api/v1/products",
        json={"code": "B-LOANS", "name": "乙行消费贷", "name_en": "Bank B loans", "terms": terms},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    r = client.post(f"/api/v1/products/{r.json()['id']}/versions/1/submit", json={}, headers=admin)
    assert r.status_code == 201, r.text
    bank.add_user("b.checker", ("product_manager",))
    checker = bank.login(client, "b.checker")
    r = client.post(f"/api/v1/changes/{r.json()['change_id']}/approve", json={}, headers=checker)
    assert r.status_code == 200, r.text
    r = client.post(
        "/api/v1/credit-lines",
        json={
            "customer_id": customer_id,
            "product_code": "B-LOANS",
            "limit_minor": 1_000_000,
            "expires_on": (bank.container.clock.today() + timedelta(days=365)).isoformat(),
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    credit_line_id = r.json()["id"]
    r = client.post(
        "/api/v1/loans",
        json={
            "customer_id": customer_id,
            "product_code": "B-LOANS",
            "amount_minor": 500_000,
            "term": 6,
            "method": "equal-installment",
            "annual_rate": "0.12",
            "credit_line_id": credit_line_id,
        },
        headers={**admin, "Idempotency-Key": "b-loan-1"},
    )
    assert r.status_code == 201, r.text
    loan_id = r.json()["id"]
    r = client.post(
        f"/api/v1/loans/{loan_id}/disburse", json={}, headers={**admin, "Idempotency-Key": "b-pay-1"}
    )
    assert r.status_code == 201, r.text
    return {"credit_line_id": credit_line_id, "loan_id": loan_id}


def _seed_bank_b_repayment(client: Any, admin: dict[str, str], loan_id: str) -> str:
    """A repayment of bank B's loan (nothing is due yet: it is held as a credit balance)."""
    r = client.post(
        f"/api/v1/loans/{loan_id}/repayments",
        json={"amount_minor": 1_000, "currency": "CNY"},
        headers={**admin, "Idempotency-Key": "b-repay-1"},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def _example_body(spec: dict[str, Any], operation: dict[str, Any]) -> Any:
    body = operation.get("requestBody")
    if not body:
        return None
    schema = _resolve(spec, body["content"]["application/json"]["schema"])
    examples = schema.get("examples")
    if examples:
        return examples[0]
    # Bodies without an example: every field optional (e.g. a decision note).
    assert not schema.get("required"), f"request schema {schema.get('title')} needs an example"
    return {}


def test_bank_a_gets_404_for_every_object_of_bank_b(client, make_bank, tmp_path):
    bank_a, bank_b = make_bank("A"), make_bank("B")
    b_objects = _seed_bank_b(client, bank_b, tmp_path)
    a_user = bank_a.login(client)
    r = client.post(
        "/api/v1/api-keys", json={"name": "all", "permissions": [p.value for p in Permission]}, headers=a_user
    )
    a_key = {"Authorization": f"Bearer {r.json()['secret']}"}
    spec = client.get("/openapi.json").json()

    checked = 0
    for path, operations in spec["paths"].items():
        params = re.findall(r"{(\w+)}", path)
        if not params:
            continue
        missing = [p for p in params if p not in b_objects]
        assert not missing, f"{path}: seed an object of bank B for {missing}"
        url = path.format(**b_objects)
        for method, operation in operations.items():
            body = _example_body(spec, operation)
            for who, credentials in (("user", a_user), ("api key", a_key)):
                headers = {**credentials, "Idempotency-Key": uuid.uuid4().hex}
                r = client.request(method.upper(), url, json=body, headers=headers)
                if (
                    who == "api key"
                    and r.status_code == 403
                    and r.json()["code"] in {"checker_must_be_user", "permission_denied"}
                    and method != "get"
                ):
                    # Staff-only actions refuse keys before any look-up; nothing of B is revealed.
                    continue
                assert r.status_code == 404, f"{who} {method.upper()} {path}: {r.status_code} {r.text}"
                assert r.json()["code"].endswith("not_found")
                checked += 1
    assert checked >= 10
    # And bank B still sees its own objects (the seeded ids are real).
    b_admin = bank_b.login(client)
    assert (
        client.get(f"/api/v1/accounting/entries/{b_objects['entry_id']}", headers=b_admin).status_code == 200
    )
    assert client.get(f"/api/v1/customers/{b_objects['customer_id']}", headers=b_admin).status_code == 200
