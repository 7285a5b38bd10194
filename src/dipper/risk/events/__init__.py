"""Events of the risk module (facts that happened), grouped by area."""

from dipper.risk.events.decisions import *  # noqa: F403
from dipper.risk.events.registry import *  # noqa: F403
from dipper.risk.events.training import *  # noqa: F403
