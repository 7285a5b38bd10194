"""Read side of the general ledger, and the account codes other modules post to.

Balances are computed in the database with ``GROUP BY`` and window functions, never by
walking journal lines in Python, so the same queries serve one loan and a whole book.
Every query also filters on the caller's tenant explicitly (besides the session's
automatic scoping): aggregate queries are where a missing filter would leak the most.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal, select

from dipper.accounting.adapters import Account, JournalEntry, JournalLine
from dipper.accounting.commands import PostJournalEntry
from dipper.accounting.domain import (
    ACCOUNT_CODE_PATTERN,
    ASSET_IMPAIRMENT_LOSS,
    BANK_DEPOSITS,
    BORROWER_OVERPAYMENTS,
    CAPITAL_RESERVE,
    CASH,
    CENTRAL_BANK_RESERVES,
    CLEARING,
    CLIENT_KEY_PATTERN,
    CREDIT_IMPAIRMENT_LOSS,
    CURRENCY_PATTERN,
    CURRENT_YEAR_PROFIT,
    CUSTOMER_DEPOSITS,
    DUE_FROM_BANKS,
    DUE_TO_BANKS,
    FEE_EXPENSE,
    FEE_INCOME,
    FEE_RECEIVABLE,
    FX_POSITION,
    GENERAL_AND_ADMIN_EXPENSES,
    GENERAL_RISK_RESERVE,
    INTEREST_EXPENSE,
    INTEREST_INCOME,
    INTEREST_PAYABLE,
    INTEREST_RECEIVABLE,
    LOAN_LOSS_PROVISION,
    LOAN_PRINCIPAL,
    MAX_AMOUNT_MINOR,
    MAX_DESCRIPTION,
    MAX_LINES,
    MAX_MEMO,
    MAX_NAME,
    NON_OPERATING_EXPENSES,
    NON_OPERATING_INCOME,
    OTHER_OPERATING_INCOME,
    OTHER_PAYABLES,
    OTHER_RECEIVABLES,
    PAID_IN_CAPITAL,
    PENALTY_INTEREST_INCOME,
    PENALTY_RECEIVABLE,
    PROVISION_EXPENSE,
    RETAINED_EARNINGS,
    SOURCE_PATTERN,
    SURPLUS_RESERVE,
    SUSPENSE_PAYMENTS,
    SUSPENSE_RECEIPTS,
    TAXES_AND_SURCHARGES,
    TAXES_PAYABLE,
    WRITTEN_OFF_LOANS,
    WRITTEN_OFF_LOANS_CONTRA,
    NormalBalance,
    check_currency,
)
from dipper.kernel.errors import NotFound, PermissionDenied, ValidationFailed
from dipper.persistence.uow import SqlAlchemyUnitOfWork

__all__ = [
    "ACCOUNT_CODE_PATTERN",
    "ASSET_IMPAIRMENT_LOSS",
    "BANK_DEPOSITS",
    "BORROWER_OVERPAYMENTS",
    "CAPITAL_RESERVE",
    "CASH",
    "CENTRAL_BANK_RESERVES",
    "CLEARING",
    "CLIENT_KEY_PATTERN",
    "CREDIT_IMPAIRMENT_LOSS",
    "CURRENCY_PATTERN",
    "CURRENT_YEAR_PROFIT",
    "CUSTOMER_DEPOSITS",
    "DUE_FROM_BANKS",
    "DUE_TO_BANKS",
    "FEE_EXPENSE",
    "FEE_INCOME",
    "FEE_RECEIVABLE",
    "FX_POSITION",
    "GENERAL_AND_ADMIN_EXPENSES",
    "GENERAL_RISK_RESERVE",
    "INTEREST_EXPENSE",
    "INTEREST_INCOME",
    "INTEREST_PAYABLE",
    "INTEREST_RECEIVABLE",
    "LOAN_LOSS_PROVISION",
    "LOAN_PRINCIPAL",
    "MAX_AMOUNT_MINOR",
    "MAX_DESCRIPTION",
    "MAX_LINES",
    "MAX_MEMO",
    "MAX_NAME",
    "NON_OPERATING_EXPENSES",
    "NON_OPERATING_INCOME",
    "OTHER_OPERATING_INCOME",
    "OTHER_PAYABLES",
    "OTHER_RECEIVABLES",
    "PAID_IN_CAPITAL",
    "PENALTY_INTEREST_INCOME",
    "PENALTY_RECEIVABLE",
    "PROVISION_EXPENSE",
    "RETAINED_EARNINGS",
    "SOURCE_PATTERN",
    "SURPLUS_RESERVE",
    "SUSPENSE_PAYMENTS",
    "SUSPENSE_RECEIPTS",
    "TAXES_AND_SURCHARGES",
    "TAXES_PAYABLE",
    "WRITTEN_OFF_LOANS",
    "WRITTEN_OFF_LOANS_CONTRA",
    "AccountLedger",
    "AccountView",
    "EntryLineView",
    "EntryPage",
    "EntryView",
    "LedgerLine",
    "PostingResult",
    "TrialBalance",
    "TrialBalanceLine",
    "account_balance",
    "account_ledger",
    "find_entry_by_client_key",
    "get_account",
    "get_entry",
    "list_accounts",
    "list_entries",
    "trial_balance",
]

MAX_PAGE = 1000
MAX_LEDGER_PAGE = 5000


# -- views ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostingResult:
    """What posting or reversing returns: the entry, and whether this call was a replay of an earlier one."""

    entry_id: str
    replayed: bool


@dataclass(frozen=True)
class AccountView:
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


@dataclass(frozen=True)
class TrialBalanceLine:
    """One account in one currency. ``debit_minor``/``credit_minor`` are the totals posted up to the
    date; ``balance_minor`` is their difference signed in the account's normal direction."""

    account_code: str
    account_name: str
    account_name_en: str
    account_type: str
    currency: str
    debit_minor: int
    credit_minor: int
    balance_minor: int
    normal_balance: str = ""


@dataclass(frozen=True)
class TrialBalance:
    as_of: date
    lines: list[TrialBalanceLine]
    totals: dict[str, tuple[int, int]]  # currency -> (debit, credit)
    balanced: bool
    currency: str | None = None


@dataclass(frozen=True)
class EntryLineView:
    line_no: int
    account_code: str
    account_name: str
    account_name_en: str
    currency: str
    debit_minor: int
    credit_minor: int
    memo: str


@dataclass(frozen=True)
class EntryView:
    id: str
    client_key: str
    value_date: date
    posted_at: datetime
    description: str
    source: str
    reversal_of: str | None
    reversed_by: str | None
    created_by: str
    lines: list[EntryLineView]


@dataclass(frozen=True)
class EntryPage:
    entries: list[EntryView]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class LedgerLine:
    entry_id: str
    line_no: int
    value_date: date
    posted_at: datetime
    description: str
    memo: str
    debit_minor: int
    credit_minor: int
    balance_minor: int  # running balance after this line, in the account's normal direction


@dataclass(frozen=True)
class AccountLedger:
    """A sub-ledger page (分户账): lines of one account in one currency within value dates."""

    account_code: str
    account_name: str
    account_name_en: str
    normal_balance: str
    currency: str
    since: date | None
    until: date | None
    opening_balance_minor: int  # before ``since``
    closing_balance_minor: int  # at ``until`` (all lines in range, not just this page)
    total: int  # lines in range
    limit: int
    offset: int
    lines: list[LedgerLine]


# -- helpers ---------------------------------------------------------------------------------------------


def _tenant(uow: SqlAlchemyUnitOfWork) -> str:
    # Without a tenant the session is unscoped: reading the ledger then would show every bank.
    if uow.tenant_id is None:
        raise PermissionDenied("ledger queries need a bank", code="tenant_required")
    return uow.tenant_id


def _check_page(limit: int, offset: int, max_limit: int) -> None:
    if type(limit) is not int or not 1 <= limit <= max_limit:
        raise ValidationFailed(f"limit must be 1-{max_limit}", code="invalid_limit")
    if type(offset) is not int or offset < 0:
        raise ValidationFailed("offset must be 0 or more", code="invalid_offset")


def _check_range(since: date | None, until: date | None) -> None:
    if since is not None and until is not None and since > until:
        raise ValidationFailed("since is after until", code="invalid_date_range")


def _account_view(a: Account) -> AccountView:
    return AccountView(
        id=a.id,
        code=a.code,
        name=a.name,
        name_en=a.name_en,
        account_type=a.account_type,
        normal_balance=a.normal_balance,
        parent_code=a.parent_code,
        is_control=a.is_control,
        status=a.status,
        created_at=a.created_at,
    )


def _account(uow: SqlAlchemyUnitOfWork, account_code: str) -> Account:
    account = uow.session.scalar(select(Account).where(Account.code == account_code))
    if account is None:
        raise NotFound(f"no account {account_code}", code="account_not_found")
    return account


def _signed(normal: str) -> ColumnElement[Any]:
    if normal == NormalBalance.DEBIT:
        return JournalLine.debit_minor - JournalLine.credit_minor
    return JournalLine.credit_minor - JournalLine.debit_minor


def _entry_views(uow: SqlAlchemyUnitOfWork, entries: Sequence[JournalEntry]) -> list[EntryView]:
    """Lines and reversals of many entries in two queries (no query per entry)."""
    if not entries:
        return []
    tid = _tenant(uow)
    ids = [e.id for e in entries]
    rows = uow.session.execute(
        select(JournalLine, Account.name, Account.name_en)
        .join(Account, Account.id == JournalLine.account_id)
        .where(JournalLine.tenant_id == tid, JournalLine.entry_id.in_(ids))
        .order_by(JournalLine.entry_id, JournalLine.line_no)
    ).all()
    lines: dict[str, list[EntryLineView]] = {i: [] for i in ids}
    for ln, name, name_en in rows:
        lines[ln.entry_id].append(
            EntryLineView(
                line_no=ln.line_no,
                account_code=ln.account_code,
                account_name=name,
                account_name_en=name_en,
                currency=ln.currency,
                debit_minor=int(ln.debit_minor),
                credit_minor=int(ln.credit_minor),
                memo=ln.memo,
            )
        )
    reversed_by = dict(
        uow.session.execute(
            select(JournalEntry.reversal_of, JournalEntry.id).where(
                JournalEntry.tenant_id == tid, JournalEntry.reversal_of.in_(ids)
            )
        ).all()
    )
    return [
        EntryView(
            id=e.id,
            client_key=e.client_key,
            value_date=e.value_date,
            posted_at=e.posted_at,
            description=e.description,
            source=e.source,
            reversal_of=e.reversal_of,
            reversed_by=reversed_by.get(e.id),
            created_by=e.created_by,
            lines=lines[e.id],
        )
        for e in entries
    ]


# -- accounts --------------------------------------------------------------------------------------------


def list_accounts(uow: SqlAlchemyUnitOfWork) -> list[AccountView]:
    """The bank's chart of accounts, by code."""
    with uow:
        _tenant(uow)
        return [_account_view(a) for a in uow.session.scalars(select(Account).order_by(Account.code))]


def get_account(uow: SqlAlchemyUnitOfWork, account_code: str) -> AccountView:
    with uow:
        _tenant(uow)
        return _account_view(_account(uow, account_code))


def account_balance(uow: SqlAlchemyUnitOfWork, account_code: str, as_of: date, currency: str) -> int:
    """Balance in the account's normal direction, in minor units, including entries dated ``as_of``."""
    check_currency(currency)
    with uow:
        tid = _tenant(uow)
        account = _account(uow, account_code)
        total = uow.session.scalar(
            select(func.coalesce(func.sum(_signed(account.normal_balance)), 0)).where(
                JournalLine.tenant_id == tid,
                JournalLine.account_id == account.id,
                JournalLine.currency == currency,
                JournalLine.value_date <= as_of,
            )
        )
        return int(total or 0)


def trial_balance(uow: SqlAlchemyUnitOfWork, as_of: date, currency: str | None = None) -> TrialBalance:
    """Every account with postings dated up to ``as_of``, per currency; debits equal credits per currency."""
    if currency is not None:
        check_currency(currency)
    with uow:
        tid = _tenant(uow)
        debit = func.sum(JournalLine.debit_minor)
        credit = func.sum(JournalLine.credit_minor)
        q = (
            select(
                Account.code,
                Account.name,
                Account.name_en,
                Account.account_type,
                Account.normal_balance,
                JournalLine.currency,
                debit,
                credit,
            )
            .join(Account, Account.id == JournalLine.account_id)
            .where(JournalLine.tenant_id == tid, JournalLine.value_date <= as_of)
            .group_by(
                Account.id,
                Account.code,
                Account.name,
                Account.name_en,
                Account.account_type,
                Account.normal_balance,
                JournalLine.currency,
            )
            .order_by(Account.code, JournalLine.currency)
        )
        if currency is not None:
            q = q.where(JournalLine.currency == currency)
        lines: list[TrialBalanceLine] = []
        totals: dict[str, tuple[int, int]] = {}
        # One row per account and currency (already aggregated by the database).
        for code, name, name_en, account_type, normal, cur, sum_d, sum_c in uow.session.execute(q):
            d, c = int(sum_d), int(sum_c)
            balance = d - c if normal == NormalBalance.DEBIT else c - d
            lines.append(
                TrialBalanceLine(
                    account_code=code,
                    account_name=name,
                    account_name_en=name_en,
                    account_type=account_type,
                    currency=cur,
                    debit_minor=d,
                    credit_minor=c,
                    balance_minor=balance,
                    normal_balance=normal,
                )
            )
            td, tc = totals.get(cur, (0, 0))
            totals[cur] = (td + d, tc + c)
        totals = dict(sorted(totals.items()))
        return TrialBalance(
            as_of=as_of,
            lines=lines,
            totals=totals,
            balanced=all(d == c for d, c in totals.values()),
            currency=currency,
        )


# -- entries ---------------------------------------------------------------------------------------------


def get_entry(uow: SqlAlchemyUnitOfWork, entry_id: str) -> EntryView:
    with uow:
        _tenant(uow)
        entry = uow.session.scalar(select(JournalEntry).where(JournalEntry.id == entry_id))
        if entry is None:
            raise NotFound("no such journal entry", code="entry_not_found")
        return _entry_views(uow, [entry])[0]


def find_entry_by_client_key(uow: SqlAlchemyUnitOfWork, client_key: str) -> EntryView | None:
    """The entry posted under a client key, if any (lets a caller check whether its posting landed)."""
    with uow:
        _tenant(uow)
        entry = uow.session.scalar(select(JournalEntry).where(JournalEntry.client_key == client_key))
        return _entry_views(uow, [entry])[0] if entry is not None else None


def list_entries(
    uow: SqlAlchemyUnitOfWork,
    limit: int = 50,
    offset: int = 0,
    *,
    account_code: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> EntryPage:
    """Entries newest value date first, optionally only those touching one account or within value dates."""
    _check_page(limit, offset, MAX_PAGE)
    _check_range(since, until)
    with uow:
        tid = _tenant(uow)
        q = select(JournalEntry).where(JournalEntry.tenant_id == tid)
        if account_code is not None:
            account = _account(uow, account_code)
            q = q.where(
                JournalEntry.id.in_(
                    select(JournalLine.entry_id).where(
                        JournalLine.tenant_id == tid, JournalLine.account_id == account.id
                    )
                )
            )
        if since is not None:
            q = q.where(JournalEntry.value_date >= since)
        if until is not None:
            q = q.where(JournalEntry.value_date <= until)
        total = uow.session.scalar(select(func.count()).select_from(q.subquery())) or 0
        entries = uow.session.scalars(
            q.order_by(JournalEntry.value_date.desc(), JournalEntry.posted_at.desc(), JournalEntry.id.desc())
            .limit(limit)
            .offset(offset)
        ).all()
        return EntryPage(entries=_entry_views(uow, entries), total=int(total), limit=limit, offset=offset)


def account_ledger(
    uow: SqlAlchemyUnitOfWork,
    account_code: str,
    currency: str,
    since: date | None = None,
    until: date | None = None,
    *,
    limit: int = 500,
    offset: int = 0,
) -> AccountLedger:
    """Lines of one account with the running balance after each, computed by ``SUM() OVER`` in SQL."""
    check_currency(currency)
    _check_page(limit, offset, MAX_LEDGER_PAGE)
    _check_range(since, until)
    with uow:
        tid = _tenant(uow)
        account = _account(uow, account_code)
        signed = _signed(account.normal_balance)
        scope = [
            JournalLine.tenant_id == tid,
            JournalLine.account_id == account.id,
            JournalLine.currency == currency,
        ]
        if until is not None:
            scope.append(JournalLine.value_date <= until)

        # Opening balance, movement in range and line count in one aggregate pass.
        in_range = JournalLine.value_date >= since if since is not None else None
        if in_range is None:
            opening_q: ColumnElement[Any] = literal(0)
            movement_q: ColumnElement[Any] = func.coalesce(func.sum(signed), 0)
            count_q: ColumnElement[Any] = func.count()
        else:
            opening_q = func.coalesce(func.sum(case((~in_range, signed), else_=0)), 0)
            movement_q = func.coalesce(func.sum(case((in_range, signed), else_=0)), 0)
            count_q = func.count(case((in_range, 1)))
        totals_q = select(opening_q, movement_q, count_q).where(*scope)
        opening, movement, count = uow.session.execute(totals_q).one()
        opening, movement, count = int(opening), int(movement), int(count)

        order = (JournalLine.value_date, JournalEntry.posted_at, JournalLine.entry_id, JournalLine.line_no)
        window = (
            select(
                JournalLine.entry_id,
                JournalLine.line_no,
                JournalLine.value_date,
                JournalEntry.posted_at,
                JournalEntry.description,
                JournalLine.memo,
                JournalLine.debit_minor,
                JournalLine.credit_minor,
                func.sum(signed).over(order_by=order, rows=(None, 0)).label("running"),
            )
            .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
            .where(*scope, *([in_range] if in_range is not None else []))
            .subquery()
        )
        rows = uow.session.execute(
            select(window)
            .order_by(window.c.value_date, window.c.posted_at, window.c.entry_id, window.c.line_no)
            .limit(limit)
            .offset(offset)
        ).all()
        lines = [
            LedgerLine(
                entry_id=r.entry_id,
                line_no=r.line_no,
                value_date=r.value_date,
                posted_at=r.posted_at,
                description=r.description,
                memo=r.memo,
                debit_minor=int(r.debit_minor),
                credit_minor=int(r.credit_minor),
                balance_minor=opening + int(r.running),
            )
            for r in rows
        ]
        return AccountLedger(
            account_code=account.code,
            account_name=account.name,
            account_name_en=account.name_en,
            normal_balance=account.normal_balance,
            currency=currency,
            since=since,
            until=until,
            opening_balance_minor=opening,
            closing_balance_minor=opening + movement,
            total=count,
            limit=limit,
            offset=offset,
            lines=lines,
        )


def post_within(
    uow: SqlAlchemyUnitOfWork, command: PostJournalEntry, *, new_key: bool = False
) -> PostingResult:
    """Post ``command`` inside the caller's open unit of work: the same rules and idempotency as
    ``PostJournalEntry``, but no commit, so that another module's change and its journal entry
    commit (or roll back) together. The one write here: it is how lower-level accounting serves
    modules above it within their transaction.

    ``new_key``: the caller made the client key just now (e.g. from a fresh id), so no entry can
    have it and the look-up for a replay is skipped; the database's unique key still holds."""
    from dipper.accounting import handlers  # internal; callers see only this function

    return handlers.post_within(uow, command, new_key=new_key)
