"""Tenancy and access over the HTTP API: sign-in, roles, API keys, maker-checker, audit."""

from __future__ import annotations

import pytest


def test_login_me_and_logout(client, bank):
    headers = bank.login(client)
    me = client.get("/api/v1/auth/me", headers=headers)
    assert me.status_code == 200
    assert me.json()["tenant_code"] == bank.code
    assert "ledger.read" in me.json()["permissions"]
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    after = client.get("/api/v1/auth/me", headers=headers)
    assert after.status_code == 401
    assert after.json()["code"] == "invalid_token"


@pytest.mark.parametrize(
    ("tenant", "username", "password"),
    [
        ("nobank", "admin", "Adm1n-password!"),
        (None, "admin", "wrong-password1"),
        (None, "ghost", "Adm1n-password!"),
    ],
)
def test_login_failures_say_nothing_specific(client, bank, tenant, username, password):
    r = client.post(
        "/api/v1/auth/login", json={"tenant": tenant or bank.code, "username": username, "password": password}
    )
    assert r.status_code == 401
    assert r.json() == {
        "code": "invalid_credentials",
        "message": "wrong bank, username or password",
        "details": {},
    }


def test_disabled_user_cannot_sign_in_and_loses_sessions(client, bank):
    bank.add_user("ops.one", ("operations",))
    ops_headers = bank.login(client, "ops.one")
    admin = bank.login(client)
    r = client.put(
        f"/api/v1/users/{bank.users['ops.one']}/status", json={"status": "disabled"}, headers=admin
    )
    assert r.status_code == 200 and r.json()["status"] == "disabled"
    assert client.get("/api/v1/auth/me", headers=ops_headers).status_code == 401
    r = client.post(
        "/api/v1/auth/login",
        json={"tenant": bank.code, "username": "ops.one", "password": bank.admin_password},
    )
    assert r.status_code == 401


def test_roles_decide_what_a_user_may_do(client, bank):
    bank.add_user("viewer", ("read_only",))
    viewer = bank.login(client, "viewer")
    r = client.post(
        "/api/v1/users",
        json={"username": "x.y.z", "password": "Passw0rd-long", "roles": ["admin"]},
        headers=viewer,
    )
    assert r.status_code == 403
    assert r.json()["code"] == "permission_denied"
    assert r.json()["details"] == {"permission": "users.manage"}
    assert client.get("/api/v1/audit", headers=viewer).status_code == 403
    assert client.get("/api/v1/tenant", headers=viewer).status_code == 200


def test_user_creation_validates(client, bank):
    admin = bank.login(client)
    weak = client.post(
        "/api/v1/users",
        json={"username": "weak.user", "password": "aaaaaaaaaaaa", "roles": ["auditor"]},
        headers=admin,
    )
    assert weak.status_code == 422 and weak.json()["code"] == "weak_password"
    bad_role = client.post(
        "/api/v1/users",
        json={"username": "role.user", "password": "Passw0rd-long", "roles": ["king"]},
        headers=admin,
    )
    assert bad_role.status_code == 422 and bad_role.json()["code"] == "invalid_request"
    ok = client.post(
        "/api/v1/users",
        json={"username": "role.user", "password": "Passw0rd-long", "roles": ["auditor"]},
        headers=admin,
    )
    assert ok.status_code == 201
    assert "password" not in ok.text and "argon2" not in ok.text
    dup = client.post(
        "/api/v1/users",
        json={"username": "role.user", "password": "Passw0rd-long", "roles": ["auditor"]},
        headers=admin,
    )
    assert dup.status_code == 409 and dup.json()["code"] == "user_exists"


def test_api_key_is_shown_once_scoped_and_revocable(client, bank):
    admin = bank.login(client)
    r = client.post(
        "/api/v1/api-keys", json={"name": "edu partner", "permissions": ["tenant.read"]}, headers=admin
    )
    assert r.status_code == 201
    secret = r.json()["secret"]
    assert secret.startswith("dpk_")
    key_id = r.json()["id"]
    listed = client.get("/api/v1/api-keys", headers=admin)
    assert secret not in listed.text
    assert any(k["id"] == key_id for k in listed.json())
    key = {"X-API-Key": secret}
    assert client.get("/api/v1/tenant", headers=key).json()["code"] == bank.code
    assert client.get("/api/v1/users", headers=key).status_code == 403
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {secret}"}).json()
    assert me["actor_kind"] == "api_key" and me["permissions"] == ["tenant.read"]
    assert client.delete(f"/api/v1/api-keys/{key_id}", headers=admin).json()["revoked_at"] is not None
    assert client.get("/api/v1/tenant", headers=key).status_code == 401


def test_api_key_with_unknown_permission_is_refused(client, bank):
    admin = bank.login(client)
    r = client.post("/api/v1/api-keys", json={"name": "x", "permissions": ["everything"]}, headers=admin)
    assert r.status_code == 422 and r.json()["code"] == "unknown_permission"


class TestMakerChecker:
    def _propose(self, client, headers, ceiling="0.18"):
        r = client.post(
            "/api/v1/changes",
            json={
                "kind": "tenant.settings",
                "target": "tenant",
                "summary": "lower APR ceiling",
                "payload": {"apr_ceiling": ceiling},
            },
            headers=headers,
        )
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def test_maker_cannot_approve_own_change(self, client, bank):
        admin = bank.login(client)
        change_id = self._propose(client, admin)
        r = client.post(f"/api/v1/changes/{change_id}/approve", json={}, headers=admin)
        assert r.status_code == 403 and r.json()["code"] == "maker_cannot_check"
        r = client.post(f"/api/v1/changes/{change_id}/reject", json={}, headers=admin)
        assert r.status_code == 403 and r.json()["code"] == "maker_cannot_check"
        assert client.get(f"/api/v1/changes/{change_id}", headers=admin).json()["status"] == "pending"
        assert "apr_ceiling" not in client.get("/api/v1/tenant", headers=admin).json()["settings"]

    def test_second_person_with_permission_approves_and_change_applies(self, client, bank):
        bank.add_user("admin2", ("admin",))
        maker = bank.login(client)
        checker = bank.login(client, "admin2")
        change_id = self._propose(client, maker)
        r = client.post(f"/api/v1/changes/{change_id}/approve", json={"note": "ok"}, headers=checker)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "approved" and r.json()["checker_id"] == bank.users["admin2"]
        assert client.get("/api/v1/tenant", headers=maker).json()["settings"]["apr_ceiling"] == "0.18"
        again = client.post(f"/api/v1/changes/{change_id}/approve", json={}, headers=checker)
        assert again.status_code == 409 and again.json()["code"] == "change_already_decided"

    def test_checker_needs_the_kinds_approval_permission(self, client, bank):
        bank.add_user("pm", ("product_manager",))
        maker = bank.login(client)
        change_id = self._propose(client, maker)
        r = client.post(f"/api/v1/changes/{change_id}/approve", json={}, headers=bank.login(client, "pm"))
        assert r.status_code == 403 and r.json()["code"] == "permission_denied"
        assert client.get(f"/api/v1/changes/{change_id}", headers=maker).json()["status"] == "pending"

    def test_rejection_leaves_settings_unchanged(self, client, bank):
        bank.add_user("admin2", ("admin",))
        maker = bank.login(client)
        change_id = self._propose(client, maker, "0.20")
        r = client.post(
            f"/api/v1/changes/{change_id}/reject", json={"note": "no"}, headers=bank.login(client, "admin2")
        )
        assert r.json()["status"] == "rejected"
        assert "apr_ceiling" not in client.get("/api/v1/tenant", headers=maker).json()["settings"]

    def test_invalid_payload_is_refused_at_proposal(self, client, bank):
        admin = bank.login(client)
        r = client.post(
            "/api/v1/changes",
            json={"kind": "tenant.settings", "payload": {"apr_ceiling": "0.9"}},
            headers=admin,
        )
        assert r.status_code == 422 and r.json()["code"] == "invalid_apr_ceiling"
        r = client.post("/api/v1/changes", json={"kind": "nuke.everything", "payload": {}}, headers=admin)
        assert r.status_code == 422 and r.json()["code"] == "unknown_change_kind"

    def test_an_api_key_cannot_approve(self, client, bank):
        admin = bank.login(client)
        change_id = self._propose(client, admin)
        secret = client.post(
            "/api/v1/api-keys", json={"name": "k", "permissions": ["changes.read"]}, headers=admin
        ).json()["secret"]
        r = client.post(f"/api/v1/changes/{change_id}/approve", json={}, headers={"X-API-Key": secret})
        assert r.status_code == 403 and r.json()["code"] == "checker_must_be_user"


def test_every_change_is_audited_with_who_and_request_id(client, bank):
    admin = bank.login(client)
    r = client.post(
        "/api/v1/users",
        json={"username": "audited.user", "password": "Passw0rd-long", "roles": ["auditor"]},
        headers={**admin, "X-Request-ID": "req-audit-1"},
    )
    assert r.status_code == 201
    assert r.headers["x-request-id"] == "req-audit-1"
    user_id = r.json()["id"]
    page = client.get("/api/v1/audit", params={"entity_id": user_id}, headers=admin).json()
    assert page["total"] == 1
    entry = page["entries"][0]
    assert entry["actor_id"] == bank.admin_id and entry["actor_kind"] == "user"
    assert entry["request_id"] == "req-audit-1"
    assert entry["action"] == "POST /api/v1/users"
    assert entry["operation"] == "create" and entry["entity_type"] == "access_user"
    assert entry["before_digest"] is None and len(entry["after_digest"]) == 64
    client.put(f"/api/v1/users/{user_id}/status", json={"status": "disabled"}, headers=admin)
    page = client.get("/api/v1/audit", params={"entity_id": user_id}, headers=admin).json()
    update = page["entries"][0]
    assert update["operation"] == "update" and update["changed_fields"] == ["status"]
    assert update["before_digest"] == entry["after_digest"]
    assert update["after_digest"] != update["before_digest"]


def test_audit_log_is_per_bank(client, make_bank):
    a, b = make_bank("A"), make_bank("B")
    a_headers, b_headers = a.login(client), b.login(client)
    client.post(
        "/api/v1/users",
        json={"username": "only.in.a", "password": "Passw0rd-long", "roles": ["auditor"]},
        headers=a_headers,
    )
    b_entries = client.get("/api/v1/audit", params={"limit": 500}, headers=b_headers).json()["entries"]
    a_ids = {
        e["id"]
        for e in client.get("/api/v1/audit", params={"limit": 500}, headers=a_headers).json()["entries"]
    }
    assert a_ids and not a_ids & {e["id"] for e in b_entries}


def test_error_bodies_have_one_shape(client, bank):
    admin = bank.login(client)
    for r in (
        client.get("/api/v1/no-such-route", headers=admin),
        client.post(
            "/api/v1/users", content=b"{not json", headers={**admin, "content-type": "application/json"}
        ),
        client.delete("/api/v1/tenant", headers=admin),
        client.get("/api/v1/tenant"),
    ):
        assert 400 <= r.status_code < 500
        body = r.json()
        assert set(body) == {"code", "message", "details"}
        assert body["code"] and body["message"]


def test_health_ready_and_metrics(client):
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/ready").json()["status"] == "ready"
    client.get("/health")
    text = client.get("/metrics").text
    assert 'dipper_http_requests_total{method="GET",route="/health",status="200"}' in text


def test_the_database_refuses_to_rewrite_the_audit_trail(client, bank):
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    for statement in (
        "UPDATE audit_entry SET actor_id = 'someone-else' WHERE tenant_id = :t",
        "DELETE FROM audit_entry WHERE tenant_id = :t",
    ):
        with bank.container.engine.connect() as conn:
            with pytest.raises(DBAPIError, match="immutable"):
                conn.execute(text(statement), {"t": bank.tenant_id})
            conn.rollback()
    with bank.container.engine.connect() as conn:
        count = conn.execute(
            text("SELECT count(*) FROM audit_entry WHERE tenant_id = :t"), {"t": bank.tenant_id}
        ).scalar()
    assert count >= 2  # the bank and its admin


def test_five_wrong_passwords_lock_the_user_and_a_good_one_resets_the_count(client, bank):
    bank.add_user("lock.me", ("auditor",))
    wrong = {"tenant": bank.code, "username": "lock.me", "password": "not-the-password-1"}
    for _ in range(4):
        assert client.post("/api/v1/auth/login", json=wrong).json()["code"] == "invalid_credentials"
    # A correct password before the fifth failure resets the count ...
    bank.login(client, "lock.me")
    for _ in range(4):
        client.post("/api/v1/auth/login", json=wrong)
    bank.login(client, "lock.me")
    # ... five in a row lock the user, even against the right password.
    for _ in range(5):
        client.post("/api/v1/auth/login", json=wrong)
    right = {**wrong, "password": bank.admin_password}
    r = client.post("/api/v1/auth/login", json=right)
    assert r.status_code == 401 and r.json()["code"] == "account_locked"
    # Other users of the bank are unaffected.
    bank.login(client)
