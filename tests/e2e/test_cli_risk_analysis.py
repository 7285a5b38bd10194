"""``dipper risk backtest`` and ``dipper risk monitor`` end to end: small CSVs built here, a model
trained through the CLI, report directories, exit codes and clean errors. The Taiwan default file is
used only in the slow test."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from bench.risk_models import DATA, TARGET
from typer.testing import CliRunner

from dipper.entrypoints.cli import main as cli
from dipper.entrypoints.cli.risk_analysis import EXIT_ALERT
from dipper.risk.domain.strategy import default_strategy


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str) -> Any:
    return runner.invoke(cli.app, ["risk", *args])


def error_code(result: Any) -> str:
    assert result.exit_code == 2, result.output
    line = result.stderr.strip().splitlines()[0]
    assert line.startswith("error ["), result.stderr
    assert "Traceback" not in result.output + result.stderr
    return line.split("[", 1)[1].split("]", 1)[0]


def write_history(path: Path, n: int = 800, seed: int = 3, shift: float = 0.0) -> Path:
    """Applications with an outcome (empty for every fifth: not booked), a month and a logged decision."""
    rng = np.random.default_rng(seed)
    utilisation = rng.uniform(0, 1.2, n) + shift
    income = rng.lognormal(9, 0.5, n)
    channel = rng.choice(["app", "branch", "partner"], n)
    logit = -1.0 + 2.5 * utilisation - 0.8 * (np.log(income) - 9) + (channel == "partner") * 0.8
    bad = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "application_id",
                "utilisation",
                "income",
                "channel",
                "monthly_income",
                "applied",
                "final",
                "bad",
            ]
        )
        for i in range(n):
            writer.writerow(
                [
                    f"A{i:05d}",
                    f"{utilisation[i]:.4f}",
                    f"{income[i]:.2f}",
                    channel[i],
                    f"{income[i]:.2f}",
                    f"2024-{1 + i % 4:02d}-15",
                    "approve" if i % 3 else "decline",
                    "" if i % 5 == 0 else bad[i],
                ]
            )
    return path


def write_strategy(path: Path, shift: int = 0, name: str = "test_strategy") -> Path:
    """The default strategy with only the no-income and DTI knock-outs, its score bands moved by ``shift``."""
    document = json.loads(json.dumps(default_strategy().document))
    document["dipper"] = {**document.get("dipper", {}), "strategy_id": name, "version": 1}
    for node in document["nodes"]:
        if node["id"] == "knockouts":
            node["content"]["rules"] = [r for r in node["content"]["rules"] if r["_id"] in ("ko-5", "ko-6")]
        if node["id"] == "grades":
            bands = {"A": ">= {a}", "B": "[{b}..{a})", "C": "[{c}..{b})", "D": "[{d}..{c})", "E": "< {d}"}
            cut = {"a": 500 + shift, "b": 480 + shift, "c": 460 + shift, "d": 440 + shift}
            for rule in node["content"]["rules"]:
                grade = rule.get("grade-grade", "").strip('"')
                if grade in bands:
                    rule["grade-score"] = bands[grade].format(**cut)
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("risk_analysis")
    history = write_history(root / "history.csv")
    training = root / "training.csv"
    pd.read_csv(history).dropna(subset=["bad"]).drop(columns=["applied", "final", "monthly_income"]).to_csv(
        training, index=False
    )
    result = CliRunner().invoke(
        cli.app,
        [
            "risk",
            "train",
            "--data",
            str(training),
            "--target",
            "bad",
            "--kind",
            "scorecard",
            "--out",
            str(root / "model"),
            "--exclude",
            "application_id",
        ],
    )
    assert result.exit_code == 0, result.output
    return {
        "root": root,
        "history": history,
        "model": root / "model",
        "champion": write_strategy(root / "champion.json", 0, "champion"),
        "candidate": write_strategy(root / "candidate.json", -20, "candidate"),
    }


def test_backtest_writes_a_report_and_prints_its_figures(
    runner: CliRunner, workspace: dict[str, Path]
) -> None:
    out = workspace["root"] / "backtest"
    result = invoke(
        runner,
        "backtest",
        "--champion",
        str(workspace["champion"]),
        "--candidate",
        str(workspace["candidate"]),
        "--data",
        str(workspace["history"]),
        "--target",
        "bad",
        "--model",
        str(workspace["model"]),
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["format"] == "dipper.risk.backtest/1"
    assert (figures["rows"], figures["rows_without_outcome"]) == (800, 160)
    champ, cand = figures["champion"], figures["candidate"]
    assert (champ["strategy_id"], cand["strategy_id"]) == ("champion", "candidate")
    # Lower cut-offs approve a superset: swap-ins only.
    assert cand["approved"] > champ["approved"] > 0
    assert figures["swap"]["out"]["count"] == 0
    assert figures["swap"]["in"]["count"] == cand["approved"] - champ["approved"]
    assert cand["bad_rate"] > champ["bad_rate"]  # the swap-ins are riskier
    assert cand["expected_loss_minor"] > champ["expected_loss_minor"] > 0
    assert "reject inference" in result.stderr
    assert figures["models"][0]["content_hash"].startswith("sha256:")
    for name in ("backtest.json", "report.html", "rows.csv", "approval_by_grade.png", "swap_matrix.png"):
        assert (out / name).is_file(), name
    assert json.loads((out / "backtest.json").read_text())["swap"] == figures["swap"]
    rows = pd.read_csv(out / "rows.csv")
    assert len(rows) == 800
    assert (rows["swap"] == "in").sum() == figures["swap"]["in"]["count"]


def test_backtest_without_a_model_reads_the_score_column(
    runner: CliRunner, workspace: dict[str, Path], tmp_path: Path
) -> None:
    data = tmp_path / "scored.csv"
    frame = pd.DataFrame(
        {
            "monthly_income": [8000, 8000, 8000, 0],
            "score": [510, 490, 450, 520],
            "bad": [0, 1, "", 0],
        }
    )
    frame.to_csv(data, index=False)
    result = invoke(
        runner,
        "backtest",
        "--champion",
        str(workspace["champion"]),
        "--candidate",
        "default",
        "--data",
        str(data),
        "--target",
        "bad",
        "--out",
        str(tmp_path / "out"),
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["champion"]["decisions"] == {"approve": 2, "review": 1, "decline": 1}
    assert figures["champion"]["reasons"]["KO_NO_INCOME"] == 1
    assert figures["candidate"]["approved"] == 0  # the packaged cut-offs sit far above these scores


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"--target": "nope"}, "missing_target"),
        ({"--champion": "missing.json"}, "strategy_not_found"),
        ({"--review-as": "maybe"}, "invalid_review_as"),
        ({"--lgd": "1.5"}, "invalid_lgd"),
        ({"--min-rate": "abc"}, "invalid_rate"),
        ({"--data": "absent.csv"}, "invalid_data_file"),
    ],
)
def test_backtest_refuses_bad_input(
    runner: CliRunner, workspace: dict[str, Path], tmp_path: Path, change: dict[str, str], code: str
) -> None:
    options = {
        "--champion": str(workspace["champion"]),
        "--candidate": str(workspace["candidate"]),
        "--data": str(workspace["history"]),
        "--target": "bad",
        "--model": str(workspace["model"]),
        "--out": str(tmp_path / "out"),
        **{k: (str(tmp_path / v) if k in ("--champion", "--data") else v) for k, v in change.items()},
    }
    result = invoke(runner, "backtest", *(x for kv in options.items() for x in kv))
    assert error_code(result) == code
    assert not (tmp_path / "out").exists()


def test_backtest_refuses_a_broken_strategy_and_a_bad_outcome(
    runner: CliRunner, workspace: dict[str, Path], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"contentType": "nope"}')
    base = ["--data", str(workspace["history"]), "--target", "bad", "--out", str(tmp_path / "o")]
    result = invoke(runner, "backtest", "--champion", str(broken), "--candidate", "default", *base)
    assert error_code(result) == "invalid_strategy_document"
    data = tmp_path / "bad_outcome.csv"
    pd.DataFrame({"score": [500, 510], "bad": ["yes", "0"]}).to_csv(data, index=False)
    result = invoke(
        runner, "backtest", "--champion", "default", "--candidate", "default", "--data", str(data),
        "--target", "bad", "--out", str(tmp_path / "o"),
    )  # fmt: skip
    assert error_code(result) == "target_not_binary"


def monitor(runner: CliRunner, workspace: dict[str, Path], data: Path, out: Path, *extra: str) -> Any:
    return invoke(
        runner, "monitor", "--model", str(workspace["model"]), "--data", str(data), "--out", str(out), *extra
    )


def test_monitor_on_the_training_population_is_stable(runner: CliRunner, workspace: dict[str, Path]) -> None:
    out = workspace["root"] / "monitoring"
    result = monitor(
        runner, workspace, workspace["history"], out,
        "--target", "bad", "--date-col", "applied", "--strategy", str(workspace["champion"]),
        "--decision-col", "final", "--fail-on-alert",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["format"] == "dipper.risk.monitoring/1"
    assert figures["score_psi"]["psi"] < 0.01  # the same people the model was trained on (plus 160)
    assert {f["name"] for f in figures["feature_psi"]} == {"utilisation", "income", "channel"}
    assert [v["vintage"] for v in figures["vintages"]] == ["2024-01", "2024-02", "2024-03", "2024-04"]
    assert all(v["matured"] == 160 and v["auc"] > 0.6 for v in figures["vintages"])
    assert figures["rule_hits"][-1]["code"] == "ANY"
    assert figures["overrides"]["with_final_decision"] == 800
    assert figures["alerts"] == []
    for name in ("monitoring.json", "report.html", "psi.png", "vintages.png"):
        assert (out / name).is_file(), name


def test_monitor_alerts_on_a_shifted_population(
    runner: CliRunner, workspace: dict[str, Path], tmp_path: Path
) -> None:
    shifted = write_history(tmp_path / "shifted.csv", seed=9, shift=0.6)
    result = monitor(runner, workspace, shifted, tmp_path / "m", "--psi-alert", "0.25")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    kinds = {(a["kind"], a["subject"]) for a in figures["alerts"] if a["level"] == "alert"}
    assert ("psi", "utilisation") in kinds
    assert "alert [psi]: PSI of utilisation" in result.stderr
    failed = monitor(runner, workspace, shifted, tmp_path / "m2", "--fail-on-alert")
    assert failed.exit_code == EXIT_ALERT
    # A higher alert level turns the same shift into warnings only.
    relaxed = monitor(runner, workspace, shifted, tmp_path / "m3", "--psi-warn", "5", "--psi-alert", "10")
    assert json.loads(relaxed.stdout)["alerts"] == []


def test_monitor_says_when_a_model_has_no_reference(
    runner: CliRunner, workspace: dict[str, Path], tmp_path: Path
) -> None:
    # A directory written before references existed: no reference.json, a manifest that still verifies.
    old = tmp_path / "old_model"
    old.mkdir()
    manifest = json.loads((workspace["model"] / "manifest.json").read_text())
    del manifest["artifacts"]["reference.json"]
    for name in manifest["artifacts"]:
        (old / name).parent.mkdir(parents=True, exist_ok=True)
        (old / name).write_bytes((workspace["model"] / name).read_bytes())
    lines = "".join(f"{k} {v}\n" for k, v in sorted(manifest["artifacts"].items()))
    manifest["content_hash"] = "sha256:" + hashlib.sha256(lines.encode()).hexdigest()
    (old / "manifest.json").write_text(json.dumps(manifest))
    result = invoke(
        runner, "monitor", "--model", str(old), "--data", str(workspace["history"]),
        "--out", str(tmp_path / "m"), "--fail-on-alert",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["reference"] is None and figures["score_psi"] is None
    assert [a["kind"] for a in figures["alerts"]] == ["no_reference"]
    assert "no training reference" in result.stderr


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        (("--target", "nope"), "missing_target"),
        (("--date-col", "channel", "--target", "bad"), "invalid_date_column"),
        (("--decision-col", "final"), "missing_strategy_decisions"),
        (("--psi-warn", "0.5", "--psi-alert", "0.2"), "invalid_threshold"),
    ],
)
def test_monitor_refuses_bad_input(
    runner: CliRunner, workspace: dict[str, Path], tmp_path: Path, extra: tuple[str, ...], code: str
) -> None:
    result = monitor(runner, workspace, workspace["history"], tmp_path / "m", *extra)
    assert error_code(result) == code


@pytest.mark.slow
@pytest.mark.skipif(not DATA.is_file(), reason=f"Taiwan default data not found at {DATA}")
def test_taiwan_backtest_and_monitoring(runner: CliRunner, tmp_path: Path) -> None:
    model = tmp_path / "model"
    trained = invoke(
        runner, "train", "--data", str(DATA), "--target", TARGET, "--kind", "scorecard", "--out", str(model),
        "--exclude", "ID",
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    frame = pd.read_csv(DATA)
    frame["monthly_income"] = frame["LIMIT_BAL"] / 10
    data = tmp_path / "taiwan.csv"
    frame.to_csv(data, index=False)
    scores = pd.read_csv(model / "report" / "score_distribution.csv")
    middle = int(scores["score_from"].median())
    champion = write_strategy(tmp_path / "champion.json", middle - 460, "champion")
    candidate = write_strategy(tmp_path / "candidate.json", middle - 480, "candidate")
    result = invoke(
        runner, "backtest", "--champion", str(champion), "--candidate", str(candidate), "--data", str(data),
        "--target", TARGET, "--model", str(model), "--out", str(tmp_path / "bt"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["rows"] == 30_000
    assert figures["candidate"]["approved"] >= figures["champion"]["approved"] > 0
    assert figures["swap"]["out"]["count"] == 0
    result = invoke(
        runner, "monitor", "--model", str(model), "--data", str(data), "--target", TARGET,
        "--out", str(tmp_path / "mon"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["score_psi"]["psi"] < 1e-6  # the training file itself
    assert figures["vintages"][0]["auc"] > 0.75


def test_backtest_computes_the_default_feature_set_from_raw_applications(
    runner: CliRunner, tmp_path: Path
) -> None:
    from bench.risk_decision import _application

    frame = pd.DataFrame([_application(i) for i in range(200)])
    frame["score"] = 600 + np.arange(200) % 150
    frame["bad"] = [("" if i % 4 == 0 else i % 2) for i in range(200)]
    data = tmp_path / "applications.csv"
    frame.to_csv(data, index=False)
    base = ["--champion", "default", "--candidate", "default", "--data", str(data), "--target", "bad"]
    result = invoke(runner, "backtest", *base, "--feature-set", "default", "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    champion = json.loads(result.stdout)["champion"]
    # The knock-outs read features (DTI, bureau delinquency) that only the feature set computes.
    assert champion["reasons"].get("KO_DTI", 0) > 0
    assert "KO_AGE" not in champion["reasons"]  # age comes from the resident ID
    without = invoke(runner, "backtest", *base, "--out", str(tmp_path / "o2"))
    assert json.loads(without.stdout)["champion"]["reasons"]["KO_AGE"] == 200  # no age column: all out
    assert error_code(
        invoke(runner, "backtest", *base, "--feature-set", "x", "--out", str(tmp_path / "o3"))
    ) == ("unknown_feature_set")
