"""Servicing over HTTP: repayments (还款) with allocation, prepayments (提前还款), reversal of a
repayment (冲正), reschedule (展期), write-off (核销) and recoveries (核销后收回).

Money is integer minor units (``*_minor``, fen for CNY); rates are decimal strings. Every request
here changes a loan's books, so each requires an ``Idempotency-Key`` header: a retry with the
same key and body answers 200 with the first transaction, the same key with another body answers
409 ``idempotency_key_reused``. Each answers with the ``LoanTransaction`` it wrote.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from dipper.access.queries import Permission
from dipper.accounting import queries as ledger
from dipper.entrypoints.http.deps import Ctx, allow
from dipper.entrypoints.http.routers.loans import TransactionOut
from dipper.kernel.errors import DomainError
from dipper.loans import commands
from dipper.loans import queries as loans

router = APIRouter(tags=["loans"])

Read = Annotated[Ctx, Depends(allow(Permission.LOANS_READ))]
Service = Annotated[Ctx, Depends(allow(Permission.LOANS_SERVICE))]
LoanId = Annotated[str, Path(min_length=1, max_length=64)]
TransactionId = Annotated[str, Path(min_length=1, max_length=64)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Required. 1-128 printable ASCII characters without spaces; a retry with the same "
        "key and body is answered with the first result",
    ),
]
_CLIENT_KEY = re.compile(ledger.CLIENT_KEY_PATTERN)
MAX_AMOUNT_MINOR = 10**10
Minor = Annotated[
    int,
    Field(
        ge=1,
        le=MAX_AMOUNT_MINOR,
        strict=True,
        description="Integer minor units (fen), in the loan's currency",
    ),
]
Currency = Annotated[str, Field(pattern=ledger.CURRENCY_PATTERN, description="ISO 4217 code, e.g. CNY")]
Reference = Annotated[
    str,
    Field(
        pattern=r"^[\x21-\x7e]{1,64}$", description="The payment channel's reference of the money received"
    ),
]
Reason = Annotated[str, Field(min_length=1, max_length=300, description="Why; kept with the transaction")]
ValueDate = Annotated[date | None, Field(default=None, description="Default: the business date")]
#: A decimal fraction below 1 with at most nine places (rates are stored x 10^9 as integers).
RATE_PATTERN = r"^0(\.[0-9]{1,9})?$"

_REPLAY: dict[int | str, dict[str, Any]] = {
    200: {
        "model": TransactionOut,
        "description": "An idempotent replay: the transaction of the first request",
    },
}


def _key(key: str | None) -> str:
    if key is None or not key:
        raise DomainError(
            "this request changes a loan's books: send an Idempotency-Key header",
            code="idempotency_key_required",
        )
    if not _CLIENT_KEY.fullmatch(key):
        raise DomainError(
            "Idempotency-Key: 1-128 printable ASCII characters without spaces", code="invalid_idempotency_key"
        )
    return key


def _answer(ctx: Ctx, result: loans.ServicingResult, response: Response) -> Any:
    if result.replayed:
        response.status_code = 200
    if result.view is not None:
        return result.view  # the command's own transaction, as committed
    return loans.get_servicing_transaction(ctx.uow(), result.transaction_id)


# -- bodies -----------------------------------------------------------------------------------------------


class RepaymentIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "amount_minor": 103_200,
                    "currency": "CNY",
                    "value_date": "2026-02-05",
                    "channel_reference": "UPAY-20260205-000123",
                }
            ]
        },
    )
    amount_minor: Minor
    currency: Currency
    value_date: ValueDate = None
    channel_reference: Reference | None = None


class PrepaymentIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"amount_minor": 500_000, "mode": "lower-installment", "value_date": "2026-03-10"},
                {"full": True, "value_date": "2026-03-10"},
            ]
        },
    )
    full: bool = Field(
        default=False, description="Settle the loan (提前结清); amount_minor optional, must be the payoff"
    )
    amount_minor: Minor | None = None
    mode: Literal["shorten-term", "lower-installment"] = Field(
        default="shorten-term", description="What a partial prepayment changes: the term or the installment"
    )
    currency: Currency | None = None
    value_date: ValueDate = None
    channel_reference: Reference | None = None


class ReverseRepaymentIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reason": "渠道重复入账 duplicate from the channel"}]},
    )
    reason: Reason


class RescheduleIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"new_term": 24, "new_rate": "0.065", "reason": "展期 hardship, approved"}]
        },
    )
    new_term: int = Field(ge=1, le=360, strict=True, description="The loan's installments in all, after it")
    new_rate: str | None = Field(
        default=None, pattern=RATE_PATTERN, description="New annual rate from the next period, e.g. 0.065"
    )
    reason: Reason


class WriteOffIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "核销 approved by the credit committee"}]}
    )
    reason: Reason
    charge_to: Literal["provision", "impairment"] = Field(
        default="provision", description="Against the loan loss provision (1304) or impairment loss (6702)"
    )


class RecoveryIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"amount_minor": 20_000, "currency": "CNY", "value_date": "2026-09-01"}]
        },
    )
    amount_minor: Minor
    currency: Currency | None = None
    value_date: ValueDate = None
    channel_reference: Reference | None = None


class PayoffQuoteOut(BaseModel):
    loan_id: str
    value_date: date
    currency: str
    due_minor: int = Field(
        description="Everything due: installments' principal, interest and fee, and penalty"
    )
    principal_not_due_minor: int
    interest_to_date_minor: int = Field(description="The current period's interest up to the value date")
    prepayment_fee_minor: int
    total_minor: int


# -- routes -----------------------------------------------------------------------------------------------


@router.post("/loans/{loan_id}/repayments", response_model=TransactionOut, status_code=201, responses=_REPLAY)
def repay(
    loan_id: LoanId,
    body: RepaymentIn,
    response: Response,
    ctx: Service,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """还款: pays what is due in the product's order (oldest installment first: penalty, interest,
    principal, fee); any excess is held as the borrower's credit balance (Cr 2243)."""
    result = ctx.handle(
        commands.RepayLoan(
            tenant_id=ctx.tenant_id,
            loan_id=loan_id,
            amount_minor=body.amount_minor,
            currency=body.currency,
            value_date=body.value_date or ctx.container.clock.today(),
            idempotency_key=_key(idempotency_key),
            channel_reference=body.channel_reference,
        )
    )
    return _answer(ctx, result, response)


@router.get("/loans/{loan_id}/repayments", response_model=list[TransactionOut])
def list_repayments(
    loan_id: LoanId,
    ctx: Read,
    limit: Annotated[int, Query(ge=1, le=loans.MAX_SERVICING_PAGE)] = 200,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    """The loan's servicing transactions (repayments, prepayments, reversals, reschedules,
    write-off, recoveries) in the order they were applied, each with its allocation."""
    return loans.list_servicing_transactions(ctx.uow(), loan_id, limit=limit, offset=offset)


@router.get("/loans/{loan_id}/payoff-quote", response_model=PayoffQuoteOut)
def payoff_quote(
    loan_id: LoanId,
    ctx: Read,
    value_date: Annotated[date | None, Query(description="Default: the business date")] = None,
) -> Any:
    """提前结清试算: what a full prepayment takes on the value date."""
    return loans.payoff_quote(ctx.uow(), loan_id, value_date)


@router.post(
    "/loans/{loan_id}/prepayments", response_model=TransactionOut, status_code=201, responses=_REPLAY
)
def prepay(
    loan_id: LoanId,
    body: PrepaymentIn,
    response: Response,
    ctx: Service,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """提前还款: what is due, the current period's interest to the value date and the product's fee,
    then principal; a partial prepayment rebuilds the remaining schedule, a full one settles the loan."""
    result = ctx.handle(
        commands.PrepayLoan(
            tenant_id=ctx.tenant_id,
            loan_id=loan_id,
            value_date=body.value_date or ctx.container.clock.today(),
            idempotency_key=_key(idempotency_key),
            amount_minor=body.amount_minor,
            full=body.full,
            mode=body.mode,
            currency=body.currency,
            channel_reference=body.channel_reference,
        )
    )
    return _answer(ctx, result, response)


@router.post(
    "/repayments/{transaction_id}/reverse", response_model=TransactionOut, status_code=201, responses=_REPLAY
)
def reverse(
    transaction_id: TransactionId,
    body: ReverseRepaymentIn,
    response: Response,
    ctx: Service,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """冲正: undo a repayment as if it was never received; later repayments are applied again."""
    result = ctx.handle(
        commands.ReverseRepayment(
            tenant_id=ctx.tenant_id,
            transaction_id=transaction_id,
            reason=body.reason,
            idempotency_key=_key(idempotency_key),
        )
    )
    return _answer(ctx, result, response)


@router.post("/loans/{loan_id}/reschedule", response_model=TransactionOut, status_code=201, responses=_REPLAY)
def reschedule(
    loan_id: LoanId,
    body: RescheduleIn,
    response: Response,
    ctx: Service,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """展期: a new schedule for the installments not yet due, so that the loan has ``new_term`` in all."""
    result = ctx.handle(
        commands.RescheduleLoan(
            tenant_id=ctx.tenant_id,
            loan_id=loan_id,
            new_term=body.new_term,
            new_rate=Decimal(body.new_rate) if body.new_rate is not None else None,
            reason=body.reason,
            idempotency_key=_key(idempotency_key),
        )
    )
    return _answer(ctx, result, response)


@router.post("/loans/{loan_id}/write-off", response_model=TransactionOut, status_code=201, responses=_REPLAY)
def write_off(
    loan_id: LoanId,
    body: WriteOffIn,
    response: Response,
    ctx: Service,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """核销: principal and receivables leave the balance sheet; the memo pair 7001/7002 keeps them."""
    result = ctx.handle(
        commands.WriteOffLoan(
            tenant_id=ctx.tenant_id,
            loan_id=loan_id,
            reason=body.reason,
            charge_to=body.charge_to,
            idempotency_key=_key(idempotency_key),
        )
    )
    return _answer(ctx, result, response)


@router.post("/loans/{loan_id}/recoveries", response_model=TransactionOut, status_code=201, responses=_REPLAY)
def recover(
    loan_id: LoanId,
    body: RecoveryIn,
    response: Response,
    ctx: Service,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """核销后收回: money received on a written-off loan (Dr 3001 / Cr 6702; the memo pair reduced)."""
    result = ctx.handle(
        commands.RecordRecovery(
            tenant_id=ctx.tenant_id,
            loan_id=loan_id,
            amount_minor=body.amount_minor,
            value_date=body.value_date or ctx.container.clock.today(),
            currency=body.currency,
            channel_reference=body.channel_reference,
            idempotency_key=_key(idempotency_key),
        )
    )
    return _answer(ctx, result, response)
