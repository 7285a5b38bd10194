"""The end of day (日终) over HTTP: start a run, list runs, and one run's steps and figures.

A run posts the day's accruals, so starting one takes an ``Idempotency-Key`` header like every
money-moving request; the business date is the run's own idempotency key besides: starting a date
that is done answers 200 with that run and changes nothing. Runs are synchronous for now (a book
of a million loans takes well under a minute); the console polls ``GET /batch/runs/{run_id}``.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from dipper.access.queries import Permission
from dipper.accounting import queries as ledger
from dipper.entrypoints.http.deps import Ctx, allow
from dipper.kernel.errors import DomainError
from dipper.loans import commands
from dipper.loans import queries as loans

router = APIRouter(prefix="/batch", tags=["loans"])

Read = Annotated[Ctx, Depends(allow(Permission.LOANS_READ))]
Service = Annotated[Ctx, Depends(allow(Permission.LOANS_SERVICE))]
RunId = Annotated[str, Path(min_length=1, max_length=64)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Required: the run posts the day's accruals. 1-128 printable ASCII characters",
    ),
]
_CLIENT_KEY = re.compile(ledger.CLIENT_KEY_PATTERN)


def _key(key: str | None) -> str:
    if key is None or not key:
        raise DomainError(
            "this request moves money: send an Idempotency-Key header", code="idempotency_key_required"
        )
    if not _CLIENT_KEY.fullmatch(key):
        raise DomainError(
            "Idempotency-Key: 1-128 printable ASCII characters without spaces", code="invalid_idempotency_key"
        )
    return key


class RunIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"business_date": "2026-03-31"}]}
    )
    business_date: date = Field(
        description="Run the end of day for every date after the last one done, through this one"
    )


class RunOut(BaseModel):
    id: str
    business_date: date
    status: str = Field(description="running | done | failed")
    steps_done: list[str]
    next_step: str | None = Field(description="The step a resumed run starts with; null when done")
    figures: dict[str, Any] = Field(
        description="Per step: rows, totals per currency, entries, events, seconds"
    )
    started_at: datetime
    finished_at: datetime | None


class StartedOut(RunOut):
    dates_run: list[date] = Field(description="The business dates this request ran, in order (catch-up)")


class RunPageOut(BaseModel):
    runs: list[RunOut]
    total: int
    limit: int
    offset: int


def _out(view: loans.BatchRunView) -> dict[str, Any]:
    return {**view.__dict__, "next_step": view.next_step}


@router.post(
    "/runs",
    response_model=StartedOut,
    status_code=201,
    responses={200: {"model": StartedOut, "description": "The date was done already: that run, unchanged"}},
)
def start_run(body: RunIn, response: Response, ctx: Service, idempotency_key: IdempotencyKey = None) -> Any:
    """Run the end of day through ``business_date`` now (synchronously), catching up missed dates."""
    _key(idempotency_key)
    runs = ctx.handle(commands.RunEndOfDay(tenant_id=ctx.tenant_id, business_date=body.business_date))
    if not runs:
        response.status_code = 200
        return {**_out(loans.get_batch_run_for_date(ctx.uow(), body.business_date)), "dates_run": []}
    return {**_out(runs[-1]), "dates_run": [r.business_date for r in runs]}


@router.get("/runs", response_model=RunPageOut)
def list_runs(
    ctx: Read,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    """End-of-day runs, newest business date first."""
    page = loans.list_batch_runs(ctx.uow(), limit=limit, offset=offset)
    return {
        "runs": [_out(r) for r in page.runs],
        "total": page.total,
        "limit": page.limit,
        "offset": page.offset,
    }


@router.get("/runs/{run_id}", response_model=RunOut)
def get_run(run_id: RunId, ctx: Read) -> Any:
    """One run: the steps done and their figures (what the console shows while a run goes on)."""
    return _out(loans.get_batch_run(ctx.uow(), run_id))
