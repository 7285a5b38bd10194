"""Commands of the loan core (its public write surface), grouped by area."""

from dipper.loans.commands.batch import *  # noqa: F403
from dipper.loans.commands.origination import *  # noqa: F403
from dipper.loans.commands.products import *  # noqa: F403
from dipper.loans.commands.servicing import *  # noqa: F403
