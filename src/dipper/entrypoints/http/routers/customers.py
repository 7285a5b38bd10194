"""Customers (borrowers): register, look up, list, change contact. Personal data in, masked data out.

Responses never contain plain personal data, only ``*_masked`` fields. Look-ups by
identity number or phone go in a POST body (``/customers/search``), never in the
URL, so they do not land in access logs, proxies or browser history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from dipper.access.queries import Permission
from dipper.entrypoints.http.deps import Ctx, allow
from dipper.identity import commands
from dipper.identity import queries as identity
from dipper.kernel.errors import ValidationFailed

router = APIRouter(tags=["customers"])

Reader = Annotated[Ctx, Depends(allow(Permission.CUSTOMERS_READ))]
Writer = Annotated[Ctx, Depends(allow(Permission.CUSTOMERS_WRITE))]

# Test data only: a resident ID with a correct check digit (Beijing Chaoyang, born 1990-03-07),
# a Luhn-valid card and a well-known test mobile number. None belongs to a real person.
EXAMPLE_ID_NUMBER = "110105199003071239"
EXAMPLE_BANK_CARD = "6222021234567890128"
EXAMPLE_PHONE = "13800138000"


class CustomerIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "person",
                    "name": "张三",
                    "id_number": EXAMPLE_ID_NUMBER,
                    "phone": EXAMPLE_PHONE,
                    "bank_card": EXAMPLE_BANK_CARD,
                }
            ]
        }
    )
    kind: Literal["person", "business"] = "person"
    name: str = Field(min_length=1, max_length=200, description="Legal name (2-30 characters for a person)")
    id_number: str = Field(
        min_length=1, max_length=64, description="Resident ID number (身份证号) or, for a business, its USCC"
    )
    phone: str | None = Field(default=None, max_length=32, description="Mainland mobile number")
    bank_card: str | None = Field(default=None, max_length=40, description="Debit card for disbursement")


class ContactIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"phone": EXAMPLE_PHONE}]})
    phone: str | None = Field(max_length=32, description="New mobile number; null removes it")


class SearchIn(BaseModel):
    """Exactly one of ``id_number`` (unique per bank) or ``phone`` (may match several)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"id_number": EXAMPLE_ID_NUMBER}]})
    id_number: str | None = Field(default=None, min_length=1, max_length=64)
    phone: str | None = Field(default=None, min_length=1, max_length=32)


class CustomerOut(BaseModel):
    id: str
    kind: str
    status: str
    name_masked: str = Field(examples=["张*"])
    id_number_masked: str = Field(examples=["110***********1239"])
    phone_masked: str | None = Field(examples=["138****8000"])
    bank_card_masked: str | None = Field(examples=["622202*********0128"])
    created_at: datetime


class CustomerPageOut(BaseModel):
    items: list[CustomerOut]
    total: int
    limit: int
    offset: int


class SearchOut(BaseModel):
    items: list[CustomerOut]


@router.post("/customers", response_model=CustomerOut, status_code=201)
def register_customer(body: CustomerIn, ctx: Writer) -> Any:
    """Register a borrower. The same identity number twice in one bank answers 409 ``customer_exists``
    with ``details.customer_id``."""
    customer_id = ctx.handle(
        commands.RegisterCustomer(
            tenant_id=ctx.tenant_id,
            kind=body.kind,
            name=body.name,
            id_number=body.id_number,
            phone=body.phone,
            bank_card=body.bank_card,
        )
    )
    return identity.get_customer(ctx.uow(), customer_id)


@router.get("/customers", response_model=CustomerPageOut)
def list_customers(
    ctx: Reader,
    limit: Annotated[int, Query(ge=1, le=identity.MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    page = identity.list_customers(ctx.uow(), limit=limit, offset=offset)
    return {"items": page.items, "total": page.total, "limit": page.limit, "offset": page.offset}


@router.post("/customers/search", response_model=SearchOut)
def search_customers(body: SearchIn, ctx: Reader) -> Any:
    """Find customers by resident ID / USCC or by mobile number (exact match on a blind index)."""
    if body.id_number is not None and body.phone is None:
        found = identity.find_by_id_number(ctx.uow(), body.id_number)
        return {"items": [] if found is None else [found]}
    if body.phone is not None and body.id_number is None:
        return {"items": identity.find_by_phone(ctx.uow(), body.phone)}
    raise ValidationFailed("give exactly one of id_number or phone", code="invalid_search")


@router.get("/customers/{customer_id}", response_model=CustomerOut)
def get_customer(customer_id: str, ctx: Reader) -> Any:
    return identity.get_customer(ctx.uow(), customer_id)


@router.put("/customers/{customer_id}/contact", response_model=CustomerOut)
def update_contact(customer_id: str, body: ContactIn, ctx: Writer) -> Any:
    ctx.handle(
        commands.UpdateCustomerContact(tenant_id=ctx.tenant_id, customer_id=customer_id, phone=body.phone)
    )
    return identity.get_customer(ctx.uow(), customer_id)
