"""Handlers of servicing: repayment with allocation, prepayment, reversal of a repayment,
reschedule, write-off and recovery.

Every handler starts by locking the loan row (``SELECT ... FOR UPDATE``; SQLite's ``BEGIN
IMMEDIATE`` already serialises writers), then looks its idempotency key up: a concurrent duplicate
waits on the lock and then finds the first request's transaction. The loan change, its
``LoanTransaction`` and its journal entry (``accounting.queries.post_within``) commit together.

A repayment's transaction stores what it did - the split per installment and part, each touched
installment's status before, the loan's status before and after, and the journal lines - so that a
reversal can undo it exactly and post the mirror of its entry.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Connection, Insert, Table, Update, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from dipper.accounting import queries as ledger
from dipper.accounting.commands import PostingLine, PostJournalEntry
from dipper.kernel.calendar import RollConvention
from dipper.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from dipper.kernel.ids import new_id
from dipper.kernel.money import Currency, Money
from dipper.kernel.rates import Rate
from dipper.kernel.rounding import RoundingRule
from dipper.loans.adapters.accounts import Installment, Loan, LoanTransaction
from dipper.loans.commands import servicing as commands
from dipper.loans.domain import allocation as rules
from dipper.loans.domain import delinquency
from dipper.loans.domain.accrual import Period, scheduled_accrued
from dipper.loans.domain.origination import (
    LoanStatus,
    check_idempotent_replay,
    check_reason,
    content_digest,
    penalty_rate_e9,
    rate_e9,
)
from dipper.loans.domain.product import ProductTerms
from dipper.loans.domain.schedule import MAX_TERM, ScheduleTerms, add_months, build_schedule
from dipper.loans.domain.terms import AllocationPart, PrepaymentMode, RepaymentMethod
from dipper.loans.events import origination as origination_events
from dipper.loans.events import servicing as events
from dipper.loans.handlers import batch
from dipper.loans.queries import servicing as views
from dipper.loans.queries.loans import transaction_view
from dipper.persistence.audit import column_keys
from dipper.persistence.base import utcnow
from dipper.persistence.uow import SqlAlchemyUnitOfWork
from dipper.reference.calendars import china_mainland

__all__ = ["COMMAND_HANDLERS", "EVENT_HANDLERS"]

_KEY = re.compile(ledger.CLIENT_KEY_PATTERN)
_REFERENCE = re.compile(r"^[\x21-\x7e]{1,64}$")
REPAYMENT, PREPAYMENT, REVERSAL = "repayment", "prepayment", "reversal"
RESCHEDULE, WRITE_OFF, RECOVERY = "reschedule", "write_off", "recovery"
_SERVICEABLE = (LoanStatus.ACTIVE, LoanStatus.OVERDUE, LoanStatus.NON_ACCRUAL)
_PARTS = tuple(p.value for p in AllocationPart)


# -- plumbing -------------------------------------------------------------------------------------------


def _tenant(uow: SqlAlchemyUnitOfWork, cmd: Any) -> str:
    # The unit of work's bank scopes every query; a command naming another bank is a wiring bug.
    if uow.tenant_id is None or uow.tenant_id != cmd.tenant_id:
        raise PermissionDenied("the command's bank is not the caller's bank", code="tenant_mismatch")
    return uow.tenant_id


def _note_reason(uow: SqlAlchemyUnitOfWork, reason: str) -> None:
    # Audit entries keep digests of values: the action text is where a reviewer reads why.
    action = uow.session.info.get("action") or ""
    uow.session.info["action"] = f"{action} | reason: {reason}"[:200]


def _check_key(key: object) -> str:
    # No spaces: the keys servicing derives for its own follow-up transactions contain one, so a
    # client key can never collide with them.
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValidationFailed(
            "idempotency key: 1-128 printable ASCII characters without spaces", code="invalid_idempotency_key"
        )
    return key


def _check_amount(amount: object, name: str = "amount_minor") -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= rules.MAX_AMOUNT_MINOR:
        raise ValidationFailed(
            f"{name} must be a whole number of minor units from 1 to {rules.MAX_AMOUNT_MINOR}",
            code="invalid_amount",
            details={"field": name},
        )
    return amount


def _check_date(value: object, name: str = "value_date") -> date:
    # datetime is a date subclass: a timestamp would silently pick the server's day.
    if not isinstance(value, date) or isinstance(value, datetime):
        raise ValidationFailed(f"{name} must be a calendar date", code="invalid_value_date")
    return value


def _check_reference(reference: object) -> str | None:
    if reference is None:
        return None
    if not isinstance(reference, str) or not _REFERENCE.fullmatch(reference):
        raise ValidationFailed(
            "channel_reference: 1-64 printable ASCII characters without spaces",
            code="invalid_channel_reference",
        )
    return reference


def _check_currency_code(currency: object) -> str:
    if not isinstance(currency, str):
        raise ValidationFailed("currency is an ISO 4217 code", code="unknown_currency")
    return Currency.of(currency).code


def _lock_loan(uow: SqlAlchemyUnitOfWork, loan_id: str) -> Loan:
    """The loan row, locked until commit: servicing of one loan is serialised."""
    if not isinstance(loan_id, str):
        raise NotFound("no such loan", code="loan_not_found")
    loan = uow.session.scalar(
        select(Loan)
        .where(Loan.tenant_id == uow.tenant_id, Loan.id == loan_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if loan is None:
        raise NotFound("no such loan", code="loan_not_found")
    return loan


def _installments(uow: SqlAlchemyUnitOfWork, loan_id: str) -> list[Installment]:
    return list(
        uow.session.scalars(
            select(Installment)
            .where(Installment.tenant_id == uow.tenant_id, Installment.loan_id == loan_id)
            .order_by(Installment.n)
            .execution_options(populate_existing=True)
        )
    )


def _find(uow: SqlAlchemyUnitOfWork, key: str) -> LoanTransaction | None:
    return uow.session.scalar(
        select(LoanTransaction).where(
            LoanTransaction.tenant_id == uow.tenant_id, LoanTransaction.idempotency_key == key
        )
    )


def _replay(uow: SqlAlchemyUnitOfWork, key: str, digest: str) -> views.ServicingResult | None:
    """The result of an earlier request with this key (a retry), else None; other content is a conflict."""
    t = _find(uow, key)
    if t is None:
        return None
    check_idempotent_replay(stored_digest=t.content_digest, digest=digest, key=key)
    return views.ServicingResult(transaction_id=t.id, loan_id=t.loan_id, replayed=True)


def _commit(
    uow: SqlAlchemyUnitOfWork, result: views.ServicingResult, key: str, digest: str, t: LoanTransaction
) -> views.ServicingResult:
    """Commit; the result carries ``t`` as stored (the session keeps its state after commit)."""
    try:
        uow.commit()
    except IntegrityError:
        # The same key committed concurrently (possibly for another loan, which our lock does not cover).
        uow.rollback()
        replay = _replay(uow, key, digest)
        if replay is None:
            raise
        return replay
    return replace(result, view=transaction_view(t))


def _check_serviceable(loan: Loan) -> None:
    if loan.status in _SERVICEABLE:
        return
    codes = {
        LoanStatus.PENDING.value: "loan_not_disbursed",
        LoanStatus.CLOSED.value: "loan_closed",
        LoanStatus.WRITTEN_OFF.value: "loan_written_off",
    }
    raise Conflict(
        f"a {loan.status} loan cannot be serviced",
        code=codes.get(str(loan.status), "loan_not_serviceable"),
        details={"status": loan.status},
    )


def _check_value_date(loan: Loan, value_date: date, today: date) -> None:
    if value_date > today:
        raise ValidationFailed(
            "the value date is after the business date",
            code="value_date_in_future",
            details={"value_date": value_date.isoformat(), "today": today.isoformat()},
        )
    if loan.start_date is not None and value_date < loan.start_date:
        raise ValidationFailed(
            "the value date is before the loan started",
            code="value_date_before_start",
            details={"start_date": loan.start_date.isoformat()},
        )


def _check_loan_currency(loan: Loan, currency: str | None) -> None:
    if currency is not None and _check_currency_code(currency) != loan.currency:
        raise ValidationFailed(
            "the amount is not in the loan's currency",
            code="currency_mismatch",
            details={"currency": currency, "loan_currency": loan.currency},
        )


def _next_instant(uow: SqlAlchemyUnitOfWork, loan_id: str) -> datetime:
    """A creation time after every transaction of the loan: the order transactions were applied in
    is what a reversal replays, so it must be strict even within one microsecond."""
    last = uow.session.scalar(
        select(func.max(LoanTransaction.created_at)).where(
            LoanTransaction.tenant_id == uow.tenant_id, LoanTransaction.loan_id == loan_id
        )
    )
    return _instant_after(last)


def _instant_after(last: datetime | None) -> datetime:
    now = utcnow()
    if last is not None:
        last = last if last.tzinfo is not None else last.replace(tzinfo=now.tzinfo)
        if now <= last:
            now = last + timedelta(microseconds=1)
    return now


def _post(
    uow: SqlAlchemyUnitOfWork,
    *,
    client_key: str,
    value_date: date,
    description: str,
    lines: Sequence[tuple[str, int, int, str]],
    currency: str,
    source: str,
    new_key: bool = False,
) -> str:
    """Post (account, debit, credit, memo) lines in the caller's transaction; zero lines are left out.
    ``new_key``: the client key was made from a fresh id (``ledger.post_within``)."""
    posting = ledger.post_within(
        uow,
        PostJournalEntry(
            tenant_id=str(uow.tenant_id),
            client_key=client_key,
            value_date=value_date,
            description=description,
            source=source,
            lines=tuple(
                PostingLine(account_code=code, currency=currency, debit_minor=d, credit_minor=c, memo=memo)
                for code, d, c, memo in lines
                if d or c
            ),
        ),
        new_key=new_key,
    )
    return posting.entry_id


def _mirror(lines: Sequence[Sequence[Any]]) -> list[tuple[str, int, int, str]]:
    return [(str(code), int(c), int(d), str(memo)) for code, d, c, memo in lines]


# -- a plain repayment's rows, read and written with SQL ------------------------------------------------
#
# A repayment off a due date (nearly every one) reads its loan, installments and idempotency key as
# plain rows and writes back only what changed, with statements built once: no ORM objects, no
# flush. The rules are the same functions as for ORM rows (``_apply``, ``_finish``, ``_refresh``
# read and set attributes only), and the audit entries carry what the flush would have written.

_LOANS: Table = Loan.__table__  # type: ignore[assignment]
_INSTALLMENTS: Table = Installment.__table__  # type: ignore[assignment]
_TRANSACTIONS: Table = LoanTransaction.__table__  # type: ignore[assignment]
_LOAN_KEYS = column_keys(Loan)
_INSTALLMENT_KEYS = column_keys(Installment)
_TRANSACTION_KEYS = column_keys(LoanTransaction)

_LOCK_ROW = (
    select(*(_LOANS.c[k] for k in _LOAN_KEYS))
    .where(_LOANS.c.tenant_id == bindparam("tenant_id"), _LOANS.c.id == bindparam("loan_id"))
    .with_for_update()
)
#: After the lock (a read before it could miss a concurrent request's commit): an earlier request
#: with the key, and the loan's last transaction time (``_next_instant``), in one round trip.
_SEEN = select(
    *(
        select(_TRANSACTIONS.c[k])
        .where(
            _TRANSACTIONS.c.tenant_id == bindparam("tenant_id"),
            _TRANSACTIONS.c.idempotency_key == bindparam("key"),
        )
        .scalar_subquery()
        .label(k)
        for k in ("id", "loan_id", "content_digest")
    ),
    select(func.max(_TRANSACTIONS.c.created_at))
    .where(
        _TRANSACTIONS.c.tenant_id == bindparam("tenant_id"), _TRANSACTIONS.c.loan_id == bindparam("loan_id")
    )
    .scalar_subquery()
    .label("last"),
)
_INSTALLMENT_ROWS = (
    select(*(_INSTALLMENTS.c[k] for k in _INSTALLMENT_KEYS))
    .where(
        _INSTALLMENTS.c.tenant_id == bindparam("tenant_id"), _INSTALLMENTS.c.loan_id == bindparam("loan_id")
    )
    .order_by(_INSTALLMENTS.c.n)
)
_INSERT_TRANSACTION: Insert = insert(_TRANSACTIONS)
_UPDATES: dict[tuple[str, tuple[str, ...]], Update] = {}


class _Row:
    """A row as a plain object with the mapped class's attributes (no ORM state)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


def _update_statement(table: Table, keys: tuple[str, ...]) -> Update:
    """``UPDATE table SET <keys> WHERE tenant_id AND id``, built once per set of columns."""
    statement = _UPDATES.get((table.name, keys))
    if statement is None:
        statement = _UPDATES[(table.name, keys)] = (
            update(table)
            .where(table.c.tenant_id == bindparam("b_tenant_id"), table.c.id == bindparam("b_id"))
            .values({k: bindparam(k) for k in keys})
        )
    return statement


def _write_back(
    uow: SqlAlchemyUnitOfWork,
    conn: Connection,
    *,
    table: Table,
    keys: tuple[str, ...],
    before: dict[str, Any],
    row: Any,
    audited: bool,
) -> None:
    """Update what changed on ``row`` since ``before`` (read), and audit it as the flush would."""
    after = {k: getattr(row, k) for k in keys}
    changed = tuple(k for k in keys if after[k] != before[k])
    if not changed:
        return
    params = {k: after[k] for k in changed}
    conn.execute(
        _update_statement(table, changed), {"b_tenant_id": uow.tenant_id, "b_id": before["id"], **params}
    )
    if audited:
        uow.audit(
            entity_type=table.name,
            entity_id=str(before["id"]),
            operation="update",
            before=before,
            after=after,
            changed=list(changed),
        )


# -- applying and undoing a repayment -------------------------------------------------------------------


def _refresh(loan: Loan, installments: Sequence[Installment], today: date, settled_on: date) -> None:
    """Aging and status after servicing: days past due from the oldest unpaid due installment (the
    same rule as end of day), overdue <-> active, and closed once nothing is owed either way."""
    unpaid = [i.due_date for i in installments if i.status in views.DUE_STATUSES and views.outstanding(i) > 0]
    oldest = min(unpaid, default=None)
    dpd = delinquency.days_past_due(today, oldest)
    loan.oldest_unpaid_due = oldest
    loan.days_past_due = dpd
    loan.bucket = delinquency.bucket_of(dpd)
    # Only active <-> overdue here: entering or leaving non-accrual moves interest between the
    # books and the memo column, which is the end of day's status step.
    if loan.status in (LoanStatus.ACTIVE, LoanStatus.OVERDUE):
        loan.status = LoanStatus.OVERDUE if dpd > 0 else LoanStatus.ACTIVE
    settled = (
        loan.method != RepaymentMethod.REVOLVING
        and installments
        and all(views.outstanding(i) <= 0 for i in installments)
        and not any(
            (
                loan.principal_outstanding_minor,
                loan.interest_receivable_minor,
                loan.penalty_receivable_minor,
                loan.fee_receivable_minor,
                loan.suspended_interest_minor,
                loan.credit_balance_minor,
            )
        )
    )
    if settled and loan.status in _SERVICEABLE:
        # 结清: an overpayment keeps the loan open until it is refunded.
        loan.status = LoanStatus.CLOSED
        loan.closed_on = settled_on


@dataclass
class _Applied:
    """What applying an amount did: the allocation JSON to store and the journal lines to post."""

    allocation: dict[str, Any]
    lines: list[tuple[str, int, int, str]]


def _apply(
    loan: Loan,
    installments: Sequence[Installment],
    *,
    amount: int,
    value_date: date,
    dues: Sequence[rules.Due] | None = None,
) -> tuple[_Applied, rules.Allocation]:
    """Allocate ``amount`` over what is due (the excess is credit), update the installments and the
    loan's balances, and return the record and journal lines of it."""
    dues = list(dues if dues is not None else views.due_buckets(loan, installments))
    order = rules.AllocationOrder.from_config(loan.allocation)
    split = rules.allocate_one(amount, dues, order)
    by_n = {i.n: i for i in installments}
    detail: list[dict[str, Any]] = []
    for part in split.installments:
        if part.total == 0:
            continue
        row = by_n.get(part.n) if part.n > 0 else None
        entry: dict[str, Any] = {"n": part.n, **{p: getattr(part, p) for p in _PARTS}}
        if row is not None:
            entry["status_before"] = row.status
            entry["paid_on_before"] = row.paid_on.isoformat() if row.paid_on else None
            row.principal_paid_minor += part.principal
            row.interest_paid_minor += part.interest
            row.fee_paid_minor += part.fee
            row.penalty_paid_minor += part.penalty
            if views.outstanding(row) <= 0:
                row.status = delinquency.InstallmentStatus.PAID.value
                row.paid_on = value_date
        detail.append(entry)
    totals = split.totals()
    principal, interest = totals["principal"], totals["interest"]
    penalty, fee, credit = totals["penalty"], totals["fee"], totals["credit"]
    # A non-accrual loan's billed interest sits off the balance sheet (suspended): paying it is
    # income when received, not a receivable collected.
    on_balance = interest
    if loan.status == LoanStatus.NON_ACCRUAL:
        on_balance = min(interest, max(int(loan.interest_receivable_minor), 0))
    suspended = interest - on_balance
    loan.principal_outstanding_minor -= principal
    loan.interest_receivable_minor -= on_balance
    loan.suspended_interest_minor -= suspended
    loan.penalty_receivable_minor -= penalty
    loan.fee_receivable_minor -= fee
    loan.credit_balance_minor += credit
    memo = f"loan {loan.id}"
    lines = [
        (ledger.CLEARING, amount, 0, memo),
        (ledger.LOAN_PRINCIPAL, 0, principal, "principal"),
        (ledger.INTEREST_RECEIVABLE, 0, on_balance, "interest"),
        (ledger.INTEREST_INCOME, 0, suspended, "suspended interest received"),
        (ledger.PENALTY_RECEIVABLE, 0, penalty, "penalty"),
        (ledger.FEE_RECEIVABLE, 0, fee, "fee"),
        (ledger.BORROWER_OVERPAYMENTS, 0, credit, "overpayment"),
    ]
    record = {
        **totals,
        "suspended_interest": suspended,
        "prepaid_principal": split.prepaid_principal,
        "installments": detail,
    }
    return _Applied(allocation=record, lines=lines), split


def _finish(
    loan: Loan, installments: Sequence[Installment], applied: _Applied, today: date, on: date
) -> None:
    status_before, closed_before = loan.status, loan.closed_on
    _refresh(loan, installments, today, on)
    applied.allocation["loan_status_before"] = status_before
    applied.allocation["loan_status_after"] = loan.status
    applied.allocation["closed_on_before"] = closed_before.isoformat() if closed_before else None
    applied.allocation["lines"] = [list(line) for line in applied.lines if line[1] or line[2]]


def _undo(loan: Loan, installments: Sequence[Installment], t: LoanTransaction) -> None:
    """The exact inverse of applying ``t`` (a repayment) to the loan and its installments."""
    a = t.allocation
    by_n = {i.n: i for i in installments}
    for d in a.get("installments", []):
        if d["n"] <= 0:
            continue
        row = by_n.get(d["n"])
        if row is None:  # pragma: no cover - installments are replaced only by later prepayments/reschedules
            raise Conflict("the schedule changed since this repayment", code="reversal_blocked")
        row.principal_paid_minor -= d["principal"]
        row.interest_paid_minor -= d["interest"]
        row.fee_paid_minor -= d["fee"]
        row.penalty_paid_minor -= d["penalty"]
        row.status = d["status_before"]
        row.paid_on = date.fromisoformat(d["paid_on_before"]) if d["paid_on_before"] else None
    if int(loan.credit_balance_minor) < a["credit"]:
        raise Conflict(
            "the overpayment of this repayment was already used or refunded",
            code="credit_balance_used",
            details={"credit_balance_minor": int(loan.credit_balance_minor)},
        )
    suspended = int(a.get("suspended_interest", 0))
    loan.principal_outstanding_minor += a["principal"]
    loan.interest_receivable_minor += a["interest"] - suspended
    loan.suspended_interest_minor += suspended
    loan.penalty_receivable_minor += a["penalty"]
    loan.fee_receivable_minor += a["fee"]
    loan.credit_balance_minor -= a["credit"]
    # Only a status this repayment set is put back: a later end of day's change stays.
    if loan.status == a.get("loan_status_after") and a.get("loan_status_before"):
        loan.status = a["loan_status_before"]
        loan.closed_on = date.fromisoformat(a["closed_on_before"]) if a.get("closed_on_before") else None


def _record(
    uow: SqlAlchemyUnitOfWork,
    loan: Loan,
    *,
    kind: str,
    value_date: date,
    amount: int,
    key: str,
    digest: str,
    allocation: dict[str, Any],
    created_at: datetime,
    channel_reference: str | None,
    posting: tuple[str, date, str, Sequence[tuple[str, int, int, str]], str],
    lean: bool = False,
) -> LoanTransaction:
    """Store a money-moving loan transaction and its journal entry in the caller's transaction.

    ``posting`` is (client-key prefix, value date, description, lines, source); the entry's client
    key is ``<prefix>:<transaction id>``. The id is chosen here and the entry posted first, so the
    transaction is inserted once, with its entry (no flush for an id, no second UPDATE).
    ``lean``: the transaction is a plain row inserted at commit (a duplicate key fails the commit,
    as the flush would), with the audit entry of its creation."""
    transaction_id = new_id()
    prefix, post_on, description, lines, source = posting
    entry_id = _post(
        uow,
        client_key=f"{prefix}:{transaction_id}",
        value_date=post_on,
        description=description,
        lines=lines,
        currency=loan.currency,
        source=source,
        new_key=True,
    )
    values: dict[str, Any] = {
        "id": transaction_id,
        "loan_id": loan.id,
        "kind": kind,
        "value_date": value_date,
        "amount_minor": amount,
        "currency": loan.currency,
        "idempotency_key": key,
        "content_digest": digest,
        "allocation": allocation,
        "channel_reference": channel_reference,
        "created_at": created_at,
        "journal_entry_id": entry_id,
    }
    if not lean:
        t = LoanTransaction(**values)
        uow.session.add(t)
        return t
    # The column defaults the flush would apply (reversed false, the rest empty).
    row = dict.fromkeys(_TRANSACTION_KEYS) | values | {"tenant_id": uow.tenant_id, "reversed": False}
    uow.insert_at_commit(_INSERT_TRANSACTION, row)
    uow.audit(
        entity_type=_TRANSACTIONS.name, entity_id=transaction_id, operation="create", before=None, after=row
    )
    return cast(LoanTransaction, _Row(row))


def _repayment(
    uow: SqlAlchemyUnitOfWork,
    loan: Loan,
    installments: Sequence[Installment],
    *,
    amount: int,
    value_date: date,
    post_on: date,
    key: str,
    digest: str,
    channel_reference: str | None,
    created_at: datetime,
    extra: dict[str, Any] | None = None,
    applied_to_rows: Callable[[], None] | None = None,
) -> LoanTransaction:
    """Apply one repayment and record it: the transaction, its journal entry and its events.
    ``applied_to_rows``: the loan and installments are plain rows; this writes them back (where the
    ORM path flushes them, before the posting), and the transaction is recorded as a row too."""
    today = uow.clock.today()
    applied, _ = _apply(loan, installments, amount=amount, value_date=value_date)
    _finish(loan, installments, applied, today, value_date)
    if applied_to_rows is not None:
        applied_to_rows()
    t = _record(
        uow,
        loan,
        kind=REPAYMENT,
        value_date=value_date,
        amount=amount,
        key=key,
        digest=digest,
        allocation={**applied.allocation, **(extra or {})},
        created_at=created_at,
        channel_reference=channel_reference,
        posting=("repay", post_on, f"还款 Repayment of loan {loan.id}", applied.lines, "loans.repayment"),
        lean=applied_to_rows is not None,
    )
    a = applied.allocation
    uow.emit(
        events.RepaymentApplied(
            tenant_id=str(uow.tenant_id),
            loan_id=loan.id,
            credit_line_id=loan.credit_line_id,
            transaction_id=t.id,
            value_date=value_date.isoformat(),
            currency=loan.currency,
            amount_minor=amount,
            principal_minor=a["principal"],
            interest_minor=a["interest"],
            penalty_minor=a["penalty"],
            fee_minor=a["fee"],
            credit_minor=a["credit"],
        )
    )
    return t


def _announce(uow: SqlAlchemyUnitOfWork, loan: Loan, status_before: str) -> None:
    uow.emit(
        origination_events.LoanPrincipalChanged(
            tenant_id=str(uow.tenant_id), loan_id=loan.id, credit_line_id=loan.credit_line_id
        )
    )
    if loan.status == LoanStatus.CLOSED and status_before != LoanStatus.CLOSED:
        uow.emit(
            origination_events.LoanClosed(
                tenant_id=str(uow.tenant_id),
                loan_id=loan.id,
                credit_line_id=loan.credit_line_id,
                closed_on=loan.closed_on.isoformat() if loan.closed_on else "",
            )
        )


# -- repay ----------------------------------------------------------------------------------------------


def repay_loan(cmd: commands.RepayLoan, uow: SqlAlchemyUnitOfWork) -> views.ServicingResult:
    """还款: allocate the amount over what is due; anything beyond it is the borrower's credit balance.
    Dr 3001 clearing / Cr 1303, 1132, 1133, 1134 by allocation, Cr 2243 for the excess."""
    _tenant(uow, cmd)
    key = _check_key(cmd.idempotency_key)
    amount = _check_amount(cmd.amount_minor)
    currency = _check_currency_code(cmd.currency)
    value_date = _check_date(cmd.value_date)
    reference = _check_reference(cmd.channel_reference)
    digest = content_digest(
        {
            "kind": REPAYMENT,
            "loan_id": cmd.loan_id,
            "amount_minor": amount,
            "currency": currency,
            "value_date": value_date,
            "channel_reference": reference,
        }
    )
    with uow:
        conn = uow.session.connection()
        if not isinstance(cmd.loan_id, str):
            raise NotFound("no such loan", code="loan_not_found")
        ids = {"tenant_id": uow.tenant_id, "loan_id": cmd.loan_id}
        loan_row = conn.execute(_LOCK_ROW, ids).mappings().first()
        if loan_row is None:
            raise NotFound("no such loan", code="loan_not_found")
        seen = conn.execute(_SEEN, {**ids, "key": key}).one()
        if seen.id is not None:
            check_idempotent_replay(stored_digest=seen.content_digest, digest=digest, key=key)
            return views.ServicingResult(transaction_id=seen.id, loan_id=seen.loan_id, replayed=True)
        before = dict(loan_row)
        loan = cast(Loan, _Row(dict(before)))
        today = uow.clock.today()
        _check_serviceable(loan)
        _check_loan_currency(loan, currency)
        _check_value_date(loan, value_date, today)
        status_before = loan.status
        read = [dict(r) for r in conn.execute(_INSTALLMENT_ROWS, ids).mappings()]
        installments = [cast(Installment, _Row(dict(r))) for r in read]
        if _falls_due_today(installments, today):
            # Rare (once per installment): the end of day's steps for this loan change its rows with
            # SQL, and the repayment goes on with ORM rows read again.
            loan, installments = _bring_due(uow, loan, today, key)
            t = _repayment(
                uow,
                loan,
                installments,
                amount=amount,
                value_date=value_date,
                post_on=value_date,
                key=key,
                digest=digest,
                channel_reference=reference,
                created_at=_next_instant(uow, loan.id),
            )
        else:

            def write_back() -> None:
                _write_back(uow, conn, table=_LOANS, keys=_LOAN_KEYS, before=before, row=loan, audited=True)
                for old, row in zip(read, installments, strict=True):
                    _write_back(
                        uow,
                        conn,
                        table=_INSTALLMENTS,
                        keys=_INSTALLMENT_KEYS,
                        before=old,
                        row=row,
                        audited=False,
                    )

            t = _repayment(
                uow,
                loan,
                installments,
                amount=amount,
                value_date=value_date,
                post_on=value_date,
                key=key,
                digest=digest,
                channel_reference=reference,
                created_at=_instant_after(seen.last),
                applied_to_rows=write_back,
            )
        _announce(uow, loan, status_before)
        return _commit(uow, views.ServicingResult(t.id, loan.id, replayed=False), key, digest, t)


def _falls_due_today(installments: Sequence[Installment], today: date) -> bool:
    return any(
        i.status == delinquency.InstallmentStatus.SCHEDULED and i.due_date <= today for i in installments
    )


def _bring_due(
    uow: SqlAlchemyUnitOfWork, loan: Loan, today: date, key: str
) -> tuple[Loan, list[Installment]]:
    """A borrower pays on the due date, before that date's end of day has billed the installment:
    run the end of day's own accrual and falling-due steps for this loan first (a batch of one,
    in this transaction), so the payment settles the installment instead of waiting as credit
    balance while the installment goes overdue. The end of day then finds this loan done."""
    batch.accrue_to(uow, today, [loan.id], client_key=f"repay-accrue:{key}")
    batch.fall_due(uow, today, [loan.id], client_key=f"repay-due:{key}")
    # The steps changed the rows with SQL: read them again.
    return _lock_loan(uow, loan.id), _installments(uow, loan.id)


# -- reverse --------------------------------------------------------------------------------------------


def _later(uow: SqlAlchemyUnitOfWork, target: LoanTransaction) -> list[LoanTransaction]:
    """Transactions applied to the loan after ``target`` that still stand, in the order applied."""
    rows = uow.session.scalars(
        select(LoanTransaction)
        .where(
            LoanTransaction.tenant_id == uow.tenant_id,
            LoanTransaction.loan_id == target.loan_id,
            LoanTransaction.id != target.id,
            LoanTransaction.kind != REVERSAL,
            LoanTransaction.reversed.is_(False),
        )
        .order_by(LoanTransaction.created_at, LoanTransaction.id)
    ).all()
    mark = (target.created_at, target.id)
    return [t for t in rows if (t.created_at, t.id) > mark]


def _reversal_record(
    uow: SqlAlchemyUnitOfWork,
    loan: Loan,
    t: LoanTransaction,
    *,
    key: str,
    digest: str,
    today: date,
    reason: str,
    created_at: datetime,
) -> LoanTransaction:
    """Undo ``t`` and record the undoing: a ``reversal`` transaction and the mirror of its entry."""
    lines = _mirror(t.allocation.get("lines", []))
    t.reversed = True
    reversal_id = new_id()
    entry_id = _post(
        uow,
        client_key=f"reverse:{reversal_id}",
        value_date=today,
        description=f"冲正 Reversal of repayment {t.id} of loan {loan.id}: {reason}"[
            : ledger.MAX_DESCRIPTION
        ],
        lines=lines,
        currency=t.currency,
        source="loans.reversal",
        new_key=True,
    )
    r = LoanTransaction(
        id=reversal_id,
        loan_id=loan.id,
        kind=REVERSAL,
        value_date=today,
        amount_minor=t.amount_minor,
        currency=t.currency,
        idempotency_key=key,
        content_digest=digest,
        allocation={"reverses": t.id, "reason": reason, "lines": [list(line) for line in lines]},
        reverses_id=t.id,
        channel_reference=t.channel_reference,
        created_at=created_at,
        journal_entry_id=entry_id,
    )
    uow.session.add(r)
    return r


def reverse_repayment(cmd: commands.ReverseRepayment, uow: SqlAlchemyUnitOfWork) -> views.ServicingResult:
    """冲正 a repayment as if it had never been received: the later repayments of the loan are undone
    newest first, this one is undone, and the later ones are applied again in their order, each as
    a new transaction; every undoing posts the mirror of the original entry (dated today)."""
    _tenant(uow, cmd)
    key = _check_key(cmd.idempotency_key)
    reason = check_reason(cmd.reason)
    if not isinstance(cmd.transaction_id, str):
        raise NotFound("no such repayment", code="transaction_not_found")
    digest = content_digest({"kind": REVERSAL, "transaction_id": cmd.transaction_id, "reason": reason})
    with uow:
        loan_id = uow.session.scalar(
            select(LoanTransaction.loan_id).where(
                LoanTransaction.tenant_id == uow.tenant_id, LoanTransaction.id == cmd.transaction_id
            )
        )
        if loan_id is None:
            raise NotFound("no such repayment", code="transaction_not_found")
        loan = _lock_loan(uow, loan_id)
        replay = _replay(uow, key, digest)
        if replay is not None:
            return replay
        target = uow.session.scalar(
            select(LoanTransaction)
            .where(LoanTransaction.tenant_id == uow.tenant_id, LoanTransaction.id == cmd.transaction_id)
            .execution_options(populate_existing=True)
        )
        assert target is not None
        if target.kind != REPAYMENT:
            raise Conflict(
                "only a repayment can be reversed this way",
                code="not_a_repayment",
                details={"kind": target.kind},
            )
        if target.reversed:
            raise Conflict("this repayment has already been reversed", code="already_reversed")
        if loan.status not in (*_SERVICEABLE, LoanStatus.CLOSED):
            raise Conflict(
                f"a {loan.status} loan's repayments cannot be reversed",
                code="loan_not_serviceable",
                details={"status": loan.status},
            )
        later = _later(uow, target)
        blocking = sorted({t.kind for t in later if t.kind != REPAYMENT})
        if blocking:
            # A prepayment or reschedule rebuilt the schedule and a write-off closed the books on it:
            # replaying repayments across those is not a mechanical recomputation.
            raise Conflict(
                "later changes of the loan prevent reversing this repayment",
                code="reversal_blocked",
                details={"later_kinds": blocking},
            )
        today = uow.clock.today()
        _note_reason(uow, reason)
        status_before = loan.status
        installments = _installments(uow, loan.id)
        instant = _next_instant(uow, loan.id)
        tick = iter(instant + timedelta(microseconds=k) for k in range(2 * len(later) + 2))
        # Undo newest first, so that each undoing meets the state its repayment left.
        undo_ids: list[str] = []
        for t in reversed(later):
            _undo(loan, installments, t)
            r = _reversal_record(
                uow,
                loan,
                t,
                key=f"sys undo {cmd.transaction_id} {t.id}",
                digest=content_digest({"kind": "undo", "of": t.id}),
                today=today,
                reason=f"replayed after reversing {target.id}",
                created_at=next(tick),
            )
            undo_ids.append(r.id)
        _undo(loan, installments, target)
        reversal = _reversal_record(
            uow, loan, target, key=key, digest=digest, today=today, reason=reason, created_at=next(tick)
        )
        redone: list[str] = []
        for t in later:
            again = _repayment(
                uow,
                loan,
                installments,
                amount=int(t.amount_minor),
                value_date=t.value_date,
                post_on=today,
                key=f"sys redo {cmd.transaction_id} {t.id}",
                digest=content_digest({"kind": "redo", "of": t.id}),
                channel_reference=t.channel_reference,
                created_at=next(tick),
                extra={"reapplies": t.id},
            )
            redone.append(again.id)
        _refresh(loan, installments, today, today)
        reversal.allocation = {**reversal.allocation, "undone": undo_ids, "reapplied": redone}
        uow.emit(
            events.RepaymentReversed(
                tenant_id=str(uow.tenant_id),
                loan_id=loan.id,
                transaction_id=target.id,
                reversal_id=reversal.id,
                reapplied=tuple(redone),
            )
        )
        _announce(uow, loan, status_before)
        return _commit(
            uow, views.ServicingResult(reversal.id, loan.id, replayed=False), key, digest, reversal
        )


# -- schedules ------------------------------------------------------------------------------------------


def _schedule_rows(
    loan: Loan,
    terms: ProductTerms | None,
    *,
    principal: int,
    term: int,
    start: date,
    first_due: date | None,
    annual_rate: Decimal,
    fee_minor: int,
) -> list[Installment]:
    """New installments from ``build_schedule`` with the loan's method and rounding, the product's
    holiday roll (as origination builds them), numbered from 1 (the caller renumbers)."""
    roll = terms.holiday_roll if terms is not None else RollConvention.UNADJUSTED
    schedule = build_schedule(
        ScheduleTerms(
            principal=Money(principal, loan.currency),
            annual_rate=Rate.annual(annual_rate),
            term=term,
            method=RepaymentMethod(loan.method),
            start=start,
            first_due=first_due,
            rounding=RoundingRule.parse(loan.rounding),
            calendar=None if roll is RollConvention.UNADJUSTED else china_mainland(),
            roll=roll,
            periodic_fee=Money(fee_minor, loan.currency) if fee_minor else None,
            anchor_day=loan.due_day or (loan.start_date.day if loan.start_date else None),
        )
    )
    return [
        Installment(
            loan_id=loan.id,
            n=i.n,
            due_date=i.due_date,
            accrual_start=i.accrual_start,
            accrual_end=i.accrual_end,
            principal_minor=i.principal.minor,
            interest_minor=i.interest.minor,
            fee_minor=i.fee.minor,
            principal_paid_minor=0,
            interest_paid_minor=0,
            fee_paid_minor=0,
            penalty_paid_minor=0,
            status=delinquency.InstallmentStatus.SCHEDULED.value,
        )
        for i in schedule.installments
    ]


def _snapshot(rows: Sequence[Installment]) -> list[dict[str, Any]]:
    return [
        {
            "n": i.n,
            "due_date": i.due_date.isoformat(),
            "accrual_start": i.accrual_start.isoformat(),
            "accrual_end": i.accrual_end.isoformat(),
            "principal": int(i.principal_minor),
            "interest": int(i.interest_minor),
            "fee": int(i.fee_minor),
        }
        for i in rows
    ]


def _replace(
    uow: SqlAlchemyUnitOfWork, old: Sequence[Installment], new: Sequence[Installment], first_n: int
) -> None:
    for row in old:
        uow.session.delete(row)
    # Deletes flush after inserts by default; the new rows reuse the numbers (unique per loan).
    uow.session.flush()
    for k, row in enumerate(new):
        row.n = first_n + k
        uow.session.add(row)


def _recognised(rows: Sequence[Installment], through: date | None) -> int:
    """Interest end of day has recognised on these periods by the end of ``through``."""
    return sum(
        scheduled_accrued(Period(int(i.interest_minor), i.accrual_start, i.accrual_end), through)
        for i in rows
        if i.accrual_end > i.accrual_start
    )


def _level(row: Installment) -> int:
    return int(row.principal_minor + row.interest_minor)


def _shortened_term(
    loan: Loan,
    terms: ProductTerms | None,
    *,
    principal: int,
    periods: int,
    start: date,
    first_due: date,
    level: int,
    share: int,
    fee_minor: int,
) -> int:
    """The fewest periods whose installments stay within the old installment (等额本息) or keep the old
    principal share (等额本金); methods without a level amount keep their periods."""
    if loan.method == RepaymentMethod.EQUAL_PRINCIPAL and share > 0:
        return max(1, min(periods, -(-principal // share)))
    if loan.method != RepaymentMethod.EQUAL_INSTALLMENT:
        return periods

    def fits(k: int) -> bool:
        rows = _schedule_rows(
            loan,
            terms,
            principal=principal,
            term=k,
            start=start,
            first_due=first_due,
            annual_rate=loan.annual_rate,
            fee_minor=fee_minor,
        )
        # The broken first period's interest differs from a regular one: compare the regular ones.
        regular = rows[1:] or rows
        return max(_level(r) for r in regular) <= level

    low, high = 1, periods  # the installment falls as the term grows: the smallest k that fits
    while low < high:
        mid = (low + high) // 2
        if fits(mid):
            high = mid
        else:
            low = mid + 1
    return low


def _rebuild_after_prepayment(
    loan: Loan,
    terms: ProductTerms | None,
    replaced: Sequence[dict[str, Any]],
    *,
    principal: int,
    value_date: date,
    mode: PrepaymentMode,
) -> list[Installment]:
    """The installments after a partial prepayment: from the value date to the same due dates
    (``lower-installment``), or fewer of them at no more than the old installment (``shorten-term``)."""
    periods = len(replaced)
    first_due = date.fromisoformat(replaced[0]["accrual_end"])
    fee_minor = int(replaced[0]["fee"])
    k = periods
    if mode is PrepaymentMode.SHORTEN_TERM and periods > 1:
        k = _shortened_term(
            loan,
            terms,
            principal=principal,
            periods=periods,
            start=value_date,
            first_due=first_due,
            level=int(replaced[1]["principal"] + replaced[1]["interest"]),
            share=int(replaced[0]["principal"]),
            fee_minor=fee_minor,
        )
    return _schedule_rows(
        loan,
        terms,
        principal=principal,
        term=k,
        start=value_date,
        first_due=first_due,
        annual_rate=loan.annual_rate,
        fee_minor=fee_minor,
    )


# -- prepay ---------------------------------------------------------------------------------------------


def _check_prepayment_allowed(
    terms: ProductTerms | None, loan: Loan, *, full: bool, mode: PrepaymentMode, value_date: date
) -> None:
    """The product's prepayment rules; a loan booked without a product allows prepayment without a fee."""
    if terms is None:
        return
    if not terms.prepayment_allowed or (full and not terms.prepayment_full):
        raise Conflict("the product does not allow this prepayment", code="prepayment_not_allowed")
    if not full and mode not in terms.prepayment_partial_modes:
        raise Conflict(
            "the product does not allow this kind of partial prepayment",
            code="prepayment_mode_not_allowed",
            details={"mode": mode.value, "allowed": [m.value for m in terms.prepayment_partial_modes]},
        )
    if terms.prepayment_lockin_months and loan.start_date is not None:
        until = add_months(loan.start_date, terms.prepayment_lockin_months)
        if value_date < until:
            raise Conflict(
                "the loan is in its prepayment lock-in period",
                code="prepayment_locked_in",
                details={"until": until.isoformat()},
            )


def prepay_loan(cmd: commands.PrepayLoan, uow: SqlAlchemyUnitOfWork) -> views.ServicingResult:
    """提前还款: pay what is due, the current period's interest to the value date and the product's
    fee, then principal. A full prepayment settles (and closes) the loan; a partial one rebuilds the
    installments not yet due from the value date with ``build_schedule``."""
    _tenant(uow, cmd)
    key = _check_key(cmd.idempotency_key)
    value_date = _check_date(cmd.value_date)
    reference = _check_reference(cmd.channel_reference)
    if not isinstance(cmd.full, bool):
        raise ValidationFailed("full is true or false", code="invalid_prepayment")
    try:
        mode = PrepaymentMode(cmd.mode)
    except ValueError:
        raise ValidationFailed(
            "mode is shorten-term or lower-installment",
            code="invalid_prepayment_mode",
            details={"allowed": [m.value for m in PrepaymentMode]},
        ) from None
    amount = None if cmd.amount_minor is None else _check_amount(cmd.amount_minor)
    if amount is None and not cmd.full:
        raise ValidationFailed("a partial prepayment needs amount_minor", code="amount_required")
    currency = None if cmd.currency is None else _check_currency_code(cmd.currency)
    digest = content_digest(
        {
            "kind": PREPAYMENT,
            "loan_id": cmd.loan_id,
            "amount_minor": amount,
            "full": cmd.full,
            "mode": None if cmd.full else mode.value,
            "currency": currency,
            "value_date": value_date,
            "channel_reference": reference,
        }
    )
    with uow:
        loan = _lock_loan(uow, cmd.loan_id)
        replay = _replay(uow, key, digest)
        if replay is not None:
            return replay
        today = uow.clock.today()
        _check_serviceable(loan)
        _check_loan_currency(loan, currency)
        _check_value_date(loan, value_date, today)
        terms = views.product_terms_of(uow.session, loan)
        _check_prepayment_allowed(terms, loan, full=cmd.full, mode=mode, value_date=value_date)
        installments = _installments(uow, loan.id)
        q = views.quote(loan, installments, value_date, terms)
        if cmd.full:
            if amount is not None and amount != q.payoff:
                raise ValidationFailed(
                    "the amount is not the payoff amount for this value date",
                    code="amount_is_not_payoff",
                    details={"payoff_minor": q.payoff},
                )
            amount = q.payoff
            prepaid = q.principal_not_due
        else:
            assert amount is not None
            rest = amount - q.due_total - q.interest_to_date
            prepaid = views.principal_for(rest, q.principal_not_due, terms, loan.currency)
            if prepaid <= 0:
                raise ValidationFailed(
                    "the amount does not reach beyond what is due and the interest to date",
                    code="amount_below_due",
                    details={"minimum_minor": q.due_total + q.interest_to_date + 1},
                )
        fee = views.prepayment_fee(terms, prepaid, loan.currency)
        excess = amount - q.due_total - q.interest_to_date - prepaid - fee
        assert excess >= 0
        status_before = loan.status
        # Bring interest to the value date: what end of day accrued for the current period is
        # replaced by the exact interest to the value date (the difference is posted below).
        loan.interest_receivable_minor += q.accrual_adjustment
        applied, _ = _apply(loan, installments, amount=q.due_total, value_date=value_date, dues=q.dues)
        current, later = q.future[0], q.future[1:]
        replaced = _snapshot(q.future)
        # The period in progress ends on the value date: it becomes the settled installment.
        current.due_date = current.accrual_end = value_date
        current.principal_minor = current.principal_paid_minor = prepaid
        current.interest_minor = current.interest_paid_minor = q.interest_to_date
        current.fee_minor = current.fee_paid_minor = 0
        current.status = delinquency.InstallmentStatus.PAID.value
        current.paid_on = value_date
        remaining = q.principal_not_due - prepaid
        new_rows: list[Installment] = []
        if remaining > 0:
            new_rows = _rebuild_after_prepayment(
                loan, terms, replaced, principal=remaining, value_date=value_date, mode=mode
            )
        _replace(uow, later, new_rows, current.n + 1)
        loan.principal_outstanding_minor -= prepaid
        loan.interest_receivable_minor -= q.interest_to_date
        loan.credit_balance_minor += excess
        loan.interest_carry = 0
        # Interest is settled for every day before the value date; accrual resumes on it.
        loan.accrued_through = value_date - timedelta(days=1)
        loan.term = current.n + len(new_rows)
        loan.maturity_date = new_rows[-1].due_date if new_rows else value_date
        all_rows = [i for i in installments if i not in later] + new_rows
        _finish(loan, all_rows, applied, today, value_date)
        adj = q.accrual_adjustment
        memo = f"loan {loan.id}"
        lines = [
            (ledger.CLEARING, amount, 0, memo),
            (ledger.INTEREST_RECEIVABLE, max(adj, 0), max(-adj, 0), "interest to the value date"),
            (ledger.INTEREST_INCOME, max(-adj, 0), max(adj, 0), "interest to the value date"),
            *[line for line in applied.lines if line[0] != ledger.CLEARING],
            (ledger.LOAN_PRINCIPAL, 0, prepaid, "prepaid principal"),
            (ledger.INTEREST_RECEIVABLE, 0, q.interest_to_date, "interest of the current period"),
            (ledger.FEE_INCOME, 0, fee, "prepayment fee"),
            (ledger.BORROWER_OVERPAYMENTS, 0, excess, "overpayment"),
        ]
        a = applied.allocation
        allocation = {
            **a,
            "principal": a["principal"] + prepaid,
            "interest": a["interest"] + q.interest_to_date,
            "credit": excess,
            "prepaid_principal": prepaid,
            "interest_to_date": q.interest_to_date,
            "accrual_adjustment": adj,
            "prepayment_fee": fee,
            "full": cmd.full,
            "mode": None if cmd.full else mode.value,
            "replaced": replaced,
            "installments_after": _snapshot(new_rows),
            "loan_status_after": loan.status,
            "lines": [list(line) for line in lines if line[1] or line[2]],
        }
        t = _record(
            uow,
            loan,
            kind=PREPAYMENT,
            value_date=value_date,
            amount=amount,
            key=key,
            digest=digest,
            allocation=allocation,
            created_at=_next_instant(uow, loan.id),
            channel_reference=reference,
            posting=(
                "repay",
                value_date,
                f"提前还款 Prepayment of loan {loan.id}",
                lines,
                "loans.prepayment",
            ),
        )
        uow.emit(
            events.LoanPrepaid(
                tenant_id=str(uow.tenant_id),
                loan_id=loan.id,
                transaction_id=t.id,
                value_date=value_date.isoformat(),
                currency=loan.currency,
                amount_minor=amount,
                principal_minor=allocation["principal"],
                fee_minor=fee,
                full=cmd.full,
                mode=allocation["mode"],
            )
        )
        _announce(uow, loan, status_before)
        return _commit(uow, views.ServicingResult(t.id, loan.id, replayed=False), key, digest, t)


# -- reschedule -----------------------------------------------------------------------------------------


def reschedule_loan(cmd: commands.RescheduleLoan, uow: SqlAlchemyUnitOfWork) -> views.ServicingResult:
    """展期/重组: the installments after the one in progress are replaced by a new schedule of the same
    method so that the loan has ``new_term`` installments; the one in progress keeps its interest
    (end of day is accruing it) and, when it is the last, hands its principal to the new schedule.
    ``new_rate`` applies from the next period. No money moves; nothing is capitalised."""
    _tenant(uow, cmd)
    key = _check_key(cmd.idempotency_key)
    reason = check_reason(cmd.reason)
    new_term = cmd.new_term
    if isinstance(new_term, bool) or not isinstance(new_term, int) or not 1 <= new_term <= MAX_TERM:
        raise ValidationFailed(f"new_term is 1 to {MAX_TERM} installments", code="invalid_term")
    new_rate = cmd.new_rate
    if new_rate is not None:
        if isinstance(new_rate, bool) or not isinstance(new_rate, Decimal) or not Decimal(0) <= new_rate < 1:
            raise ValidationFailed("new_rate is a fraction from 0 to below 1", code="invalid_rate")
        rate_e9(new_rate)  # at most nine decimals
    digest = content_digest(
        {
            "kind": RESCHEDULE,
            "loan_id": cmd.loan_id,
            "new_term": new_term,
            "new_rate": new_rate,
            "reason": reason,
        }
    )
    with uow:
        loan = _lock_loan(uow, cmd.loan_id)
        replay = _replay(uow, key, digest)
        if replay is not None:
            return replay
        today = uow.clock.today()
        if loan.status not in (LoanStatus.ACTIVE, LoanStatus.OVERDUE):
            raise Conflict(
                "only an active or overdue loan can be rescheduled",
                code="loan_not_reschedulable",
                details={"status": loan.status},
            )
        if loan.method == RepaymentMethod.REVOLVING:
            raise Conflict("a revolving loan has no schedule", code="loan_not_reschedulable")
        _note_reason(uow, reason)
        installments = _installments(uow, loan.id)
        future = [i for i in installments if i.status == delinquency.InstallmentStatus.SCHEDULED]
        if not future:
            raise Conflict("no installment is left to reschedule", code="nothing_to_reschedule")
        current, later = future[0], future[1:]
        if not later:
            principal = int(current.principal_minor - current.principal_paid_minor)
        else:
            principal = sum(int(i.principal_minor - i.principal_paid_minor) for i in later)
        periods = new_term - current.n
        if periods < 1:
            raise ValidationFailed(
                "the new term must leave at least one installment after the one in progress",
                code="invalid_term",
                details={"minimum": current.n + 1},
            )
        if principal <= 0:
            raise Conflict("no principal is left to reschedule", code="nothing_to_reschedule")
        replaced = _snapshot(future)
        rate = new_rate if new_rate is not None else loan.annual_rate
        terms = views.product_terms_of(uow.session, loan)
        new_rows = _schedule_rows(
            loan,
            terms,
            principal=principal,
            term=periods,
            start=current.accrual_end,
            first_due=None,
            annual_rate=rate,
            fee_minor=int(current.fee_minor),
        )
        if not later:
            current.principal_minor = current.principal_paid_minor  # its principal moves on
        # End of day recognises each period's scheduled interest day by day; if it had begun on a
        # replaced period (a due date rolled past a holiday), the books move to the new schedule's figure.
        adjustment = _recognised(new_rows, loan.accrued_through) - _recognised(later, loan.accrued_through)
        _replace(uow, later, new_rows, current.n + 1)
        loan.interest_receivable_minor += adjustment
        old_term, old_rate = loan.term, loan.annual_rate
        loan.term = new_term
        loan.maturity_date = new_rows[-1].due_date
        if new_rate is not None:
            new_e9 = rate_e9(new_rate)
            # The penalty rate keeps its uplift over the contract rate.
            if terms is not None:
                loan.penalty_rate_e9 = penalty_rate_e9(new_e9, terms.penalty_uplift)
            elif loan.annual_rate_e9:
                loan.penalty_rate_e9 = loan.penalty_rate_e9 * new_e9 // loan.annual_rate_e9
            loan.annual_rate = new_rate
            loan.annual_rate_e9 = new_e9
        t = LoanTransaction(
            loan_id=loan.id,
            kind=RESCHEDULE,
            value_date=today,
            amount_minor=0,
            currency=loan.currency,
            idempotency_key=key,
            content_digest=digest,
            allocation={
                "reason": reason,
                "old_term": old_term,
                "new_term": new_term,
                "old_rate": str(old_rate),
                "new_rate": str(rate),
                "principal": principal,
                "accrual_adjustment": adjustment,
                "replaced": replaced,
                "installments_after": _snapshot([current, *new_rows]),
            },
            created_at=_next_instant(uow, loan.id),
        )
        uow.session.add(t)
        uow.session.flush()
        if adjustment:
            t.journal_entry_id = _post(
                uow,
                client_key=f"reschedule:{t.id}",
                value_date=today,
                description=f"展期 Interest recognised on the new schedule of loan {loan.id}",
                lines=[
                    (ledger.INTEREST_RECEIVABLE, max(adjustment, 0), max(-adjustment, 0), f"loan {loan.id}"),
                    (ledger.INTEREST_INCOME, max(-adjustment, 0), max(adjustment, 0), "reschedule"),
                ],
                currency=loan.currency,
                source="loans.reschedule",
            )
        uow.emit(
            events.LoanRescheduled(
                tenant_id=str(uow.tenant_id),
                loan_id=loan.id,
                transaction_id=t.id,
                old_term=old_term,
                new_term=new_term,
                new_rate=None if new_rate is None else str(new_rate),
                maturity_date=loan.maturity_date.isoformat(),
            )
        )
        return _commit(uow, views.ServicingResult(t.id, loan.id, replayed=False), key, digest, t)


# -- write-off and recovery -----------------------------------------------------------------------------

_CHARGE_TO = {"provision": ledger.LOAN_LOSS_PROVISION, "impairment": ledger.CREDIT_IMPAIRMENT_LOSS}


def write_off_loan(cmd: commands.WriteOffLoan, uow: SqlAlchemyUnitOfWork) -> views.ServicingResult:
    """核销: Dr 1304 (or 6702) / Cr 1303 principal, 1132 interest, 1133 penalty, 1134 fees; the written-off
    amount is kept in the memo pair Dr 7001 / Cr 7002. The borrower still owes it (recoveries)."""
    _tenant(uow, cmd)
    key = _check_key(cmd.idempotency_key)
    reason = check_reason(cmd.reason)
    account = _CHARGE_TO.get(cmd.charge_to) if isinstance(cmd.charge_to, str) else None
    if account is None:
        raise ValidationFailed(
            "charge_to is provision or impairment",
            code="invalid_charge_to",
            details={"allowed": list(_CHARGE_TO)},
        )
    digest = content_digest(
        {"kind": WRITE_OFF, "loan_id": cmd.loan_id, "reason": reason, "charge_to": cmd.charge_to}
    )
    with uow:
        loan = _lock_loan(uow, cmd.loan_id)
        replay = _replay(uow, key, digest)
        if replay is not None:
            return replay
        _check_serviceable(loan)
        today = uow.clock.today()
        principal = int(loan.principal_outstanding_minor)
        interest = int(loan.interest_receivable_minor)
        penalty = int(loan.penalty_receivable_minor)
        fee = int(loan.fee_receivable_minor)
        total = principal + interest + penalty + fee
        if total <= 0 or min(principal, interest, penalty, fee) < 0:
            raise Conflict("nothing is owed on the loan to write off", code="nothing_to_write_off")
        _note_reason(uow, reason)
        status_before = loan.status
        loan.principal_outstanding_minor = 0
        loan.interest_receivable_minor = 0
        loan.penalty_receivable_minor = 0
        loan.fee_receivable_minor = 0
        loan.written_off_minor += total
        loan.status = LoanStatus.WRITTEN_OFF
        memo = f"loan {loan.id}"
        lines = [
            (account, total, 0, memo),
            (ledger.LOAN_PRINCIPAL, 0, principal, "principal"),
            (ledger.INTEREST_RECEIVABLE, 0, interest, "interest"),
            (ledger.PENALTY_RECEIVABLE, 0, penalty, "penalty"),
            (ledger.FEE_RECEIVABLE, 0, fee, "fee"),
            (ledger.WRITTEN_OFF_LOANS, total, 0, memo),
            (ledger.WRITTEN_OFF_LOANS_CONTRA, 0, total, memo),
        ]
        t = LoanTransaction(
            loan_id=loan.id,
            kind=WRITE_OFF,
            value_date=today,
            amount_minor=total,
            currency=loan.currency,
            idempotency_key=key,
            content_digest=digest,
            allocation={
                "principal": principal,
                "interest": interest,
                "penalty": penalty,
                "fee": fee,
                "reason": reason,
                "charge_to": cmd.charge_to,
                "loan_status_before": status_before,
                "lines": [list(line) for line in lines if line[1] or line[2]],
            },
            created_at=_next_instant(uow, loan.id),
        )
        uow.session.add(t)
        uow.session.flush()
        t.journal_entry_id = _post(
            uow,
            client_key=f"writeoff:{t.id}",
            value_date=today,
            description=f"核销 Write-off of loan {loan.id}: {reason}"[: ledger.MAX_DESCRIPTION],
            lines=lines,
            currency=loan.currency,
            source="loans.write_off",
        )
        uow.emit(
            events.LoanWrittenOff(
                tenant_id=str(uow.tenant_id),
                loan_id=loan.id,
                credit_line_id=loan.credit_line_id,
                transaction_id=t.id,
                currency=loan.currency,
                amount_minor=total,
                principal_minor=principal,
            )
        )
        _announce(uow, loan, status_before)
        return _commit(uow, views.ServicingResult(t.id, loan.id, replayed=False), key, digest, t)


def record_recovery(cmd: commands.RecordRecovery, uow: SqlAlchemyUnitOfWork) -> views.ServicingResult:
    """核销后收回: Dr 3001 clearing / Cr 6702 credit impairment loss, and the memo pair reduced
    (Dr 7002 / Cr 7001). At most what is still written off."""
    _tenant(uow, cmd)
    key = _check_key(cmd.idempotency_key)
    amount = _check_amount(cmd.amount_minor)
    value_date = _check_date(cmd.value_date)
    currency = None if cmd.currency is None else _check_currency_code(cmd.currency)
    reference = _check_reference(cmd.channel_reference)
    digest = content_digest(
        {
            "kind": RECOVERY,
            "loan_id": cmd.loan_id,
            "amount_minor": amount,
            "currency": currency,
            "value_date": value_date,
            "channel_reference": reference,
        }
    )
    with uow:
        loan = _lock_loan(uow, cmd.loan_id)
        replay = _replay(uow, key, digest)
        if replay is not None:
            return replay
        if loan.status != LoanStatus.WRITTEN_OFF:
            raise Conflict(
                "recoveries are recorded on written-off loans; repay an open loan instead",
                code="loan_not_written_off",
                details={"status": loan.status},
            )
        _check_loan_currency(loan, currency)
        _check_value_date(loan, value_date, uow.clock.today())
        if amount > int(loan.written_off_minor):
            raise ValidationFailed(
                "the recovery exceeds what is still written off",
                code="recovery_exceeds_written_off",
                details={"written_off_minor": int(loan.written_off_minor)},
            )
        loan.written_off_minor -= amount
        memo = f"loan {loan.id}"
        lines = [
            (ledger.CLEARING, amount, 0, memo),
            (ledger.CREDIT_IMPAIRMENT_LOSS, 0, amount, "recovery"),
            (ledger.WRITTEN_OFF_LOANS_CONTRA, amount, 0, memo),
            (ledger.WRITTEN_OFF_LOANS, 0, amount, memo),
        ]
        t = _record(
            uow,
            loan,
            kind=RECOVERY,
            value_date=value_date,
            amount=amount,
            key=key,
            digest=digest,
            allocation={"recovered": amount, "lines": [list(line) for line in lines]},
            created_at=_next_instant(uow, loan.id),
            channel_reference=reference,
            posting=(
                "recovery",
                value_date,
                f"核销后收回 Recovery on written-off loan {loan.id}",
                lines,
                "loans.recovery",
            ),
        )
        uow.emit(
            events.RecoveryRecorded(
                tenant_id=str(uow.tenant_id),
                loan_id=loan.id,
                transaction_id=t.id,
                currency=loan.currency,
                amount_minor=amount,
            )
        )
        return _commit(uow, views.ServicingResult(t.id, loan.id, replayed=False), key, digest, t)


COMMAND_HANDLERS: dict[type, Any] = {
    commands.RepayLoan: repay_loan,
    commands.PrepayLoan: prepay_loan,
    commands.ReverseRepayment: reverse_repayment,
    commands.RescheduleLoan: reschedule_loan,
    commands.WriteOffLoan: write_off_loan,
    commands.RecordRecovery: record_recovery,
}
EVENT_HANDLERS: dict[type, list[Any]] = {}
