"""Read side of the loan core (its public read surface), grouped by area."""

from dipper.loans.queries.batch import *  # noqa: F403 - end-of-day runs, as its __all__ lists
from dipper.loans.queries.behaviour import *  # noqa: F403 - a customer's history here, for risk decisions
from dipper.loans.queries.loans import *  # noqa: F403 - credit lines and loans, as its __all__ lists
from dipper.loans.queries.products import *  # noqa: F403 - products' read surface, as its __all__ lists
from dipper.loans.queries.schedules import *  # noqa: F403 - the schedule calculator and APR
from dipper.loans.queries.servicing import *  # noqa: F403 - servicing read surface, as its __all__ lists
