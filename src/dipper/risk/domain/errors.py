"""The errors a training or scoring file can cause, each with a stable code (never renamed once published)."""

from __future__ import annotations

from dipper.kernel.errors import NotFound, ValidationFailed

__all__ = [
    "CONSTANT_COLUMN",
    "INVALID_DATA_FILE",
    "INVALID_FEATURE_SPEC",
    "INVALID_MODEL",
    "MISSING_FEATURE",
    "MISSING_TARGET",
    "MODEL_NOT_FOUND",
    "MODEL_TAMPERED",
    "NO_FEATURES",
    "TARGET_NOT_BINARY",
    "TOO_FEW_ROWS",
    "UNKNOWN_COLUMN",
    "NotFound",
    "ValidationFailed",
]

INVALID_DATA_FILE = "invalid_data_file"
MISSING_TARGET = "missing_target"
TARGET_NOT_BINARY = "target_not_binary"
CONSTANT_COLUMN = "constant_column"
UNKNOWN_COLUMN = "unknown_column"
NO_FEATURES = "no_features"
TOO_FEW_ROWS = "too_few_rows"
MISSING_FEATURE = "missing_feature"
INVALID_FEATURE_SPEC = "invalid_feature_spec"
INVALID_MODEL = "invalid_model"
MODEL_NOT_FOUND = "model_not_found"
MODEL_TAMPERED = "model_tampered"
