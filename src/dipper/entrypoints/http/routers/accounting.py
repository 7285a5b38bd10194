"""The general ledger over HTTP: chart of accounts, journal entries, reversals, balances, trial balance.

Money is integer minor units (``*_minor``, fen for CNY) with a ``currency``; amounts as JSON
floats or strings are refused. Posting and reversing move money, so they require an
``Idempotency-Key`` header: a retry with the same key and body answers 200 with the first
result, the same key with another body answers 409 ``idempotency_key_reused``.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from dipper.access.queries import Permission
from dipper.accounting import commands
from dipper.accounting import queries as ledger
from dipper.entrypoints.http.deps import Ctx, allow
from dipper.kernel.errors import DomainError

router = APIRouter(prefix="/accounting", tags=["accounting"])

Read = Annotated[Ctx, Depends(allow(Permission.LEDGER_READ))]
ManageAccounts = Annotated[Ctx, Depends(allow(Permission.LEDGER_MANAGE_ACCOUNTS))]
Post = Annotated[Ctx, Depends(allow(Permission.LEDGER_POST))]
Reverse = Annotated[Ctx, Depends(allow(Permission.LEDGER_REVERSE))]
AccountCode = Annotated[str, Path(min_length=1, max_length=32, description="GL account code, e.g. 1303")]
EntryId = Annotated[str, Path(min_length=1, max_length=64)]
Currency = Annotated[str, Query(pattern=ledger.CURRENCY_PATTERN, description="ISO 4217 code, e.g. CNY")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Required. 1-128 printable ASCII characters; a retry with the same key and body "
        "is answered with the first result",
    ),
]
_CLIENT_KEY = re.compile(ledger.CLIENT_KEY_PATTERN)
Minor = Annotated[
    int,
    Field(
        ge=0,
        le=ledger.MAX_AMOUNT_MINOR,
        strict=True,
        description="Integer minor units (fen); 0 on the side not used",
    ),
]


def _client_key(key: str | None) -> str:
    if key is None or not key:
        raise DomainError(
            "this request moves money: send an Idempotency-Key header", code="idempotency_key_required"
        )
    if not _CLIENT_KEY.fullmatch(key):
        raise DomainError(
            "Idempotency-Key: 1-128 printable ASCII characters without spaces", code="invalid_idempotency_key"
        )
    return key


# -- accounts ---------------------------------------------------------------------------------------------


class AccountIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "code": "130301",
                    "name": "贷款-消费贷款",
                    "name_en": "Loans - consumer",
                    "account_type": "asset",
                    "parent_code": "1303",
                    "is_control": True,
                    "contra": False,
                }
            ]
        },
    )
    code: str = Field(pattern=ledger.ACCOUNT_CODE_PATTERN, description="4 digits, then 2 per sub-level")
    name: str = Field(min_length=1, max_length=ledger.MAX_NAME, description="Name in Chinese (zh-CN)")
    name_en: str = Field(min_length=1, max_length=ledger.MAX_NAME)
    account_type: Literal["asset", "liability", "equity", "income", "expense"]
    parent_code: str | None = Field(default=None, pattern=ledger.ACCOUNT_CODE_PATTERN)
    is_control: bool = False
    contra: bool = Field(default=False, description="Normal balance opposite to the type's (e.g. provisions)")


class AccountOut(BaseModel):
    id: str
    code: str
    name: str
    name_en: str
    account_type: str
    normal_balance: str
    parent_code: str | None
    is_control: bool
    status: str
    created_at: datetime


@router.get("/accounts", response_model=list[AccountOut])
def list_accounts(ctx: Read) -> Any:
    """The bank's chart of accounts (科目表), by code."""
    return ledger.list_accounts(ctx.uow())


@router.post("/accounts", response_model=AccountOut, status_code=201)
def open_account(body: AccountIn, ctx: ManageAccounts) -> Any:
    ctx.handle(
        commands.OpenAccount(
            tenant_id=ctx.tenant_id,
            code=body.code,
            name=body.name,
            name_en=body.name_en,
            account_type=body.account_type,
            parent_code=body.parent_code,
            is_control=body.is_control,
            contra=body.contra,
        )
    )
    return ledger.get_account(ctx.uow(), body.code)


@router.get("/accounts/{account_code}", response_model=AccountOut)
def get_account(account_code: AccountCode, ctx: Read) -> Any:
    return ledger.get_account(ctx.uow(), account_code)


class BalanceOut(BaseModel):
    account_code: str
    currency: str
    as_of: date
    normal_balance: str
    balance_minor: int = Field(description="Signed in the account's normal direction")


@router.get("/accounts/{account_code}/balance", response_model=BalanceOut)
def account_balance(
    account_code: AccountCode,
    ctx: Read,
    currency: Currency = "CNY",
    as_of: Annotated[date | None, Query(description="Value date, inclusive; default: today")] = None,
) -> Any:
    as_of = as_of or ctx.container.clock.today()
    account = ledger.get_account(ctx.uow(), account_code)
    balance = ledger.account_balance(ctx.uow(), account_code, as_of, currency)
    return BalanceOut(
        account_code=account.code,
        currency=currency,
        as_of=as_of,
        normal_balance=account.normal_balance,
        balance_minor=balance,
    )


class LedgerLineOut(BaseModel):
    entry_id: str
    line_no: int
    value_date: date
    posted_at: datetime
    description: str
    memo: str
    debit_minor: int
    credit_minor: int
    balance_minor: int = Field(description="Running balance after this line, normal direction")


class LedgerOut(BaseModel):
    account_code: str
    account_name: str
    account_name_en: str
    normal_balance: str
    currency: str
    since: date | None
    until: date | None
    opening_balance_minor: int
    closing_balance_minor: int
    total: int
    limit: int
    offset: int
    lines: list[LedgerLineOut]


@router.get("/accounts/{account_code}/ledger", response_model=LedgerOut)
def account_ledger(
    *,
    account_code: AccountCode,
    ctx: Read,
    currency: Currency = "CNY",
    since: Annotated[date | None, Query(description="First value date, inclusive")] = None,
    until: Annotated[date | None, Query(description="Last value date, inclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=ledger.MAX_LEDGER_PAGE)] = 500,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    """One account's lines (分户账) with the running balance."""
    return ledger.account_ledger(ctx.uow(), account_code, currency, since, until, limit=limit, offset=offset)


# -- entries ----------------------------------------------------------------------------------------------


class PostingLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_code: str = Field(pattern=ledger.ACCOUNT_CODE_PATTERN)
    currency: str = Field(pattern=ledger.CURRENCY_PATTERN)
    debit_minor: Minor = 0
    credit_minor: Minor = 0
    memo: str = Field(default="", max_length=ledger.MAX_MEMO)


class EntryIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "value_date": "2026-03-31",
                    "description": "放款 Disbursement of loan L-0001",
                    "source": "manual",
                    "lines": [
                        {
                            "account_code": "1303",
                            "currency": "CNY",
                            "debit_minor": 1_000_000,
                            "memo": "principal",
                        },
                        {"account_code": "1002", "currency": "CNY", "credit_minor": 1_000_000},
                    ],
                }
            ]
        },
    )
    value_date: date = Field(description="Business date the entry belongs to")
    description: str = Field(min_length=1, max_length=ledger.MAX_DESCRIPTION)
    source: str = Field(default="manual", pattern=ledger.SOURCE_PATTERN)
    lines: list[PostingLineIn] = Field(min_length=2, max_length=ledger.MAX_LINES)


class ReverseIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reason": "错账冲正 wrong account", "value_date": "2026-04-01"}]},
    )
    reason: str = Field(min_length=1, max_length=300)
    value_date: date | None = Field(default=None, description="Default: the original entry's value date")


class EntryLineOut(BaseModel):
    line_no: int
    account_code: str
    account_name: str
    account_name_en: str
    currency: str
    debit_minor: int
    credit_minor: int
    memo: str


class EntryOut(BaseModel):
    id: str
    client_key: str
    value_date: date
    posted_at: datetime
    description: str
    source: str
    reversal_of: str | None
    reversed_by: str | None
    created_by: str
    lines: list[EntryLineOut]


class EntryPageOut(BaseModel):
    entries: list[EntryOut]
    total: int
    limit: int
    offset: int


_REPLAY: dict[int | str, dict[str, Any]] = {
    200: {"model": EntryOut, "description": "An idempotent replay: the entry posted by the first request"},
}


@router.get("/entries", response_model=EntryPageOut)
def list_entries(
    *,
    ctx: Read,
    account_code: Annotated[str | None, Query(pattern=ledger.ACCOUNT_CODE_PATTERN)] = None,
    since: Annotated[date | None, Query(description="First value date, inclusive")] = None,
    until: Annotated[date | None, Query(description="Last value date, inclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=ledger.MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    return ledger.list_entries(
        ctx.uow(), limit=limit, offset=offset, account_code=account_code, since=since, until=until
    )


@router.post("/entries", response_model=EntryOut, status_code=201, responses=_REPLAY)
def post_entry(
    body: EntryIn,
    response: Response,
    ctx: Post,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Post a balanced entry (debits equal credits in each currency)."""
    result = ctx.handle(
        commands.PostJournalEntry(
            tenant_id=ctx.tenant_id,
            client_key=_client_key(idempotency_key),
            value_date=body.value_date,
            description=body.description,
            source=body.source,
            lines=tuple(
                commands.PostingLine(
                    account_code=ln.account_code,
                    currency=ln.currency,
                    debit_minor=ln.debit_minor,
                    credit_minor=ln.credit_minor,
                    memo=ln.memo,
                )
                for ln in body.lines
            ),
        )
    )
    if result.replayed:
        response.status_code = 200
    return ledger.get_entry(ctx.uow(), result.entry_id)


@router.get("/entries/{entry_id}", response_model=EntryOut)
def get_entry(entry_id: EntryId, ctx: Read) -> Any:
    return ledger.get_entry(ctx.uow(), entry_id)


@router.post("/entries/{entry_id}/reverse", response_model=EntryOut, status_code=201, responses=_REPLAY)
def reverse_entry(
    entry_id: EntryId,
    body: ReverseIn,
    response: Response,
    ctx: Reverse,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Correct an entry by posting its mirror image (冲正); answers with the reversal entry."""
    result = ctx.handle(
        commands.ReverseJournalEntry(
            tenant_id=ctx.tenant_id,
            entry_id=entry_id,
            client_key=_client_key(idempotency_key),
            reason=body.reason,
            value_date=body.value_date,
        )
    )
    if result.replayed:
        response.status_code = 200
    return ledger.get_entry(ctx.uow(), result.entry_id)


# -- trial balance ----------------------------------------------------------------------------------------


class TrialBalanceLineOut(BaseModel):
    account_code: str
    account_name: str
    account_name_en: str
    account_type: str
    normal_balance: str
    currency: str
    debit_minor: int = Field(description="Total debits posted up to as_of")
    credit_minor: int = Field(description="Total credits posted up to as_of")
    balance_minor: int = Field(description="Signed in the account's normal direction")


class CurrencyTotalOut(BaseModel):
    currency: str
    debit_minor: int
    credit_minor: int


class TrialBalanceOut(BaseModel):
    as_of: date
    currency: str | None
    balanced: bool
    totals: list[CurrencyTotalOut]
    lines: list[TrialBalanceLineOut]


@router.get("/trial-balance", response_model=TrialBalanceOut)
def trial_balance(
    ctx: Read,
    as_of: Annotated[date | None, Query(description="Value date, inclusive; default: today")] = None,
    currency: Annotated[str | None, Query(pattern=ledger.CURRENCY_PATTERN)] = None,
) -> Any:
    """试算平衡: every account's totals and balance per currency up to a value date."""
    tb = ledger.trial_balance(ctx.uow(), as_of or ctx.container.clock.today(), currency)
    return TrialBalanceOut(
        as_of=tb.as_of,
        currency=tb.currency,
        balanced=tb.balanced,
        totals=[
            CurrencyTotalOut(currency=cur, debit_minor=d, credit_minor=c) for cur, (d, c) in tb.totals.items()
        ],
        lines=[TrialBalanceLineOut.model_validate(ln, from_attributes=True) for ln in tb.lines],
    )
