"""Partner API keys are resolved from a short-lived in-process cache (``ApiKeyCache``): revoking a
key through the API takes effect at once; a revocation made elsewhere (the CLI, another worker)
within the cache's lifetime; staff sessions are never cached."""

from __future__ import annotations

from dipper.access import commands as access_commands
from dipper.entrypoints.http.deps import ApiKeyCache


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _issue(bank) -> tuple[str, str]:
    issued = bank.container.handle(
        access_commands.IssueApiKey(tenant_id=bank.tenant_id, name="partner", permissions=("tenant.read",))
    )
    return issued.api_key_id, issued.secret


def test_a_key_revoked_elsewhere_is_refused_once_its_cache_entry_expires(app, client, bank):
    clock = _Clock()
    app.state.api_keys = ApiKeyCache(ttl=5.0, clock=clock)
    key_id, secret = _issue(bank)
    headers = {"X-API-Key": secret}
    assert client.get("/api/v1/tenant", headers=headers).status_code == 200
    # Another process revokes it: this one still holds the key for the rest of the cache's lifetime.
    bank.container.handle(access_commands.RevokeApiKey(tenant_id=bank.tenant_id, api_key_id=key_id))
    assert client.get("/api/v1/tenant", headers=headers).status_code == 200
    clock.now += 5.0
    r = client.get("/api/v1/tenant", headers=headers)
    assert r.status_code == 401 and r.json()["code"] == "invalid_token"


def test_revoking_a_key_through_the_api_refuses_it_at_once(app, client, bank):
    app.state.api_keys = ApiKeyCache(ttl=3600.0)
    admin = bank.login(client)
    key_id, secret = _issue(bank)
    assert client.get("/api/v1/tenant", headers={"X-API-Key": secret}).status_code == 200
    assert client.delete(f"/api/v1/api-keys/{key_id}", headers=admin).status_code == 200
    assert client.get("/api/v1/tenant", headers={"X-API-Key": secret}).status_code == 401


def test_staff_sessions_are_not_cached(app, client, bank):
    app.state.api_keys = ApiKeyCache(ttl=3600.0)
    admin = bank.login(client)
    assert client.get("/api/v1/tenant", headers=admin).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=admin).status_code in {200, 204}
    assert client.get("/api/v1/tenant", headers=admin).status_code == 401


def test_only_api_keys_have_a_cache_key():
    assert ApiKeyCache.key("dpk_abc") is not None
    assert ApiKeyCache.key("dps_abc") is None
