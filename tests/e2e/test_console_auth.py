"""Console sign-in, sign-out, CSRF and the redirect to the login page (TestClient level)."""

from __future__ import annotations

import re

from dipper.entrypoints.http.deps import SESSION_COOKIE

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def login_form_token(client) -> str:
    r = client.get("/console/login")
    assert r.status_code == 200
    return CSRF.search(r.text).group(1)


def console_login(client, bank, username="admin", password=None, **extra):
    token = login_form_token(client)
    data = {
        "bank": bank.code,
        "username": username,
        "password": password or bank.admin_password,
        "csrf_token": token,
        **extra,
    }
    return client.post("/console/login", data=data, follow_redirects=False)


def test_unauthenticated_pages_redirect_to_login(client):
    for path in ("/console/", "/console/ledger", "/console/audit?page=2", "/console/modules/risk"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/console/login?next=")
    # htmx requests are told to navigate rather than swap the login page into a fragment.
    r = client.get("/console/audit", headers={"HX-Request": "true"}, follow_redirects=False)
    assert r.headers["HX-Redirect"].startswith("/console/login")


def test_root_redirects_to_console(client):
    r = client.get("/", follow_redirects=False)
    assert r.status_code in (302, 303, 307) and r.headers["location"] == "/console/"


def test_login_success_sets_a_safe_cookie_and_opens_the_console(client, bank):
    r = console_login(client, bank)
    assert r.status_code == 303 and r.headers["location"] == "/console/"
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith(f"{SESSION_COOKIE}="))
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    home = client.get("/console/")
    assert home.status_code == 200
    assert "Test Bank" in home.text and "admin" in home.text
    assert "<title>" in home.text and 'lang="zh-CN"' in home.text


def test_login_returns_to_the_page_asked_for_but_never_off_site(client, bank):
    r = console_login(client, bank, next="/console/audit?page=1")
    assert r.headers["location"] == "/console/audit?page=1"
    client.cookies.clear()
    r = console_login(client, bank, next="https://evil.example/")
    assert r.headers["location"] == "/console/"


def test_wrong_password_rerenders_the_form_with_an_error(client, bank):
    r = console_login(client, bank, password="not-the-password-1")
    assert r.status_code == 401
    assert "银行代码、用户名或密码不正确" in r.text
    assert f'value="{bank.code}"' in r.text  # the bank code is kept, the password is not
    assert "not-the-password-1" not in r.text
    assert SESSION_COOKIE not in client.cookies


def test_unknown_bank_and_empty_fields_do_not_crash(client, bank):
    r = console_login(client, bank, username="nobody")
    assert r.status_code == 401
    token = login_form_token(client)
    r = client.post("/console/login", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 400 and "请填写" in r.text


def test_login_without_the_form_token_is_rejected(client, bank):
    client.get("/console/login")
    r = client.post(
        "/console/login",
        data={
            "bank": bank.code,
            "username": "admin",
            "password": bank.admin_password,
            "csrf_token": "forged",
        },
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert SESSION_COOKIE not in r.headers.get("set-cookie", "")


def test_logout_needs_the_csrf_token_and_then_revokes_the_session(client, bank):
    console_login(client, bank)
    page = client.get("/console/")
    token = CSRF.search(page.text).group(1)
    session = client.cookies.get(SESSION_COOKIE)

    forged = client.post("/console/logout", data={"csrf_token": "0" * 64}, follow_redirects=False)
    assert forged.status_code == 403
    assert client.get("/console/", follow_redirects=False).status_code == 200  # still signed in

    r = client.post("/console/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    # The session is revoked on the server, not only forgotten by the browser.
    api = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {session}"})
    assert api.status_code == 401
    client.cookies.set(SESSION_COOKIE, session)
    assert client.get("/console/", follow_redirects=False).status_code == 303


def test_csrf_token_is_bound_to_the_session(client, bank):
    console_login(client, bank)
    first = CSRF.search(client.get("/console/").text).group(1)
    client.cookies.clear()
    console_login(client, bank)
    second = CSRF.search(client.get("/console/").text).group(1)
    assert first != second
    r = client.post("/console/logout", data={"csrf_token": first}, follow_redirects=False)
    assert r.status_code == 403
    # The header form (for htmx requests) is accepted too.
    r = client.post("/console/logout", headers={"X-CSRF-Token": second}, follow_redirects=False)
    assert r.status_code == 303


def test_console_routes_are_not_in_the_openapi_schema(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/console")]


def test_static_assets_are_served_from_the_package(client):
    for path in (
        "/console/static/console.css",
        "/console/static/console.js",
        "/console/static/vendor/htmx/htmx.min.js",
        "/console/static/vendor/echarts/echarts.min.js",
        "/console/static/vendor/pico/pico.min.css",
    ):
        assert client.get(path).status_code == 200, path
