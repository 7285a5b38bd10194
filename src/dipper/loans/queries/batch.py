"""Read side of the end-of-day batch: runs, their steps and figures, and which dates are due to run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from dipper.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from dipper.loans.adapters.accounts import BatchRun
from dipper.loans.commands.batch import EOD_STEPS, MAX_CATCH_UP_DAYS
from dipper.persistence.uow import SqlAlchemyUnitOfWork

__all__ = [
    "EOD_STEPS",
    "BatchRunPage",
    "BatchRunView",
    "StepOutcome",
    "eod_plan",
    "get_batch_run",
    "get_batch_run_for_date",
    "list_batch_runs",
]

MAX_RUN_PAGE = 500


@dataclass(frozen=True)
class BatchRunView:
    id: str
    business_date: date
    status: str  # running | done | failed
    steps_done: list[str]
    figures: dict[str, Any]
    started_at: datetime
    finished_at: datetime | None

    @property
    def next_step(self) -> str | None:
        return next((s for s in EOD_STEPS if s not in self.steps_done), None)


@dataclass(frozen=True)
class BatchRunPage:
    runs: list[BatchRunView]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class StepOutcome:
    """What ``RunEndOfDayStep`` did: ``step`` ran (``None``: the date was done already)."""

    business_date: date
    step: str | None
    run: BatchRunView


def _tenant(uow: SqlAlchemyUnitOfWork) -> str:
    # Without a tenant the session is unscoped: a run would cover every bank's loans.
    if uow.tenant_id is None:
        raise PermissionDenied("the end of day runs for one bank", code="tenant_required")
    return uow.tenant_id


def run_view(run: BatchRun) -> BatchRunView:
    return BatchRunView(
        id=run.id,
        business_date=run.business_date,
        status=run.status,
        steps_done=list(run.steps_done or []),
        figures=dict(run.figures or {}),
        started_at=run.started_at,
        finished_at=run.finished_at,
    )


def list_batch_runs(uow: SqlAlchemyUnitOfWork, limit: int = 50, offset: int = 0) -> BatchRunPage:
    """The bank's end-of-day runs, newest business date first."""
    if type(limit) is not int or not 1 <= limit <= MAX_RUN_PAGE:
        raise ValidationFailed(f"limit must be 1-{MAX_RUN_PAGE}", code="invalid_limit")
    if type(offset) is not int or offset < 0:
        raise ValidationFailed("offset must be 0 or more", code="invalid_offset")
    with uow:
        tid = _tenant(uow)
        total = uow.session.scalar(select(func.count()).where(BatchRun.tenant_id == tid)) or 0
        runs = uow.session.scalars(
            select(BatchRun)
            .where(BatchRun.tenant_id == tid)
            .order_by(BatchRun.business_date.desc())
            .limit(limit)
            .offset(offset)
        ).all()
        return BatchRunPage([run_view(r) for r in runs], int(total), limit, offset)


def get_batch_run(uow: SqlAlchemyUnitOfWork, run_id: str) -> BatchRunView:
    with uow:
        tid = _tenant(uow)
        run = uow.session.scalar(select(BatchRun).where(BatchRun.tenant_id == tid, BatchRun.id == run_id))
        if run is None:
            raise NotFound("no such end-of-day run", code="batch_run_not_found")
        return run_view(run)


def get_batch_run_for_date(uow: SqlAlchemyUnitOfWork, business_date: date) -> BatchRunView:
    with uow:
        tid = _tenant(uow)
        run = uow.session.scalar(
            select(BatchRun).where(BatchRun.tenant_id == tid, BatchRun.business_date == business_date)
        )
        if run is None:
            raise NotFound("no end-of-day run for this date", code="batch_run_not_found")
        return run_view(run)


def plan_dates(runs: dict[date, str], business_date: date, since: date | None, today: date) -> list[date]:
    """The dates to run, in order, given the existing runs (date -> status): every date after the
    last one done through ``business_date`` (a missed date is never skipped); with none done yet,
    from the earliest unfinished run or ``since`` (default ``business_date``)."""
    if business_date > today:
        raise ValidationFailed(
            "the end of day runs for today or earlier",
            code="eod_date_in_future",
            details={"business_date": business_date.isoformat(), "today": today.isoformat()},
        )
    if since is not None and since > business_date:
        raise ValidationFailed("since is after the business date", code="invalid_date_range")
    done = [d for d, status in runs.items() if status == "done"]
    last_done = max(done, default=None)
    if last_done is not None and business_date <= last_done:
        if runs.get(business_date) == "done":
            return []
        raise Conflict(
            "the end of day has run for a later date; an earlier date cannot run now",
            code="eod_date_before_last_run",
            details={"business_date": business_date.isoformat(), "last_done": last_done.isoformat()},
        )
    if last_done is not None:
        first = last_done + timedelta(days=1)
    else:
        unfinished = [d for d, status in runs.items() if status != "done"]
        first = min([*unfinished, since or business_date])
    count = (business_date - first).days + 1
    if count > MAX_CATCH_UP_DAYS:
        raise ValidationFailed(
            f"{count} business dates to run; one request runs at most {MAX_CATCH_UP_DAYS}: "
            "run an earlier business date first",
            code="eod_catch_up_too_long",
            details={"first": first.isoformat(), "business_date": business_date.isoformat()},
        )
    return [first + timedelta(days=i) for i in range(count)]


def eod_plan(uow: SqlAlchemyUnitOfWork, business_date: date, since: date | None = None) -> list[date]:
    """The business dates an end of day through ``business_date`` would run, in order (empty when it
    is done already). Refuses a future date and a date before the last one done."""
    with uow:
        tid = _tenant(uow)
        runs = dict(
            uow.session.execute(
                select(BatchRun.business_date, BatchRun.status).where(BatchRun.tenant_id == tid)
            ).all()
        )
        return plan_dates(runs, business_date, since, uow.clock.today())
