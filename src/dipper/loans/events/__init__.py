"""Events of the loan core (facts other modules may react to), grouped by area."""

from dipper.loans.events.batch import *  # noqa: F403
from dipper.loans.events.origination import *  # noqa: F403
from dipper.loans.events.products import *  # noqa: F403
from dipper.loans.events.servicing import *  # noqa: F403
