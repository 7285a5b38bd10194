"""``dipper risk backtest`` and ``dipper risk monitor``: strategy backtests and model monitoring from CSV
files, no database needed. Both print their figures as JSON and write a report directory (JSON, HTML,
PNG) that the console's risk analysis page reads when it lies under ``DIPPER_RISK_REPORTS_DIR``.

Bad input is ``error [code]: message`` with exit code 2 (the main app's group). ``monitor`` exits 0
even when a threshold is crossed (it prints the alerts on stderr); ``--fail-on-alert`` makes it exit 3
on an alert, for a scheduler.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer

from dipper.entrypoints.cli import output
from dipper.entrypoints.cli.risk import risk_app
from dipper.kernel.errors import ValidationFailed
from dipper.risk import commands as risk_commands

__all__ = ["EXIT_ALERT", "backtest", "monitor"]

#: ``monitor --fail-on-alert`` exits with this code when an alert-level threshold is crossed.
EXIT_ALERT = 3

MinRate = Annotated[str, typer.Option("--min-rate", help="Product's minimum annual rate (fraction).")]
MaxRate = Annotated[str, typer.Option("--max-rate", help="Product's maximum annual rate (fraction).")]
MinAmount = Annotated[int, typer.Option("--min-amount", help="Product's minimum amount, yuan.")]
MaxAmount = Annotated[int, typer.Option("--max-amount", help="Product's maximum amount, yuan.")]
AprCeiling = Annotated[str, typer.Option("--apr-ceiling", help="The bank's APR ceiling (fraction).")]
FeatureSet = Annotated[
    str | None,
    typer.Option(
        "--feature-set",
        metavar="NAME",
        help="`default`: compute the default feature set from raw application columns for the strategy.",
    ),
]


def _rate(text: str, option: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValidationFailed(
            f"{option} must be a decimal fraction, got {text!r}", code="invalid_rate"
        ) from None
    return value


def _bounds(
    min_rate: str, max_rate: str, min_amount: int, max_amount: int, apr: str
) -> risk_commands.AnalysisBounds:
    if min_amount <= 0 or max_amount < min_amount:
        raise ValidationFailed(
            "--min-amount and --max-amount must satisfy 0 < min <= max", code="invalid_product_bounds"
        )
    return risk_commands.AnalysisBounds(
        min_rate=_rate(min_rate, "--min-rate"),
        max_rate=_rate(max_rate, "--max-rate"),
        min_amount_minor=min_amount * 100,
        max_amount_minor=max_amount * 100,
        apr_ceiling=_rate(apr, "--apr-ceiling"),
    )


@risk_app.command("backtest")
def backtest(  # noqa: PLR0917 - one parameter per option, as Typer declares them
    champion: Annotated[
        str, typer.Option("--champion", metavar="JDM", help="Champion strategy: a JDM file or `default`.")
    ],
    candidate: Annotated[
        str, typer.Option("--candidate", metavar="JDM", help="Candidate strategy: a JDM file or `default`.")
    ],
    data: Annotated[
        Path, typer.Option("--data", metavar="CSV", help="Historical applications with a header row.")
    ],
    target: Annotated[
        str,
        typer.Option("--target", metavar="COL", help="Outcome: 1 bad, 0 good, empty unknown (not booked)."),
    ],
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="Report directory to write.")],
    model: Annotated[
        list[Path] | None,
        typer.Option(
            "--model",
            metavar="DIR",
            help="Model directory scoring the rows; once for both arms, twice for champion then candidate. "
            "Without it the file's `score` (and `pd`) columns are used.",
        ),
    ] = None,
    exposure: Annotated[
        str | None, typer.Option("--exposure", metavar="COL", help="Historical exposure at default, fen.")
    ] = None,
    lgd: Annotated[float, typer.Option("--lgd", help="Loss given default (0-1).")] = 0.45,
    lgd_column: Annotated[str | None, typer.Option("--lgd-col", metavar="COL", help="Per-row LGD.")] = None,
    review_as: Annotated[
        str, typer.Option("--review-as", help="Count a review decision as approve or decline.")
    ] = "decline",
    feature_set: FeatureSet = None,
    min_rate: MinRate = "0",
    max_rate: MaxRate = "0.24",
    min_amount: MinAmount = 1_000,
    max_amount: MaxAmount = 200_000,
    apr_ceiling: AprCeiling = "0.24",
) -> None:
    """Run champion and candidate strategies over historical applications; print and write the comparison."""
    result = risk_commands.run_analysis(
        risk_commands.RunBacktest(
            champion=champion,
            candidate=candidate,
            data=data,
            target=target,
            out=out,
            models=tuple(model or ()),
            feature_set=feature_set,
            exposure=exposure,
            lgd=lgd,
            lgd_column=lgd_column,
            review_as=review_as,
            bounds=_bounds(min_rate, max_rate, min_amount, max_amount, apr_ceiling),
        )
    )
    output.print_json(result)
    for caveat in result.get("caveats", []):
        output.note(caveat)


@risk_app.command("monitor")
def monitor(  # noqa: PLR0917 - one parameter per option, as Typer declares them
    model: Annotated[Path, typer.Option("--model", metavar="DIR", help="The model directory in production.")],
    data: Annotated[
        Path, typer.Option("--data", metavar="CSV", help="Recent applications (the model's columns).")
    ],
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="Report directory to write.")],
    target: Annotated[
        str | None,
        typer.Option("--target", metavar="COL", help="Matured outcome: 1 bad, 0 good, empty not yet."),
    ] = None,
    date_col: Annotated[
        str | None, typer.Option("--date-col", metavar="COL", help="Application date: vintages by month.")
    ] = None,
    psi_warn: Annotated[float, typer.Option("--psi-warn", help="PSI warning level.")] = 0.1,
    psi_alert: Annotated[float, typer.Option("--psi-alert", help="PSI alert level.")] = 0.25,
    ks_min: Annotated[
        float | None, typer.Option("--ks-min", help="Alert when a vintage's KS is lower.")
    ] = None,
    auc_min: Annotated[
        float | None, typer.Option("--auc-min", help="Alert when a vintage's AUC is lower.")
    ] = None,
    override_max: Annotated[
        float | None, typer.Option("--override-max", help="Alert when the override rate is higher.")
    ] = None,
    strategy: Annotated[
        str | None,
        typer.Option(
            "--strategy", metavar="JDM", help="Run this strategy (file or `default`) for rule hits."
        ),
    ] = None,
    reasons_col: Annotated[
        str | None, typer.Option("--reasons-col", metavar="COL", help="Logged reason codes (; separated).")
    ] = None,
    decision_col: Annotated[
        str | None, typer.Option("--decision-col", metavar="COL", help="Final (manual) decision per row.")
    ] = None,
    strategy_decision_col: Annotated[
        str | None,
        typer.Option(
            "--strategy-decision-col", metavar="COL", help="The strategy's logged decision per row."
        ),
    ] = None,
    feature_set: FeatureSet = None,
    fail_on_alert: Annotated[
        bool,
        typer.Option("--fail-on-alert", help=f"Exit {EXIT_ALERT} when an alert-level threshold is crossed."),
    ] = False,
    min_rate: MinRate = "0",
    max_rate: MaxRate = "0.24",
    min_amount: MinAmount = 1_000,
    max_amount: MaxAmount = 200_000,
    apr_ceiling: AprCeiling = "0.24",
) -> None:
    """PSI against training, KS/AUC by vintage, rule hit and override rates; print figures and alerts."""
    result = risk_commands.run_analysis(
        risk_commands.RunMonitoring(
            model=model,
            data=data,
            out=out,
            target=target,
            date_col=date_col,
            psi_warn=psi_warn,
            psi_alert=psi_alert,
            ks_min=ks_min,
            auc_min=auc_min,
            override_max=override_max,
            strategy=strategy,
            reasons_col=reasons_col,
            decision_col=decision_col,
            strategy_decision_col=strategy_decision_col,
            feature_set=feature_set,
            bounds=_bounds(min_rate, max_rate, min_amount, max_amount, apr_ceiling),
        )
    )
    output.print_json(result)
    for note in result["notes"]:
        output.note(note)
    for alert in result["alerts"]:
        output.note(f"{alert['level']} [{alert['kind']}]: {alert['message']}")
    if fail_on_alert and any(a["level"] == "alert" for a in result["alerts"]):
        raise typer.Exit(EXIT_ALERT)
