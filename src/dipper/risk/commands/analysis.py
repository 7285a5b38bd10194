"""Commands of strategy backtests and model monitoring: both read files and write a report directory
(``backtest.json`` or ``monitoring.json``, an HTML page, PNG charts), without the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

__all__ = [
    "BACKTEST_FORMAT",
    "MONITORING_FORMAT",
    "AnalysisBounds",
    "RunBacktest",
    "RunMonitoring",
    "run_analysis",
]

BACKTEST_FORMAT = "dipper.risk.backtest/1"
MONITORING_FORMAT = "dipper.risk.monitoring/1"


@dataclass(frozen=True)
class AnalysisBounds:
    """The product's ranges and the APR ceiling the strategies' offers are bounded by (rates as
    fractions, amounts in fen)."""

    min_rate: Decimal = Decimal(0)
    max_rate: Decimal = Decimal("0.24")
    min_amount_minor: int = 100_000
    max_amount_minor: int = 20_000_000
    apr_ceiling: Decimal = Decimal("0.24")


@dataclass(frozen=True)
class RunBacktest:
    """Run ``champion`` and ``candidate`` (JDM files, or ``default`` for the packaged strategy) over
    the historical applications in ``data``, whose outcome is ``target`` (1 bad, 0 good, empty
    unknown). Scores come from ``models`` (none: the file's ``score`` column; one: both arms; two:
    champion's, candidate's)."""

    champion: str
    candidate: str
    data: Path
    target: str
    out: Path
    models: tuple[Path, ...] = ()
    feature_set: str | None = None  # "default": compute the default feature set from raw inputs
    exposure: str | None = None  # a column of historical exposure in fen
    lgd: float = 0.45
    lgd_column: str | None = None
    review_as: str = "decline"
    bounds: AnalysisBounds = field(default_factory=AnalysisBounds)


@dataclass(frozen=True)
class RunMonitoring:
    """Monitor the model in ``model`` on the applications in ``data``: PSI against the training
    reference, KS/AUC by vintage on matured outcomes, rule hit rates and the override rate."""

    model: Path
    data: Path
    out: Path
    target: str | None = None
    date_col: str | None = None
    psi_warn: float = 0.1
    psi_alert: float = 0.25
    ks_min: float | None = None
    auc_min: float | None = None
    override_max: float | None = None
    strategy: str | None = None  # a JDM file (or "default") to run for rule hits and overrides
    reasons_col: str | None = None  # logged reason codes, separated by ; or |
    decision_col: str | None = None  # the final (manual) decision
    strategy_decision_col: str | None = None  # the logged strategy decision
    feature_set: str | None = None
    bounds: AnalysisBounds = field(default_factory=AnalysisBounds)


def run_analysis(command: RunBacktest | RunMonitoring) -> dict[str, Any]:
    from dipper.risk.handlers import analysis as handlers

    if isinstance(command, RunBacktest):
        return handlers.run_backtest_file(command)
    return handlers.run_monitoring_file(command)
