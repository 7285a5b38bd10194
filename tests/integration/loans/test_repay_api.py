"""Servicing over HTTP: every route, its idempotency (201, then 200 on a replay, 409 on a reused
key), stable error codes instead of 500s, and the permissions."""

from __future__ import annotations

import uuid
from datetime import date

from tests.integration.loans.test_repay_support import book_fixture  # noqa: F401

from dipper.kernel.clock import SystemClock
from dipper.loans import queries


def _h(headers: dict[str, str], idem: str | None = None) -> dict[str, str]:
    return {**headers, "Idempotency-Key": idem or uuid.uuid4().hex}


def _login(book, client, username: str = "admin") -> dict[str, str]:
    # Sessions are issued on the container's clock but checked against the wall clock
    # (access.queries.authenticate): sign in on the wall clock, then go back to the business date.
    saved = book.container.clock
    book.container.clock = SystemClock()
    try:
        return book.bank.login(client, username)
    finally:
        book.container.clock = saved


def _due_loan(book) -> tuple[str, object]:
    loan_id = book.open_loan()
    first = book.installments(loan_id)[0]
    book.end_of_day(loan_id, first.due_date)
    book.set_today(first.due_date)
    return loan_id, first


def test_repayment_over_http(client, book):
    loan_id, first = _due_loan(book)
    admin = _login(book, client)
    url = f"/api/v1/loans/{loan_id}/repayments"
    body = {
        "amount_minor": first.principal_minor + first.interest_minor,
        "currency": "CNY",
        "channel_reference": "U-1",
    }

    r = client.post(url, json=body, headers=_h(admin, "pay-1"))
    assert r.status_code == 201, r.text
    t = r.json()
    assert (t["kind"], t["loan_id"], t["value_date"], t["amount_minor"]) == (
        "repayment",
        loan_id,
        first.due_date.isoformat(),
        body["amount_minor"],
    )
    assert t["allocation"]["principal"] == first.principal_minor and t["journal_entry_id"]
    again = client.post(url, json=body, headers=_h(admin, "pay-1"))
    assert again.status_code == 200 and again.json()["id"] == t["id"]
    reused = client.post(url, json={**body, "amount_minor": 1}, headers=_h(admin, "pay-1"))
    assert (reused.status_code, reused.json()["code"]) == (409, "idempotency_key_reused")
    missing = client.post(url, json=body, headers=admin)
    assert (missing.status_code, missing.json()["code"]) == (400, "idempotency_key_required")
    spaced = client.post(url, json=body, headers={**admin, "Idempotency-Key": "a b"})
    assert (spaced.status_code, spaced.json()["code"]) == (400, "invalid_idempotency_key")
    for bad in (
        {**body, "amount_minor": 1.5},
        {**body, "amount_minor": "100"},
        {**body, "amount_minor": 0},
        {**body, "currency": "cny"},
        {**body, "value_date": "2026-02-30"},
        {**body, "extra": 1},
    ):
        r = client.post(url, json=bad, headers=_h(admin))
        assert r.status_code == 422, (bad, r.text)
    future = client.post(url, json={**body, "value_date": "2030-01-01"}, headers=_h(admin))
    assert (future.status_code, future.json()["code"]) == (422, "value_date_in_future")
    listed = client.get(url, headers=admin)
    assert listed.status_code == 200 and [x["id"] for x in listed.json()] == [t["id"]]
    assert client.get("/api/v1/loans/nope/repayments", headers=admin).json()["code"] == "loan_not_found"
    book.reconcile()


def test_every_servicing_route_over_http(client, book):
    loan_id, first = _due_loan(book)
    admin = _login(book, client)
    paid = client.post(
        f"/api/v1/loans/{loan_id}/repayments",
        json={"amount_minor": 5_000, "currency": "CNY"},
        headers=_h(admin),
    ).json()
    r = client.post(
        f"/api/v1/repayments/{paid['id']}/reverse", json={"reason": "duplicate"}, headers=_h(admin)
    )
    assert r.status_code == 201, r.text
    assert (r.json()["kind"], r.json()["reverses_id"]) == ("reversal", paid["id"])
    r = client.post(f"/api/v1/repayments/{paid['id']}/reverse", json={"reason": "again"}, headers=_h(admin))
    assert (r.status_code, r.json()["code"]) == (409, "already_reversed")

    book.repay(loan_id, first.principal_minor + first.interest_minor)
    book.set_today(date(2026, 2, 20))
    r = client.get(f"/api/v1/loans/{loan_id}/payoff-quote", headers=admin)
    assert r.status_code == 200, r.text
    quote = r.json()
    assert quote["total_minor"] == quote["principal_not_due_minor"] + quote["interest_to_date_minor"]
    r = client.post(
        f"/api/v1/loans/{loan_id}/prepayments",
        json={"amount_minor": 300_000, "mode": "lower-installment"},
        headers=_h(admin),
    )
    assert r.status_code == 201, r.text
    assert r.json()["allocation"]["mode"] == "lower-installment"
    r = client.post(
        f"/api/v1/loans/{loan_id}/reschedule",
        json={"new_term": 20, "new_rate": "0.065", "reason": "展期"},
        headers=_h(admin),
    )
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "reschedule"
    bad_rate = client.post(
        f"/api/v1/loans/{loan_id}/reschedule",
        json={"new_term": 20, "new_rate": "1.5", "reason": "x"},
        headers=_h(admin),
    )
    assert bad_rate.status_code == 422
    r = client.post(f"/api/v1/loans/{loan_id}/write-off", json={"reason": "核销"}, headers=_h(admin))
    assert r.status_code == 201, r.text
    written = r.json()["amount_minor"]
    r = client.post(
        f"/api/v1/loans/{loan_id}/recoveries",
        json={"amount_minor": 1_000, "currency": "CNY"},
        headers=_h(admin),
    )
    assert r.status_code == 201, r.text
    assert book.loan(loan_id).written_off_minor == written - 1_000
    r = client.post(f"/api/v1/loans/{loan_id}/prepayments", json={"full": True}, headers=_h(admin))
    assert (r.status_code, r.json()["code"]) == (409, "loan_written_off")
    kinds = [t.kind for t in queries.list_servicing_transactions(book.uow(), loan_id)]
    assert kinds == [
        "repayment",
        "reversal",
        "repayment",
        "prepayment",
        "reschedule",
        "write_off",
        "recovery",
    ]
    book.reconcile()


def test_servicing_needs_loans_service(client, book):
    loan_id, _ = _due_loan(book)
    book.bank.add_user("auditor1", ("auditor",))
    auditor = _login(book, client, "auditor1")
    r = client.post(
        f"/api/v1/loans/{loan_id}/repayments",
        json={"amount_minor": 100, "currency": "CNY"},
        headers=_h(auditor),
    )
    assert r.status_code == 403
    assert client.get(f"/api/v1/loans/{loan_id}/repayments", headers=auditor).status_code == 200
    assert book.loan(loan_id).credit_balance_minor == 0
