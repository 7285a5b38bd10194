"""Console pages of strategy backtests and model monitoring: the reports ``dipper risk backtest`` and
``dipper risk monitor`` wrote under ``DIPPER_RISK_REPORTS_DIR`` (``Settings.risk_reports_dir``), read
through ``risk.queries.analysis``; charts drawn by ECharts from JSON blocks (``static/risk_analysis.js``).

The pages only read files the CLI wrote: they run nothing and change nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse, Response

from dipper.access.queries import Permission
from dipper.entrypoints.console import i18n
from dipper.entrypoints.console.pages import (
    MODULE_LINKS,
    PREFIX,
    Console,
    ConsoleDep,
    ModuleLink,
    render,
    render_error,
    router,
)
from dipper.kernel.errors import NotFound, ValidationFailed
from dipper.risk.queries import analysis as reports

__all__ = ["backtest_charts", "monitoring_charts"]

DECISIONS = ("approve", "review", "decline")
ARMS = ("champion", "candidate")
SWAP_SETS = ("in", "out", "kept_approved", "kept_declined")

# The risk module's page offers the reports (the module page lists MODULE_LINKS of its slug).
MODULE_LINKS["risk"] = (
    *MODULE_LINKS.get("risk", ()),
    ModuleLink("risk_reports.title", "risk_reports.summary", f"{PREFIX}/risk/reports", Permission.RISK_READ),
)


def _root(c: Console) -> Path:
    return Path(c.container.settings.risk_reports_dir)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.2f}%"


def _page(c: Console, name: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    return render(
        c.request,
        name,
        status=status,
        title_key=context.pop("title_key", "risk_reports.title"),
        active="module:risk",
        pct=_pct,
        **context,
    )


def backtest_charts(doc: dict[str, Any], t: i18n.Translator) -> dict[str, Any]:
    """ECharts data: approval and bad rate by grade for both arms, and the 3×3 decision matrix."""
    grades = sorted({g["grade"] for arm in ARMS for g in doc[arm]["by_grade"]})
    names = {arm: t(f"risk_backtest.arm.{arm}") for arm in ARMS}

    def series(key: str) -> list[dict[str, Any]]:
        out = []
        for arm in ARMS:
            by = {g["grade"]: g.get(key) for g in doc[arm]["by_grade"]}
            out.append({"name": names[arm], "data": [by.get(g) for g in grades]})
        return out

    labels = [t(f"risk_backtest.decision.{d}") for d in DECISIONS]
    cells = []
    for cell in doc["swap"]["matrix"]:
        if cell["champion"] in DECISIONS and cell["candidate"] in DECISIONS:
            cells.append(
                [DECISIONS.index(cell["candidate"]), DECISIONS.index(cell["champion"]), cell["count"]]
            )
    return {
        "grades": grades,
        "approval": series("approval_rate"),
        "bad_rate": series("bad_rate"),
        "swap": {
            "labels": labels,
            "cells": cells,
            "max": max((c[2] for c in cells), default=0),
            "x_name": names["candidate"],
            "y_name": names["champion"],
        },
    }


def monitoring_charts(doc: dict[str, Any], t: i18n.Translator) -> dict[str, Any]:
    """ECharts data: PSI per variable (score first) with the thresholds, KS and AUC by vintage."""
    entries = [
        e for e in [doc.get("score_psi"), *doc.get("feature_psi", [])] if e and e.get("psi") is not None
    ]
    vintages = [v for v in doc.get("vintages", []) if v.get("ks") is not None]
    thresholds = doc.get("thresholds", {})
    return {
        "psi": {
            "names": [e["name"] for e in entries],
            "values": [e["psi"] for e in entries],
            "levels": [e["level"] for e in entries],
            "warn": thresholds.get("psi_warn"),
            "alert": thresholds.get("psi_alert"),
            "warn_label": t("risk_monitoring.threshold.warn"),
            "alert_label": t("risk_monitoring.threshold.alert"),
        },
        "vintages": {
            "names": [v["vintage"] for v in vintages],
            "ks": [v["ks"] for v in vintages],
            "auc": [v["auc"] for v in vintages],
        },
    }


@router.get("/risk/reports")
def report_list(c: ConsoleDep) -> Response:
    c.require(Permission.RISK_READ)
    return _page(c, "risk_reports.html", entries=reports.list_reports(_root(c)), root=str(_root(c)))


@router.get("/risk/reports/{name}")
def report_detail(name: str, c: ConsoleDep) -> Response:
    c.require(Permission.RISK_READ)
    try:
        doc = reports.read_report(_root(c), name)
    except NotFound:
        return render_error(c.request, 404, "error.404.message")
    except ValidationFailed:
        return render_error(c.request, 422, "error.generic.message")
    t = i18n.Translator(i18n.request_language(c.request))
    if doc["kind"] == "backtest":
        return _page(
            c,
            "risk_backtest.html",
            title_key="risk_backtest.title",
            report_name=name,
            doc=doc,
            arms=ARMS,
            swap_sets=SWAP_SETS,
            chart=backtest_charts(doc, t),
        )
    return _page(
        c,
        "risk_monitoring.html",
        title_key="risk_monitoring.title",
        report_name=name,
        doc=doc,
        chart=monitoring_charts(doc, t),
    )
