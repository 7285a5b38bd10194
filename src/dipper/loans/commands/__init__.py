"""Commands of the loan core (its public write surface), grouped by area."""

from dipper.loans.commands.products import (
    CreateProduct,
    DraftProductVersion,
    RetireProduct,
    SubmitProductVersion,
    UpdateDraftVersion,
)

__all__ = [
    "CreateProduct",
    "DraftProductVersion",
    "RetireProduct",
    "SubmitProductVersion",
    "UpdateDraftVersion",
]
from dipper.loans.commands.origination import *  # noqa: F403
from dipper.loans.commands.servicing import *  # noqa: F403
from dipper.loans.commands.batch import *  # noqa: F403
