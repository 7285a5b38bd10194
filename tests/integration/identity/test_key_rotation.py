"""Encryption at rest: round trip, key rotation with ``reencrypt``, and tamper detection."""

from __future__ import annotations

import base64
import dataclasses
import os
from collections.abc import Iterator

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import Text, select, type_coerce, update
from stdnum.cn import ric

from dipper.identity import commands
from dipper.identity import queries as identity
from dipper.identity.adapters import ENCRYPTED_COLUMNS, Customer
from dipper.persistence import crypto
from dipper.persistence.rotation import RotationError, reencrypt

NEW_KEY = "k2026"


def make_id(seq: int) -> str:
    body = f"11010519900307{seq:03d}"
    return body + ric.calc_check_digit(body + "0")


@pytest.fixture
def keyring_restored() -> Iterator[crypto.Keyring]:
    saved = crypto.keyring()
    try:
        yield saved
    finally:
        crypto.configure(saved)


def _use(ring: crypto.Keyring, active: str, **extra: bytes) -> None:
    crypto.configure(dataclasses.replace(ring, keys={**ring.keys, **extra}, active_key_id=active))


def _raw(container, tenant_id: str) -> dict[str, tuple[str | None, ...]]:
    cols = [type_coerce(getattr(Customer, c), Text) for c in ENCRYPTED_COLUMNS]
    with container.session_factory() as s:
        rows = s.execute(select(Customer.id, *cols).where(Customer.tenant_id == tenant_id)).all()
    return {r[0]: tuple(r[1:]) for r in rows}


def _key_ids(raw: dict[str, tuple[str | None, ...]]) -> set[str]:
    return {crypto.key_id_of(v) for values in raw.values() for v in values if v is not None}


def _register(container, bank, seq: int, phone: str | None) -> str:
    return container.handle(
        commands.RegisterCustomer(
            tenant_id=bank.tenant_id,
            name=f"测试{'甲乙丙丁戊己'[seq % 6]}",
            id_number=make_id(seq),
            phone=phone,
            bank_card="6222021234567890128" if seq % 2 else None,
        )
    )


def test_rotation_keeps_old_rows_readable_and_reencrypt_moves_them(container, bank, keyring_restored):
    old_ring = keyring_restored
    old = old_ring.active_key_id
    mine = Customer.tenant_id == bank.tenant_id
    ids = [_register(container, bank, seq, None if seq == 3 else f"1391234{seq:04d}") for seq in range(1, 6)]
    before = {i: identity.get_customer(container.uow(bank.tenant_id), i, reveal=True) for i in ids}
    assert _key_ids(_raw(container, bank.tenant_id)) == {old}

    # A new key becomes active; the old one stays in the ring for reading.
    _use(old_ring, NEW_KEY, **{NEW_KEY: os.urandom(32)})
    for i in ids:
        assert identity.get_customer(container.uow(bank.tenant_id), i, reveal=True) == before[i]
    newest = _register(container, bank, 9, "13800138000")
    assert set(_key_ids({newest: _raw(container, bank.tenant_id)[newest]})) == {NEW_KEY}

    with container.session_factory() as s:
        moved = reencrypt(s, Customer, ENCRYPTED_COLUMNS, batch_size=2, where=mine)
    assert moved == 5  # the five old rows, in three batches; the newest was already current
    raw_after = _raw(container, bank.tenant_id)
    assert _key_ids(raw_after) == {NEW_KEY}
    assert raw_after[ids[2]][2] is None  # NULL stays NULL

    with container.session_factory() as s:
        assert reencrypt(s, Customer, ENCRYPTED_COLUMNS, where=mine) == 0

    # The old key can now be retired: everything still reads, blind indexes still find.
    ring = crypto.keyring()
    crypto.configure(dataclasses.replace(ring, keys={NEW_KEY: ring.keys[NEW_KEY]}))
    for i in ids:
        assert identity.get_customer(container.uow(bank.tenant_id), i, reveal=True) == before[i]
    assert identity.find_by_id_number(container.uow(bank.tenant_id), make_id(2))["id"] == ids[1]

    # Rotate back so the shared test database stays readable under the default keyring.
    _use(ring, old, **{old: old_ring.keys[old]})
    with container.session_factory() as s:
        assert reencrypt(s, Customer, ENCRYPTED_COLUMNS, where=mine) == 6
    assert _key_ids(_raw(container, bank.tenant_id)) == {old}


def test_reencrypt_without_commit_leaves_the_transaction_to_the_caller(container, bank, keyring_restored):
    customer_id = _register(container, bank, 7, "13900001111")
    _use(keyring_restored, NEW_KEY, **{NEW_KEY: os.urandom(32)})
    with container.session_factory() as s:
        assert reencrypt(s, Customer, ["phone"], commit=False, where=Customer.id == customer_id) == 1
        s.rollback()
    assert crypto.key_id_of(_raw(container, bank.tenant_id)[customer_id][2]) == keyring_restored.active_key_id


def test_reencrypt_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        reencrypt(None, Customer, ENCRYPTED_COLUMNS, batch_size=0)  # type: ignore[arg-type]


def test_crypto_round_trip_and_tampering(keyring_restored):
    token = crypto.encrypt("欧阳娜娜")
    assert token.startswith(f"v1:{keyring_restored.active_key_id}:")
    assert crypto.decrypt(token) == "欧阳娜娜"
    assert crypto.encrypt("欧阳娜娜") != token  # a fresh nonce every time

    version, kid, payload = token.split(":", 2)
    raw = bytearray(base64.b64decode(payload))
    raw[-1] ^= 0x01  # flip one bit of the tag
    with pytest.raises(InvalidTag):
        crypto.decrypt(f"{version}:{kid}:{base64.b64encode(bytes(raw)).decode()}")
    raw[-1] ^= 0x01
    raw[14] ^= 0x80  # and one bit of the ciphertext
    with pytest.raises(InvalidTag):
        crypto.decrypt(f"{version}:{kid}:{base64.b64encode(bytes(raw)).decode()}")

    # Relabelled with another key id, or naming a key that is gone, it does not decrypt either.
    _use(keyring_restored, keyring_restored.active_key_id, other=os.urandom(32))
    with pytest.raises(InvalidTag):
        crypto.decrypt(f"{version}:other:{payload}")
    with pytest.raises(ValueError, match="no key"):
        crypto.decrypt(f"{version}:retired:{payload}")


def test_tampered_row_fails_loudly_on_read_and_in_rotation(container, bank, keyring_restored):
    customer_id = _register(container, bank, 8, "13900002222")
    original = _raw(container, bank.tenant_id)[customer_id][0]
    version, kid, payload = original.split(":", 2)
    raw = bytearray(base64.b64decode(payload))
    raw[-1] ^= 0x01
    tampered = f"{version}:{kid}:{base64.b64encode(bytes(raw)).decode()}"
    name_raw = type_coerce(Customer.name, Text)
    row = update(Customer.__table__).where(Customer.id == customer_id)
    with container.session_factory() as s:
        s.execute(row.values({name_raw: tampered}))
        s.commit()
    try:
        with pytest.raises(InvalidTag):
            identity.get_customer(container.uow(bank.tenant_id), customer_id)
        _use(keyring_restored, NEW_KEY, **{NEW_KEY: os.urandom(32)})
        with container.session_factory() as s, pytest.raises(RotationError, match=customer_id):
            reencrypt(s, Customer, ENCRYPTED_COLUMNS, where=Customer.id == customer_id)
        assert _raw(container, bank.tenant_id)[customer_id][0] == tampered  # nothing was written
    finally:
        with container.session_factory() as s:
            s.execute(row.values({name_raw: original}))
            s.commit()
    crypto.configure(keyring_restored)
    assert identity.get_customer(container.uow(bank.tenant_id), customer_id)["name_masked"] == "测**"


def test_tampered_row_is_a_500_without_internals(app, bank, container):
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as client:
        admin = bank.login(client)
        r = client.post("/api/v1/customers", json={"name": "张三", "id_number": make_id(11)}, headers=admin)
        customer_id = r.json()["id"]
        original = _raw(container, bank.tenant_id)[customer_id][1]
        version, kid, payload = original.split(":", 2)
        raw = bytearray(base64.b64decode(payload))
        raw[-1] ^= 0x01
        column = type_coerce(Customer.id_number, Text)
        table = Customer.__table__
        with container.session_factory() as s:
            tampered = f"{version}:{kid}:{base64.b64encode(bytes(raw)).decode()}"
            s.execute(update(table).where(Customer.id == customer_id).values({column: tampered}))
            s.commit()
        try:
            # Corrupt data is the bank's problem, not the caller's: a 500 that quotes only the request id.
            r = client.get(f"/api/v1/customers/{customer_id}", headers=admin)
            assert r.status_code == 500
            assert r.json()["code"] == "internal_error"
            assert set(r.json()["details"]) == {"request_id"}
        finally:
            with container.session_factory() as s:
                s.execute(update(table).where(Customer.id == customer_id).values({column: original}))
                s.commit()
