"""``dipper risk score`` on a file read in chunks writes what a whole-file read writes, byte for byte,
and leaves no half-written file when a chunk is bad."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.e2e.test_cli_risk import error_code, invoke, write_csv
from typer.testing import CliRunner

from dipper.risk.handlers import training


@pytest.mark.parametrize("kind", ["scorecard", "gbdt"])
def test_streamed_scoring_equals_whole_file_scoring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    runner = CliRunner()
    data = write_csv(tmp_path / "applications.csv", n=1500)
    model = tmp_path / "model"
    args = ["--target", "bad", "--kind", kind, "--out", str(model), "--exclude", "application_id"]
    assert invoke(runner, "train", "--data", str(data), *args).exit_code == 0
    whole = tmp_path / "whole.csv"
    assert (
        invoke(runner, "score", "--model", str(model), "--data", str(data), "--out", str(whole)).exit_code
        == 0
    )

    monkeypatch.setattr(training, "_STREAM_BYTES", 0)
    monkeypatch.setattr(training, "_CHUNK_ROWS", 170)  # nine chunks, the last one short
    streamed = tmp_path / "streamed.csv"
    result = invoke(runner, "score", "--model", str(model), "--data", str(data), "--out", str(streamed))
    assert result.exit_code == 0, result.output
    assert '"rows": 1500' in result.stdout
    assert streamed.read_bytes() == whole.read_bytes()

    # A ragged row in a later chunk: a clean error, and neither the output nor a partial file is left.
    lines = data.read_text().splitlines()
    lines[1200] += ",1,2,3"
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    target = tmp_path / "never.csv"
    result = invoke(runner, "score", "--model", str(model), "--data", str(bad), "--out", str(target))
    assert error_code(result) == "invalid_data_file"
    assert not target.exists() and not list(tmp_path.glob(".never.csv*"))
