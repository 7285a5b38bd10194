"""The training report: CSV tables, ROC and KS plots (PNG, drawn with matplotlib's Agg backend) and one
self-contained-looking HTML page that shows them."""

from __future__ import annotations

import csv
import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["html_table", "write_report"]


def _csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    if not rows:
        path.write_text("", encoding="utf-8")
        return
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _plots(directory: Path, curves: Mapping[str, Any], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    roc = curves["roc"]
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    ax.plot(roc["fpr"], roc["tpr"], label="model")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random")
    ax.set_xlabel("false positive rate (goods declined)")
    ax.set_ylabel("true positive rate (bads declined)")
    ax.set_title(f"ROC — {title}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(directory / "roc.png")
    plt.close(fig)

    ks = curves["ks"]
    gaps = [b - g for b, g in zip(ks["bad"], ks["good"], strict=True)]
    at = max(range(len(gaps)), key=gaps.__getitem__)
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=100)
    ax.plot(ks["population"], ks["bad"], label="cumulative bads")
    ax.plot(ks["population"], ks["good"], label="cumulative goods")
    ax.vlines(ks["population"][at], ks["good"][at], ks["bad"][at], colors="red", label=f"KS {gaps[at]:.3f}")
    ax.set_xlabel("population, riskiest first")
    ax.set_ylabel("cumulative share")
    ax.set_title(f"KS — {title}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(directory / "ks.png")
    plt.close(fig)


def _table(rows: Sequence[Mapping[str, Any]], limit: int | None = None) -> str:
    if not rows:
        return "<p>—</p>"
    shown = rows if limit is None else rows[:limit]
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in row.values())
        + "</tr>"
        for row in shown
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


#: An HTML table of rows (the backtest and monitoring reports use it too).
html_table = _table


def write_report(
    directory: Path,
    *,
    title: str,
    metrics: Mapping[str, Any],
    curves: Mapping[str, Any],
    distribution: Sequence[Mapping[str, Any]],
    model_report: Mapping[str, Any],
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    _plots(directory, curves, title)
    _csv(directory / "score_distribution.csv", distribution)
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        "<h2>Validation</h2>",
        _table([dict(metrics)]),
        '<div class="plots"><img src="roc.png" alt="ROC curve"><img src="ks.png" alt="KS curve"></div>',
        "<h2>Score distribution</h2>",
        _table(distribution),
    ]
    if model_report.get("kind") == "scorecard":
        _csv(directory / "iv.csv", model_report["iv"])
        _csv(directory / "binning_tables.csv", model_report["binning_tables"])
        sections += ["<h2>Information value</h2>", _table(model_report["iv"])]
        sections.append("<h2>Binning tables</h2>")
        by_feature: dict[str, list[Mapping[str, Any]]] = {}
        for row in model_report["binning_tables"]:
            by_feature.setdefault(row["feature"], []).append(row)
        for feature, rows in by_feature.items():
            sections += [
                f"<h3>{html.escape(feature)}</h3>",
                _table([{k: v for k, v in r.items() if k != "feature"} for r in rows]),
            ]
    else:
        _csv(directory / "importance.csv", model_report["importance"])
        sections += ["<h2>Feature importance (gain)</h2>", _table(model_report["importance"])]
    (directory / "report.json").write_text(
        json.dumps(
            {"metrics": metrics, "distribution": distribution, "model": model_report},
            ensure_ascii=False,
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}"
        "table{border-collapse:collapse;margin:0.5em 0}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
        ".plots img{margin-right:1em;border:1px solid #eee}"
    )
    page = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{style}</style></head><body>{''.join(sections)}</body></html>\n"
    )
    (directory / "report.html").write_text(page, encoding="utf-8")
