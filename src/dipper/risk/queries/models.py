"""Queries of the risk module: load a model directory and score one application with it.

``load_model`` verifies the directory against its manifest and returns the compiled runtime: scoring
an application is plain Python over dicts and lists (no pandas), fit for the decision path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dipper.risk.adapters.artifacts import load_runtime, read_manifest
from dipper.risk.domain.base import ModelRuntime
from dipper.risk.domain.reasons import LANGUAGES

__all__ = ["LANGUAGES", "LoadedModel", "describe_model", "load_model"]


@dataclass(frozen=True)
class LoadedModel:
    runtime: ModelRuntime
    manifest: Mapping[str, Any]

    @property
    def content_hash(self) -> str:
        return str(self.manifest["content_hash"])

    def decide(self, application: Mapping[str, Any], *, reasons: int = 4) -> dict[str, Any]:
        """Score, probability of default and the reason codes (zh-CN and en) of one application."""
        self.runtime.check_inputs(list(application))
        score = self.runtime.score_one(application)
        return {
            "score": score,
            "pd": self.runtime.scale.pd(score),
            "reasons": [r.to_json() for r in self.runtime.reasons(application, reasons)],
            "model": self.content_hash,
        }


def load_model(directory: Path) -> LoadedModel:
    runtime, manifest = load_runtime(directory)
    return LoadedModel(runtime=runtime, manifest=manifest)


def describe_model(directory: Path) -> dict[str, Any]:
    """The manifest, unverified (to show what a directory claims to hold)."""
    return read_manifest(directory)
