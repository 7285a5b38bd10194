"""Discrimination and calibration figures of a score: AUC, Gini, KS, the ROC and KS curves and the score
distribution in bands. Figures are about the probability of default (higher = riskier)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import roc_auc_score, roc_curve

__all__ = ["curves", "score_distribution", "summary"]


def summary(y: NDArray[np.int64], pd_: NDArray[np.float64]) -> dict[str, float | int]:
    auc = float(roc_auc_score(y, pd_))
    fpr, tpr, _ = roc_curve(y, pd_)
    return {
        "rows": len(y),
        "bad_rate": round(float(np.mean(y)), 6),
        "auc": round(auc, 6),
        "gini": round(2 * auc - 1, 6),
        "ks": round(float(np.max(tpr - fpr)), 6),
    }


def curves(y: NDArray[np.int64], pd_: NDArray[np.float64], points: int = 101) -> dict[str, Any]:
    """ROC (false and true positive rates) and KS (cumulative bad and good shares by PD quantile)."""
    fpr, tpr, _ = roc_curve(y, pd_)
    grid = np.linspace(0.0, 1.0, points)
    roc_tpr = np.interp(grid, fpr, tpr)
    order = np.argsort(-pd_, kind="stable")
    ys = y[order]
    cum_bad = np.cumsum(ys) / max(int(ys.sum()), 1)
    cum_good = np.cumsum(1 - ys) / max(int((1 - ys).sum()), 1)
    share = np.arange(1, len(ys) + 1) / len(ys)
    idx = np.clip(np.searchsorted(share, grid[1:]), 0, len(ys) - 1)
    return {
        "roc": {"fpr": grid.round(6).tolist(), "tpr": roc_tpr.round(6).tolist()},
        "ks": {
            "population": [0.0, *grid[1:].round(6).tolist()],
            "bad": [0.0, *cum_bad[idx].round(6).tolist()],
            "good": [0.0, *cum_good[idx].round(6).tolist()],
        },
    }


def score_distribution(
    y: NDArray[np.int64], scores: NDArray[np.float64], bands: int = 10
) -> list[dict[str, Any]]:
    """Counts and bad rates in equal-population score bands (lowest scores first)."""
    edges = np.unique(np.quantile(scores, np.linspace(0, 1, bands + 1)))
    idx = np.clip(np.searchsorted(edges, scores, side="right") - 1, 0, max(len(edges) - 2, 0))
    rows = []
    for band in range(max(len(edges) - 1, 1)):
        mask = idx == band
        count = int(mask.sum())
        if not count:
            continue
        rows.append(
            {
                "band": band + 1,
                "score_from": round(float(edges[band]), 2),
                "score_to": round(float(edges[min(band + 1, len(edges) - 1)]), 2),
                "count": count,
                "bads": int(y[mask].sum()),
                "bad_rate": round(float(y[mask].mean()), 6),
            }
        )
    return rows
