"""Loan products over HTTP: products, their versioned terms, and publishing through maker-checker.

A product's terms live in versions. A draft is created and edited here; submitting it (or asking
to retire the product) creates a change request that another person holding ``products.approve``
decides through ``/api/v1/changes/{change_id}/approve`` or ``/reject``. Published versions never
change: ``PUT`` on one answers 409 ``version_not_editable``.

Money is integer minor units (``*_minor``, fen for CNY); rates are decimal strings, annual and as
fractions (``"0.072"`` is 7.2% a year). A float where a rate belongs is refused.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from dipper.access import queries as access
from dipper.access.queries import Permission
from dipper.entrypoints.http.deps import Ctx, allow
from dipper.loans import commands
from dipper.loans import queries as products

router = APIRouter(prefix="/products", tags=["products"])

Read = Annotated[Ctx, Depends(allow(Permission.PRODUCTS_READ))]
Change = Annotated[Ctx, Depends(allow(Permission.PRODUCTS_CHANGE))]
ProductId = Annotated[str, Path(min_length=1, max_length=64)]
VersionNo = Annotated[int, Path(ge=1, le=1_000_000, description="1 for the first version")]

Minor = Annotated[int, Field(strict=True, description="Integer minor units (fen)")]
Months = Annotated[int, Field(strict=True)]
RateText = Annotated[
    str, Field(min_length=1, max_length=40, description='A decimal fraction as a string, e.g. "0.072"')
]
Flag = Annotated[bool, Field(strict=True)]


def _allowed(values: Any) -> str:
    return "One of: " + ", ".join(str(v.value) for v in values)


EXAMPLE_TERMS: dict[str, Any] = {
    "currency": "CNY",
    "min_amount_minor": 100_000,
    "max_amount_minor": 20_000_000,
    "min_term_months": 3,
    "max_term_months": 24,
    "allowed_terms": [3, 6, 12, 24],
    "repayment_methods": ["equal-installment", "equal-principal"],
    "min_rate": "0.072",
    "max_rate": "0.18",
    "day_count": "ACT/360",
    "rounding": "half-up",
    "overdue_first": True,
    "allocation_order": ["penalty", "interest", "principal", "fee"],
    "grace_days": 3,
    "penalty_uplift": "0.5",
    "compound_overdue_interest": False,
    "prepayment_allowed": True,
    "prepayment_partial_modes": ["shorten-term", "lower-installment"],
    "prepayment_full": True,
    "prepayment_fee_kind": "percentage",
    "prepayment_fee_rate": "0.01",
    "prepayment_lockin_months": 3,
    "upfront_fee_kind": "none",
    "periodic_fee_kind": "none",
    "holiday_roll": "following",
}


class TermsIn(BaseModel):
    """A version's full set of terms. Omitted optional terms take their defaults; the whole
    document is checked at once and the error lists every violation (``details.violations``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_TERMS]})

    currency: str = Field(min_length=1, max_length=8, description="ISO 4217 code, e.g. CNY")
    min_amount_minor: Minor
    max_amount_minor: Minor
    min_term_months: Months
    max_term_months: Months
    allowed_terms: list[Months] = Field(max_length=400, description="Terms (months) an offer may use")
    repayment_methods: list[str] = Field(max_length=10, description=_allowed(products.RepaymentMethod))
    min_rate: RateText
    max_rate: RateText
    day_count: str | None = Field(default=None, max_length=16, description=_allowed(products.DayCount))
    rounding: str | None = Field(default=None, max_length=16, description=_allowed(products.RoundingRule))
    overdue_first: Flag | None = Field(
        default=None, description="Settle the oldest overdue installment first (default true)"
    )
    allocation_order: list[str] | None = Field(
        default=None,
        max_length=10,
        description="Each of penalty, interest, principal, fee once (default in that order)",
    )
    grace_days: Months | None = Field(default=None, description="0-30 days before penalty interest")
    penalty_uplift: RateText | None = Field(
        default=None, description="Penalty rate = contract rate x (1 + uplift); 0.3-0.5 (default 0.5)"
    )
    compound_overdue_interest: Flag | None = None
    prepayment_allowed: Flag | None = None
    prepayment_partial_modes: list[str] | None = Field(
        default=None, max_length=5, description=_allowed(products.PrepaymentMode)
    )
    prepayment_full: Flag | None = None
    prepayment_fee_kind: str | None = Field(
        default=None, max_length=32, description=_allowed(products.PrepaymentFeeKind)
    )
    prepayment_fee_rate: RateText | None = Field(default=None, description="Of the prepaid principal")
    prepayment_fee_minor: Minor | None = None
    prepayment_lockin_months: Months | None = None
    upfront_fee_kind: str | None = Field(default=None, max_length=32, description=_allowed(products.FeeKind))
    upfront_fee_rate: RateText | None = Field(default=None, description="Of the disbursed principal")
    upfront_fee_minor: Minor | None = None
    periodic_fee_kind: str | None = Field(
        default=None, max_length=32, description=_allowed(products.PeriodicFeeKind)
    )
    periodic_fee_rate: RateText | None = Field(default=None, description="Monthly, on the original principal")
    periodic_fee_minor: Minor | None = Field(default=None, description="Per installment")
    holiday_roll: str | None = Field(
        default=None, max_length=32, description=_allowed(products.RollConvention)
    )
    revolving_interest_rule: str | None = Field(
        default=None,
        max_length=64,
        description="Revolving products only; recorded automatically: "
        + _allowed(products.DailyInterestRule),
    )

    def document(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class TermsOut(BaseModel):
    currency: str
    min_amount_minor: int
    max_amount_minor: int
    min_term_months: int
    max_term_months: int
    allowed_terms: list[int]
    repayment_methods: list[str]
    min_rate: str
    max_rate: str
    day_count: str
    rounding: str
    overdue_first: bool
    allocation_order: list[str]
    grace_days: int
    penalty_uplift: str
    compound_overdue_interest: bool
    prepayment_allowed: bool
    prepayment_partial_modes: list[str]
    prepayment_full: bool
    prepayment_fee_kind: str
    prepayment_fee_rate: str | None
    prepayment_fee_minor: int | None
    prepayment_lockin_months: int
    upfront_fee_kind: str
    upfront_fee_rate: str | None
    upfront_fee_minor: int | None
    periodic_fee_kind: str
    periodic_fee_rate: str | None
    periodic_fee_minor: int | None
    holiday_roll: str
    revolving_interest_rule: str | None


class ProductIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "code": "XFD-01",
                    "name": "惠民消费贷",
                    "name_en": "Huimin consumer loan",
                    "scene": "家装分期",
                    "segment": "salaried",
                    "terms": EXAMPLE_TERMS,
                }
            ]
        },
    )
    code: str = Field(min_length=1, max_length=32, description="2-32 letters, digits, '-' or '_'; unique")
    name: str = Field(min_length=1, max_length=200, description="Name in Chinese (zh-CN)")
    name_en: str = Field(min_length=1, max_length=200)
    scene: str = Field(default="", max_length=200, description="Where it is sold (场景), free text")
    segment: str = Field(default="", max_length=200, description="Who it is for (客群), free text")
    terms: TermsIn = Field(description="The terms of version 1 (a draft)")


class DraftIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{}, {"terms": EXAMPLE_TERMS}]})
    terms: TermsIn | None = Field(default=None, description="Omit to start from the latest version's terms")


class SubmitIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"note": "rates approved by ALCO on 2026-01-05"}]}
    )
    note: str = Field(default="", max_length=500, description="For the checker")


class RetireIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "replaced by XFD-02"}]}
    )
    reason: str = Field(default="", max_length=500)


class VersionOut(BaseModel):
    id: str
    product_id: str
    version_no: int
    status: str = Field(description="draft | published | superseded")
    terms: TermsOut
    terms_digest: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    published_by: str | None
    effective_from: date | None
    effective_to: date | None


class PendingChangeOut(BaseModel):
    id: str
    kind: str
    summary: str
    maker_id: str
    created_at: datetime
    version_no: int | None = None


class ProductOut(BaseModel):
    id: str
    code: str
    name: str
    name_en: str
    scene: str
    segment: str
    status: str = Field(description="active | retired")
    created_at: datetime
    retired_on: date | None
    latest_version_no: int | None
    published_version_no: int | None
    draft_version_no: int | None


class ProductDetailOut(ProductOut):
    versions: list[VersionOut] = Field(description="Newest first")
    pending_changes: list[PendingChangeOut] = Field(
        description="Publish or retire requests awaiting a checker"
    )


class ChangeRefOut(BaseModel):
    change_id: str = Field(description="Decide it at /api/v1/changes/{change_id}/approve or /reject")
    kind: str
    status: str
    target: str
    summary: str


def _detail(ctx: Ctx, product_id: str) -> dict[str, Any]:
    view = products.get_product(ctx.uow(), product_id)
    view["pending_changes"] = [
        {**c, "version_no": c["payload"].get("version_no")}
        for c in products.pending_product_changes(ctx.uow(), product_id)
    ]
    return view


def _propose(ctx: Ctx, proposal: Any) -> dict[str, Any]:
    # The loans command checked the product and answered the change request; access records it.
    change_id = ctx.handle(proposal)
    change = access.get_change(ctx.uow(), change_id)
    return {**change, "change_id": change["id"]}


@router.get("", response_model=list[ProductOut])
def list_products(ctx: Read) -> Any:
    """The bank's products by code, with their published and draft version numbers."""
    return products.list_products(ctx.uow())


@router.post("", response_model=ProductDetailOut, status_code=201)
def create_product(body: ProductIn, ctx: Change) -> Any:
    """A new product; its first version is a draft to edit and then submit for approval."""
    product_id = ctx.handle(
        commands.CreateProduct(
            tenant_id=ctx.tenant_id,
            code=body.code,
            name=body.name,
            name_en=body.name_en,
            scene=body.scene,
            segment=body.segment,
            terms=body.terms.document(),
        )
    )
    return _detail(ctx, product_id)


@router.get("/{product_id}", response_model=ProductDetailOut)
def get_product(product_id: ProductId, ctx: Read) -> Any:
    return _detail(ctx, product_id)


@router.post("/{product_id}/versions", response_model=VersionOut, status_code=201)
def draft_version(product_id: ProductId, body: DraftIn, ctx: Change) -> Any:
    """A new draft version (one at a time), from the given terms or a copy of the latest version."""
    version_no = ctx.handle(
        commands.DraftProductVersion(
            tenant_id=ctx.tenant_id,
            product_id=product_id,
            terms=body.terms.document() if body.terms is not None else None,
        )
    )
    return products.get_version(ctx.uow(), product_id, version_no)


@router.get("/{product_id}/versions/{version_no}", response_model=VersionOut)
def get_version(product_id: ProductId, version_no: VersionNo, ctx: Read) -> Any:
    return products.get_version(ctx.uow(), product_id, version_no)


@router.put("/{product_id}/versions/{version_no}", response_model=VersionOut)
def update_draft(product_id: ProductId, version_no: VersionNo, body: TermsIn, ctx: Change) -> Any:
    """Replace a draft's terms. 409 ``version_not_editable`` once published; 409
    ``version_pending_approval`` while a checker has it."""
    ctx.handle(
        commands.UpdateDraftVersion(
            tenant_id=ctx.tenant_id, product_id=product_id, version_no=version_no, terms=body.document()
        )
    )
    return products.get_version(ctx.uow(), product_id, version_no)


@router.post("/{product_id}/versions/{version_no}/submit", response_model=ChangeRefOut, status_code=201)
def submit_version(product_id: ProductId, version_no: VersionNo, body: SubmitIn, ctx: Change) -> Any:
    """Ask for the draft to be published: creates a change request (kind ``loans.product.publish``).
    Another person with ``products.approve`` approves it; the maker cannot."""
    proposal = ctx.handle(
        commands.SubmitProductVersion(
            tenant_id=ctx.tenant_id, product_id=product_id, version_no=version_no, note=body.note
        )
    )
    return _propose(ctx, proposal)


@router.post("/{product_id}/retire", response_model=ChangeRefOut, status_code=201)
def retire_product(product_id: ProductId, body: RetireIn, ctx: Change) -> Any:
    """Ask for the product to be retired: creates a change request (kind ``loans.product.retire``)."""
    proposal = ctx.handle(
        commands.RetireProduct(tenant_id=ctx.tenant_id, product_id=product_id, reason=body.reason)
    )
    return _propose(ctx, proposal)
