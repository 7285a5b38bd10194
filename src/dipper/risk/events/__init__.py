"""Events of the risk module (facts that happened), grouped by area."""

from dipper.risk.events.training import *  # noqa: F403
