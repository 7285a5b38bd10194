"""Queries over the feature definitions: what entry points (the demo, reports) need without reaching
into ``risk.domain``.

``feature_frame`` computes the default feature set over whole columns (the training frame); the
decision path computes the same definitions one application at a time, to the same values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from dipper.risk.domain.bureau import SimulatedBureau
from dipper.risk.domain.feature_set import DEFAULT_FEATURE_SET, SCENES

__all__ = ["SCENES", "feature_frame", "feature_inputs", "feature_names", "simulated_bureau_inputs"]

_BUREAU = SimulatedBureau()


def feature_names() -> tuple[str, ...]:
    """The default feature set's features, in order."""
    return DEFAULT_FEATURE_SET.names


def feature_inputs() -> tuple[str, ...]:
    """The inputs the default feature set reads (application, identity, bureau, behaviour)."""
    return tuple(sorted(DEFAULT_FEATURE_SET.inputs))


def feature_frame(columns: Mapping[str, Sequence[object] | npt.NDArray[Any]]) -> dict[str, npt.NDArray[Any]]:
    """The default feature set over whole input columns (vectorized)."""
    return {name: np.asarray(values) for name, values in DEFAULT_FEATURE_SET.frame(columns).items()}


def simulated_bureau_inputs(customer_key: str, as_of: dt.date) -> dict[str, object]:
    """The simulated bureau's report on one customer, under the feature inputs' names (``bureau_*``)."""
    return _BUREAU.report(customer_key, as_of).as_inputs()
