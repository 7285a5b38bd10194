"""``dipper risk register``: a trained directory into a bank's registry, pending; clean errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import create_bank
from tests.integration.risk.conftest import write_applications
from typer.testing import CliRunner

from dipper.bootstrap import bootstrap
from dipper.entrypoints.cli import main as cli
from dipper.persistence.migrate import upgrade
from dipper.risk import commands, queries
from dipper.settings import Settings


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COLUMNS", "200")
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    container = bootstrap(Settings(database_url=url, environment="test"))
    upgrade(container.engine)
    bank = create_bank(container)
    bank.add_user("analyst", ("risk_analyst",))
    model = tmp_path / "card"
    commands.run(
        commands.TrainModel(
            data=write_applications(tmp_path / "a.csv", n=300), target="bad", kind="gbdt", out=model
        )
    )
    yield url, bank, model
    container.dispose()


def test_register_a_directory_as_a_user(setup):
    url, bank, model = setup
    args = [
        "risk",
        "register",
        "--model",
        str(model),
        "--name",
        "card",
        "--tenant",
        bank.code,
        "--as",
        "analyst",
    ]
    result = CliRunner().invoke(cli.app, [*args, "--database-url", url])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    manifest = json.loads((model / "manifest.json").read_text())
    assert (
        out["status"] == "pending" and out["version"] == 1 and out["content_hash"] == manifest["content_hash"]
    )
    [listed] = queries.list_models(bank.container.uow(bank.tenant_id), "card")
    assert listed["change_id"] == out["change_id"] and listed["created_by"] == bank.users["analyst"]


def test_a_tampered_directory_or_unknown_bank_is_a_clean_error(setup):
    url, bank, model = setup
    (model / "metrics.json").write_text("{}\n")
    result = CliRunner().invoke(
        cli.app,
        [
            "risk",
            "register",
            "--model",
            str(model),
            "--name",
            "card",
            "--tenant",
            bank.code,
            "--database-url",
            url,
        ],
    )
    assert result.exit_code == 2 and "error [model_tampered]" in result.stderr
    result = CliRunner().invoke(
        cli.app,
        [
            "risk",
            "register",
            "--model",
            str(model.parent),
            "--name",
            "x",
            "--tenant",
            "nope",
            "--database-url",
            url,
        ],
    )
    assert result.exit_code == 2 and "error [model_not_found]" in result.stderr
