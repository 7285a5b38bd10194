"""Console: model registry and strategy editor, maker-checker on the object's page, both languages."""

from __future__ import annotations

import re
from html import unescape

import pytest
from tests.integration.risk.conftest import write_applications

from dipper.risk import commands
from dipper.risk import queries as registry


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    root = tmp_path_factory.mktemp("console-models")
    data = write_applications(root / "a.csv", n=300)
    commands.run(commands.TrainModel(data=data, target="bad", kind="scorecard", out=root / "card"))
    return {"scorecard": commands.pack_model_directory(root / "card")}


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def login(client, bank, username):
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


def _uow(bank):
    return bank.container.uow(bank.tenant_id)


def test_upload_a_model_and_the_checker_approves_it(client, bank, archives):
    bank.add_user("analyst", ("risk_analyst",))
    bank.add_user("reviewer", ("risk_analyst",))
    login(client, bank, "analyst")
    page = client.get("/console/risk/models?lang=en")
    assert page.status_code == 200 and 'id="model-empty"' in page.text
    r = client.post(
        "/console/risk/models",
        data={"name": "card", "note": "first scorecard", "csrf_token": csrf(page.text)},
        files={"archive": ("card.zip", archives["scorecard"], "application/zip")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    detail = client.get(r.headers["location"])
    assert "Pending approval" in detail.text and "You made this change" in detail.text
    assert 'id="approve-' not in detail.text  # the maker gets no approve button
    model_id = registry.list_models(_uow(bank))[0]["id"]
    report = client.get(f"/console/risk/models/{model_id}/files/report/report.html")
    assert report.status_code == 200 and "script-src" not in report.headers["content-security-policy"]
    # A broken upload is refused with its code, on the page.
    r = client.post(
        "/console/risk/models",
        data={"name": "bad", "csrf_token": csrf(page.text)},
        files={"archive": ("bad.zip", b"nope", "application/zip")},
    )
    assert r.status_code == 422 and "invalid_model_archive" in r.text

    login(client, bank, "reviewer")
    detail = client.get(f"/console/risk/models/{model_id}?lang=zh-CN")
    assert "待审批" in detail.text
    change_id = re.search(r'id="approve-([0-9A-Z]+)"', detail.text).group(1)
    r = client.post(
        f"/console/risk/models/{model_id}/changes/{change_id}/approve",
        data={"csrf_token": csrf(detail.text), "note": "ok"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert registry.list_models(_uow(bank))[0]["status"] == "approved"
    assert "已批准" in client.get(f"/console/risk/models/{model_id}").text


def test_edit_the_pricing_table_and_approve_the_new_version(client, bank, archives):
    bank.add_user("analyst", ("risk_analyst",))
    bank.add_user("reviewer", ("risk_analyst",))
    login(client, bank, "analyst")
    page = client.get("/console/risk/strategies/default_consumer?lang=en")
    assert page.status_code == 200 and "built-in default" in page.text
    form: dict[str, str] = {"csrf_token": csrf(page.text), "base_version": "", "note": "cheaper A"}
    for name, value in re.findall(r'<input class="mono" name="(cell:[^"]+)" value="([^"]*)"', page.text):
        form[name] = unescape(value)
    for name, value in re.findall(r'<input name="(cell:[^"]+:_description)" value="([^"]*)"', page.text):
        form[name] = unescape(value)
    for name, value in re.findall(r'<input type="hidden" name="(rowid:[^"]+)" value="([^"]*)"', page.text):
        form[name] = value
    assert form["cell:pricing:1:pricing-rate"] == "0.072"
    form["cell:pricing:1:pricing-rate"] = "0.0688"
    # A new row in the limits table: its blank row is the 7th.
    form.update({"cell:limits:7:limits-grade": '"Z"', "cell:limits:7:limits-multiple": "1"})
    form.update({"cell:limits:7:limits-dti": "0.3", "cell:limits:7:limits-cap": "1000"})
    form["delete:knockouts:8"] = "1"  # drop the risky-device rule
    r = client.post("/console/risk/strategies/default_consumer/tables", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    pending = client.get(r.headers["location"])
    assert "Pending approval" in pending.text and "submit-tables" not in pending.text  # frozen until decided

    login(client, bank, "reviewer")
    page = client.get("/console/risk/strategies/default_consumer")
    change_id = re.search(r'id="approve-([0-9A-Z]+)"', page.text).group(1)
    r = client.post(
        f"/console/risk/strategies/default_consumer/changes/{change_id}/approve",
        data={"csrf_token": csrf(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    tables = {t["id"]: t for t in registry.strategy_tables(_uow(bank), "default_consumer")["tables"]}
    assert registry.champion_setup(_uow(bank)).champion.strategy.version == 2
    assert tables["pricing"]["rules"][0]["pricing-rate"] == "0.0688"
    assert tables["pricing"]["rules"][0]["_id"] == "pricing-A"
    assert tables["limits"]["rules"][-1]["limits-grade"] == '"Z"'
    assert [r["_id"] for r in tables["knockouts"]["rules"]] == [f"ko-{i}" for i in (0, 1, 2, 3, 4, 5, 6, 8)]


def test_a_bad_cell_shows_the_reason_and_keeps_the_rows(client, bank):
    bank.add_user("analyst", ("risk_analyst",))
    login(client, bank, "analyst")
    page = client.get("/console/risk/strategies/default_consumer?lang=en")
    r = client.post(
        "/console/risk/strategies/default_consumer/tables",
        data={
            "csrf_token": csrf(page.text),
            "cell:pricing:1:pricing-grade": '"A"',
            "cell:pricing:1:pricing-rate": "0.1 +",
        },
    )
    assert r.status_code == 422 and "invalid_strategy_document" in r.text
    assert 'value="0.1 +"' in r.text


def test_read_only_staff_see_but_cannot_edit(client, bank):
    bank.add_user("viewer", ("read_only",))
    login(client, bank, "viewer")
    page = client.get("/console/risk/strategies/default_consumer")
    assert page.status_code == 200 and 'name="cell:pricing:1:pricing-rate"' not in page.text
    assert 'id="submit-tables"' not in page.text
    assert client.get("/console/risk/models").status_code == 200


def test_the_risk_module_links_the_registry_and_the_list_shows_versions(client, bank):
    bank.add_user("analyst", ("risk_analyst",))
    login(client, bank, "analyst")
    module = client.get("/console/modules/risk?lang=en")
    assert "/console/risk/models" in module.text and "/console/risk/strategies" in module.text
    listing = client.get("/console/risk/strategies?lang=zh-CN")
    assert listing.status_code == 200 and 'data-strategy="default_consumer"' in listing.text
    assert "内置默认" in listing.text
    assert client.get("/console/risk/strategies/unknown_one").status_code == 404
