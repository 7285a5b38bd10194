"""The customer registry over the HTTP API: masked responses, blind-index search, stable error codes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select, text

from dipper.persistence.audit import AuditEntry
from dipper.persistence.outbox import OutboxMessage

ID_NUMBER = "110105199003071239"  # valid check digit, born 1990-03-07
ID_NUMBER_X = "31011519920815234X"
NAME = "张三"
PHONE = "13800138000"
CARD = "6222021234567890128"

URL = "/api/v1/customers"


def _register(client: Any, headers: dict[str, str], **fields: Any) -> Any:
    body = {"name": NAME, "id_number": ID_NUMBER, "phone": PHONE, "bank_card": CARD, **fields}
    return client.post(URL, json=body, headers=headers)


def test_register_returns_masked_view(client, bank):
    admin = bank.login(client)
    r = _register(client, admin)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["kind"] == "person" and body["status"] == "active"
    assert body["name_masked"] == "张*"
    assert body["id_number_masked"] == "110***********1239"
    assert body["phone_masked"] == "138****8000"
    assert body["bank_card_masked"] == "622202*********0128"
    for plain in (NAME, ID_NUMBER, PHONE, CARD):
        assert plain not in r.text
    assert set(body) == {
        "id",
        "kind",
        "status",
        "name_masked",
        "id_number_masked",
        "phone_masked",
        "bank_card_masked",
        "created_at",
    }

    got = client.get(f"{URL}/{body['id']}", headers=admin)
    assert got.status_code == 200 and got.json() == body


def test_optional_contact_fields(client, bank):
    admin = bank.login(client)
    r = client.post(URL, json={"name": "Li Na", "id_number": ID_NUMBER_X}, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["phone_masked"] is None and r.json()["bank_card_masked"] is None
    assert r.json()["name_masked"] == "L****"
    assert r.json()["id_number_masked"] == "310***********234X"


def test_duplicate_id_number_in_the_same_bank_is_a_conflict(client, bank, make_bank):
    admin = bank.login(client)
    first = _register(client, admin).json()["id"]
    # The same person, typed differently (spaces, lower-case x is not relevant here): still a duplicate.
    dup = _register(client, admin, id_number="110105 19900307 1239", name="张三丰", phone=None)
    assert dup.status_code == 409
    assert dup.json()["code"] == "customer_exists"
    assert dup.json()["details"] == {"customer_id": first}
    assert ID_NUMBER not in dup.text
    # Another bank may have the same person as its own customer.
    other = make_bank()
    assert _register(client, other.login(client)).status_code == 201


def test_search_by_id_number_and_phone(client, bank):
    admin = bank.login(client)
    first = _register(client, admin).json()["id"]
    second = _register(client, admin, id_number=ID_NUMBER_X, name="李四", bank_card=None).json()["id"]

    r = client.post(f"{URL}/search", json={"id_number": "１１０１０５-19900307-1239"}, headers=admin)
    assert r.status_code == 200, r.text
    assert [c["id"] for c in r.json()["items"]] == [first]
    assert ID_NUMBER not in r.text

    lower_x = client.post(f"{URL}/search", json={"id_number": ID_NUMBER_X.lower()}, headers=admin)
    assert [c["id"] for c in lower_x.json()["items"]] == [second]

    by_phone = client.post(f"{URL}/search", json={"phone": "+86 138 0013 8000"}, headers=admin)
    assert {c["id"] for c in by_phone.json()["items"]} == {first, second}  # phones are shared

    none = client.post(f"{URL}/search", json={"id_number": "440304198511204567"}, headers=admin)
    assert none.status_code == 200 and none.json() == {"items": []}
    garbage = client.post(f"{URL}/search", json={"id_number": "not a number"}, headers=admin)
    assert garbage.status_code == 200 and garbage.json() == {"items": []}


@pytest.mark.parametrize("body", [{}, {"id_number": ID_NUMBER, "phone": PHONE}])
def test_search_needs_exactly_one_key(client, bank, body):
    r = client.post(f"{URL}/search", json=body, headers=bank.login(client))
    assert r.status_code == 422
    assert r.json()["code"] == "invalid_search"
    assert ID_NUMBER not in r.text and PHONE not in r.text


def test_list_is_per_bank_newest_first_and_paged(client, bank, make_bank):
    admin = bank.login(client)
    ids = [
        _register(client, admin, id_number=n, phone=None, bank_card=None).json()["id"]
        for n in (ID_NUMBER, ID_NUMBER_X, "440304198511204567")
    ]
    other = make_bank()
    _register(client, other.login(client))

    page = client.get(URL, headers=admin, params={"limit": 2})
    assert page.status_code == 200
    assert page.json()["total"] == 3
    assert [c["id"] for c in page.json()["items"]] == ids[::-1][:2]
    rest = client.get(URL, headers=admin, params={"limit": 2, "offset": 2}).json()
    assert [c["id"] for c in rest["items"]] == ids[:1]
    assert client.get(URL, headers=admin, params={"limit": 0}).status_code == 422


def test_update_contact(client, bank):
    admin = bank.login(client)
    customer_id = _register(client, admin).json()["id"]
    r = client.put(f"{URL}/{customer_id}/contact", json={"phone": "139-1234-5678"}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["phone_masked"] == "139****5678"
    found = client.post(f"{URL}/search", json={"phone": "13912345678"}, headers=admin).json()["items"]
    assert [c["id"] for c in found] == [customer_id]
    assert client.post(f"{URL}/search", json={"phone": PHONE}, headers=admin).json()["items"] == []

    cleared = client.put(f"{URL}/{customer_id}/contact", json={"phone": None}, headers=admin)
    assert cleared.status_code == 200 and cleared.json()["phone_masked"] is None

    bad = client.put(f"{URL}/{customer_id}/contact", json={"phone": "12345"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_phone"
    missing = client.put(f"{URL}/01ARZ3NDEKTSV4RRFFQ69G5FAV/contact", json={"phone": PHONE}, headers=admin)
    assert missing.status_code == 404 and missing.json()["code"] == "customer_not_found"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"id_number": "110105199003071238"}, "invalid_id_number"),  # wrong check digit
        ({"id_number": "990105199003071232"}, "invalid_id_number"),  # no such region
        ({"id_number": "110105199002301230"}, "invalid_id_number"),  # 30 February
        ({"id_number": "110105201003071239"}, "age_out_of_range"),  # a child (valid check digit)
        ({"id_number": "110105203003071238"}, "invalid_id_number"),  # born in 2030
        ({"id_number": "１１０１０５"}, "invalid_id_number"),
        ({"name": "张"}, "invalid_name"),
        ({"name": "张3"}, "invalid_name"),
        ({"phone": "23800138000"}, "invalid_phone"),
        ({"bank_card": "6222021234567890127"}, "invalid_bank_card"),
        ({"bank_card": "622202123456789"}, "invalid_bank_card"),
        ({"kind": "business"}, "invalid_id_number"),  # a resident ID is not a USCC
    ],
)
def test_bad_input_is_a_422_with_a_stable_code_and_no_echo(client, bank, fields, code):
    r = _register(client, bank.login(client), **fields)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == code
    for value in fields.values():
        if value not in ("business",):
            assert value not in r.text


@pytest.mark.parametrize(
    "body",
    [
        {"name": NAME, "id_number": ID_NUMBER * 4},  # too long for the schema
        {"name": NAME, "id_number": ID_NUMBER, "phone": PHONE * 3},
        {"name": NAME, "id_number": ID_NUMBER, "kind": "13800138000"},
        {"name": ["张三"], "id_number": ID_NUMBER},
        {"id_number": ID_NUMBER},
        {"name": NAME, "id_number": int(ID_NUMBER[:-1])},
    ],
)
def test_schema_errors_do_not_echo_personal_data(client, bank, body):
    r = client.post(URL, json=body, headers=bank.login(client))
    assert r.status_code == 422
    assert r.json()["code"] == "invalid_request"
    for leak in (ID_NUMBER, ID_NUMBER[:-1], PHONE, NAME):
        assert leak not in r.text


def test_malformed_json_is_a_4xx(client, bank):
    headers = {**bank.login(client), "Content-Type": "application/json"}
    truncated = '{"name": "张三", "id_number": 1101051990'.encode()
    r = client.post(URL, content=truncated, headers=headers)
    assert 400 <= r.status_code < 500
    assert "1101051990" not in r.text


def test_permissions(client, bank):
    bank.add_user("viewer", ("read_only",))
    bank.add_user("collector", ("collector",))
    viewer = bank.login(client, "viewer")
    r = _register(client, viewer)
    assert r.status_code == 403 and r.json()["details"] == {"permission": "customers.write"}
    assert client.get(URL, headers=viewer).status_code == 200
    assert client.post(f"{URL}/search", json={"phone": PHONE}, headers=viewer).status_code == 200
    collector = bank.login(client, "collector")
    assert client.get(URL, headers=collector).status_code == 200
    assert client.get(URL).status_code == 401


def test_other_banks_customers_look_absent(client, bank, make_bank):
    mine = _register(client, bank.login(client)).json()["id"]
    other = make_bank().login(client)
    assert client.get(f"{URL}/{mine}", headers=other).json()["code"] == "customer_not_found"
    assert client.get(f"{URL}/{mine}", headers=other).status_code == 404
    assert client.put(f"{URL}/{mine}/contact", json={"phone": PHONE}, headers=other).status_code == 404
    assert client.post(f"{URL}/search", json={"id_number": ID_NUMBER}, headers=other).json() == {"items": []}


def test_audit_and_outbox_hold_no_personal_data(client, bank, container):
    admin = bank.login(client)
    customer_id = _register(client, admin).json()["id"]
    with container.session_factory() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.entity_id == customer_id)).all()
        assert [e.operation for e in entries] == ["create"]
        assert entries[0].entity_type == "identity_customer" and entries[0].after_digest
        messages = s.scalars(
            select(OutboxMessage).where(
                OutboxMessage.tenant_id == bank.tenant_id,
                OutboxMessage.topic == "identity.CustomerRegistered",
            )
        ).all()
        assert [m.payload for m in messages] == [
            {"tenant_id": bank.tenant_id, "customer_id": customer_id, "kind": "person"}
        ]
        row = s.execute(
            text(
                "SELECT name, id_number, phone, bank_card, name_bidx, id_number_bidx FROM identity_customer "
                "WHERE id = :id"
            ),
            {"id": customer_id},
        ).one()
    stored = json.dumps(list(row), ensure_ascii=False)
    for plain in (NAME, ID_NUMBER, ID_NUMBER[:-1], PHONE, CARD):
        assert plain not in stored
    assert all(v.startswith("v1:") for v in row[:4])
