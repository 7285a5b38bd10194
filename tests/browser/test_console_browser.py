"""The console in a real browser: sign in, switch language, trial balance with its ECharts chart, audit log.

Screenshots go to build/screenshots/ (login, trial balance, audit log) for people to look at.
"""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.browser


def _format_yuan(minor: int) -> str:
    major, cents = divmod(minor, 100)
    return f"{major:,}.{cents:02d}"


def test_console_in_a_browser(page, live_server, screenshots):
    from playwright.sync_api import expect

    # Sign-in page (zh-CN by default).
    page.goto(f"{live_server.url}/console/")
    expect(page).to_have_url(re.compile(r"/console/login\?next="))
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("heading", name="员工登录")).to_be_visible()
    page.screenshot(path=str(screenshots / "login.png"), full_page=True)

    # A wrong password re-renders the form with an error, not a crash.
    page.get_by_label("银行代码").fill(live_server.bank_code)
    page.get_by_label("用户名").fill(live_server.username)
    page.get_by_label("密码").fill("wrong-password-1")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_contain_text("不正确")

    page.get_by_label("密码").fill(live_server.password)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{live_server.url}/console/")
    expect(page.locator(".topbar")).to_contain_text(live_server.bank_name)
    nav = page.get_by_role("navigation", name="主导航")
    expect(nav.get_by_role("link", name="总账")).to_be_visible()

    # Language switch: zh-CN -> en changes the labels and <html lang>.
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    nav = page.get_by_role("navigation", name="Main navigation")
    expect(nav.get_by_role("link", name="General ledger")).to_be_visible()
    expect(nav.get_by_role("link", name="总账")).to_have_count(0)

    # Trial balance: the posted amount, the balanced indicator and the ECharts canvas.
    nav.get_by_role("link", name="General ledger").click()
    expect(page).to_have_title(re.compile(r"^General ledger"))
    amount = _format_yuan(live_server.posted_minor)
    expect(page.locator("#tb-table")).to_contain_text(amount)
    expect(page.locator("#tb-table")).to_contain_text("Paid-in capital")
    status = page.locator("#tb-status")
    expect(status).to_be_visible()
    expect(status).to_have_attribute("data-balanced", "true")
    expect(status).to_contain_text("Balanced")
    page.wait_for_selector("#tb-chart[data-ready=true] canvas", state="visible")
    page.screenshot(path=str(screenshots / "trial-balance.png"), full_page=True)

    # Audit log, then the next page through htmx (a fragment swap, not a full reload).
    nav.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    rows = page.locator("#audit-results tbody tr")
    expect(rows.first).to_be_visible()
    expect(page.locator("#audit-results")).to_contain_text("accounting_journal_entry")
    page.screenshot(path=str(screenshots / "audit-log.png"), full_page=True)
    marker = page.evaluate("() => (window.__consoleMarker = 'same-document')")
    next_link = page.get_by_role("link", name=re.compile("^Next"))
    if next_link.count():
        next_link.click()
        expect(page).to_have_url(re.compile(r"page=2"))
        expect(page.locator("#audit-results")).to_contain_text("Page 2 of")
        assert page.evaluate("() => window.__consoleMarker") == marker  # htmx swapped; no navigation

    # Filter by entity type (the htmx form) and sign out.
    page.get_by_label("Entity type").fill("access_tenant")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#audit-results tbody tr")).to_have_count(1)
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{live_server.url}/console/login")
    page.goto(f"{live_server.url}/console/ledger")
    expect(page).to_have_url(re.compile(r"/console/login"))
