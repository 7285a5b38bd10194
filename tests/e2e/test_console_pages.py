"""Console pages: frame and navigation, languages, audit log, trial balance, users & changes."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dipper.access import commands as access_commands
from dipper.entrypoints.console import i18n, pages
from dipper.kernel.uow import Actor

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
TEMPLATES = Path(pages.__file__).with_name("templates")


def console_login(client, bank, username="admin"):
    token = CSRF.search(client.get("/console/login").text).group(1)
    r = client.post(
        "/console/login",
        data={"bank": bank.code, "username": username, "password": bank.admin_password, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return client


def title(html: str) -> str:
    return re.search(r"<title>(.*?)</title>", html, re.S).group(1)


# --------------------------------------------------------------------------- catalogues


def test_every_key_exists_in_both_catalogues():
    zh, en = i18n.catalogue("zh-CN"), i18n.catalogue("en")
    assert set(zh) == set(en), sorted(set(zh) ^ set(en))
    for key in zh:
        assert zh[key].strip() and en[key].strip(), key
        # Same placeholders on both sides, or a page would fail to format in one language.
        assert set(re.findall(r"{(\w+)}", zh[key])) == set(re.findall(r"{(\w+)}", en[key])), key


def test_every_key_used_by_templates_and_code_exists():
    catalogue = i18n.catalogue("en")
    used: set[str] = set()
    for path in [*TEMPLATES.glob("*.html"), Path(pages.__file__)]:
        used |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_.]+)["']\s*[,)]""", path.read_text(encoding="utf-8")))
        used |= set(
            re.findall(
                r"""(?:title_key|error_key|message_key|label_key)=["']([a-z0-9_.]+)["']""",
                path.read_text(encoding="utf-8"),
            )
        )
    # Keys built at run time.
    for m in pages.MODULES:
        used |= {f"module.{m.slug}.{part}" for part in ("name", "summary", "mission")}
    used |= {f"account_type.{k}" for k in pages.ACCOUNT_TYPES}
    used |= {
        f"role.{r}"
        for r in (
            "admin",
            "product_manager",
            "risk_analyst",
            "operations",
            "collector",
            "abs_analyst",
            "auditor",
            "read_only",
        )
    }
    used |= {f"error.{s}.title" for s in (400, 403, 404, 409, 422)}
    used |= {f"audit.op.{op}" for op in ("create", "update", "delete")}
    used |= {f"user.status.{s}" for s in ("active", "disabled")}
    used |= {f"change.status.{s}" for s in ("pending", "approved", "rejected")}
    used |= {
        "nav.ledger",
        "nav.audit",
        "nav.settings",
        "nav.home",
        "nav.group.overview",
        "nav.group.modules",
        "nav.group.control",
    }
    missing = sorted(k for k in used if k not in catalogue)
    assert not missing, missing


def test_money_is_formatted_from_integer_fen():
    assert pages.format_minor(0) == "0.00"
    assert pages.format_minor(5) == "0.05"
    assert pages.format_minor(123456789) == "1,234,567.89"
    assert pages.format_minor(-100) == "-1.00"
    assert pages.format_minor(10**20 + 1) == "1,000,000,000,000,000,000.01"  # no float rounding


# --------------------------------------------------------------------------- frame and languages


def test_frame_shows_bank_user_role_and_the_modules(client, make_bank):
    bank = make_bank("长江农商银行")
    html = console_login(client, bank).get("/console/").text
    assert "长江农商银行" in html and "系统管理员" in html
    for label in (
        "信贷平台",
        "量化营销",
        "身份核验",
        "信贷核心",
        "风控",
        "资产证券化",
        "贷后运营",
        "总账",
        "审计日志",
        "设置 / 用户",
    ):
        assert label in html, label


def test_language_switch_changes_labels_and_is_remembered(client, bank):
    console_login(client, bank)
    zh = client.get("/console/")
    assert 'lang="zh-CN"' in zh.text and "总账" in zh.text and "General ledger" not in zh.text

    r = client.get("/console/lang", params={"to": "en", "next": "/console/ledger"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/ledger"
    en = client.get("/console/")
    assert '<html lang="en"' in en.text and "General ledger" in en.text and "总账" not in en.text
    assert title(en.text).endswith("dipper staff console")

    # ?lang= works on any page, wins over the cookie and is remembered.
    back = client.get("/console/?lang=zh-CN")
    assert 'lang="zh-CN"' in back.text and "总账" in back.text
    assert 'lang="zh-CN"' in client.get("/console/").text


def test_language_switch_never_redirects_off_site(client):
    r = client.get("/console/lang", params={"to": "en", "next": "//evil.example/"}, follow_redirects=False)
    assert r.headers["location"] == "/console/"
    r = client.get("/console/lang", params={"to": "en", "next": "/console/login"}, follow_redirects=False)
    assert r.headers["location"] == "/console/login"


def test_login_page_is_translated(client):
    assert "银行代码" in client.get("/console/login").text
    assert "Bank code" in client.get("/console/login?lang=en").text


def test_unbuilt_modules_show_an_honest_empty_state(client, bank):
    console_login(client, bank)
    for m in pages.MODULES:
        r = client.get(f"/console/modules/{m.slug}?lang=en")
        assert r.status_code == 200
        assert "Not yet available in this version" in r.text
        assert i18n.catalogue("en")[f"module.{m.slug}.mission"] in r.text.replace("&#39;", "'")
        assert "<table" not in r.text  # no made-up figures
    assert client.get("/console/modules/unknown").status_code == 404


def test_navigation_follows_permissions(client, bank):
    bank.add_user("collector1", ("collector",))
    html = console_login(client, bank, "collector1").get("/console/").text
    assert "贷后运营" in html and "身份核验" in html and "信贷核心" in html
    for hidden in ("总账", "审计日志", "资产证券化", "量化营销", "设置 / 用户"):
        assert hidden not in html, hidden
    r = client.get("/console/ledger")
    assert r.status_code == 403 and "ledger.read" in r.text
    assert client.get("/console/modules/securitization").status_code == 403


# --------------------------------------------------------------------------- audit log


def test_audit_page_lists_an_entry_caused_by_a_change(client, bank):
    user_id = bank.add_user("li.na", ("operations",))
    bank.container.handle(
        access_commands.SetUserStatus(tenant_id=bank.tenant_id, user_id=user_id, status="disabled"),
        actor=Actor(kind="user", id=bank.admin_id, name="admin"),
        action="console-test",
    )
    console_login(client, bank)
    r = client.get("/console/audit", params={"entity_type": "access_user"})
    assert r.status_code == 200
    assert title(r.text).startswith("审计日志")
    rows = r.text.split("<tbody>")[1]
    assert "access_user" in rows and user_id[:12] in rows  # the user's id (shortened)
    assert "新增" in rows and "修改" in rows and "status" in rows and "console-test" in rows
    assert ">admin<" in rows  # the actor by name, not by id


def test_audit_filters_by_actor_and_paginates_with_htmx(client, bank):
    for i in range(12):
        bank.add_user(f"clerk{i:02d}", ("read_only",))  # each adds an entry by the system actor
    console_login(client, bank)
    by_system = client.get("/console/audit", params={"actor": "system"}).text
    assert "access_user" in by_system
    by_admin = client.get("/console/audit", params={"actor": bank.admin_id}).text
    assert "access_user" not in by_admin.split('id="audit-results"')[1]

    full = client.get("/console/audit")
    assert 'hx-get="/console/audit?page=2"' in full.text
    partial = client.get("/console/audit?page=2", headers={"HX-Request": "true"})
    assert partial.status_code == 200
    assert partial.text.lstrip().startswith('<section id="audit-results"')
    assert "<html" not in partial.text
    # A history restore asks for the whole page.
    restored = client.get(
        "/console/audit?page=2", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in restored.text


def test_read_only_user_gets_a_403_page_on_the_audit_log(client, bank):
    bank.add_user("viewer", ("read_only",))
    console_login(client, bank, "viewer")
    r = client.get("/console/audit")
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("text/html")
    assert "无权访问" in r.text and "audit.read" in r.text
    assert 'href="/console/audit"' not in r.text  # not offered in the navigation either


def test_a_bank_never_sees_another_banks_audit_entries(client, make_bank):
    bank_a, bank_b = make_bank("Bank A"), make_bank("Bank B")
    bank_b.add_user("only.in.b", ("operations",))
    b_user_id = bank_b.users["only.in.b"]
    console_login(client, bank_a)
    own = client.get("/console/audit").text.split('id="audit-results"')[1]
    assert bank_a.admin_id[:12] in own  # A's own entries are there
    for page in (
        "/console/audit",
        "/console/audit?entity_type=access_user",
        "/console/audit?page=2",
        "/console/audit?entity_type=access_tenant",
    ):
        results = client.get(page).text.split('id="audit-results"')[1]
        for foreign in (b_user_id, bank_b.tenant_id, bank_b.admin_id):
            assert foreign[:12] not in results, (page, foreign)
    by_b_actor = client.get("/console/audit", params={"actor": b_user_id}).text.split('id="audit-results"')[1]
    assert "没有符合条件的审计记录" in by_b_actor


def test_user_supplied_text_is_escaped(client, bank):
    console_login(client, bank)
    r = client.get("/console/audit", params={"entity_type": '"><script>alert(1)</script>'})
    assert r.status_code == 200
    assert "<script>alert(1)</script>" not in r.text
    assert "&lt;script&gt;" in r.text


# --------------------------------------------------------------------------- users & changes


def test_users_and_pending_changes_page(client, bank):
    bank.container.handle(
        access_commands.ProposeChange(
            tenant_id=bank.tenant_id,
            kind="tenant.settings",
            target="tenant",
            summary="下调年化利率上限",
            payload={"apr_ceiling": "0.18"},
        ),
        actor=Actor(kind="user", id=bank.admin_id, name="admin"),
    )
    console_login(client, bank)
    html = client.get("/console/settings").text
    assert "下调年化利率上限" in html and "tenant.settings" in html and "待复核" in html
    assert "admin" in html


# --------------------------------------------------------------------------- trial balance


@dataclass(frozen=True)
class _Line:
    account_code: str
    account_name: str
    account_name_en: str
    account_type: str
    currency: str
    debit_minor: int
    credit_minor: int
    balance_minor: int


@dataclass(frozen=True)
class _TB:
    as_of: object
    lines: list
    totals: dict
    balanced: bool
    extra: dict = field(default_factory=dict)


def test_trial_balance_page_renders_any_trial_balance(client, bank, monkeypatch):
    """The page against the published interface alone (and the NOT-balanced indicator, which the real
    ledger cannot produce)."""
    lines = [
        _Line("1002", "存放同业", "Bank deposits", "asset", "CNY", 150, 0, 150),
        _Line("4001", "实收资本", "Paid-in capital", "equity", "CNY", 0, 100, 100),
    ]

    class FakeAccounting:
        @staticmethod
        def trial_balance(uow, as_of, currency=None):
            return _TB(as_of, lines, {"CNY": (150, 100)}, False)

    monkeypatch.setattr(pages, "_accounting", lambda: FakeAccounting)
    console_login(client, bank)
    html = client.get("/console/ledger?lang=en").text
    assert 'data-balanced="false"' in html and "NOT balanced" in html
    assert "Paid-in capital" in html and "1.50" in html
    data = json.loads(re.search(r'id="tb-chart-data">(.*?)</script>', html, re.S).group(1))
    assert data["categories"][:2] == ["Assets", "Liabilities"]
    assert data["series"] == [{"name": "CNY", "data": [150, 0, 100, 0, 0]}]


def test_trial_balance_page_shows_a_posted_entry(client, bank):
    accounting = pytest.importorskip("dipper.accounting.commands")
    pytest.importorskip("dipper.accounting.queries")
    today = bank.container.clock.today()
    bank.container.handle(
        accounting.PostJournalEntry(
            tenant_id=bank.tenant_id,
            client_key=f"console-{uuid.uuid4().hex}",
            value_date=today,
            description="注册资本到账",
            lines=(
                accounting.PostingLine(account_code="1002", currency="CNY", debit_minor=123_456_789),
                accounting.PostingLine(account_code="4001", currency="CNY", credit_minor=123_456_789),
            ),
        ),
        actor=Actor(kind="user", id=bank.admin_id, name="admin"),
        tenant_id=bank.tenant_id,
    )
    console_login(client, bank)
    r = client.get("/console/ledger")
    assert r.status_code == 200
    assert "1,234,567.89" in r.text
    assert 'data-balanced="true"' in r.text and "试算平衡" in r.text
    assert 'id="tb-chart"' in r.text and "echarts.min.js" in r.text
    assert f'value="{today.isoformat()}"' in r.text

    params = {"lang": "en", "currency": "CNY", "as_of": today.isoformat()}
    en = client.get("/console/ledger", params=params).text
    assert "1,234,567.89" in en and "Balanced" in en
    # Before the value date there is nothing to show.
    earlier = client.get("/console/ledger", params={"as_of": "2000-01-01"}).text
    assert "1,234,567.89" not in earlier
    # A malformed date falls back to today instead of failing.
    bad = client.get("/console/ledger", params={"as_of": "not-a-date"})
    assert bad.status_code == 200 and "1,234,567.89" in bad.text
