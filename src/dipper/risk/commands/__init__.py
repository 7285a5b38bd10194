"""Commands of the risk module (its public write surface), grouped by area.

Each area adds one module here and one star import below; nothing else in this file changes.
"""

from dipper.risk.commands.analysis import *  # noqa: F403
from dipper.risk.commands.decisions import *  # noqa: F403
from dipper.risk.commands.registry import *  # noqa: F403
from dipper.risk.commands.training import *  # noqa: F403
