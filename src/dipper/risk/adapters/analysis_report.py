"""Report directories of a backtest and a monitoring run: the figures as JSON (what the console reads),
PNG charts drawn with matplotlib's Agg backend, CSV tables and one HTML page that shows them.

```
backtest.json | monitoring.json   the figures (the CLI prints the same document)
rows.csv                          backtest: each row's decision, grade, limit and rate under both arms
*.png, report.html                charts and the page
```

The directory is written into a temporary sibling and renamed, so a reader never sees half a report.
"""

from __future__ import annotations

import csv
import html
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dipper.risk.adapters.report import html_table as _table

__all__ = ["BACKTEST_JSON", "MONITORING_JSON", "write_backtest_report", "write_monitoring_report"]

BACKTEST_JSON = "backtest.json"
MONITORING_JSON = "monitoring.json"
_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}"
    "table{border-collapse:collapse;margin:0.5em 0}"
    "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
    ".plots img{margin-right:1em;border:1px solid #eee}.alert{color:#b00}.warn{color:#a60}"
)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _write_dir(out: Path, fill: Callable[[Path], None]) -> None:
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        fill(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
        os.replace(out, old / out.name)
        os.replace(staging, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, out)


def _json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1, allow_nan=False) + "\n", encoding="utf-8")


def _page(path: Path, title: str, sections: Sequence[str]) -> None:
    path.write_text(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{''.join(sections)}</body></html>\n",
        encoding="utf-8",
    )


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.2f}%"


# --------------------------------------------------------------------------- backtest


def _backtest_plots(directory: Path, doc: Mapping[str, Any]) -> None:
    plt = _pyplot()
    champion, candidate = doc["champion"], doc["candidate"]
    grades = sorted({g["grade"] for g in champion["by_grade"]} | {g["grade"] for g in candidate["by_grade"]})
    for key, name, label in (
        ("approval_rate", "approval_by_grade.png", "approval rate"),
        ("bad_rate", "bad_rate_by_grade.png", "bad rate among approved (known outcomes)"),
    ):
        fig, ax = plt.subplots(figsize=(6.5, 4), dpi=100)
        width = 0.38
        for offset, (arm, data) in zip(
            (-width / 2, width / 2), (("champion", champion), ("candidate", candidate)), strict=True
        ):
            by = {g["grade"]: g.get(key) for g in data["by_grade"]}
            ax.bar(
                [i + offset for i in range(len(grades))], [by.get(g) or 0.0 for g in grades], width, label=arm
            )
        ax.set_xticks(range(len(grades)), grades)
        ax.set_xlabel("grade")
        ax.set_ylabel(label)
        ax.set_title(f"{label} by grade")
        ax.legend()
        fig.tight_layout()
        fig.savefig(directory / name)
        plt.close(fig)
    matrix = doc["swap"]["matrix"]
    labels = ["approve", "review", "decline"]
    counts = [
        [next(m["count"] for m in matrix if m["champion"] == a and m["candidate"] == b) for b in labels]
        for a in labels
    ]
    fig, ax = plt.subplots(figsize=(4.8, 4), dpi=100)
    ax.imshow(counts, cmap="Blues")
    for i in range(3):
        for j in range(3):
            ax.text(j, i, str(counts[i][j]), ha="center", va="center")
    ax.set_xticks(range(3), labels)
    ax.set_yticks(range(3), labels)
    ax.set_xlabel("candidate")
    ax.set_ylabel("champion")
    ax.set_title("decisions: champion × candidate")
    fig.tight_layout()
    fig.savefig(directory / "swap_matrix.png")
    plt.close(fig)


def write_backtest_report(out: Path, doc: Mapping[str, Any], rows: Mapping[str, Sequence[Any]]) -> None:
    def fill(directory: Path) -> None:
        _json(directory / BACKTEST_JSON, dict(doc))
        with (directory / "rows.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["row", *rows])
            for i, values in enumerate(zip(*rows.values(), strict=True), start=1):
                writer.writerow([i, *("" if v is None else v for v in values)])
        _backtest_plots(directory, doc)
        arms = []
        for name in ("champion", "candidate"):
            a = doc[name]
            arms.append(
                {
                    "arm": name,
                    "strategy": f"{a['strategy_id']} v{a['strategy_version']}",
                    "approval rate": _pct(a["approval_rate"]),
                    "review rate": _pct(a["review_rate"]),
                    "approved": a["approved"],
                    "known outcomes": a["approved_known"],
                    "bad rate": _pct(a["bad_rate"]),
                    "expected loss": f"{a['expected_loss_minor'] / 100:,.2f}",
                    "observed loss": f"{a['observed_loss_minor'] / 100:,.2f}",
                }
            )
        swap = doc["swap"]
        swaps = [
            {
                "set": k.replace("_", " "),
                "count": swap[k]["count"],
                "known": swap[k]["known"],
                "bad rate": _pct(swap[k]["bad_rate"]),
            }
            for k in ("in", "out", "kept_approved", "kept_declined")
        ]
        title = f"Backtest — {doc['data']['file']}"
        sections = [
            f"<h1>{html.escape(title)}</h1>",
            f"<p>{doc['rows']} rows, {doc['rows_with_outcome']} with an outcome; reviews counted as "
            f"{html.escape(doc['review_as'])}d; LGD {html.escape(str(doc['lgd']))}; exposure "
            f"{html.escape(doc['exposure'])}.</p>",
            *(f'<p class="warn">{html.escape(c)}</p>' for c in doc["caveats"]),
            "<h2>Champion and candidate</h2>",
            _table(arms),
            "<h2>Swap set</h2>",
            _table(swaps),
            '<div class="plots"><img src="approval_by_grade.png" alt="approval rate by grade">'
            '<img src="bad_rate_by_grade.png" alt="bad rate by grade">'
            '<img src="swap_matrix.png" alt="swap matrix"></div>',
        ]
        sections += [
            "<h2>Swap-ins by the candidate's grade</h2>",
            _table(swap["in_by_grade"]),
            "<h2>Swap-outs by the champion's grade</h2>",
            _table(swap["out_by_grade"]),
        ]
        for name in ("champion", "candidate"):
            sections += [f"<h2>{name.capitalize()} by grade</h2>", _table(doc[name]["by_grade"])]
        _page(directory / "report.html", title, sections)

    _write_dir(out, fill)


# --------------------------------------------------------------------------- monitoring


def _monitoring_plots(directory: Path, doc: Mapping[str, Any]) -> None:
    plt = _pyplot()
    thresholds = doc["thresholds"]
    entries = [e for e in [doc.get("score_psi"), *doc.get("feature_psi", [])] if e and e["psi"] is not None]
    if entries:
        fig, ax = plt.subplots(figsize=(6.5, max(2.5, 0.35 * len(entries) + 1)), dpi=100)
        colours = {"ok": "#3f9a82", "warn": "#c48a2c", "alert": "#c0504d"}
        names = [e["name"] for e in entries][::-1]
        ax.barh(
            names,
            [e["psi"] for e in entries][::-1],
            color=[colours.get(e["level"], "grey") for e in entries][::-1],
        )
        ax.axvline(
            thresholds["psi_warn"], color="#c48a2c", linestyle="--", label=f"warn {thresholds['psi_warn']}"
        )
        ax.axvline(
            thresholds["psi_alert"], color="#c0504d", linestyle="--", label=f"alert {thresholds['psi_alert']}"
        )
        ax.set_xlabel("PSI against training")
        ax.set_title("population stability")
        ax.legend(loc="lower right")
        fig.tight_layout()
        fig.savefig(directory / "psi.png")
        plt.close(fig)
    vintages = [v for v in doc.get("vintages", []) if v["ks"] is not None]
    if vintages:
        fig, ax = plt.subplots(figsize=(6.5, 4), dpi=100)
        names = [v["vintage"] for v in vintages]
        ax.plot(names, [v["ks"] for v in vintages], marker="o", label="KS")
        ax.plot(names, [v["auc"] for v in vintages], marker="o", label="AUC")
        ax.set_ylim(0, 1)
        ax.set_xlabel("vintage (application month)")
        ax.set_title("discrimination on matured outcomes")
        ax.legend()
        fig.tight_layout()
        fig.savefig(directory / "vintages.png")
        plt.close(fig)


def write_monitoring_report(out: Path, doc: Mapping[str, Any]) -> None:
    def fill(directory: Path) -> None:
        _json(directory / MONITORING_JSON, dict(doc))
        _monitoring_plots(directory, doc)
        title = f"Monitoring — {doc['data']['file']}"
        psi_rows = [
            {"variable": e["name"], "kind": e["kind"], "PSI": e["psi"], "level": e["level"]}
            for e in [doc.get("score_psi"), *doc.get("feature_psi", [])]
            if e
        ]
        sections = [
            f"<h1>{html.escape(title)}</h1>",
            f"<p>Model {html.escape(str(doc['model']['content_hash']))}; {doc['rows']} rows.</p>",
            *(f'<p class="warn">{html.escape(n)}</p>' for n in doc["notes"]),
            "<h2>Alerts</h2>",
            "".join(
                f'<p class="{html.escape(a["level"])}">'
                f"{html.escape(a['level'])}: {html.escape(a['message'])}</p>"
                for a in doc["alerts"]
            )
            or "<p>none</p>",
            "<h2>Population stability</h2>",
            _table(psi_rows),
            '<div class="plots">'
            + ('<img src="psi.png" alt="PSI">' if (directory / "psi.png").exists() else "")
            + (
                '<img src="vintages.png" alt="KS and AUC by vintage">'
                if (directory / "vintages.png").exists()
                else ""
            )
            + "</div>",
            "<h2>KS and AUC by vintage</h2>",
            _table(doc.get("vintages", [])),
            "<h2>Rule hit rates</h2>",
            _table(doc.get("rule_hits", [])),
            "<h2>Overrides</h2>",
            _table([doc["overrides"]] if doc.get("overrides") else []),
        ]
        _page(directory / "report.html", title, sections)

    _write_dir(out, fill)
