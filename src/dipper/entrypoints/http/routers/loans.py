"""Credit lines (授信), offers, loans and their disbursement over HTTP, and the loan sub-ledger's
reconciliation with the general ledger.

Money is integer minor units (``*_minor``, fen for CNY) with a ``currency``; rates are decimal
strings (``"0.0435"`` is 4.35% a year), never JSON floats. Creating and disbursing a loan move
money, so they require an ``Idempotency-Key`` header: a retry with the same key and body answers
with the first result, the same key with another body answers 409 ``idempotency_key_reused``.
Every offer, loan and schedule shows its APR (年化利率, all costs included).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from dipper.access.queries import Permission
from dipper.accounting import queries as ledger
from dipper.entrypoints.http.deps import Ctx, allow
from dipper.kernel.errors import DomainError
from dipper.loans import commands
from dipper.loans import queries as loans

router = APIRouter(tags=["loans"])

Read = Annotated[Ctx, Depends(allow(Permission.LOANS_READ))]
Service = Annotated[Ctx, Depends(allow(Permission.LOANS_SERVICE))]
CreditLineId = Annotated[str, Path(min_length=1, max_length=64)]
LoanId = Annotated[str, Path(min_length=1, max_length=64)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Required. 1-128 printable ASCII characters; a retry with the same key and body "
        "is answered with the first result",
    ),
]
_CLIENT_KEY = re.compile(ledger.CLIENT_KEY_PATTERN)
MAX_LOAN_MINOR = 10**10
#: A decimal fraction below 1 with at most nine places (rates are stored x 10^9 as integers).
RATE_PATTERN = r"^0(\.[0-9]{1,9})?$"
Minor = Annotated[int, Field(ge=1, le=MAX_LOAN_MINOR, strict=True, description="Integer minor units (fen)")]
Id = Annotated[str, Field(min_length=1, max_length=64)]
Reason = Annotated[str, Field(min_length=1, max_length=300, description="Why; kept in the audit log")]


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


# -- credit lines -----------------------------------------------------------------------------------------


class CreditLineIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "01JD0000000000000000000000",
                    "product_code": "CONSUMER-12",
                    "currency": "CNY",
                    "limit_minor": 5_000_000,
                    "expires_on": "2027-12-31",
                    "reason": "授信审批通过 approved by the credit committee",
                }
            ]
        },
    )
    customer_id: Id
    product_code: str = Field(min_length=1, max_length=32)
    currency: str = Field(default="CNY", pattern=ledger.CURRENCY_PATTERN)
    limit_minor: Minor
    expires_on: date = Field(description="Last day a drawdown may start (inclusive)")
    reason: str = Field(default="", max_length=300)


class LimitIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"limit_minor": 8_000_000, "reason": "提额 annual review"}]},
    )
    limit_minor: Minor
    reason: Reason


class ReasonIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "风险预警 suspected fraud"}]}
    )
    reason: Reason


class CreditLineOut(BaseModel):
    id: str
    customer_id: str
    product_code: str
    currency: str
    limit_minor: int
    used_minor: int = Field(description="Principal outstanding of its loans; pending loans count in full")
    available_minor: int
    expires_on: date
    status: str
    created_at: datetime


class CreditLinePageOut(BaseModel):
    lines: list[CreditLineOut]
    total: int
    limit: int
    offset: int


@router.post("/credit-lines", response_model=CreditLineOut, status_code=201)
def approve_credit_line(body: CreditLineIn, ctx: Service) -> Any:
    """授信: grant a customer a limit under a product until a date."""
    line_id = ctx.handle(
        commands.ApproveCreditLine(
            tenant_id=ctx.tenant_id,
            customer_id=body.customer_id,
            product_code=body.product_code,
            currency=body.currency,
            limit_minor=body.limit_minor,
            expires_on=body.expires_on,
            reason=body.reason,
        )
    )
    return loans.get_credit_line(ctx.uow(), line_id)


@router.get("/credit-lines", response_model=CreditLinePageOut)
def list_credit_lines(
    *,
    ctx: Read,
    customer_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    status: Annotated[Literal["active", "frozen", "closed"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=loans.MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    return loans.list_credit_lines(
        ctx.uow(), customer_id=customer_id, status=status, limit=limit, offset=offset
    )


@router.get("/credit-lines/{credit_line_id}", response_model=CreditLineOut)
def get_credit_line(credit_line_id: CreditLineId, ctx: Read) -> Any:
    return loans.get_credit_line(ctx.uow(), credit_line_id)


@router.post("/credit-lines/{credit_line_id}/limit", response_model=CreditLineOut)
def change_limit(credit_line_id: CreditLineId, body: LimitIn, ctx: Service) -> Any:
    """Raise or lower the limit; never below what is used (409 ``limit_below_used``)."""
    return ctx.handle(
        commands.ChangeCreditLimit(
            tenant_id=ctx.tenant_id,
            credit_line_id=credit_line_id,
            limit_minor=body.limit_minor,
            reason=body.reason,
        )
    )


@router.post("/credit-lines/{credit_line_id}/freeze", response_model=CreditLineOut)
def freeze(credit_line_id: CreditLineId, body: ReasonIn, ctx: Service) -> Any:
    """Stop drawdowns and disbursements on the line (冻结)."""
    return ctx.handle(
        commands.FreezeCreditLine(tenant_id=ctx.tenant_id, credit_line_id=credit_line_id, reason=body.reason)
    )


@router.post("/credit-lines/{credit_line_id}/unfreeze", response_model=CreditLineOut)
def unfreeze(credit_line_id: CreditLineId, body: ReasonIn, ctx: Service) -> Any:
    return ctx.handle(
        commands.UnfreezeCreditLine(
            tenant_id=ctx.tenant_id, credit_line_id=credit_line_id, reason=body.reason
        )
    )


# -- offers -----------------------------------------------------------------------------------------------

_OFFER_EXAMPLE: dict[str, Any] = {
    "customer_id": "01JD0000000000000000000000",
    "product_code": "CONSUMER-12",
    "amount_minor": 1_000_000,
    "term": 12,
    "method": "equal-installment",
    "annual_rate": "0.0720",
    "start": "2026-12-01",
}


class OfferIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_OFFER_EXAMPLE]})
    customer_id: Id
    product_code: str = Field(min_length=1, max_length=32)
    amount_minor: Minor
    term: int = Field(ge=1, le=360, strict=True, description="Months")
    method: Literal["equal-installment", "equal-principal", "interest-only", "bullet"]
    annual_rate: str = Field(pattern=RATE_PATTERN, description='Annual rate as a decimal fraction: "0.0720"')
    start: date | None = Field(default=None, description="Value (disbursement) date; default: today")
    first_due: date | None = Field(default=None, description="A broken first period ends here")


class LoanIn(OfferIn):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    **_OFFER_EXAMPLE,
                    "credit_line_id": "01JD0000000000000000000001",
                    "offer_digest": "4c5e0f0e8f3a3b1f5d0b6a9c2e7d8f1a4c5e0f0e8f3a3b1f5d0b6a9c2e7d8f1a",
                }
            ]
        },
    )
    credit_line_id: Id | None = None
    offer_digest: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="The offer's digest: refused (409 offer_changed) unless the loan is exactly that offer",
    )


class InstallmentOut(BaseModel):
    n: int
    due_date: date
    accrual_start: date
    accrual_end: date
    principal_minor: int
    interest_minor: int
    fee_minor: int
    total_minor: int
    balance_minor: int = Field(description="Principal still owed after this installment")


class OfferOut(BaseModel):
    customer_id: str
    product_code: str
    product_version_id: str
    currency: str
    amount_minor: int
    term: int
    method: str
    annual_rate: Decimal
    start: date
    first_due: date | None
    maturity_date: date
    apr: Decimal = Field(description="年化利率: annualized rate of interest and every fee (IRR method)")
    apr_ceiling: Decimal
    upfront_fee_minor: int
    paid_out_minor: int = Field(description="What the borrower receives: amount - upfront fee")
    total_interest_minor: int
    total_fees_minor: int
    total_repayment_minor: int
    day_count_basis: int
    rounding: str
    installments: list[InstallmentOut]
    offer_digest: str


def _offer_fields(body: OfferIn, ctx: Ctx) -> dict[str, Any]:
    return {
        "tenant_id": ctx.tenant_id,
        "customer_id": body.customer_id,
        "product_code": body.product_code,
        "amount_minor": body.amount_minor,
        "term": body.term,
        "method": body.method,
        "annual_rate": Decimal(body.annual_rate),
        "start": body.start or ctx.container.clock.today(),
        "first_due": body.first_due,
    }


@router.post("/offers", response_model=OfferOut)
def make_offer(body: OfferIn, ctx: Service) -> Any:
    """Price a loan under the product published for its start date: schedule, fees and APR. Nothing
    is stored; ``POST /loans`` with the same fields (and ``offer_digest``) books exactly this offer."""
    return ctx.handle(commands.MakeOffer(**_offer_fields(body, ctx)))


# -- loans ------------------------------------------------------------------------------------------------


class LoanOut(BaseModel):
    id: str
    customer_id: str
    credit_line_id: str | None
    product_code: str
    product_version_id: str | None
    currency: str
    method: str
    term: int
    annual_rate: Decimal
    apr: Decimal | None = Field(description="年化利率 disclosed when the loan was booked")
    penalty_rate: Decimal
    day_count_basis: int
    rounding: str
    grace_days: int
    allocation: dict[str, Any]
    disburse_to: str
    merchant_id: str | None
    principal_minor: int
    upfront_fee_minor: int
    start_date: date | None
    maturity_date: date | None
    status: str
    principal_outstanding_minor: int
    interest_receivable_minor: int
    penalty_receivable_minor: int
    fee_receivable_minor: int
    suspended_interest_minor: int
    credit_balance_minor: int
    written_off_minor: int
    accrued_through: date | None
    days_past_due: int
    bucket: str
    oldest_unpaid_due: date | None
    closed_on: date | None
    created_at: datetime


class LoanPageOut(BaseModel):
    loans: list[LoanOut]
    total: int
    limit: int
    offset: int


class ScheduleInstallmentOut(BaseModel):
    n: int
    due_date: date
    accrual_start: date
    accrual_end: date
    principal_minor: int
    interest_minor: int
    fee_minor: int
    total_minor: int
    principal_paid_minor: int
    interest_paid_minor: int
    fee_paid_minor: int
    penalty_paid_minor: int
    outstanding_minor: int
    status: str
    paid_on: date | None


class ScheduleOut(BaseModel):
    loan_id: str
    currency: str
    method: str
    term: int
    annual_rate: Decimal
    apr: Decimal | None
    principal_minor: int
    upfront_fee_minor: int
    total_interest_minor: int
    total_fees_minor: int
    installments: list[ScheduleInstallmentOut]


class TransactionOut(BaseModel):
    id: str
    loan_id: str
    kind: str
    value_date: date
    amount_minor: int
    currency: str
    allocation: dict[str, Any]
    journal_entry_id: str | None
    reverses_id: str | None
    reversed: bool
    channel_reference: str | None
    channel_amount_minor: int | None
    channel_status: str | None
    created_at: datetime


class DisburseIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"to": "borrower"}, {"to": "merchant", "merchant_id": "M-10086"}]},
    )
    to: Literal["borrower", "merchant"] = Field(default="borrower", description="merchant: 受托支付")
    merchant_id: str | None = Field(default=None, min_length=1, max_length=64)


class DisbursementOut(BaseModel):
    loan_id: str
    transaction_id: str
    journal_entry_id: str
    value_date: date
    currency: str
    principal_minor: int
    fee_minor: int
    paid_out_minor: int
    disburse_to: str
    merchant_id: str | None
    channel_reference: str
    status: str


class ReconciliationLineOut(BaseModel):
    column: str = Field(description="Sub-ledger column of loans_loan")
    account_code: str
    sub_ledger_minor: int
    gl_minor: int
    difference_minor: int = Field(description="sub-ledger - GL")


class ReconciliationOut(BaseModel):
    currency: str
    as_of: date
    balanced: bool
    lines: list[ReconciliationLineOut]


@router.post("/loans", response_model=LoanOut, status_code=201)
def create_loan(body: LoanIn, ctx: Service, idempotency_key: IdempotencyKey = None) -> Any:
    """Book an accepted offer as a pending loan (drawing on a credit line if given). A retry with the
    same key and body answers with the same loan."""
    loan_id = ctx.handle(
        commands.CreateLoan(
            **_offer_fields(body, ctx),
            credit_line_id=body.credit_line_id,
            offer_digest=body.offer_digest,
            idempotency_key=_key(idempotency_key),
        )
    )
    return loans.get_loan(ctx.uow(), loan_id)


@router.get("/loans", response_model=LoanPageOut)
def list_loans(
    *,
    ctx: Read,
    status: Annotated[
        Literal["pending", "active", "overdue", "non_accrual", "written_off", "closed"] | None, Query()
    ] = None,
    customer_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    bucket: Annotated[
        Literal["current", "M1", "M2", "M3", "M4+"] | None, Query(description="Days-past-due bucket")
    ] = None,
    product_code: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
    loan_id: Annotated[
        str | None,
        Query(pattern=r"^[0-9A-Za-z]{4,64}$", description="A loan id, or its first characters (4 or more)"),
    ] = None,
    min_dpd: Annotated[
        int | None, Query(ge=0, le=loans.MAX_FILTER_DPD, description="Days past due, at least")
    ] = None,
    max_dpd: Annotated[
        int | None, Query(ge=0, le=loans.MAX_FILTER_DPD, description="Days past due, at most")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=loans.MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    """Loans newest first; every filter is optional and they combine (``invalid_dpd_range`` when
    ``min_dpd`` is above ``max_dpd``)."""
    return loans.list_loans(
        ctx.uow(),
        status=status,
        customer_id=customer_id,
        bucket=bucket,
        product_code=product_code,
        loan_id=loan_id,
        min_dpd=min_dpd,
        max_dpd=max_dpd,
        limit=limit,
        offset=offset,
    )


@router.get("/loans/reconciliation", response_model=ReconciliationOut)
def reconciliation(
    ctx: Read,
    currency: Annotated[str, Query(pattern=ledger.CURRENCY_PATTERN)] = "CNY",
) -> Any:
    """The loan sub-ledger's column sums against the GL control accounts (ADR 0005), to the fen."""
    report = loans.reconcile(ctx.uow(), currency)
    return ReconciliationOut(
        currency=report.currency,
        as_of=report.as_of,
        balanced=report.balanced,
        lines=[ReconciliationLineOut.model_validate(ln, from_attributes=True) for ln in report.lines],
    )


@router.get("/loans/{loan_id}", response_model=LoanOut)
def get_loan(loan_id: LoanId, ctx: Read) -> Any:
    return loans.get_loan(ctx.uow(), loan_id)


@router.get("/loans/{loan_id}/schedule", response_model=ScheduleOut)
def loan_schedule(loan_id: LoanId, ctx: Read) -> Any:
    return loans.loan_schedule(ctx.uow(), loan_id)


@router.get("/loans/{loan_id}/transactions", response_model=list[TransactionOut])
def loan_transactions(loan_id: LoanId, ctx: Read) -> Any:
    return loans.loan_transactions(ctx.uow(), loan_id)


@router.post(
    "/loans/{loan_id}/disburse",
    response_model=DisbursementOut,
    status_code=201,
    responses={
        200: {"model": DisbursementOut, "description": "An idempotent replay: the first disbursement"}
    },
)
def disburse(
    loan_id: LoanId,
    response: Response,
    body: DisburseIn,
    ctx: Service,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """放款 on the loan's start date through the payment channel; posts Dr 1303 / Cr 3001 (and Cr 6021
    for an upfront fee deducted at source)."""
    result = ctx.handle(
        commands.DisburseLoan(
            tenant_id=ctx.tenant_id,
            loan_id=loan_id,
            idempotency_key=_key(idempotency_key),
            to=body.to,
            merchant_id=body.merchant_id,
        )
    )
    if result.replayed:
        response.status_code = 200
    return result


@router.post("/loans/{loan_id}/close", response_model=LoanOut)
def close(loan_id: LoanId, ctx: Service) -> Any:
    """结清: close a loan whose every balance is zero (409 ``loan_not_settled`` otherwise)."""
    return ctx.handle(commands.CloseLoan(tenant_id=ctx.tenant_id, loan_id=loan_id))
