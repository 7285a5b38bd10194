"""One bank never sees or touches another bank's ledger: its objects answer 404."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from dipper.accounting import commands, queries
from dipper.kernel.errors import NotFound

API = "/api/v1/accounting"
D = date(2026, 3, 31)


def test_bank_b_cannot_see_or_reverse_bank_a_entries_or_accounts(client: Any, make_bank: Any) -> None:
    a, b = make_bank("Bank A"), make_bank("Bank B")
    ha, hb = a.login(client), b.login(client)
    r = client.post(
        f"{API}/accounts",
        json={"code": "1399", "name": "A专用", "name_en": "A only", "account_type": "asset"},
        headers=ha,
    )
    assert r.status_code == 201
    entry = client.post(
        f"{API}/entries",
        headers={**ha, "Idempotency-Key": "a-1"},
        json={
            "value_date": "2026-03-31",
            "description": "A's entry",
            "lines": [
                {"account_code": "1399", "currency": "CNY", "debit_minor": 777},
                {"account_code": "1002", "currency": "CNY", "credit_minor": 777},
            ],
        },
    ).json()

    assert client.get(f"{API}/entries/{entry['id']}", headers=ha).status_code == 200
    r = client.get(f"{API}/entries/{entry['id']}", headers=hb)
    assert (r.status_code, r.json()["code"]) == (404, "entry_not_found")
    r = client.post(
        f"{API}/entries/{entry['id']}/reverse", json={"reason": "x"}, headers={**hb, "Idempotency-Key": "b-1"}
    )
    assert (r.status_code, r.json()["code"]) == (404, "entry_not_found")
    for url in (
        f"{API}/accounts/1399",
        f"{API}/accounts/1399/balance",
        f"{API}/accounts/1399/ledger",
        f"{API}/entries?account_code=1399",
    ):
        r = client.get(url, headers=hb)
        assert (r.status_code, r.json()["code"]) == (404, "account_not_found"), url
    assert "1399" not in {x["code"] for x in client.get(f"{API}/accounts", headers=hb).json()}

    # B cannot post to A's account either: for B it does not exist.
    r = client.post(
        f"{API}/entries",
        headers={**hb, "Idempotency-Key": "b-2"},
        json={
            "value_date": "2026-03-31",
            "description": "B tries",
            "lines": [
                {"account_code": "1399", "currency": "CNY", "debit_minor": 1},
                {"account_code": "1002", "currency": "CNY", "credit_minor": 1},
            ],
        },
    )
    assert (r.status_code, r.json()["code"]) == (422, "unknown_account")

    tb_b = client.get(f"{API}/trial-balance", params={"as_of": "2026-12-31"}, headers=hb).json()
    assert tb_b["lines"] == [] and tb_b["totals"] == []
    assert client.get(f"{API}/entries", headers=hb).json()["total"] == 0
    ledger_b = client.get(f"{API}/accounts/1002/ledger", headers=hb).json()
    assert ledger_b["lines"] == [] and ledger_b["closing_balance_minor"] == 0
    # ... while A sees its own figures.
    tb_a = client.get(f"{API}/trial-balance", params={"as_of": "2026-12-31"}, headers=ha).json()
    assert {x["account_code"]: x["balance_minor"] for x in tb_a["lines"]} == {"1002": -777, "1399": 777}


def test_queries_are_scoped_to_the_unit_of_work_bank(make_bank: Any) -> None:
    a, b = make_bank("Bank A"), make_bank("Bank B")
    result = a.container.handle(
        commands.PostJournalEntry(
            tenant_id=a.tenant_id,
            client_key="k",
            value_date=D,
            description="A",
            lines=(
                commands.PostingLine(account_code="1001", currency="CNY", debit_minor=5),
                commands.PostingLine(account_code="4001", currency="CNY", credit_minor=5),
            ),
        ),
        tenant_id=a.tenant_id,
    )
    ub = b.container.uow(b.tenant_id)
    with pytest.raises(NotFound):
        queries.get_entry(ub, result.entry_id)
    assert queries.account_balance(ub, "1001", D, "CNY") == 0
    assert queries.trial_balance(ub, D).lines == []
    assert queries.find_entry_by_client_key(ub, "k") is None
    assert queries.find_entry_by_client_key(a.container.uow(a.tenant_id), "k") is not None
    assert queries.account_balance(a.container.uow(a.tenant_id), "1001", D, "CNY") == 5
