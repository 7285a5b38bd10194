"""THE acceptance test of personal-data protection (foundation issue, line 6).

From a fresh SQLite database file, with every log line captured at DEBUG (including
SQLAlchemy's statements *and their parameters*), personal data is written and read
through the API. Afterwards the raw bytes of the database file (WAL checkpointed)
and of the logs contain none of the plain values, while the API shows masked forms
and a blind-index search still finds the customer.
"""

from __future__ import annotations

import io
import json
import logging
import sqlite3
from pathlib import Path

from fastapi.testclient import TestClient

from dipper.access import commands as access_commands
from dipper.bootstrap import bootstrap
from dipper.entrypoints.http.app import create_app
from dipper.entrypoints.logging import configure_logging
from dipper.kernel.ids import new_id
from dipper.persistence.migrate import upgrade
from dipper.settings import Settings

NAME = "欧阳娜娜"
ID_NUMBER = "440304198511204567"  # valid check digit; test data
PHONE = "13912345678"
NEW_PHONE = "18611112222"
CARD = "6222021234567890128"  # Luhn-valid; test data
PASSWORD = "Adm1n-password!"


def _needles() -> dict[str, list[bytes]]:
    """Every plain value in every form it could take in a file: UTF-8, UTF-16, JSON-escaped."""
    values = {
        "name": NAME,
        "id_number": ID_NUMBER,
        "id_number without check digit": ID_NUMBER[:-1],
        "phone": PHONE,
        "new phone": NEW_PHONE,
        "bank card": CARD,
    }
    return {
        label: [v.encode("utf-8"), v.encode("utf-16-le"), json.dumps(v).strip('"').encode("ascii")]
        for label, v in values.items()
    }


def _assert_absent(blob: bytes, where: str) -> None:
    for label, forms in _needles().items():
        for form in forms:
            assert form not in blob, f"{label} found in {where}"


def test_personal_data_never_reaches_the_database_file_or_the_logs(
    tmp_path: Path, restore_logging: None
) -> None:
    db_file = tmp_path / "pii.db"
    logs = io.StringIO()
    configure_logging("DEBUG", stream=logs)
    # Statement parameters and result rows are logged at DEBUG by these loggers (what echo="debug" does).
    logging.getLogger("sqlalchemy.engine").setLevel(logging.DEBUG)
    logging.getLogger("sqlalchemy.pool").setLevel(logging.DEBUG)

    container = bootstrap(Settings(database_url=f"sqlite:///{db_file}", environment="test"))
    try:
        upgrade(container.engine)
        tenant_id = new_id()
        container.handle(access_commands.CreateTenant(tenant_id=tenant_id, code="piibank", name="PII Bank"))
        container.handle(
            access_commands.CreateUser(
                tenant_id=tenant_id,
                username="admin",
                display_name="Admin",
                password=PASSWORD,
                roles=("admin",),
            )
        )

        with TestClient(create_app(container)) as client:
            login = {"tenant": "piibank", "username": "admin", "password": PASSWORD}
            token = client.post("/api/v1/auth/login", json=login).json()["token"]
            headers = {"Authorization": f"Bearer {token}", "X-Request-ID": "acceptance-1"}

            def search(**body: str) -> list[str]:
                r = client.post("/api/v1/customers/search", headers=headers, json=body)
                assert r.status_code == 200, r.text
                return [c["id"] for c in r.json()["items"]]

            created = client.post(
                "/api/v1/customers",
                headers=headers,
                json={
                    "name": NAME,
                    "id_number": ID_NUMBER,
                    "phone": PHONE,
                    "bank_card": CARD,
                },
            )
            assert created.status_code == 201, created.text
            customer_id = created.json()["id"]

            shown = client.get(f"/api/v1/customers/{customer_id}", headers=headers).json()
            assert shown["name_masked"] == "欧***"
            assert shown["id_number_masked"] == "440***********4567"
            assert shown["phone_masked"] == "139****5678"
            assert shown["bank_card_masked"] == "622202*********0128"

            assert search(id_number=ID_NUMBER) == [customer_id]
            assert search(phone=PHONE) == [customer_id]

            listed = client.get("/api/v1/customers", headers=headers).json()
            assert [c["id"] for c in listed["items"]] == [customer_id]

            updated = client.put(
                f"/api/v1/customers/{customer_id}/contact", headers=headers, json={"phone": NEW_PHONE}
            )
            assert updated.json()["phone_masked"] == "186****2222"
            assert search(phone=NEW_PHONE) == [customer_id]

            same_person = {"name": NAME, "id_number": ID_NUMBER}
            duplicate = client.post("/api/v1/customers", headers=headers, json=same_person)
            assert duplicate.status_code == 409

            for response in (created, duplicate):
                _assert_absent(response.content, "an API response")

        # A developer's mistake and an access-log line with personal data in the path are scrubbed too.
        sloppy = logging.getLogger("dipper.sloppy")
        sloppy.warning("registering %s with phone %s card %s", ID_NUMBER, PHONE, CARD)
        path = f"/api/v1/customers?id_number={ID_NUMBER}"
        access_format = '%s - "%s %s HTTP/%s" %d'  # uvicorn's own
        logging.getLogger("uvicorn.access").info(access_format, "127.0.0.1:5000", "GET", path, "1.1", 200)
        try:
            raise ValueError(f"cannot handle {ID_NUMBER}")
        except ValueError:
            sloppy.exception("failed for %s", PHONE)

    finally:
        container.dispose()

    # Outside any transaction (the engine begins every one with BEGIN IMMEDIATE), fold the WAL into the file.
    raw = sqlite3.connect(db_file)
    try:
        busy, _frames, _done = raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0
    finally:
        raw.close()

    # The logs did record SQL with its parameters (so this test can see a leak if there were one)...
    captured = logs.getvalue()
    assert "INSERT INTO identity_customer" in captured
    assert "v1:dev1:" in captured  # ciphertexts in logged parameters
    assert "Row <redacted" in captured  # result rows (decrypted by then) were logged, and redacted
    assert "440***********4567" in captured  # the sloppy line, masked
    # ...and nothing in them, or in any file of the database, is a plain value.
    _assert_absent(captured.encode("utf-8"), "the logs")
    files = [p for p in tmp_path.iterdir() if p.name.startswith("pii.db")]
    assert db_file in files
    for path in files:
        _assert_absent(path.read_bytes(), path.name)
    assert b"identity_customer" in db_file.read_bytes()  # the table really is in this file
