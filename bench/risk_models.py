"""Risk models on the Taiwan default data: dipper's scorecard and boosted trees beside optbinning's
``Scorecard`` and plain LightGBM, in one run on one stratified 70/30 split (seed 42).

    python -m bench.risk_models [--data ../shared/datasets/taiwan_default_credit_card.csv] [--quick]

Prints JSON: test AUC, KS and training seconds of each model; microseconds to score one application
(dipper's compiled runtimes from a dict; optbinning and LightGBM from a one-row frame / array); and
milliseconds for reason codes. Figures only; no assertion on time. ``TAIWAN_FEATURES`` are the derived
features the quality test uses too.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.run import ROOT, _machine


def _datasets() -> Path:
    """The shared datasets beside the checkout (``../shared/datasets``); ``DIPPER_DATASETS`` names
    another place, and a clone made elsewhere (CI's) falls back to the workspace's copy."""
    here = ROOT.parent / "shared" / "datasets"
    for candidate in (os.environ.get("DIPPER_DATASETS"), here, "/work/shared/datasets"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return ROOT.parent / "shared" / "datasets"


DATA = _datasets() / "taiwan_default_credit_card.csv"
TARGET = "default.payment.next.month"
PAY = ["PAY_0", "PAY_2", "PAY_3", "PAY_4", "PAY_5", "PAY_6"]

#: Credit ratios of the Taiwan file: utilisation per month (bill over limit), the share of the previous
#: bill paid, and how many of the six months were in arrears, and by how much at worst.
TAIWAN_FEATURES: list[dict[str, Any]] = [
    *({"name": f"UTIL{k}", "op": "ratio", "inputs": [f"BILL_AMT{k}", "LIMIT_BAL"]} for k in range(1, 7)),
    *(
        {"name": f"PAYR{k}", "op": "ratio", "inputs": [f"PAY_AMT{k}", f"BILL_AMT{k + 1}"]}
        for k in range(1, 6)
    ),
    {"name": "NDELAY", "op": "count_positive", "inputs": PAY},
    {"name": "MAXDELAY", "op": "max", "inputs": PAY},
]


def load_split(path: Path = DATA) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]:
    """The split every figure is measured on: stratified 70/30, seed 42, ``ID`` excluded."""
    from dipper.risk.domain.data import prepare_training, split

    data = prepare_training(pd.read_csv(path), TARGET, ["ID"])
    return split(data.X, data.y, test_size=0.3, seed=42)


def _auc_ks(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from dipper.risk.domain.metrics import summary

    figures = summary(y, p)
    return {"auc": float(figures["auc"]), "ks": float(figures["ks"])}


def _per_call_us(fn: Any, items: list[Any]) -> float:
    started = time.perf_counter()
    for item in items:
        fn(item)
    return round((time.perf_counter() - started) / len(items) * 1e6, 1)


def bench_dipper(kind: str, derived: bool, split: Any) -> dict[str, Any]:
    from dipper.risk.domain.gbdt import GradientBoostingModel
    from dipper.risk.domain.scorecard import ScorecardModel

    x_train, x_test, y_train, y_test = split
    features = TAIWAN_FEATURES if derived else None
    model = (
        ScorecardModel(derived_features=features)
        if kind == "scorecard"
        else GradientBoostingModel(derived_features=features)
    )
    started = time.perf_counter()
    model.fit(x_train, y_train)
    seconds = time.perf_counter() - started
    rows = x_test.to_dict("records")[:2000]
    runtime = model.runtime_
    return {
        "model": f"dipper {kind}" + (" + derived features" if derived else ""),
        **_auc_ks(y_test, model.predict_proba(x_test)[:, 1]),
        "train_seconds": round(seconds, 2),
        "score_one_us": _per_call_us(runtime.score_one, rows),
        "reasons_one_ms": round(_per_call_us(runtime.reasons, rows[:100]) / 1000, 3),
    }


def bench_optbinning(split: Any) -> dict[str, Any]:
    from dipper.risk.domain.scorecard import _binning_process

    _binning_process()  # imports optbinning with cvxpy's solver-probe messages quieted
    from optbinning import BinningProcess, Scorecard
    from sklearn.linear_model import LogisticRegression

    x_train, x_test, y_train, y_test = split
    names = list(x_train.columns)
    started = time.perf_counter()
    card = Scorecard(
        binning_process=BinningProcess(names),
        estimator=LogisticRegression(max_iter=1000),
        scaling_method="pdo_odds",
        scaling_method_params={"pdo": 20, "odds": 50, "scorecard_points": 600},
    )
    card.fit(x_train, y_train)
    seconds = time.perf_counter() - started
    frames = [x_test.iloc[[i]] for i in range(200)]
    return {
        "model": "optbinning Scorecard (defaults)",
        **_auc_ks(y_test, card.predict_proba(x_test)[:, 1]),
        "train_seconds": round(seconds, 2),
        "score_one_us": _per_call_us(card.score, frames),
    }


def bench_lightgbm(split: Any) -> dict[str, Any]:
    import lightgbm as lgb

    x_train, x_test, y_train, y_test = split
    started = time.perf_counter()
    model = lgb.LGBMClassifier(verbose=-1, random_state=42).fit(x_train, y_train)
    seconds = time.perf_counter() - started
    matrix = x_test.to_numpy(dtype=np.float64)
    booster = model.booster_
    return {
        "model": "LightGBM (LGBMClassifier defaults)",
        **_auc_ks(y_test, model.predict_proba(x_test)[:, 1]),
        "train_seconds": round(seconds, 2),
        "score_one_us": _per_call_us(lambda i: booster.predict(matrix[i : i + 1]), list(range(200))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--quick", action="store_true", help="Only the models trained on derived features.")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    logging.getLogger("__cvxpy__").setLevel(logging.CRITICAL)
    split = load_split(args.data)
    results = [bench_optbinning(split), bench_lightgbm(split)] if not args.quick else []
    for kind in ("scorecard", "gbdt"):
        for derived in (False, True) if not args.quick else (True,):
            results.append(bench_dipper(kind, derived, split))
            print(json.dumps(results[-1]), flush=True)
    print(
        json.dumps(
            {"machine": _machine(), "split": "stratified 70/30, seed 42", "results": results}, indent=1
        )
    )


if __name__ == "__main__":
    main()
