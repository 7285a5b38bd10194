"""The accounting HTTP API: chart, posting with Idempotency-Key, reversal, balances, input validation."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dipper.access import commands as access_commands
from dipper.kernel.ids import new_id

API = "/api/v1/accounting"

ENTRY = {
    "value_date": "2026-03-31",
    "description": "放款 L-0001",
    "lines": [
        {"account_code": "1303", "currency": "CNY", "debit_minor": 1_000_000, "memo": "principal"},
        {"account_code": "1002", "currency": "CNY", "credit_minor": 1_000_000},
    ],
}


@pytest.fixture
def admin(client: Any, bank: Any) -> dict[str, str]:
    return bank.login(client)


@pytest.fixture(scope="module")
def refusals(container: Any) -> Iterator[tuple[Any, dict[str, str]]]:
    """One bank for the many tests of refused input: every one of them must leave it empty."""
    from dipper.entrypoints.http.app import create_app

    tenant_id, code, password = new_id(), f"r{uuid.uuid4().hex[:12]}", "Adm1n-password!"
    container.handle(access_commands.CreateTenant(tenant_id=tenant_id, code=code, name="Refusals"))
    container.handle(
        access_commands.CreateUser(
            tenant_id=tenant_id, username="admin", display_name="Admin", password=password, roles=("admin",)
        )
    )
    with TestClient(create_app(container)) as c:
        r = c.post("/api/v1/auth/login", json={"tenant": code, "username": "admin", "password": password})
        c.cookies.clear()
        yield c, {"Authorization": f"Bearer {r.json()['token']}"}


def post_entry(
    client: Any, headers: dict[str, str], key: str | None, body: dict[str, Any] | None = None
) -> Any:
    h = dict(headers)
    if key is not None:
        h["Idempotency-Key"] = key
    return client.post(f"{API}/entries", json=ENTRY if body is None else body, headers=h)


def entry_total(client: Any, headers: dict[str, str]) -> int:
    r = client.get(f"{API}/entries", headers=headers)
    assert r.status_code == 200, r.text
    return int(r.json()["total"])


# -- chart of accounts ------------------------------------------------------------------------


def test_a_new_bank_has_the_default_chart(client: Any, admin: dict[str, str]) -> None:
    r = client.get(f"{API}/accounts", headers=admin)
    assert r.status_code == 200
    accounts = {a["code"]: a for a in r.json()}
    for code in (
        "1001",
        "1002",
        "1132",
        "1133",
        "1303",
        "1304",
        "2242",
        "3001",
        "4001",
        "6011",
        "6702",
        "7001",
    ):
        assert code in accounts
    assert accounts["1304"]["normal_balance"] == "credit" and accounts["1304"]["account_type"] == "asset"
    assert accounts["1303"]["is_control"] is True and accounts["1001"]["is_control"] is False
    assert accounts["1303"]["name"] == "贷款"
    r = client.get(f"{API}/accounts/6011", headers=admin)
    assert r.status_code == 200 and r.json()["name_en"] == "Interest income"
    r = client.get(f"{API}/accounts/9999", headers=admin)
    assert (r.status_code, r.json()["code"]) == (404, "account_not_found")


def test_opening_a_sub_account(client: Any, admin: dict[str, str]) -> None:
    body = {
        "code": "130301",
        "name": "贷款-消费贷款",
        "name_en": "Loans - consumer",
        "account_type": "asset",
        "parent_code": "1303",
        "is_control": True,
    }
    r = client.post(f"{API}/accounts", json=body, headers=admin)
    assert r.status_code == 201, r.text
    assert (r.json()["normal_balance"], r.json()["parent_code"], r.json()["status"]) == (
        "debit",
        "1303",
        "active",
    )
    r = client.post(f"{API}/accounts", json=body, headers=admin)
    assert (r.status_code, r.json()["code"]) == (409, "account_exists")
    r = client.post(f"{API}/accounts", json={**body, "code": "130401"}, headers=admin)
    assert (r.status_code, r.json()["code"]) == (422, "invalid_account_code")
    r = client.post(f"{API}/accounts", json={**body, "code": "139901", "parent_code": "1399"}, headers=admin)
    assert (r.status_code, r.json()["code"]) == (422, "unknown_parent_account")
    contra = {
        "code": "1399",
        "name": "测试备抵",
        "name_en": "Test contra",
        "account_type": "asset",
        "contra": True,
    }
    r = client.post(f"{API}/accounts", json=contra, headers=admin)
    assert r.status_code == 201 and r.json()["normal_balance"] == "credit"


@pytest.mark.parametrize(
    "patch",
    [
        {"code": "13"},
        {"code": "abcd"},
        {"account_type": "memo"},
        {"name": ""},
        {"name_en": "x" * 201},
        {"unknown": 1},
    ],
)
def test_bad_account_input_is_a_422(refusals: Any, patch: dict[str, Any]) -> None:
    client, admin = refusals
    body = {"code": "1398", "name": "n", "name_en": "n", "account_type": "asset", **patch}
    r = client.post(f"{API}/accounts", json=body, headers=admin)
    assert (r.status_code, r.json()["code"]) == (422, "invalid_request")


# -- posting ------------------------------------------------------------------------


def test_post_then_replay_then_reuse(client: Any, admin: dict[str, str]) -> None:
    first = post_entry(client, admin, "disb-0001")
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["client_key"] == "disb-0001" and body["value_date"] == "2026-03-31"
    assert [(x["account_code"], x["debit_minor"], x["credit_minor"]) for x in body["lines"]] == [
        ("1303", 1_000_000, 0),
        ("1002", 0, 1_000_000),
    ]
    replay = post_entry(client, admin, "disb-0001")
    assert replay.status_code == 200 and replay.json() == body
    other = copy.deepcopy(ENTRY)
    other["lines"][0]["debit_minor"] = other["lines"][1]["credit_minor"] = 999
    reused = post_entry(client, admin, "disb-0001", other)
    assert (reused.status_code, reused.json()["code"]) == (409, "idempotency_key_reused")
    assert client.get(f"{API}/entries/{body['id']}", headers=admin).json() == body
    assert entry_total(client, admin) == 1


@pytest.mark.parametrize(
    ("key", "code"),
    [
        (None, "idempotency_key_required"),
        ("", "idempotency_key_required"),
        ("has space", "invalid_idempotency_key"),
        ("k" * 129, "invalid_idempotency_key"),
    ],
)
def test_posting_needs_an_idempotency_key(refusals: Any, key: str | None, code: str) -> None:
    client, admin = refusals
    r = post_entry(client, admin, key)
    assert (r.status_code, r.json()["code"]) == (400, code)
    assert entry_total(client, admin) == 0


def test_unbalanced_entry_is_a_422_with_totals_and_writes_nothing(client: Any, admin: dict[str, str]) -> None:
    body = copy.deepcopy(ENTRY)
    body["lines"].append({"account_code": "1002", "currency": "USD", "debit_minor": 10})
    body["lines"].append({"account_code": "2011", "currency": "USD", "credit_minor": 11})
    r = post_entry(client, admin, "unbalanced-1", body)
    assert r.status_code == 422 and r.json()["code"] == "unbalanced_entry"
    assert r.json()["details"]["totals"]["USD"] == {"debit_minor": 10, "credit_minor": 11}
    assert entry_total(client, admin) == 0


def _line_patch(field: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(ENTRY)
    body["lines"][0][field] = value
    return body


def _entry_patch(field: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(ENTRY)
    body[field] = value
    return body


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (_line_patch("debit_minor", 1_000_000.0), "invalid_request"),  # float, even a whole one
        (_line_patch("debit_minor", "1000000"), "invalid_request"),  # string
        (_line_patch("debit_minor", True), "invalid_request"),
        (_line_patch("debit_minor", -5), "invalid_request"),
        (_line_patch("debit_minor", 10**15 + 1), "invalid_request"),
        (_line_patch("debit_minor", 0), "invalid_line"),  # zero line
        (_line_patch("credit_minor", 5), "invalid_line"),  # both sides
        (_line_patch("currency", "cny"), "invalid_request"),
        (_line_patch("account_code", "13O3"), "invalid_request"),
        (_line_patch("account_code", "1999"), "unknown_account"),
        (_line_patch("memo", "m" * 201), "invalid_request"),
        (_line_patch("extra", 1), "invalid_request"),
        (_entry_patch("value_date", "2026-02-30"), "invalid_request"),
        (_entry_patch("value_date", "31/03/2026"), "invalid_request"),
        (_entry_patch("description", ""), "invalid_request"),
        (_entry_patch("description", "   "), "invalid_description"),
        (_entry_patch("description", "d" * 501), "invalid_request"),
        (_entry_patch("source", "Bad Source"), "invalid_request"),
        (_entry_patch("lines", ENTRY["lines"][:1]), "invalid_request"),
        (_entry_patch("lines", "not a list"), "invalid_request"),
    ],
)
def test_bad_entries_are_4xx_with_a_stable_code(refusals: Any, body: Any, code: str) -> None:
    client, admin = refusals
    r = post_entry(client, admin, "bad-1", body)
    assert 400 <= r.status_code < 500 and r.json()["code"] == code, r.text
    assert entry_total(client, admin) == 0


def test_malformed_json_is_a_4xx(refusals: Any) -> None:
    client, admin = refusals
    r = client.post(
        f"{API}/entries",
        content=b"{not json",
        headers={**admin, "Idempotency-Key": "j-1", "Content-Type": "application/json"},
    )
    assert 400 <= r.status_code < 500 and r.json()["code"]


# -- reversal ------------------------------------------------------------------------


def test_reverse_once_replay_and_no_reversal_of_a_reversal(client: Any, admin: dict[str, str]) -> None:
    entry = post_entry(client, admin, "disb-rev").json()
    url = f"{API}/entries/{entry['id']}/reverse"
    r = client.post(url, json={"reason": "错账"}, headers=admin)
    assert (r.status_code, r.json()["code"]) == (400, "idempotency_key_required")
    rev = client.post(
        url,
        json={"reason": "错账", "value_date": "2026-04-01"},
        headers={**admin, "Idempotency-Key": "rev-1"},
    )
    assert rev.status_code == 201, rev.text
    assert rev.json()["reversal_of"] == entry["id"] and rev.json()["value_date"] == "2026-04-01"
    assert [(x["debit_minor"], x["credit_minor"]) for x in rev.json()["lines"]] == [
        (0, 1_000_000),
        (1_000_000, 0),
    ]
    again = client.post(
        url,
        json={"reason": "错账", "value_date": "2026-04-01"},
        headers={**admin, "Idempotency-Key": "rev-1"},
    )
    assert again.status_code == 200 and again.json() == rev.json()
    twice = client.post(url, json={"reason": "again"}, headers={**admin, "Idempotency-Key": "rev-2"})
    assert (twice.status_code, twice.json()["code"]) == (409, "already_reversed")
    back = client.post(
        f"{API}/entries/{rev.json()['id']}/reverse",
        json={"reason": "undo"},
        headers={**admin, "Idempotency-Key": "rev-3"},
    )
    assert (back.status_code, back.json()["code"]) == (409, "cannot_reverse_reversal")
    assert client.get(f"{API}/entries/{entry['id']}", headers=admin).json()["reversed_by"] == rev.json()["id"]
    assert entry_total(client, admin) == 2
    missing = client.post(
        f"{API}/entries/01HZZZZZZZZZZZZZZZZZZZZZZZ/reverse",
        json={"reason": "x"},
        headers={**admin, "Idempotency-Key": "rev-4"},
    )
    assert (missing.status_code, missing.json()["code"]) == (404, "entry_not_found")
    bad = client.post(url, json={"reason": ""}, headers={**admin, "Idempotency-Key": "rev-5"})
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_request")


# -- balances ------------------------------------------------------------------------


def test_trial_balance_balance_and_ledger(client: Any, admin: dict[str, str]) -> None:
    post_entry(client, admin, "tb-1")
    usd = {
        "value_date": "2026-04-02",
        "description": "USD deposit",
        "lines": [
            {"account_code": "1002", "currency": "USD", "debit_minor": 500},
            {"account_code": "2011", "currency": "USD", "credit_minor": 500},
        ],
    }
    assert post_entry(client, admin, "tb-2", usd).status_code == 201

    before = client.get(f"{API}/trial-balance", params={"as_of": "2026-03-30"}, headers=admin).json()
    assert before["lines"] == [] and before["balanced"] is True
    tb = client.get(f"{API}/trial-balance", params={"as_of": "2026-04-02"}, headers=admin).json()
    assert tb["balanced"] is True
    assert tb["totals"] == [
        {"currency": "CNY", "debit_minor": 1_000_000, "credit_minor": 1_000_000},
        {"currency": "USD", "debit_minor": 500, "credit_minor": 500},
    ]
    loans = next(x for x in tb["lines"] if x["account_code"] == "1303")
    assert (loans["balance_minor"], loans["normal_balance"], loans["account_name"]) == (
        1_000_000,
        "debit",
        "贷款",
    )
    only_usd = client.get(
        f"{API}/trial-balance", params={"as_of": "2026-04-02", "currency": "USD"}, headers=admin
    )
    assert {x["currency"] for x in only_usd.json()["lines"]} == {"USD"}

    bal = client.get(
        f"{API}/accounts/2011/balance", params={"as_of": "2026-04-02", "currency": "USD"}, headers=admin
    ).json()
    assert (bal["balance_minor"], bal["normal_balance"]) == (500, "credit")
    early = client.get(
        f"{API}/accounts/2011/balance", params={"as_of": "2026-04-01", "currency": "USD"}, headers=admin
    ).json()
    assert early["balance_minor"] == 0

    ledger = client.get(f"{API}/accounts/1002/ledger", params={"currency": "CNY"}, headers=admin).json()
    assert [(x["credit_minor"], x["balance_minor"]) for x in ledger["lines"]] == [(1_000_000, -1_000_000)]
    assert ledger["closing_balance_minor"] == -1_000_000
    listed = client.get(f"{API}/entries", params={"account_code": "2011"}, headers=admin).json()
    assert [e["client_key"] for e in listed["entries"]] == ["tb-2"]


@pytest.mark.parametrize(
    "url",
    [
        f"{API}/trial-balance?as_of=2026-02-30",
        f"{API}/trial-balance?as_of=yesterday",
        f"{API}/trial-balance?currency=usd",
        f"{API}/entries?limit=0",
        f"{API}/entries?limit=100000",
        f"{API}/entries?offset=-1",
        f"{API}/entries?account_code=abc",
        f"{API}/accounts/1002/balance?currency=RMB1",
        f"{API}/accounts/1002/ledger?limit=0",
        f"{API}/accounts/1002/ledger?since=2026-04-02&until=2026-04-01",
    ],
)
def test_bad_query_parameters_are_4xx(refusals: Any, url: str) -> None:
    client, admin = refusals
    r = client.get(url, headers=admin)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["code"] in {"invalid_request", "invalid_date_range"}


# -- permissions and documentation ------------------------------------------------------------------------


def test_permissions(client: Any, bank: Any) -> None:
    bank.add_user("auditor1", ("auditor",))
    bank.add_user("ops1", ("operations",))
    auditor, ops = bank.login(client, "auditor1"), bank.login(client, "ops1")
    assert client.get(f"{API}/trial-balance", headers=auditor).status_code == 200
    r = post_entry(client, auditor, "perm-1")
    assert (r.status_code, r.json()["code"]) == (403, "permission_denied")
    entry = post_entry(client, ops, "perm-2")
    assert entry.status_code == 201
    r = client.post(
        f"{API}/accounts",
        json={"code": "1397", "name": "n", "name_en": "n", "account_type": "asset"},
        headers=ops,
    )
    assert r.status_code == 403
    r = client.post(
        f"{API}/entries/{entry.json()['id']}/reverse",
        json={"reason": "x"},
        headers={**auditor, "Idempotency-Key": "perm-3"},
    )
    assert r.status_code == 403
    assert client.get(f"{API}/accounts").status_code == 401


def test_every_request_body_has_an_example(app: Any) -> None:
    schemas = app.openapi()["components"]["schemas"]
    for name in ("AccountIn", "EntryIn", "ReverseIn"):
        assert schemas[name].get("examples"), name
    post_op = app.openapi()["paths"][f"{API}/entries"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in post_op["parameters"])
