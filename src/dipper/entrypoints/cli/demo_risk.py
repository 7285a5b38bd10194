"""The demo bank's risk models, trained on its own simulated history.

After the portfolio's year is booked, every installment loan that has been on the book long enough
(``MIN_DAYS_ON_BOOK``) becomes one training row: the default feature set computed over the
applications behind those loans (set-based, the same definitions the live decision computes one
application at a time) and the loan's outcome as the book now shows it. **Bad** means the loan
went 31 or more days past due and has not come back: it is more than 30 days past due today, in
non-accrual or written off. Loans that were late and cured count as good, as a collector would.

The file holds features only (age, not the resident ID it came from): no personal data leaves the
database. The risk module's own commands train a scorecard and a boosted model on it.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from dipper.bootstrap import Container
from dipper.loans import queries as loan_queries
from dipper.risk import commands as risk_commands
from dipper.risk import queries as risk_queries

__all__ = ["MIN_DAYS_ON_BOOK", "TARGET", "TrainingHistory", "train_demo_models", "training_history"]

#: A loan younger than this has not had the time to show whether it goes bad.
MIN_DAYS_ON_BOOK = 120
TARGET = "bad"
BAD_STATUSES = frozenset({"non_accrual", "written_off"})
BAD_DAYS_PAST_DUE = 31


@dataclass(frozen=True)
class TrainingHistory:
    rows: int
    bads: int
    excluded_young: int
    columns: dict[str, np.ndarray[Any, Any]]  # feature name -> values, plus TARGET

    @property
    def bad_rate(self) -> float:
        return self.bads / self.rows if self.rows else 0.0


def _loan_states(container: Container, tenant_id: str) -> dict[str, loan_queries.LoanView]:
    views: dict[str, loan_queries.LoanView] = {}
    offset = 0
    while True:
        page = loan_queries.list_loans(container.uow(tenant_id, None), limit=500, offset=offset)
        views.update((v.id, v) for v in page.loans)
        offset += len(page.loans)
        if not page.loans or offset >= page.total:
            return views


def _is_bad(view: loan_queries.LoanView) -> bool:
    return view.status in BAD_STATUSES or view.days_past_due >= BAD_DAYS_PAST_DUE


def training_history(
    container: Container,
    tenant_id: str,
    applications: Sequence[tuple[dict[str, Any], str]],
    *,
    as_of: date,
) -> TrainingHistory:
    """Features and outcome of the loans booked at least ``MIN_DAYS_ON_BOOK`` days before ``as_of``."""
    states = _loan_states(container, tenant_id)
    cutoff = as_of - timedelta(days=MIN_DAYS_ON_BOOK)
    kept: list[dict[str, Any]] = []
    outcome: list[int] = []
    young = 0
    for application, loan_id in applications:
        view = states.get(loan_id)
        if view is None:
            continue
        if application["application_date"] > cutoff:
            young += 1
            continue
        kept.append(application)
        outcome.append(int(_is_bad(view)))
    inputs = risk_queries.feature_inputs()
    columns = {name: [a.get(name) for a in kept] for name in inputs}
    features = risk_queries.feature_frame(columns) if kept else {}
    features[TARGET] = np.asarray(outcome, dtype=np.int64)
    return TrainingHistory(rows=len(kept), bads=int(sum(outcome)), excluded_young=young, columns=features)


def write_training_file(history: TrainingHistory, path: Path) -> Path:
    names = list(history.columns)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(names)
        for i in range(history.rows):
            writer.writerow([_cell(history.columns[n][i]) for n in names])
    return path


def _cell(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return "" if np.isnan(value) else repr(float(value))
    if isinstance(value, bool | np.bool_):
        return str(int(value))
    return str(value)


def train_demo_models(
    history: TrainingHistory, directory: Path, *, seed: int = 42
) -> dict[str, dict[str, Any]]:
    """Train the scorecard and the boosted model on ``history`` into ``directory``/{kind}; return each
    model's figures (validation AUC and KS, rows, bads) by kind."""
    directory.mkdir(parents=True, exist_ok=True)
    data = write_training_file(history, directory / "training.csv")
    # Every demo borrower is new here, so the behaviour features (and the blacklist flag, which the
    # bank's old process knocked out) are constant in this history: a model cannot learn from them.
    constant = tuple(n for n in history.columns if n != TARGET and _constant(history.columns[n]))
    results: dict[str, dict[str, Any]] = {}
    for kind in risk_commands.MODEL_KINDS:
        results[kind] = risk_commands.run(
            risk_commands.TrainModel(
                data=data, target=TARGET, kind=kind, out=directory / kind, seed=seed, exclude=constant
            )
        )
    return results


def _constant(values: np.ndarray[Any, Any]) -> bool:
    if values.dtype.kind == "f":
        finite = values[~np.isnan(values)]
        return bool(finite.size == 0 or (np.all(finite == finite[0]) and finite.size == values.size))
    return bool(values.size == 0 or np.all(values == values[0]))
