"""Console: the product list and editor, inline validation in both languages, maker-checker buttons."""

from __future__ import annotations

import re
from html import unescape

from dipper.access import queries as access
from dipper.entrypoints.console import i18n, pages
from dipper.loans import queries as products

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def console_login(client, bank, username="admin"):
    client.cookies.clear()
    token = CSRF.search(client.get("/console/login").text).group(1)
    r = client.post(
        "/console/login",
        data={"bank": bank.code, "username": username, "password": bank.admin_password, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return client


def csrf(html: str) -> str:
    return CSRF.search(html).group(1)


FORM = {
    "code": "XFD-01",
    "name": "惠民消费贷",
    "name_en": "Huimin consumer loan",
    "scene": "家装分期",
    "segment": "工薪客群",
    "currency": "CNY",
    "min_amount_minor": "1,000",
    "max_amount_minor": "200000.00",
    "min_term_months": "3",
    "max_term_months": "24",
    "allowed_terms": "3, 6, 12，24",
    "repayment_methods": ["equal-installment", "revolving"],
    "min_rate": "7.2",
    "max_rate": "18",
    "day_count": "ACT/360",
    "rounding": "half-up",
    "holiday_roll": "following",
    "allocation_order": ["penalty", "interest", "principal", "fee"],
    "overdue_first": "on",
    "grace_days": "3",
    "penalty_uplift": "50",
    "prepayment_allowed": "on",
    "prepayment_partial_modes": ["shorten-term"],
    "prepayment_full": "on",
    "prepayment_fee_kind": "percentage",
    "prepayment_fee_rate": "1",
    "prepayment_lockin_months": "3",
    "upfront_fee_kind": "none",
    "periodic_fee_kind": "none",
}


def field_error(html: str, name: str) -> str:
    found = re.search(rf'<small class="field-error" id="err-{name}" role="alert">(.*?)</small>', html, re.S)
    assert found, f"no inline error for {name}"
    return unescape(found.group(1))


def create_product(client, form=FORM) -> str:
    page = client.get("/console/products/new")
    r = client.post(
        "/console/products/new", data={**form, "csrf_token": csrf(page.text)}, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    return r.headers["location"].split("/console/products/")[1].split("?")[0]


def test_the_loan_core_links_to_products_and_keeps_its_empty_state(client, bank):
    console_login(client, bank)
    html = client.get("/console/modules/loans").text
    assert 'href="/console/products"' in html and "贷款产品" in html
    assert i18n.catalogue("zh-CN")["module.loans.mission"] in html  # the parts not built yet
    assert "<table" not in html


def test_the_editor_renders_every_term_in_both_languages(client, bank):
    console_login(client, bank)
    zh = client.get("/console/products/new")
    assert zh.status_code == 200
    for name in products.TERM_FIELDS:
        if name == "revolving_interest_rule":
            continue  # recorded automatically for revolving products
        assert f'name="{name}"' in zh.text, name
    assert "最高年利率" in zh.text and "罚息上浮比例" in zh.text and "随借随还" in zh.text
    en = client.get("/console/products/new?lang=en")
    assert "Maximum annual rate" in en.text and "Penalty uplift" in en.text


def test_a_product_is_created_and_shown_in_yuan_and_percent(client, bank):
    console_login(client, bank)
    product_id = create_product(client)
    html = client.get(f"/console/products/{product_id}?done=created").text
    assert "产品已创建" in html and "惠民消费贷" in html
    assert 'value="1000"' in html and 'value="200000"' in html and 'value="7.2"' in html
    version = products.get_version(bank.container.uow(bank.tenant_id), product_id, 1)
    terms = version["terms"]
    assert terms["min_amount_minor"] == 100_000 and terms["max_amount_minor"] == 20_000_000
    assert terms["min_rate"] == "0.072" and terms["penalty_uplift"] == "0.5"
    assert terms["allowed_terms"] == [3, 6, 12, 24]
    assert terms["revolving_interest_rule"] == "drawdown-day-counted-repayment-day-not"
    listing = client.get("/console/products").text
    assert "XFD-01" in listing and f"/console/products/{product_id}" in listing


def test_validation_errors_show_inline_in_chinese_and_english(client, bank):
    console_login(client, bank)
    bad = {**FORM, "min_rate": "20", "max_rate": "10", "penalty_uplift": "60", "grace_days": "abc"}
    page = client.get("/console/products/new")
    r = client.post("/console/products/new", data={**bad, "csrf_token": csrf(page.text)})
    assert r.status_code == 422
    assert "利率须大于 0" in field_error(r.text, "max_rate")
    assert "30%–50%" in field_error(r.text, "penalty_uplift")
    assert "请输入数字" in field_error(r.text, "grace_days")
    assert 'value="abc"' in r.text  # what was typed is kept
    assert products.list_products(bank.container.uow(bank.tenant_id)) == []

    r = client.post("/console/products/new?lang=en", data={**bad, "csrf_token": csrf(page.text)})
    assert r.status_code == 422
    assert "minimum not above the maximum" in field_error(r.text, "max_rate")
    assert "between 30% and 50%" in field_error(r.text, "penalty_uplift")

    # Editing a draft shows the same inline messages.
    product_id = create_product(client)
    page = client.get(f"/console/products/{product_id}?lang=en")
    r = client.post(
        f"/console/products/{product_id}/versions/1?lang=en",
        data={**FORM, "allowed_terms": "3, 36", "csrf_token": csrf(page.text)},
    )
    assert r.status_code == 422
    assert "each between the shortest and longest term" in field_error(r.text, "allowed_terms")


def test_csrf_is_required(client, bank):
    console_login(client, bank)
    r = client.post("/console/products/new", data={**FORM, "csrf_token": "forged"})
    assert r.status_code == 403
    assert products.list_products(bank.container.uow(bank.tenant_id)) == []


def test_submit_creates_a_pending_change_that_another_person_approves(client, bank):
    bank.add_user("pm.checker", ("product_manager",))
    console_login(client, bank)
    product_id = create_product(client)
    page = client.get(f"/console/products/{product_id}")
    r = client.post(
        f"/console/products/{product_id}/versions/1",
        data={**FORM, "max_rate": "15", "csrf_token": csrf(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    r = client.post(
        f"/console/products/{product_id}/versions/1/submit",
        data={"note": "ALCO 已批准", "csrf_token": csrf(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    (change,) = access.list_changes(bank.container.uow(bank.tenant_id), "pending")
    assert change["kind"] == "loans.product.publish" and change["target"] == product_id
    assert change["payload"]["terms"]["max_rate"] == "0.15"

    html = client.get(r.headers["location"]).text
    assert "等待复核" in html and f"pending-{change['id']}" in html
    assert f"approve-{change['id']}" not in html  # the maker gets no approve button
    assert 'id="product-form"' not in html  # the submitted draft is frozen
    # Even a forged post is refused by the four-eyes rule.
    r = client.post(
        f"/console/products/{product_id}/changes/{change['id']}/approve", data={"csrf_token": csrf(html)}
    )
    assert r.status_code == 403 and "制单人不能复核" in r.text

    console_login(client, bank, "pm.checker")
    html = client.get(f"/console/products/{product_id}?lang=en").text
    assert f'id="approve-{change["id"]}"' in html and f'id="reject-{change["id"]}"' in html
    r = client.post(
        f"/console/products/{product_id}/changes/{change['id']}/approve",
        data={"csrf_token": csrf(html), "note": "ok"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    html = client.get(r.headers["location"]).text
    assert "Approved." in html and "published" in html
    assert 'id="product-form"' not in html and "terms-readonly" in html
    assert products.published_version(bank.container.uow(bank.tenant_id), "XFD-01")["version_no"] == 1


def test_a_rejected_draft_is_editable_again(client, bank):
    bank.add_user("pm.checker", ("product_manager",))
    console_login(client, bank)
    product_id = create_product(client)
    page = client.get(f"/console/products/{product_id}")
    client.post(f"/console/products/{product_id}/versions/1/submit", data={"csrf_token": csrf(page.text)})
    (change,) = access.list_changes(bank.container.uow(bank.tenant_id), "pending")
    console_login(client, bank, "pm.checker")
    html = client.get(f"/console/products/{product_id}").text
    r = client.post(
        f"/console/products/{product_id}/changes/{change['id']}/reject",
        data={"csrf_token": csrf(html)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    html = client.get(r.headers["location"]).text
    assert "已驳回" in html and 'id="product-form"' in html and 'id="submit-version"' in html


def test_readers_see_products_but_no_editor(client, bank):
    bank.add_user("viewer", ("read_only",))
    console_login(client, bank)
    product_id = create_product(client)
    console_login(client, bank, "viewer")
    html = client.get(f"/console/products/{product_id}").text
    assert 'id="product-form"' not in html and 'id="submit-version"' not in html and "terms-readonly" in html
    assert client.get("/console/products/new").status_code == 403
    assert client.get("/console/products/unknown").status_code == 404


def test_option_labels_exist_for_every_choice():
    zh, en = i18n.catalogue("zh-CN"), i18n.catalogue("en")
    for name, options in pages._product_choices().items():
        for value, key in options:
            if key:
                assert key in zh and key in en, (name, value, key)
    for code in (
        "invalid_amount_range",
        "invalid_rate_range",
        "invalid_penalty_uplift",
        "unknown_method",
        "version_not_editable",
        "version_pending_approval",
    ):
        assert f"product.error.{code}" in zh and f"product.error.{code}" in en
