"""``dipper risk train`` and ``dipper risk score``: a round trip on a small CSV, and clean errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from dipper.entrypoints.cli import main as cli
from dipper.risk import queries as risk_queries


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def write_csv(path: Path, n: int = 800, seed: int = 3) -> Path:
    rng = np.random.default_rng(seed)
    utilisation = rng.uniform(0, 1.2, n)
    income = rng.lognormal(9, 0.5, n)
    channel = rng.choice(["app", "branch", "partner"], n)
    logit = -1.0 + 2.5 * utilisation - 0.8 * (np.log(income) - 9) + (channel == "partner") * 0.8
    bad = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["application_id", "utilisation", "income", "channel", "bad"])
        for i in range(n):
            income_cell = "" if i % 25 == 0 else f"{income[i]:.2f}"
            writer.writerow([f"A{i:05d}", f"{utilisation[i]:.4f}", income_cell, channel[i], bad[i]])
    return path


def invoke(runner: CliRunner, *args: str) -> Any:
    return runner.invoke(cli.app, ["risk", *args])


def error_code(result: Any) -> str:
    assert result.exit_code == 2, result.output
    line = result.stderr.strip().splitlines()[0]
    assert line.startswith("error ["), result.stderr
    assert "Traceback" not in result.output + result.stderr
    return line.split("[", 1)[1].split("]", 1)[0]


@pytest.mark.parametrize("kind", ["scorecard", "gbdt"])
def test_train_then_score_round_trip(runner: CliRunner, tmp_path: Path, kind: str) -> None:
    data = write_csv(tmp_path / "applications.csv")
    out = tmp_path / f"model-{kind}"
    result = invoke(
        runner, "train", "--data", str(data), "--target", "bad", "--kind", kind, "--out", str(out),
        "--exclude", "application_id", "--seed", "7",
    )  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["kind"] == kind
    assert metrics["training_rows"] == 800
    assert metrics["validation"]["rows"] == 160
    assert 0.6 < metrics["validation"]["auc"] <= 1.0
    assert metrics["validation"]["ks"] > 0

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "dipper.risk.model/1"
    assert manifest["content_hash"] == metrics["content_hash"]
    assert manifest["training_data"]["rows"] == 800 and manifest["training_data"]["columns"] == 5
    assert len(manifest["training_data"]["sha256"]) == 64
    assert manifest["inputs"] == ["utilisation", "income", "channel"]
    for name in ("model.json", "report/report.html", "report/roc.png", "report/ks.png"):
        assert name in manifest["artifacts"]
        assert (out / name).is_file()
    assert (out / "report/roc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if kind == "scorecard":
        assert (
            "report/binning_tables.csv" in manifest["artifacts"] and "report/iv.csv" in manifest["artifacts"]
        )
    else:
        assert "lightgbm.txt" in manifest["artifacts"]

    scored = tmp_path / "scored.csv"
    result = invoke(runner, "score", "--model", str(out), "--data", str(data), "--out", str(scored))
    assert result.exit_code == 0, result.output + result.stderr
    with scored.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 800
    assert list(rows[0]) == ["application_id", "utilisation", "income", "channel", "bad", "score", "pd"]
    assert all(0.0 < float(r["pd"]) < 1.0 for r in rows)

    # The loaded model decides one application (no pandas on this path) as the file scored it.
    loaded = risk_queries.load_model(out)
    first = {k: rows[0][k] for k in ("utilisation", "income", "channel")}
    decision = loaded.decide(first)
    assert decision["score"] == pytest.approx(float(rows[0]["score"]), abs=1e-4)
    assert decision["model"] == manifest["content_hash"]
    assert all(set(r["text"]) == {"zh-CN", "en"} for r in decision["reasons"])


def test_tampered_model_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "a.csv", n=400)
    out = tmp_path / "m"
    assert invoke(runner, "train", "--data", str(data), "--target", "bad", "--kind", "scorecard",
                  "--out", str(out), "--exclude", "application_id").exit_code == 0  # fmt: skip
    model = json.loads((out / "model.json").read_text())
    model["base_points"] += 100
    (out / "model.json").write_text(json.dumps(model))
    result = invoke(
        runner, "score", "--model", str(out), "--data", str(data), "--out", str(tmp_path / "s.csv")
    )
    assert error_code(result) == "model_tampered"
    result = invoke(runner, "score", "--model", str(tmp_path / "nowhere"), "--data", str(data),
                    "--out", str(tmp_path / "s.csv"))  # fmt: skip
    assert error_code(result) == "model_not_found"


def train_args(data: Path, out: Path, *extra: str, target: str = "bad") -> list[str]:
    return [
        "train",
        "--data",
        str(data),
        "--target",
        target,
        "--kind",
        "scorecard",
        "--out",
        str(out),
        *extra,
    ]


def test_bad_file_is_a_clean_error(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "m"
    assert error_code(invoke(runner, *train_args(tmp_path / "absent.csv", out))) == "invalid_data_file"
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\x00\xff\xfe\x81" * 50)
    assert error_code(invoke(runner, *train_args(binary, out))) == "invalid_data_file"
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert error_code(invoke(runner, *train_args(empty, out))) == "invalid_data_file"
    assert not out.exists()


def test_missing_target_is_a_clean_error(runner: CliRunner, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "a.csv", n=100)
    result = invoke(runner, *train_args(data, tmp_path / "m", target="defaulted"))
    assert error_code(result) == "missing_target"
    assert "defaulted" in result.stderr


def test_constant_column_is_a_clean_error(runner: CliRunner, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "a.csv", n=200)
    lines = data.read_text().splitlines()
    data.write_text("\n".join([lines[0] + ",country"] + [line + ",CN" for line in lines[1:]]) + "\n")
    result = invoke(runner, *train_args(data, tmp_path / "m", "--exclude", "application_id"))
    assert error_code(result) == "constant_column"
    assert "country" in result.stderr


def test_target_not_binary_and_unknown_kind(runner: CliRunner, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "a.csv", n=100)
    result = invoke(runner, *train_args(data, tmp_path / "m", target="utilisation"))
    assert error_code(result) == "target_not_binary"
    result = invoke(runner, "train", "--data", str(data), "--target", "bad", "--kind", "forest",
                    "--out", str(tmp_path / "m"))  # fmt: skip
    assert error_code(result) == "unknown_model_kind"


def test_scoring_a_file_without_the_model_columns(runner: CliRunner, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "a.csv", n=300)
    out = tmp_path / "m"
    assert invoke(runner, *train_args(data, out, "--exclude", "application_id")).exit_code == 0
    other = tmp_path / "other.csv"
    other.write_text("application_id,utilisation\nA1,0.5\n")
    result = invoke(
        runner, "score", "--model", str(out), "--data", str(other), "--out", str(tmp_path / "s.csv")
    )
    assert error_code(result) == "missing_feature"
