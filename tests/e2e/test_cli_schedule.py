"""``dipper schedule``: the JSON contract and its error paths, through Typer's runner (no database needed)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from dipper.entrypoints.cli import main as cli

BASE = [
    "schedule",
    "--amount",
    "100000.00",
    "--annual-rate",
    "0.0435",
    "--term",
    "12",
    "--method",
    "equal-installment",
    "--start",
    "2026-01-15",
]


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    # Rich honours COLUMNS; a narrow CI terminal would wrap the error lines these tests read.
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def run(runner: CliRunner, *args: str) -> Any:
    return runner.invoke(cli.app, list(args))


def with_option(args: list[str], option: str, value: str) -> list[str]:
    """BASE with ``option`` replaced (or added)."""
    out = list(args)
    if option in out:
        out[out.index(option) + 1] = value
    else:
        out += [option, value]
    return out


def schedule_of(runner: CliRunner, *args: str) -> dict[str, Any]:
    result = run(runner, *args)
    assert result.exit_code == 0, result.output + result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_equal_installment_contract(runner: CliRunner) -> None:
    data = schedule_of(runner, *BASE)
    assert list(data) == ["installments", "total_interest", "apr"]
    assert data["installments"][0] == {
        "n": 1,
        "due_date": "2026-02-15",
        "principal": "8168.49",
        "interest": "362.50",
        "total": "8530.99",
        "balance": "91831.51",
    }
    assert list(data["installments"][0]) == ["n", "due_date", "principal", "interest", "total", "balance"]
    assert len(data["installments"]) == 12
    assert data["installments"][-1]["due_date"] == "2027-01-15"
    assert data["installments"][-1]["balance"] == "0.00"
    assert data["total_interest"] == "2371.90"
    assert data["apr"] == "0.043500"


@pytest.mark.parametrize(
    ("method", "rows", "first_total"),
    [
        ("equal-installment", 12, "8530.99"),
        ("equal-principal", 12, "8695.83"),
        ("interest-only", 12, "362.50"),
        ("bullet", 1, "104350.00"),
    ],
)
def test_every_method(runner: CliRunner, method: str, rows: int, first_total: str) -> None:
    data = schedule_of(runner, *with_option(BASE, "--method", method))
    assert len(data["installments"]) == rows
    assert data["installments"][0]["total"] == first_total
    assert data["apr"] == "0.043500"


def test_options(runner: CliRunner) -> None:
    act360 = schedule_of(runner, *with_option(BASE, "--day-count", "ACT/360"))
    assert act360["installments"][0]["interest"] == "374.58"  # 31 days at 4.35% / 360
    fee = schedule_of(runner, *with_option(BASE, "--fee-upfront", "1000.00"))
    assert fee["installments"] == schedule_of(runner, *BASE)["installments"]
    assert fee["apr"] == "0.062288"
    whole = schedule_of(runner, *with_option(BASE, "--rounding", "whole-unit-up"))
    assert whole["installments"][0]["total"] == "8531.00"
    broken = schedule_of(runner, *with_option(BASE, "--first-due", "2026-02-20"))
    assert broken["installments"][0]["interest"] == "435.00"
    assert broken["installments"][1]["due_date"] == "2026-03-20"
    usd = schedule_of(runner, *with_option(BASE, "--currency", "USD"))
    assert usd["installments"][0]["total"] == "8530.99"


def test_holiday_calendar(runner: CliRunner) -> None:
    args = with_option(with_option(BASE, "--start", "2026-08-01"), "--calendar", "china-mainland")
    data = schedule_of(runner, *args)
    assert data["installments"][1]["due_date"] == "2026-10-08"  # 10-01 is National Day
    plain = schedule_of(runner, *with_option(BASE, "--start", "2026-08-01"))
    assert [i["total"] for i in data["installments"]] == [i["total"] for i in plain["installments"]]


@pytest.mark.parametrize(
    ("option", "value", "code"),
    [
        ("--amount", "-100.00", "invalid_principal"),
        ("--amount", "0", "invalid_principal"),
        ("--amount", "100.001", "excess_precision"),
        ("--amount", "lots", "invalid_amount"),
        ("--annual-rate", "1", "rate_out_of_range"),
        ("--annual-rate", "1.5", "rate_out_of_range"),
        ("--annual-rate", "-0.01", "rate_out_of_range"),
        ("--annual-rate", "4.35%", "invalid_rate"),
        ("--term", "0", "invalid_term"),
        ("--term", "361", "invalid_term"),
        ("--term", "twelve", "invalid_term"),
        ("--method", "balloon", "unknown_repayment_method"),
        ("--method", "revolving", "method_has_no_schedule"),
        ("--start", "2026-02-30", "invalid_date"),
        ("--start", "15/01/2026", "invalid_date"),
        ("--first-due", "2026-01-10", "invalid_first_due"),
        ("--day-count", "ACT/ACT", "unknown_day_count"),
        ("--rounding", "banker", "unknown_rounding_rule"),
        ("--fee-upfront", "-5", "invalid_fee"),
        ("--fee-upfront", "0.001", "excess_precision"),
        ("--currency", "XYZ", "unknown_currency"),
        ("--calendar", "mars", "unknown_calendar"),
        ("--roll", "sideways", "unknown_roll_convention"),
    ],
)
def test_invalid_input_is_a_clear_error(runner: CliRunner, option: str, value: str, code: str) -> None:
    result = run(runner, *with_option(BASE, option, value))
    assert result.exit_code == 2
    assert f"error [{code}]:" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""


def test_missing_option_is_a_usage_error(runner: CliRunner) -> None:
    result = run(runner, "schedule", "--amount", "100.00")
    assert result.exit_code == 2
    assert "Missing option" in result.stderr
