"""Console: the backtest and monitoring reports the CLI wrote under ``risk_reports_dir`` — the list, a
backtest page (arms, swap set, chart data), a monitoring page (PSI, vintages, alerts), both languages,
safe names and permissions."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from tests.e2e.test_cli_risk_analysis import write_history, write_strategy
from typer.testing import CliRunner

from dipper.entrypoints.cli import main as cli
from dipper.entrypoints.console import i18n, risk_analysis_pages

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def console_login(client: Any, bank: Any, username: str = "admin") -> Any:
    client.cookies.clear()
    token = CSRF.search(client.get("/console/login").text).group(1)
    r = client.post(
        "/console/login",
        data={"bank": bank.code, "username": username, "password": bank.admin_password, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return client


def chart_data(html: str, block: str) -> dict[str, Any]:
    found = re.search(rf'<script type="application/json" id="{block}">(.*?)</script>', html, re.S)
    assert found, block
    return json.loads(unescape(found.group(1)))


def cli_run(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(cli.app, ["risk", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("console_reports_work")
    root = tmp_path_factory.mktemp("console_reports")
    history = write_history(work / "history.csv")
    training = work / "training.csv"
    pd.read_csv(history).dropna(subset=["bad"]).drop(columns=["applied", "final", "monthly_income"]).to_csv(
        training, index=False
    )
    model = work / "model"
    cli_run("train", "--data", str(training), "--target", "bad", "--kind", "scorecard", "--out", str(model),
            "--exclude", "application_id")  # fmt: skip
    backtest = cli_run(
        "backtest", "--champion", str(write_strategy(work / "c.json", 0, "champion")),
        "--candidate", str(write_strategy(work / "k.json", -20, "candidate")), "--data", str(history),
        "--target", "bad", "--model", str(model), "--out", str(root / "bt-2024"),
    )  # fmt: skip
    shifted = write_history(work / "shifted.csv", seed=9, shift=0.6)
    monitoring = cli_run(
        "monitor", "--model", str(model), "--data", str(shifted), "--target", "bad", "--date-col", "applied",
        "--strategy", str(work / "c.json"), "--decision-col", "final", "--out", str(root / "mon-2024"),
    )  # fmt: skip
    (root / "broken").mkdir()
    (root / "broken" / "backtest.json").write_text("{not json")
    (root / "notes").mkdir()  # a directory without a report
    return {"root": root, "backtest": backtest, "monitoring": monitoring}


@pytest.fixture
def signed_in(
    client: Any, bank: Any, container: Any, reports: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Any:
    monkeypatch.setattr(container.settings, "risk_reports_dir", str(reports["root"]))
    return console_login(client, bank)


def test_the_list_shows_readable_reports_only(signed_in: Any) -> None:
    r = signed_in.get("/console/risk/reports?lang=en")
    assert r.status_code == 200
    names = re.findall(r'<tr data-report="([^"]+)" data-kind="([^"]+)"', r.text)
    assert sorted(names) == [("bt-2024", "backtest"), ("mon-2024", "monitoring")]
    assert "Backtests and monitoring" in r.text
    zh = signed_in.get("/console/risk/reports?lang=zh-CN").text
    assert "策略回溯与模型监控" in zh and "模型监控" in zh
    # The risk module's page links to it.
    assert "/console/risk/reports" in signed_in.get("/console/modules/risk").text


def test_backtest_page_shows_both_arms_and_the_swap_set(signed_in: Any, reports: dict[str, Any]) -> None:
    doc = reports["backtest"]
    r = signed_in.get("/console/risk/reports/bt-2024?lang=en")
    assert r.status_code == 200
    html = r.text
    assert "Strategy backtest" in html and "Swap-in" in html
    swap_in = re.search(r'<tr data-swap="in"><th>[^<]*</th><td class="num">(\d+)</td>', html)
    assert swap_in and int(swap_in.group(1)) == doc["swap"]["in"]["count"]
    data = chart_data(html, "bt-chart-data")
    grades = sorted({g["grade"] for arm in ("champion", "candidate") for g in doc[arm]["by_grade"]})
    assert data["grades"] == grades
    champion = {g["grade"]: g["approval_rate"] for g in doc["champion"]["by_grade"]}
    assert data["approval"][0]["name"] == "Champion"
    assert data["approval"][0]["data"] == [champion.get(g) for g in grades]
    assert sum(cell[2] for cell in data["swap"]["cells"]) == doc["rows"]
    assert "reject inference" in html
    for g in doc["swap"]["in_by_grade"]:
        assert f'data-swap-grade="in-{g["grade"]}"' in html
    assert "/console/static/risk_analysis.js" in html
    zh = signed_in.get("/console/risk/reports/bt-2024?lang=zh-CN").text
    assert "换入" in zh and "冠军策略" in zh


def test_monitoring_page_shows_psi_vintages_and_alerts(signed_in: Any, reports: dict[str, Any]) -> None:
    doc = reports["monitoring"]
    html = signed_in.get("/console/risk/reports/mon-2024?lang=en").text
    assert 'data-variable="utilisation" data-level="alert"' in html
    assert 'data-kind="psi"' in html and "Alerts" in html
    data = chart_data(html, "mon-chart-data")
    assert data["psi"]["names"][0] == "score"
    assert data["psi"]["alert"] == 0.25
    assert data["vintages"]["names"] == [v["vintage"] for v in doc["vintages"] if v["ks"] is not None]
    assert 'data-code="ANY"' in html
    assert "Override rate" in html
    assert "群体稳定性" in signed_in.get("/console/risk/reports/mon-2024?lang=zh-CN").text


def test_monitoring_page_of_a_model_without_a_reference() -> None:
    t = i18n.Translator("en")
    doc = {
        "score_psi": None,
        "feature_psi": [],
        "vintages": [],
        "thresholds": {"psi_warn": 0.1, "psi_alert": 0.25},
    }
    data = risk_analysis_pages.monitoring_charts(doc, t)
    assert data["psi"]["names"] == [] and data["vintages"]["names"] == []


@pytest.mark.parametrize(
    ("name", "status"), [("nope", 404), ("..", 404), (".hidden", 404), ("notes", 404), ("broken", 422)]
)
def test_unknown_unsafe_and_broken_names(signed_in: Any, name: str, status: int) -> None:
    assert signed_in.get(f"/console/risk/reports/{name}").status_code == status


def test_an_empty_directory_says_how_to_fill_it(
    client: Any, bank: Any, container: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(container.settings, "risk_reports_dir", str(tmp_path / "none"))
    html = console_login(client, bank).get("/console/risk/reports?lang=en").text
    assert 'id="report-empty"' in html and "dipper risk backtest" in html


def test_reports_need_risk_read(
    client: Any, bank: Any, container: Any, reports: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(container.settings, "risk_reports_dir", str(reports["root"]))
    bank.add_user("collector1", ("collector",))
    console_login(client, bank, "collector1")
    assert client.get("/console/risk/reports").status_code == 403
    assert client.get("/console/risk/reports/bt-2024").status_code == 403
