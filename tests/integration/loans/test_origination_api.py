"""Origination over HTTP: lines, offers, loans, disbursement and reconciliation, with permissions,
idempotency keys and stable error codes."""

from __future__ import annotations

from tests.integration.loans.test_origination_flow import make_lender


def _offer_body(lender, **overrides):
    body = {
        "customer_id": lender.customer_id,
        "product_code": lender.product_code,
        "amount_minor": 1_000_000,
        "term": 12,
        "method": "equal-installment",
        "annual_rate": "0.072",
    }
    return {**body, **overrides}


def test_lines_offers_loans_and_disbursement_over_http(client, bank):
    lender = make_lender(bank, upfront_fee_kind="fixed", upfront_fee_minor=1_000)
    bank.add_user("ops", ("operations",))
    ops = bank.login(client, "ops")

    r = client.post(
        "/api/v1/credit-lines",
        json={
            "customer_id": lender.customer_id,
            "product_code": lender.product_code,
            "limit_minor": 3_000_000,
            "expires_on": (lender.today.replace(year=lender.today.year + 1)).isoformat(),
            "reason": "授信",
        },
        headers=ops,
    )
    assert r.status_code == 201, r.text
    line = r.json()
    assert line["available_minor"] == 3_000_000
    line_id = line["id"]
    r = client.post(
        f"/api/v1/credit-lines/{line_id}/limit",
        json={"limit_minor": 2_000_000, "reason": "降额"},
        headers=ops,
    )
    assert r.status_code == 200 and r.json()["limit_minor"] == 2_000_000
    r = client.post(f"/api/v1/credit-lines/{line_id}/freeze", json={"reason": "核查"}, headers=ops)
    assert r.json()["status"] == "frozen"
    r = client.post(f"/api/v1/credit-lines/{line_id}/unfreeze", json={"reason": "核查完毕"}, headers=ops)
    assert r.json()["status"] == "active"
    r = client.get("/api/v1/credit-lines", params={"customer_id": lender.customer_id}, headers=ops)
    assert r.json()["total"] == 1

    r = client.post("/api/v1/offers", json=_offer_body(lender), headers=ops)
    assert r.status_code == 200, r.text
    offer = r.json()
    assert offer["apr"] and len(offer["installments"]) == 12 and offer["paid_out_minor"] == 999_000

    body = {**_offer_body(lender), "credit_line_id": line_id, "offer_digest": offer["offer_digest"]}
    r = client.post("/api/v1/loans", json=body, headers=ops)
    assert (r.status_code, r.json()["code"]) == (400, "idempotency_key_required")
    r = client.post("/api/v1/loans", json=body, headers={**ops, "Idempotency-Key": "http-loan-1"})
    assert r.status_code == 201, r.text
    loan = r.json()
    assert loan["status"] == "pending" and loan["apr"] == offer["apr"]
    r = client.post("/api/v1/loans", json=body, headers={**ops, "Idempotency-Key": "http-loan-1"})
    assert r.status_code == 201 and r.json()["id"] == loan["id"]
    r = client.post(
        "/api/v1/loans",
        json={**body, "amount_minor": 1_000_001},
        headers={**ops, "Idempotency-Key": "http-loan-1"},
    )
    assert (r.status_code, r.json()["code"]) == (409, "idempotency_key_reused")
    assert client.get(f"/api/v1/credit-lines/{line_id}", headers=ops).json()["available_minor"] == 1_000_000

    url = f"/api/v1/loans/{loan['id']}/disburse"
    r = client.post(url, json={"to": "borrower"}, headers={**ops, "Idempotency-Key": "http-pay-1"})
    assert r.status_code == 201, r.text
    paid = r.json()
    assert (paid["principal_minor"], paid["fee_minor"], paid["paid_out_minor"]) == (1_000_000, 1_000, 999_000)
    r = client.post(url, json={"to": "borrower"}, headers={**ops, "Idempotency-Key": "http-pay-1"})
    assert r.status_code == 200 and r.json()["transaction_id"] == paid["transaction_id"]

    got = client.get(f"/api/v1/loans/{loan['id']}", headers=ops).json()
    assert got["status"] == "active" and got["principal_outstanding_minor"] == 1_000_000 and got["apr"]
    schedule = client.get(f"/api/v1/loans/{loan['id']}/schedule", headers=ops).json()
    assert schedule["apr"] == offer["apr"] and len(schedule["installments"]) == 12
    txns = client.get(f"/api/v1/loans/{loan['id']}/transactions", headers=ops).json()
    assert [t["kind"] for t in txns] == ["disbursement"]
    r = client.get(
        "/api/v1/loans", params={"status": "active", "customer_id": lender.customer_id}, headers=ops
    )
    assert [x["id"] for x in r.json()["loans"]] == [loan["id"]]
    rec = client.get("/api/v1/loans/reconciliation", headers=ops).json()
    assert rec["balanced"] is True and rec["currency"] == "CNY"
    r = client.post(f"/api/v1/loans/{loan['id']}/close", headers=ops)
    assert (r.status_code, r.json()["code"]) == (409, "loan_not_settled")


def test_bad_input_is_a_4xx_with_a_code(client, bank):
    lender = make_lender(bank, upfront_fee_kind="rate", upfront_fee_rate="0.05")
    admin = bank.login(client)
    r = client.post("/api/v1/offers", json=_offer_body(lender, term=3), headers=admin)
    assert (r.status_code, r.json()["code"]) == (422, "apr_above_ceiling")
    r = client.post("/api/v1/offers", json=_offer_body(lender, annual_rate=0.072), headers=admin)
    assert r.status_code == 422  # a float rate is refused before anything is priced
    r = client.post("/api/v1/offers", json=_offer_body(lender, amount_minor="1000000"), headers=admin)
    assert r.status_code == 422
    r = client.post("/api/v1/offers", json=_offer_body(lender, start="9999-12-31"), headers=admin)
    assert (r.status_code, r.json()["code"]) == (422, "invalid_start_date")
    r = client.post(
        "/api/v1/offers", json=_offer_body(lender, term=12, first_due="2000-01-01"), headers=admin
    )
    assert (r.status_code, r.json()["code"]) == (422, "invalid_first_due")
    r = client.get("/api/v1/loans/01JD0000000000000000000000", headers=admin)
    assert (r.status_code, r.json()["code"]) == (404, "loan_not_found")
    r = client.post(
        "/api/v1/loans/01JD0000000000000000000000/disburse",
        json={"to": "merchant"},
        headers={**admin, "Idempotency-Key": "k1"},
    )
    assert (r.status_code, r.json()["code"]) == (422, "invalid_merchant_id")


def test_permissions(client, bank):
    lender = make_lender(bank)
    bank.add_user("auditor1", ("auditor",))
    auditor = bank.login(client, "auditor1")
    assert client.get("/api/v1/loans", headers=auditor).status_code == 200
    assert client.get("/api/v1/credit-lines", headers=auditor).status_code == 200
    r = client.post("/api/v1/offers", json=_offer_body(lender), headers=auditor)
    assert r.status_code == 403
    r = client.post("/api/v1/loans", json=_offer_body(lender), headers={**auditor, "Idempotency-Key": "a1"})
    assert r.status_code == 403
