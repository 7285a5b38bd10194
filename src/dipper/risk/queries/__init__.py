"""Queries of the risk module (its public read surface), grouped by area."""

from dipper.risk.queries.decisions import *  # noqa: F403
from dipper.risk.queries.features import *  # noqa: F403
from dipper.risk.queries.models import *  # noqa: F403
from dipper.risk.queries.registry import *  # noqa: F403
