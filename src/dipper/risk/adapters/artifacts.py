"""A model directory: what a model is, written once and verified on every load.

```
model.json        the runtime tables (points table or flattened trees): JSON, never pickle
lightgbm.txt      the LightGBM text model(s) of a gbdt (reference and retraining; scoring never needs it)
metrics.json      validation figures
reference.json    the training distribution of the score and of each input (bin edges and shares), the
                  baseline of monitoring's PSI; directories written before it existed lack it
report/           binning tables, IV, score distribution, ROC and KS plots (PNG) and report.html
manifest.json     kind, target, features, parameters, library versions, training-data fingerprint,
                  metrics, the sha256 of every artifact and a content hash over them
```

The content hash is the sha256 of the sorted ``path sha256`` lines of every artifact: the same files
give the same hash on any machine, so a registry can key a model version by it and refuse a directory
whose files no longer match.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from dipper.risk.adapters.files import sha256_file
from dipper.risk.domain.base import ModelRuntime
from dipper.risk.domain.errors import (
    INVALID_MODEL,
    MODEL_NOT_FOUND,
    MODEL_TAMPERED,
    NotFound,
    ValidationFailed,
)
from dipper.risk.domain.gbdt import TreeEnsemble
from dipper.risk.domain.scorecard import PointsTable

__all__ = [
    "MANIFEST",
    "MANIFEST_FORMAT",
    "REFERENCE",
    "content_hash",
    "load_runtime",
    "read_manifest",
    "read_reference",
    "write_model",
]

MANIFEST = "manifest.json"
MODEL = "model.json"
REFERENCE = "reference.json"
MANIFEST_FORMAT = "dipper.risk.model/1"
_LIBRARIES = ("dipper", "numpy", "pandas", "scikit-learn", "optbinning", "lightgbm")


def _versions() -> dict[str, str]:
    out = {}
    for name in _LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1, allow_nan=False) + "\n", encoding="utf-8")


def content_hash(artifacts: Mapping[str, str]) -> str:
    lines = "".join(f"{name} {digest}\n" for name, digest in sorted(artifacts.items()))
    return "sha256:" + hashlib.sha256(lines.encode()).hexdigest()


def write_model(
    out: Path,
    *,
    runtime: ModelRuntime,
    lightgbm_models: list[str],
    metrics: Mapping[str, Any],
    report_writer: Any,
    manifest: Mapping[str, Any],
    reference: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the directory (into a temporary sibling, then renamed, so a crash leaves no half model)."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    _write_json(staging / MODEL, runtime.to_json())
    for i, text in enumerate(lightgbm_models):
        (staging / ("lightgbm.txt" if i == 0 else f"lightgbm_{i}.txt")).write_text(text, encoding="utf-8")
    _write_json(staging / "metrics.json", dict(metrics))
    if reference is not None:
        _write_json(staging / REFERENCE, dict(reference))  # an artifact: the content hash covers it
    (staging / "report").mkdir()
    report_writer(staging / "report")
    artifacts = {
        str(p.relative_to(staging)): sha256_file(p) for p in sorted(staging.rglob("*")) if p.is_file()
    }
    document = {
        "format": MANIFEST_FORMAT,
        **manifest,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "libraries": _versions(),
        "metrics": dict(metrics),
        "artifacts": artifacts,
        "content_hash": content_hash(artifacts),
    }
    _write_json(staging / MANIFEST, document)
    if out.exists():
        # Replace an older model of the same name: move it aside first, never mix files of two models.
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
        os.replace(out, old / out.name)
        os.replace(staging, out)
        _remove_tree(old)
    else:
        os.replace(staging, out)
    return document


def _remove_tree(path: Path) -> None:
    for child in sorted(path.rglob("*"), reverse=True):
        child.unlink() if child.is_file() else child.rmdir()
    path.rmdir()


def read_manifest(directory: Path) -> dict[str, Any]:
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise NotFound(
            f"no model at {directory} (no {MANIFEST})", code=MODEL_NOT_FOUND, details={"path": str(directory)}
        )
    try:
        manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationFailed(f"{manifest_path} is not valid JSON: {exc}", code=INVALID_MODEL) from None
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ValidationFailed(f"{manifest_path} is not a {MANIFEST_FORMAT} manifest", code=INVALID_MODEL)
    return manifest


def verify(directory: Path, manifest: Mapping[str, Any]) -> None:
    """Every artifact is present with the digest the manifest records, and the content hash matches."""
    artifacts: Mapping[str, str] = manifest.get("artifacts", {})
    changed = [
        name
        for name, digest in artifacts.items()
        if not (directory / name).is_file() or sha256_file(directory / name) != digest
    ]
    if changed or content_hash(artifacts) != manifest.get("content_hash"):
        raise ValidationFailed(
            f"the model at {directory} does not match its manifest"
            + (f" ({', '.join(changed[:5])} changed)" if changed else ""),
            code=MODEL_TAMPERED,
            details={"changed": changed},
        )


def load_runtime(directory: Path) -> tuple[ModelRuntime, dict[str, Any]]:
    manifest = read_manifest(directory)
    verify(directory, manifest)
    data = json.loads((directory / MODEL).read_text(encoding="utf-8"))
    kind = data.get("kind")
    if kind == PointsTable.kind:
        return PointsTable.from_json(data), manifest
    if kind == TreeEnsemble.kind:
        return TreeEnsemble.from_json(data), manifest
    raise ValidationFailed(f"unknown model kind {kind!r}", code=INVALID_MODEL)


def read_reference(directory: Path, manifest: Mapping[str, Any]) -> dict[str, Any] | None:
    """The training reference of a verified directory, or None when it was written without one."""
    if REFERENCE not in manifest.get("artifacts", {}):
        return None
    data: dict[str, Any] = json.loads((directory / REFERENCE).read_text(encoding="utf-8"))
    return data
