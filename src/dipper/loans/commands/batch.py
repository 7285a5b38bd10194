"""Commands of the end-of-day batch (日终批处理), ADR 0005.

A run for a business date is idempotent (a second run for a done date does nothing), catches up
missed dates in order and resumes at the first step not done: every step commits together with
its entry in the run's ``steps_done``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

from dipper.kernel.messages import Command

__all__ = ["EOD_STEPS", "MAX_CATCH_UP_DAYS", "RunEndOfDay", "RunEndOfDayStep", "SeedSyntheticBook"]

#: The steps of one business date, in order.
EOD_STEPS: Final = ("accrue_interest", "fall_due", "age", "accrue_penalty", "status", "post", "emit")
#: One command catches up at most this many business dates; a longer gap is run in several commands.
MAX_CATCH_UP_DAYS: Final = 400


@dataclass(frozen=True, kw_only=True)
class RunEndOfDay(Command):
    """Run the end of day for every business date after the last one done, through
    ``business_date``. With no run yet, the first date is ``since`` (default: ``business_date``).
    ``write_off_after_dpd`` turns on write-off by rule (default off; 180 is usual).
    Returns the ``BatchRunView`` of every date run (none when ``business_date`` is already done)."""

    business_date: date
    since: date | None = None
    non_accrual_after_dpd: int = 90
    write_off_after_dpd: int | None = None


@dataclass(frozen=True, kw_only=True)
class RunEndOfDayStep(Command):
    """Run the next step not done of the end of day for ``business_date`` (which must be the next
    date to run) and commit it. Returns a ``StepOutcome``; ``step`` is ``None`` once every step
    is done. Lets a caller show progress step by step (the CLI)."""

    business_date: date
    since: date | None = None
    non_accrual_after_dpd: int = 90
    write_off_after_dpd: int | None = None


@dataclass(frozen=True, kw_only=True)
class SeedSyntheticBook(Command):
    """Benchmarks and tests only: insert ``loans`` synthetic active loans of every repayment method,
    some delinquent, with their installments, as they stand at the end of ``as_of - 1``, and post
    their opening balances. Set-based and deterministic: the same count gives the same book.
    Returns the number of loans."""

    loans: int
    as_of: date
