"""Queries over backtest and monitoring report directories (what ``dipper risk backtest|monitor --out``
wrote): list those under a root directory, read one. The console reads reports only through these.

A report is a direct child directory of the root holding ``backtest.json`` or ``monitoring.json``; its
name is the directory's name (letters, digits, ``.``, ``_``, ``-``), so a name can never reach outside
the root."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from dipper.kernel.errors import NotFound, ValidationFailed
from dipper.risk.commands.analysis import BACKTEST_FORMAT, MONITORING_FORMAT

__all__ = ["REPORT_KINDS", "ReportEntry", "list_reports", "read_report"]

REPORT_KINDS: Final = {
    "backtest": ("backtest.json", BACKTEST_FORMAT),
    "monitoring": ("monitoring.json", MONITORING_FORMAT),
}
_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class ReportEntry:
    name: str
    kind: str
    created_at: str
    data_file: str
    headline: dict[str, Any]


def _load(directory: Path) -> dict[str, Any] | None:
    for kind, (filename, fmt) in REPORT_KINDS.items():
        path = directory / filename
        if path.is_file():
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise ValidationFailed(
                    f"report {directory.name} is not valid JSON",
                    code="invalid_report",
                    details={"name": directory.name},
                ) from None
            if not isinstance(document, dict) or document.get("format") != fmt:
                raise ValidationFailed(
                    f"report {directory.name} is not a {fmt} document",
                    code="invalid_report",
                    details={"name": directory.name},
                )
            document["kind"] = kind
            return document
    return None


def _headline(document: dict[str, Any]) -> dict[str, Any]:
    if document["kind"] == "backtest":
        return {
            "champion_approval_rate": document["champion"]["approval_rate"],
            "candidate_approval_rate": document["candidate"]["approval_rate"],
            "swap_in": document["swap"]["in"]["count"],
            "swap_out": document["swap"]["out"]["count"],
        }
    alerts = document.get("alerts", [])
    return {
        "alerts": sum(1 for a in alerts if a.get("level") == "alert"),
        "warnings": sum(1 for a in alerts if a.get("level") == "warn"),
    }


def list_reports(root: Path) -> list[ReportEntry]:
    """Every readable report under ``root``, newest first (unreadable ones are left out)."""
    if not root.is_dir():
        return []
    out = []
    for child in root.iterdir():
        if not child.is_dir() or not _NAME.match(child.name):
            continue
        try:
            document = _load(child)
        except ValidationFailed:
            continue
        if document is None:
            continue
        out.append(
            ReportEntry(
                name=child.name,
                kind=document["kind"],
                created_at=str(document.get("created_at", "")),
                data_file=str(document.get("data", {}).get("file", "")),
                headline=_headline(document),
            )
        )
    out.sort(key=lambda e: (e.created_at, e.name), reverse=True)
    return out


def read_report(root: Path, name: str) -> dict[str, Any]:
    """One report's document (``kind`` is ``backtest`` or ``monitoring``); NotFound for any other name."""
    directory = root / name
    if not _NAME.match(name) or not directory.is_dir():
        raise NotFound(f"no report {name!r}", code="report_not_found", details={"name": name[:128]})
    document = _load(directory)
    if document is None:
        raise NotFound(f"no report {name!r}", code="report_not_found", details={"name": name})
    return document
