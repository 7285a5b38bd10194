def test_login_and_me(client, bank):
    headers = bank.login(client)
    r = client.get("/api/v1/auth/me", headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["tenant_code"] == bank.code
    assert "ledger.read" in r.json()["permissions"]
