"""Reading the CSV files models train on and score, with every failure turned into a stable error code."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path
from typing import Any

import pandas as pd

from dipper.risk.domain.errors import INVALID_DATA_FILE, NotFound, ValidationFailed

__all__ = ["fingerprint", "read_csv", "sha256_file"]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_csv(path: Path) -> pd.DataFrame:
    """A CSV with a header row; an absent, empty, binary or ragged file is an ``invalid_data_file``."""
    if not path.is_file():
        raise NotFound(f"no data file at {path}", code=INVALID_DATA_FILE, details={"path": str(path)})
    try:
        frame = pd.read_csv(path, low_memory=False)
    except (
        pd.errors.EmptyDataError,
        pd.errors.ParserError,
        UnicodeDecodeError,
        csv.Error,
        ValueError,
    ) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValidationFailed(
            f"{path.name} is not a readable CSV file: {reason}",
            code=INVALID_DATA_FILE,
            details={"path": str(path)},
        ) from None
    if frame.empty or frame.shape[1] < 2:
        raise ValidationFailed(
            f"{path.name} has no data rows or fewer than two columns",
            code=INVALID_DATA_FILE,
            details={"path": str(path), "rows": int(frame.shape[0]), "columns": int(frame.shape[1])},
        )
    unnamed = [str(c) for c in frame.columns if str(c).startswith("Unnamed:")]
    if unnamed:
        raise ValidationFailed(
            f"{path.name} has columns without a header ({len(unnamed)}): is the first row the header?",
            code=INVALID_DATA_FILE,
            details={"path": str(path)},
        )
    return frame


def fingerprint(path: Path, frame: pd.DataFrame) -> dict[str, Any]:
    """Which data a model was trained on: the file's digest and shape (never its content)."""
    return {
        "file": path.name,
        "sha256": sha256_file(path),
        "rows": int(frame.shape[0]),
        "columns": int(frame.shape[1]),
    }
