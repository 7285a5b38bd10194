"""Risk decisions and the manual review queue over HTTP.

- ``POST /risk/decisions`` decides one application (贷前审批) and stores the decision. It requires an
  ``Idempotency-Key`` header: a retry with the same key and body answers with the stored decision
  (``replayed: true``), the same key with another body answers 409 ``idempotency_key_reused``.
- ``GET /risk/decisions/{id}``: the decision with its feature values, scores, reasons (zh-CN and en),
  versions and inputs; personal fields (resident ID, name, phone, bank card) are masked.
- ``POST /risk/decisions/{id}/replay``: decide again from the stored inputs with the stored versions;
  ``equal`` true, or the ``differences`` field by field. Nothing is stored.
- ``GET /risk/reviews``: the gray-zone queue (open and assigned cases, oldest first);
  ``POST /risk/reviews/{id}/assign`` takes a case, ``POST /risk/reviews/{id}/resolve`` approves it
  (a limit and a rate within the product's bounds) or declines it, with a note. Resolving needs
  ``risk.approve`` and someone other than whoever submitted the application.

- ``POST /risk/limit-reviews``: the in-loan limit review over every open line (raise, lower, freeze or
  keep, with features and reasons); ``apply: true`` carries it out through the loan core
  (``risk.approve`` and ``loans.service``), line by line, reporting each refusal's code.
- ``GET /risk/early-warnings``: the post-loan warning score and level of every customer with a loan
  open, riskiest first.

Money is integer fen; rates are decimal strings. Bad input answers 422 with a stable code
(``invalid_feature_input``, ``feature_missing``, ``invalid_decision_input``, ``limit_out_of_bounds``, ...).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from dipper.access.queries import Permission
from dipper.entrypoints.http.deps import Ctx, allow
from dipper.kernel.errors import DomainError
from dipper.risk import commands
from dipper.risk import queries as risk

router = APIRouter(prefix="/risk", tags=["risk"])

Read = Annotated[Ctx, Depends(allow(Permission.RISK_READ))]
Decide = Annotated[Ctx, Depends(allow(Permission.LOANS_SERVICE))]
Approve = Annotated[Ctx, Depends(allow(Permission.RISK_APPROVE))]
DecisionId = Annotated[str, Path(min_length=1, max_length=64)]
CaseId = Annotated[str, Path(min_length=1, max_length=64)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Required. 1-128 printable ASCII characters; a retry with the same key and body "
        "is answered with the stored decision",
    ),
]
_KEY = re.compile(r"[\x21-\x7e]{1,128}")
RATE_PATTERN = r"^0(\.[0-9]{1,9})?$"
Scalar = str | int | float | bool | None


def _key(key: str | None) -> str:
    if not key:
        raise DomainError("send an Idempotency-Key header", code="idempotency_key_required")
    if not _KEY.fullmatch(key):
        raise DomainError(
            "Idempotency-Key: 1-128 printable ASCII characters without spaces", code="invalid_idempotency_key"
        )
    return key


class DecisionIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "product_code": "CONSUMER-12",
                    "application": {
                        "id_number": "11010519900307123X",
                        "name": "张三",
                        "phone": "13812345678",
                        "income_monthly_minor": 1_200_000,
                        "requested_amount_minor": 3_000_000,
                        "requested_term_months": 12,
                        "employment_years": 3.5,
                        "scene": "travel",
                        "application_hour": 14,
                        "kyc_passed": True,
                        "four_elements_verified": True,
                        "phone_tenure_months": 60,
                        "device_risky": False,
                        "blacklisted": False,
                    },
                }
            ]
        },
    )
    product_code: str = Field(min_length=1, max_length=32)
    application: dict[str, Scalar] = Field(
        description="Application, identity and KYC fields the feature set reads (money in fen); "
        "personal fields are stored encrypted",
        max_length=400,
    )
    customer_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="An existing customer: their history here counts",
    )
    application_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Routes champion/challenger (default: the key)",
    )
    bureau: dict[str, Scalar] | None = Field(
        default=None,
        max_length=100,
        description="The credit report's inputs (bureau_*); absent: the bureau is asked",
    )
    as_of: date | None = Field(default=None, description="Default: the application's date, else today")


class ReasonOut(BaseModel):
    code: str
    source: str = Field(description="rule, adjustment or model")
    text: dict[str, str] = Field(description="zh-CN and en")
    feature: str | None
    points_lost: float | None


class CaseOut(BaseModel):
    id: str
    decision_id: str
    status: str = Field(description="open, assigned, approved or declined")
    assignee: str | None
    assigned_at: datetime | None
    limit_minor: int | None
    annual_rate: str | None
    note: str
    resolved_by: str | None
    resolved_at: datetime | None
    created_at: datetime


class DecisionSummaryOut(BaseModel):
    id: str
    stage: str
    customer_id: str | None
    product_code: str | None
    application_key: str
    decision: str = Field(description="approve, review or decline")
    arm: str
    grade: str | None
    limit_minor: int | None
    currency: str
    annual_rate: str | None
    score: float | None
    strategy_id: str
    strategy_version: int
    setup_source: str
    created_by: str
    created_at: datetime


class DecisionOut(DecisionSummaryOut):
    input_digest: str
    strategy_hash: str
    feature_set_hash: str
    reasons: list[ReasonOut]
    features: dict[str, float | None]
    models: list[dict[str, Any]]
    record: dict[str, Any] = Field(description="The stored record, as replay compares it")
    inputs: dict[str, Any] = Field(description="What the decision read; personal fields masked")
    review_case: CaseOut | None
    replayed: bool = Field(default=False, description="True when an earlier request with this key decided it")


class DecisionPageOut(BaseModel):
    decisions: list[DecisionSummaryOut]
    total: int
    limit: int
    offset: int


class DifferenceOut(BaseModel):
    field: str
    stored: Any
    replayed: Any


class ReplayOut(BaseModel):
    decision_id: str
    equal: bool
    versions: str = Field(description="stored (the versions it was made with) or current (those are gone)")
    differences: list[DifferenceOut]


class CaseWithDecisionOut(CaseOut):
    decision: DecisionSummaryOut


class ReviewPageOut(BaseModel):
    cases: list[CaseWithDecisionOut]
    total: int
    limit: int
    offset: int


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assignee: str | None = Field(default=None, min_length=1, max_length=64, description="Default: the caller")


class ResolveIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "outcome": "approve",
                    "limit_minor": 2_000_000,
                    "annual_rate": "0.1560",
                    "note": "收入流水核实",
                },
                {"outcome": "decline", "note": "多头借贷 too many recent inquiries"},
            ]
        },
    )
    outcome: Literal["approve", "decline"]
    limit_minor: int | None = Field(default=None, ge=1, le=10**10, strict=True)
    annual_rate: str | None = Field(default=None, pattern=RATE_PATTERN)
    note: str = Field(min_length=1, max_length=1000)


def _out(view: dict[str, Any]) -> DecisionOut:
    record = view["record"]
    return DecisionOut(
        **{
            k: v
            for k, v in view.items()
            if k in DecisionOut.model_fields and k not in ("reasons", "features")
        },
        reasons=[ReasonOut(**r) for r in record.get("reasons", [])],
        features=record.get("features", {}),
        models=record.get("models", []),
    )


@router.post("/decisions", response_model=DecisionOut, status_code=201)
def decide_application(body: DecisionIn, ctx: Decide, idempotency_key: IdempotencyKey = None) -> DecisionOut:
    view = ctx.handle(
        commands.DecideApplication(
            tenant_id=ctx.tenant_id,
            idempotency_key=_key(idempotency_key),
            product_code=body.product_code,
            application=body.application,
            customer_id=body.customer_id,
            application_key=body.application_key,
            bureau=body.bureau,
            as_of=body.as_of,
        )
    )
    return _out(view)


@router.get("/decisions", response_model=DecisionPageOut)
def list_decisions(
    ctx: Read,
    decision: Annotated[Literal["approve", "review", "decline"] | None, Query()] = None,
    customer_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> DecisionPageOut:
    page = risk.list_decisions(
        ctx.uow(), decision=decision, customer_id=customer_id, limit=limit, offset=offset
    )
    return DecisionPageOut(
        decisions=[DecisionSummaryOut(**d) for d in page.decisions],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/decisions/{decision_id}", response_model=DecisionOut)
def get_decision(decision_id: DecisionId, ctx: Read) -> DecisionOut:
    return _out(risk.get_decision(ctx.uow(), decision_id))


@router.post("/decisions/{decision_id}/replay", response_model=ReplayOut)
def replay_decision(decision_id: DecisionId, ctx: Read) -> ReplayOut:
    result = ctx.handle(commands.ReplayDecision(tenant_id=ctx.tenant_id, decision_id=decision_id))
    return ReplayOut(
        decision_id=result["decision_id"],
        equal=result["equal"],
        versions=result["versions"],
        differences=[DifferenceOut(**d) for d in result["differences"]],
    )


@router.get("/reviews", response_model=ReviewPageOut)
def list_reviews(
    ctx: Read,
    status: Annotated[Literal["open", "assigned", "approved", "declined"] | None, Query()] = None,
    assignee: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> ReviewPageOut:
    page = risk.list_review_cases(ctx.uow(), status=status, assignee=assignee, limit=limit, offset=offset)
    return ReviewPageOut(
        cases=[CaseWithDecisionOut(**c) for c in page.cases],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/reviews/{case_id}", response_model=CaseOut)
def get_review(case_id: CaseId, ctx: Read) -> CaseOut:
    view = risk.get_review_case(ctx.uow(), case_id)
    return CaseOut(**{k: v for k, v in view.items() if k in CaseOut.model_fields})


@router.post("/reviews/{case_id}/assign", response_model=CaseOut)
def assign_review(case_id: CaseId, body: AssignIn, ctx: Approve) -> CaseOut:
    view = ctx.handle(commands.AssignCase(tenant_id=ctx.tenant_id, case_id=case_id, assignee=body.assignee))
    return CaseOut(**{k: v for k, v in view.items() if k in CaseOut.model_fields})


@router.post("/reviews/{case_id}/resolve", response_model=CaseOut)
def resolve_review(case_id: CaseId, body: ResolveIn, ctx: Approve) -> CaseOut:
    view = ctx.handle(
        commands.ResolveCase(
            tenant_id=ctx.tenant_id,
            case_id=case_id,
            outcome=body.outcome,
            note=body.note,
            limit_minor=body.limit_minor,
            annual_rate=None if body.annual_rate is None else Decimal(body.annual_rate),
        )
    )
    return CaseOut(**{k: v for k, v in view.items() if k in CaseOut.model_fields})


# -- in-loan limit review and post-loan early warning ------------------------------------------------------


class LimitReviewIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"as_of": "2026-06-30", "apply": False}]}
    )
    as_of: date | None = Field(default=None, description="Default: the bank's business date")
    max_limit_minor: int = Field(default=20_000_000, ge=1, le=10**12, strict=True)
    apply: bool = Field(
        default=False,
        description="Carry the proposals out now (ChangeCreditLimit, FreezeCreditLine); needs loans.service",
    )


class LineProposalOut(BaseModel):
    credit_line_id: str
    customer_id: str
    action: str = Field(description="raise, lower, freeze or keep")
    limit_minor: int
    new_limit_minor: int
    used_minor: int
    reasons: list[ReasonOut]
    features: dict[str, float | None]
    score: float | None
    applied: bool = False
    error: str | None = Field(default=None, description="The loan core's code when applying it was refused")


class LimitReviewOut(BaseModel):
    as_of: date
    strategy: dict[str, Any]
    counts: dict[str, int]
    proposals: list[LineProposalOut]


class WarningOut(BaseModel):
    customer_id: str
    score: int = Field(description="0-100, higher is riskier")
    level: str = Field(description="green, amber or red")
    reasons: list[ReasonOut]
    features: dict[str, float | None]


class EarlyWarningOut(BaseModel):
    as_of: date
    strategy: dict[str, Any]
    counts: dict[str, int]
    warnings: list[WarningOut]


@router.post("/limit-reviews", response_model=LimitReviewOut)
def review_limits(body: LimitReviewIn, ctx: Read) -> LimitReviewOut:
    if body.apply:
        ctx.principal.require(Permission.RISK_APPROVE)
        ctx.principal.require(Permission.LOANS_SERVICE)
    result = ctx.handle(
        commands.ReviewCreditLimits(
            tenant_id=ctx.tenant_id, as_of=body.as_of, max_limit_minor=body.max_limit_minor
        )
    )
    outcome: dict[str, tuple[bool, str | None]] = {}
    if body.apply:
        for command in result["apply"]:
            try:
                ctx.handle(command)
                outcome[command.credit_line_id] = (True, None)
            except DomainError as e:  # one refused line does not stop the others
                outcome[command.credit_line_id] = (False, e.code)
    proposals = []
    for p in result["proposals"]:
        applied, error = outcome.get(p["credit_line_id"], (False, None))
        fields = {k: v for k, v in p.items() if k in LineProposalOut.model_fields and k != "reasons"}
        proposals.append(
            LineProposalOut(
                **fields, reasons=[ReasonOut(**r) for r in p["reasons"]], applied=applied, error=error
            )
        )
    return LimitReviewOut(
        as_of=date.fromisoformat(result["as_of"]),
        strategy=result["strategy"],
        counts=result["counts"],
        proposals=proposals,
    )


@router.get("/early-warnings", response_model=EarlyWarningOut)
def early_warnings(ctx: Read, as_of: Annotated[date | None, Query()] = None) -> EarlyWarningOut:
    result = ctx.handle(commands.ScoreEarlyWarning(tenant_id=ctx.tenant_id, as_of=as_of))
    return EarlyWarningOut(
        as_of=date.fromisoformat(result["as_of"]),
        strategy=result["strategy"],
        counts=result["counts"],
        warnings=[
            WarningOut(**{**w, "reasons": [ReasonOut(**r) for r in w["reasons"]]}) for w in result["warnings"]
        ],
    )
