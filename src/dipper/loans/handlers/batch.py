"""The end of day (日终批处理), ADR 0005: set-based steps over the whole book of one bank.

Every rule is written once, as a SQLAlchemy Core column expression (``*_sql`` below, twins of
``loans.domain.accrual`` and ``loans.domain.delinquency``), and applied by a handful of
``UPDATE`` / ``INSERT ... SELECT`` statements filtered by the bank and, optionally, by a set of
loan ids: the single-loan path (``accrue_to(uow, date, loan_ids=[id])``) is a batch of one.
No step loops over loans in Python.

A step computes its totals per currency with the same expressions as its ``UPDATE``, in the same
transaction (interest and penalty accrual, whose rules read other rows, take theirs as the column
sums before and after their ``UPDATE`` rather than evaluating the rule a second time), and posts them
as one summary journal entry per currency (client key
``eod:<date>:<step>:<currency>``) *in that transaction*, so the GL control accounts equal the
sub-ledger at every commit (ADR 0005 lists ``post`` as a later step; posting with the change
keeps the reconciliation invariant even between steps and after a crash). Likewise the events a
step causes are written to the outbox by that step, set-based, with the change they report;
``post`` then checks the reconciliation and ``emit`` closes the run.

Consistency: on SQLite the step's transaction holds the write lock (``BEGIN IMMEDIATE``); on
PostgreSQL the step locks the loan and installment tables ``IN EXCLUSIVE MODE``, so no other
writer changes a balance between the totals and the ``UPDATE`` (reads go on; writes wait for the
seconds a step takes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    Date,
    String,
    Table,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.sqltypes import NullType
from sqlalchemy.sql.visitors import InternalTraversal

from dipper.accounting import queries as ledger
from dipper.accounting.commands import PostingLine, PostJournalEntry
from dipper.kernel.errors import Conflict, DomainError, PermissionDenied, ValidationFailed
from dipper.kernel.ids import new_id
from dipper.kernel.messages import Event
from dipper.loans.adapters.accounts import BatchRun, Installment, Loan
from dipper.loans.commands import batch as commands
from dipper.loans.domain import accrual as rules
from dipper.loans.domain.delinquency import ACCRUING, BUCKETS, LIVE, DelinquencyPolicy, InstallmentStatus
from dipper.loans.events import batch as events
from dipper.loans.queries import batch as views
from dipper.loans.queries import loans as loan_views
from dipper.persistence.base import UTCDateTime
from dipper.persistence.outbox import OutboxMessage
from dipper.persistence.uow import SqlAlchemyUnitOfWork

log = logging.getLogger(__name__)

L: Table = Loan.__table__  # type: ignore[assignment]
I: Table = Installment.__table__  # type: ignore[assignment]  # noqa: E741
OUTBOX: Table = OutboxMessage.__table__  # type: ignore[assignment]

REVOLVING = "revolving"
NON_ACCRUAL, WRITTEN_OFF, ACTIVE = "non_accrual", "written_off", "active"
SCHEDULED, DUE, OVERDUE = InstallmentStatus.SCHEDULED.value, InstallmentStatus.DUE.value, "overdue"
UNPAID_DUE = (DUE, InstallmentStatus.OVERDUE.value)

# -- dialect helpers: the few things SQLite and PostgreSQL spell differently ---------------------------


class day_number(FunctionElement[int]):  # noqa: N801 - reads as the SQL function it renders
    """A date as its day number, ``date.toordinal()``: an integer on every database, so date
    arithmetic is integer arithmetic (Python computes the business date's number once)."""

    type = BigInteger()
    inherit_cache = True
    name = "day_number"


@compiles(day_number, "sqlite")
def _day_number_sqlite(element: day_number, compiler: SQLCompiler, **kw: Any) -> str:
    # julianday() of a date is N.5; the integer part minus 1721424 is the proleptic ordinal.
    return f"(CAST(julianday({compiler.process(element.clauses, **kw)}) AS INTEGER) - 1721424)"


@compiles(day_number, "postgresql")
def _day_number_pg(element: day_number, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(({compiler.process(element.clauses, **kw)}) - DATE '0001-01-01' + 1)"


class date_of(FunctionElement[date]):  # noqa: N801
    """The date of a day number (the inverse of ``day_number``)."""

    type = Date()
    inherit_cache = True
    name = "date_of"


@compiles(date_of, "sqlite")
def _date_of_sqlite(element: date_of, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date(({compiler.process(element.clauses, **kw)}) + 1721424.5)"


@compiles(date_of, "postgresql")
def _date_of_pg(element: date_of, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(DATE '0001-01-01' + CAST(({compiler.process(element.clauses, **kw)}) - 1 AS INTEGER))"


class json_object(FunctionElement[Any]):  # noqa: N801
    """``json_object(k1, v1, ...)`` on SQLite, ``json_build_object`` on PostgreSQL."""

    type = JSON()
    inherit_cache = True
    name = "json_object"


@compiles(json_object, "sqlite")
def _json_object_sqlite(element: json_object, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_object({compiler.process(element.clauses, **kw)})"


@compiles(json_object, "postgresql")
def _json_object_pg(element: json_object, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_build_object({compiler.process(element.clauses, **kw)})"


class padded10(FunctionElement[str]):  # noqa: N801
    """An integer as ten digits with leading zeros (the unique tail of a set-based id)."""

    type = String()
    inherit_cache = True
    name = "padded10"


@compiles(padded10, "sqlite")
def _padded10_sqlite(element: padded10, compiler: SQLCompiler, **kw: Any) -> str:
    return f"printf('%010d', {compiler.process(element.clauses, **kw)})"


@compiles(padded10, "postgresql")
def _padded10_pg(element: padded10, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lpad(CAST(({compiler.process(element.clauses, **kw)}) AS TEXT), 10, '0')"


class in_ids(ColumnElement[Any]):  # noqa: N801
    """``column IN (subquery)`` for a small set of ids. PostgreSQL turns that into a semi-join and,
    misjudging the set's size, may hash it against a scan of the whole book; as
    ``column = ANY(ARRAY(subquery))`` the set is computed once and looked up in the index."""

    # Untyped on purpose: a Boolean would be rendered "... = 1" on SQLite, hiding the IN from
    # its planner.
    type = NullType()
    inherit_cache = True
    _traverse_internals = (  # type: ignore[assignment]  # a tuple: immutable, one per class
        ("column", InternalTraversal.dp_clauseelement),
        ("ids", InternalTraversal.dp_clauseelement),
    )

    def __init__(self, column: ColumnElement[Any], ids: Any) -> None:
        self.column = column
        self.ids = ids.scalar_subquery() if hasattr(ids, "scalar_subquery") else ids


@compiles(in_ids)
def _in_ids(element: in_ids, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} IN {compiler.process(element.ids, **kw)}"


@compiles(in_ids, "postgresql")
def _in_ids_pg(element: in_ids, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} = ANY(ARRAY{compiler.process(element.ids, **kw)})"


def _generic(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    # For str(statement) while debugging; the two databases have their own renderings above.
    return f"{element.name}({compiler.process(element.clauses, **kw)})"


for _construct in (day_number, date_of, json_object, padded10):
    compiles(_construct)(_generic)


def _text(value: str | BindParameter[str]) -> ColumnElement[str]:
    # A typed literal: PostgreSQL cannot infer the type of a bare parameter inside json_build_object.
    return cast(value if isinstance(value, BindParameter) else literal(value, String()), String())


def _big(expr: Any) -> ColumnElement[int]:
    # SUM(bigint) is NUMERIC on PostgreSQL; later integer division must stay integer division.
    return cast(expr, BigInteger())


# -- the rules, as column expressions (twins of loans.domain.accrual / delinquency) ---------------------


def divisor_sql(basis: Any) -> ColumnElement[int]:
    """``basis x 10^9`` (``rules.accrual_divisor``); cast first: 360 x 10^9 overflows a 32-bit int."""
    return _big(basis) * rules.RATE_SCALE


def daily_accrual_sql(
    balance: Any, rate_e9: Any, days: Any, carry: Any, basis: Any
) -> tuple[ColumnElement[int], ColumnElement[int]]:
    """(accrued fen, new carry) for ``days`` days: ``rules.accrue_daily``. Operands are
    non-negative, so SQL's truncating integer division is the floor."""
    divisor = divisor_sql(basis)
    product = balance * rate_e9
    scaled = (product % divisor) * days + carry
    return (product // divisor) * days + scaled // divisor, scaled % divisor


def recognised_sql(interest: Any, start_day: Any, end_day: Any, through_day: Any) -> ColumnElement[int]:
    """A period's interest recognised by the end of day ``through_day`` (``rules.scheduled_accrued``)."""
    length = end_day - start_day
    elapsed = through_day + 1 - start_day
    clamped = case((elapsed <= 0, 0), (elapsed >= length, length), else_=elapsed)
    recognised: ColumnElement[int] = interest * clamped // length
    return recognised


def bucket_sql(dpd: Any) -> ColumnElement[str]:
    """``delinquency.bucket_of`` from the same table of bounds."""
    bounded = [(dpd <= upper, name) for name, upper in BUCKETS if upper is not None]
    return case(*bounded, else_=BUCKETS[-1][0])


def next_status_sql(status: Any, dpd: Any, policy: DelinquencyPolicy) -> ColumnElement[str]:
    """``delinquency.next_status`` for a live loan."""
    whens: list[tuple[Any, str]] = []
    if policy.write_off_after_dpd is not None:
        whens.append((dpd > policy.write_off_after_dpd, WRITTEN_OFF))
    whens += [
        (dpd > policy.non_accrual_after_dpd, NON_ACCRUAL),
        (and_(status == NON_ACCRUAL, dpd > 0), NON_ACCRUAL),
        (dpd > 0, OVERDUE),
    ]
    return case(*whens, else_=ACTIVE)


# -- step plumbing ---------------------------------------------------------------------------------------


@dataclass
class StepResult:
    """What one step did: rows touched, totals per currency (minor units), entries posted, events."""

    rows: int = 0
    totals: dict[str, dict[str, int]] = field(default_factory=dict)
    entries: dict[str, str] = field(default_factory=dict)
    events: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def figures(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "totals": self.totals,
            "entries": self.entries,
            "events": self.events,
            **self.extra,
        }


@dataclass(frozen=True)
class _Scope:
    """What a step's statements are built over: the bank, the business date, its day number and
    the chosen loans (``None``: the whole book), either as values (the end of day builds its
    statements once per run) or as bind parameters (``_BOUND``)."""

    tenant_id: Any
    business_date: Any
    day: Any
    loan_ids: Any

    def loans(self, t: Any = L) -> list[ColumnElement[bool]]:
        scope = [t.c.tenant_id == self.tenant_id]
        if self.loan_ids is not None:
            scope.append(t.c.id.in_(self.loan_ids))
        return scope

    def installments(self) -> list[ColumnElement[bool]]:
        scope = [I.c.tenant_id == self.tenant_id]
        if self.loan_ids is not None:
            scope.append(I.c.loan_id.in_(self.loan_ids))
        return scope

    def day_value(self) -> ColumnElement[int]:
        day: ColumnElement[int] = (
            self.day if isinstance(self.day, BindParameter) else literal(self.day, BigInteger())
        )
        return day


#: The single-loan path (a repayment on a due date) runs a step for one loan per request: its
#: statements are built once, over these parameters, and kept in ``_BOUND_STATEMENTS`` (building
#: the rules' expression trees costs more than the database's work for one loan).
_BOUND = _Scope(
    tenant_id=bindparam("scope_tenant_id", type_=String()),
    business_date=bindparam("scope_business_date", type_=Date()),
    day=bindparam("scope_day", type_=BigInteger()),
    loan_ids=bindparam("scope_loan_ids", type_=String(), expanding=True),
)
_BOUND_STATEMENTS: dict[str, Any] = {}
#: Per statement, the moment and id prefix of the outbox rows it writes (``_emit_statement``).
_EMIT_PREFIX = bindparam("emit_prefix", type_=String())
_EMIT_AT = bindparam("emit_created_at", type_=UTCDateTime())
_LOCK_CHOSEN = (
    select(L.c.id).where(L.c.tenant_id == _BOUND.tenant_id, L.c.id.in_(_BOUND.loan_ids)).with_for_update()
)


@dataclass(frozen=True)
class _Ctx:
    uow: SqlAlchemyUnitOfWork
    conn: Connection
    tenant_id: str
    business_date: date
    loan_ids: tuple[str, ...] | None

    @property
    def day(self) -> int:
        return self.business_date.toordinal()

    @property
    def bound(self) -> bool:
        return self.loan_ids is not None

    def scope(self) -> _Scope:
        return _BOUND if self.bound else _Scope(self.tenant_id, self.business_date, self.day, None)

    def params(self) -> dict[str, Any]:
        """The values of ``_BOUND``'s parameters (none for the whole book: its values are inline)."""
        if not self.bound:
            return {}
        return {
            "scope_tenant_id": self.tenant_id,
            "scope_business_date": self.business_date,
            "scope_day": self.day,
            "scope_loan_ids": list(self.loan_ids or ()),
        }

    def statements(self, step: str, build: Callable[[_Scope], Any]) -> Any:
        """``build(scope)``: once for the process on the single-loan path, else for this run."""
        if not self.bound:
            return build(self.scope())
        built = _BOUND_STATEMENTS.get(step)
        if built is None:
            built = _BOUND_STATEMENTS[step] = build(_BOUND)
        return built

    def execute(self, statement: Any, **extra: Any) -> Any:
        return self.conn.execute(statement, {**self.params(), **extra} or None)

    def _values(self) -> _Scope:
        # Steps not yet built over ``_BOUND`` filter by the chosen loans' values inline.
        return _Scope(self.tenant_id, self.business_date, self.day, self.loan_ids)

    def loans(self, t: Any = L) -> list[ColumnElement[bool]]:
        return self._values().loans(t)

    def installments(self) -> list[ColumnElement[bool]]:
        return self._values().installments()


def _ctx(uow: SqlAlchemyUnitOfWork, business_date: date, loan_ids: Iterable[str] | None) -> _Ctx:
    if uow.tenant_id is None:
        raise PermissionDenied("the end of day runs for one bank", code="tenant_required")
    if not isinstance(business_date, date):
        raise ValidationFailed("business_date must be a date", code="invalid_business_date")
    ids = None if loan_ids is None else tuple(dict.fromkeys(loan_ids))
    conn = uow.session.connection()
    if ids is not None and ids and conn.dialect.name == "postgresql":
        # The single-loan path: lock the loans so totals and UPDATE see the same balances.
        conn.execute(_LOCK_CHOSEN, {"scope_tenant_id": uow.tenant_id, "scope_loan_ids": list(ids)})
    return _Ctx(uow, conn, uow.tenant_id, business_date, ids)


#: Steps whose joins PostgreSQL should run as index look-ups (see ``_lock_book``).
_INDEX_LOOKUP_STEPS = frozenset({"fall_due", "accrue_penalty"})


def _lock_book(conn: Connection, *, planner_hints: bool = False) -> None:
    """Per step transaction: PostgreSQL locks out other writers of the book (see the module doc);
    SQLite already holds the database's write lock and gets a bigger cache for the batch."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        # JIT compiling these long CASE expressions costs seconds and saves nothing on one pass.
        conn.exec_driver_sql("SET LOCAL jit = off")
        if planner_hints:
            # Steps that join the few installments due or loans delinquent today to the book:
            # PostgreSQL over-estimates such sets ("status = 'scheduled' AND due_date <= D" by
            # ~30x: independent columns) and would hash-join a scan of the whole book, where index
            # look-ups are what these sets need.
            conn.exec_driver_sql("SET LOCAL enable_hashjoin = off")
            conn.exec_driver_sql("SET LOCAL enable_mergejoin = off")
        # EXCLUSIVE lets plain reads through but no writer nor SELECT ... FOR UPDATE, so a servicing
        # request (which locks its loan first) waits before holding anything: no deadlock.
        conn.exec_driver_sql("LOCK TABLE loans_loan, loans_installment IN EXCLUSIVE MODE")
    elif conn.dialect.name == "sqlite":
        # temp_store cannot change inside a transaction, and every transaction here is BEGIN
        # IMMEDIATE from the start: it belongs in the engine's connect hook (persistence.db).
        conn.exec_driver_sql("PRAGMA cache_size = -262144")  # 256 MiB


def _totals(rows: Iterable[Sequence[Any]], names: Sequence[str]) -> dict[str, dict[str, int]]:
    """``(currency, *sums)`` rows to ``{currency: {name: sum}}``, adding rows of the same currency."""
    out: dict[str, dict[str, int]] = {}
    for currency, *sums in rows:
        bucket = out.setdefault(currency, dict.fromkeys(names, 0))
        for name, value in zip(names, sums, strict=True):
            bucket[name] += int(value or 0)
    return out


def _sums_query(scope: Sequence[Any], columns: Sequence[Any]) -> Any:
    """Column sums per currency over ``scope``."""
    return select(L.c.currency, *(_big(func.sum(c)) for c in columns)).where(*scope).group_by(L.c.currency)


def _sums(ctx: _Ctx, query: Any) -> dict[str, list[int]]:
    return {currency: [int(v or 0) for v in sums] for currency, *sums in ctx.execute(query)}


def _changes(before: dict[str, list[int]], after: dict[str, list[int]]) -> dict[str, list[int]]:
    """What a step's UPDATEs changed, per currency: the sums after less the sums before.

    The two steps whose rule reads other rows (interest over the periods, penalty over the overdue
    installments) take their totals this way rather than by evaluating the rule a second time in
    a SELECT: it is the change the UPDATEs made, exactly, since no other writer can commit in
    between (see the module docstring), at the cost of two plain scans of the same rows."""
    width = len(next(iter(after.values()), next(iter(before.values()), [])))
    return {
        c: [a - b for a, b in zip(after.get(c, [0] * width), before.get(c, [0] * width), strict=True)]
        for c in sorted({*before, *after})
    }


#: Journal lines of each step: (total, debit account, credit account, memo).
_POSTINGS: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "accrue_interest": (
        ("interest", ledger.INTEREST_RECEIVABLE, ledger.INTEREST_INCOME, "interest accrued"),
    ),
    "fall_due": (("fee", ledger.FEE_RECEIVABLE, ledger.FEE_INCOME, "installment fees billed"),),
    "accrue_penalty": (
        ("penalty", ledger.PENALTY_RECEIVABLE, ledger.PENALTY_INTEREST_INCOME, "penalty interest accrued"),
    ),
    "status": (
        (
            "suspended_interest",
            ledger.INTEREST_INCOME,
            ledger.INTEREST_RECEIVABLE,
            "interest suspended (non-accrual)",
        ),
        (
            "reinstated_interest",
            ledger.INTEREST_RECEIVABLE,
            ledger.INTEREST_INCOME,
            "interest reinstated (current)",
        ),
        ("written_off_principal", ledger.LOAN_LOSS_PROVISION, ledger.LOAN_PRINCIPAL, "principal written off"),
        (
            "written_off_interest",
            ledger.LOAN_LOSS_PROVISION,
            ledger.INTEREST_RECEIVABLE,
            "interest written off",
        ),
        ("written_off_penalty", ledger.LOAN_LOSS_PROVISION, ledger.PENALTY_RECEIVABLE, "penalty written off"),
        ("written_off_fee", ledger.LOAN_LOSS_PROVISION, ledger.FEE_RECEIVABLE, "fees written off"),
        (
            "written_off",
            ledger.WRITTEN_OFF_LOANS,
            ledger.WRITTEN_OFF_LOANS_CONTRA,
            "written off (memorandum)",
        ),
    ),
}
_LABELS = {
    "accrue_interest": "计提利息 interest accrual",
    "fall_due": "到期 installments due",
    "accrue_penalty": "计提罚息 penalty interest",
    "status": "五级/非应计 status changes",
    "seed": "期初 opening balances",
}


def _post(ctx: _Ctx, step: str, totals: dict[str, dict[str, int]], client_key: str | None) -> dict[str, str]:
    """One summary entry per currency in the step's transaction; nothing for all-zero totals."""
    if client_key is None:
        if ctx.loan_ids is not None:
            raise ValueError("a step over chosen loans needs its own client_key for its journal entry")
        client_key = f"eod:{ctx.business_date.isoformat()}:{step}"
    entries: dict[str, str] = {}
    for currency in sorted(totals):
        lines: list[PostingLine] = []
        for name, dr, cr, memo in _POSTINGS[step]:
            amount = totals[currency].get(name, 0)
            # A negative total is a correction the other way round (never from the batch's own rules).
            debit, credit = (dr, cr) if amount >= 0 else (cr, dr)
            amount = abs(amount)
            if amount:
                lines.append(
                    PostingLine(account_code=debit, currency=currency, debit_minor=amount, memo=memo)
                )
                lines.append(
                    PostingLine(account_code=credit, currency=currency, credit_minor=amount, memo=memo)
                )
        if not lines:
            continue
        result = ledger.post_within(
            ctx.uow,
            PostJournalEntry(
                tenant_id=ctx.tenant_id,
                client_key=f"{client_key}:{currency}",
                value_date=ctx.business_date,
                description=f"日终 End of day {ctx.business_date.isoformat()}: {_LABELS.get(step, step)}",
                lines=tuple(lines),
                source="eod",
            ),
        )
        entries[currency] = result.entry_id
    return entries


def _emit_rows(ctx: _Ctx, event_type: type[Event], values: dict[str, Any], source: Any, *where: Any) -> int:
    """Insert one outbox row per selected row, set-based, in the shape ``to_outbox`` gives an event
    of ``event_type`` (topic ``loans.<Name>``, payload = the event's fields as plain JSON)."""
    # A fresh 16-character time-ordered prefix per statement and the row's number make each id
    # unique without a Python object per row.
    statement = _emit_statement(
        event_type,
        values,
        source,
        *where,
        tenant_id=ctx.tenant_id,
        prefix=new_id()[:16],
        at=ctx.uow.clock.now(),
    )
    return _emitted(ctx.conn.execute(statement))


def _emitted(result: Any) -> int:
    return max(int(result.rowcount or 0), 0)


def _emit_statement(
    event_type: type[Event],
    values: dict[str, Any],
    source: Any,
    *where: Any,
    tenant_id: Any,
    prefix: Any,
    at: Any,
) -> Any:
    """The ``INSERT ... SELECT`` of ``_emit_rows``; the bank, id prefix and moment are values or
    bind parameters (``_BOUND.tenant_id``, ``_EMIT_PREFIX``, ``_EMIT_AT``)."""
    names = [f.name for f in fields(event_type)]
    if sorted(names) != sorted(values):
        raise AssertionError(f"{event_type.__name__} payload does not match its fields")
    pairs: list[Any] = []
    for name in names:
        pairs += [literal_column(f"'{name}'"), values[name]]
    topic = f"{event_type.__module__.split('.')[1]}.{event_type.__name__}"

    def value(v: Any, type_: Any) -> Any:
        return v if isinstance(v, BindParameter) else literal(v, type_)

    rows = (
        select(
            (_text(prefix) + padded10(func.row_number().over())).label("id"),
            value(tenant_id, String()).label("tenant_id"),
            literal(topic, String()).label("topic"),
            json_object(*pairs).label("payload"),
            value(at, UTCDateTime()).label("created_at"),
        )
        .select_from(source)
        .where(*where)
    )
    statement = insert(OUTBOX).from_select(["id", "tenant_id", "topic", "payload", "created_at"], rows)
    # SQLAlchemy reports no row count for an INSERT unless asked to keep the driver's.
    return statement.execution_options(preserve_rowcount=True)


# -- the steps (each also the single-loan path: pass loan_ids) ------------------------------------------


def accrue_to(
    uow: SqlAlchemyUnitOfWork,
    business_date: date,
    loan_ids: Iterable[str] | None = None,
    *,
    client_key: str | None = None,
) -> StepResult:
    """Accrue interest through the end of ``business_date`` on every live loan not accrued that far:
    scheduled loans recognise their periods' scheduled interest, revolving lines accrue daily on
    the drawn balance up to the day before maturity. A non-accrual loan's interest goes to
    ``suspended_interest_minor`` (memorandum, not posted). Posts Dr 1132 / Cr 6011."""
    ctx = _ctx(uow, business_date, loan_ids)
    statements = ctx.statements("accrue_to", _accrue_statements)
    before = _sums(ctx, statements.sums)
    n = ctx.execute(statements.accruing).rowcount + ctx.execute(statements.non_accrual).rowcount
    changed = _changes(before, _sums(ctx, statements.sums))
    accrued = {c: {"interest": receivable} for c, (receivable, _) in changed.items()}
    suspended = {c: memo for c, (_, memo) in changed.items() if memo}
    result = StepResult(rows=int(n), totals=accrued)
    result.extra["suspended"] = suspended
    result.entries = _post(ctx, "accrue_interest", accrued, client_key)
    return result


@dataclass(frozen=True)
class _AccrueStatements:
    sums: Any
    accruing: Any
    non_accrual: Any


def _accrue_statements(scope: _Scope) -> _AccrueStatements:
    business_date, d = scope.business_date, scope.day
    prev = func.coalesce(day_number(L.c.accrued_through), day_number(L.c.start_date) - 1)
    start, end = day_number(I.c.accrual_start), day_number(I.c.accrual_end)
    scheduled = (
        select(
            _big(
                func.coalesce(
                    func.sum(
                        recognised_sql(I.c.interest_minor, start, end, scope.day_value())
                        - recognised_sql(I.c.interest_minor, start, end, prev)
                    ),
                    0,
                )
            )
        )
        # Correlated on the loan, which the outer statement scopes to the bank.
        .where(
            I.c.loan_id == L.c.id,
            I.c.accrual_start <= business_date,
            I.c.accrual_end > func.coalesce(L.c.accrued_through, L.c.start_date),
            I.c.accrual_end > I.c.accrual_start,
        )
        .correlate(L)
        .scalar_subquery()
    )
    maturity_last = day_number(L.c.maturity_date) - 1
    last = case((and_(L.c.maturity_date.isnot(None), maturity_last < d), maturity_last), else_=d)
    days = case((last > prev, last - prev), else_=0)
    daily, carry = daily_accrual_sql(
        L.c.principal_outstanding_minor, L.c.annual_rate_e9, days, L.c.interest_carry, L.c.day_count_basis
    )
    revolving = L.c.method == REVOLVING
    amount = case((revolving, daily), else_=scheduled)
    target = and_(
        *scope.loans(),
        L.c.status.in_(LIVE),
        L.c.start_date.isnot(None),
        L.c.start_date <= business_date,
        or_(L.c.accrued_through.is_(None), L.c.accrued_through < business_date),
    )
    common = {
        "interest_carry": case((revolving, carry), else_=L.c.interest_carry),
        "accrued_through": business_date,
    }
    return _AccrueStatements(
        sums=_sums_query(
            [*scope.loans(), L.c.status.in_(LIVE)],
            (L.c.interest_receivable_minor, L.c.suspended_interest_minor),
        ),
        accruing=update(L)
        .where(target, L.c.status.in_(ACCRUING))
        .values(interest_receivable_minor=L.c.interest_receivable_minor + amount, **common),
        non_accrual=update(L)
        .where(target, L.c.status == NON_ACCRUAL)
        .values(suspended_interest_minor=L.c.suspended_interest_minor + amount, **common),
    )


def _live_loan_of_installment() -> ColumnElement[bool]:
    return exists().where(L.c.id == I.c.loan_id, L.c.status.in_(LIVE))


def _outstanding(t: Any = I) -> ColumnElement[int]:
    outstanding: ColumnElement[int] = (
        t.c.principal_minor
        + t.c.interest_minor
        + t.c.fee_minor
        - t.c.principal_paid_minor
        - t.c.interest_paid_minor
        - t.c.fee_paid_minor
    )
    return outstanding


def fall_due(
    uow: SqlAlchemyUnitOfWork,
    business_date: date,
    loan_ids: Iterable[str] | None = None,
    *,
    client_key: str | None = None,
    emit: bool = True,
) -> StepResult:
    """Installments of live loans with ``due_date <= business_date`` become due; their fees become
    receivable (Dr 1134 / Cr 6021; interest was accrued already). Emits ``InstallmentDue``."""
    ctx = _ctx(uow, business_date, loan_ids)
    statements = ctx.statements("fall_due", _fall_due_statements)
    totals = _totals(ctx.execute(statements.totals).all(), ["fee"])
    if ctx.bound and not totals:
        # Nothing of the chosen loans falls due (a batch of one asked twice): the statements
        # below would change nothing.
        return StepResult(totals=totals)
    ctx.execute(statements.fees)
    result = StepResult(totals=totals)
    if emit:
        if ctx.bound:
            written = ctx.execute(statements.emit, emit_prefix=new_id()[:16], emit_created_at=uow.clock.now())
            result.events = _emitted(written)
        else:
            result.events = _emit_rows(ctx, events.InstallmentDue, *statements.emit_parts)
    result.rows = int(ctx.execute(statements.status).rowcount)
    result.entries = _post(ctx, "fall_due", totals, client_key)
    return result


@dataclass(frozen=True)
class _FallDueStatements:
    totals: Any
    fees: Any
    status: Any
    #: The ``InstallmentDue`` rows: (values, source, *where) for ``_emit_rows``, and as one
    #: statement over ``_BOUND`` (None when built over values).
    emit_parts: tuple[Any, ...]
    emit: Any


def _fall_due_statements(scope: _Scope) -> _FallDueStatements:
    business_date = scope.business_date
    falling = [*scope.installments(), I.c.status == SCHEDULED, I.c.due_date <= business_date]
    joined = I.join(L, L.c.id == I.c.loan_id)
    live = [L.c.tenant_id == scope.tenant_id, L.c.status.in_(LIVE)]
    fees_due = (
        select(_big(func.coalesce(func.sum(I.c.fee_minor), 0)))
        .where(I.c.loan_id == L.c.id, I.c.status == SCHEDULED, I.c.due_date <= business_date)
        .correlate(L)
        .scalar_subquery()
    )
    emit_parts = (
        {
            "tenant_id": I.c.tenant_id,
            "loan_id": I.c.loan_id,
            "installment_id": I.c.id,
            "n": I.c.n,
            "due_date": I.c.due_date,
            "currency": L.c.currency,
            "principal_minor": I.c.principal_minor,
            "interest_minor": I.c.interest_minor,
            "fee_minor": I.c.fee_minor,
            "outstanding_minor": _outstanding(),
        },
        joined,
        *falling,
        *live,
    )
    bound = scope is _BOUND
    return _FallDueStatements(
        totals=select(L.c.currency, func.sum(I.c.fee_minor))
        .select_from(joined)
        .where(*falling, *live)
        .group_by(L.c.currency),
        fees=update(L)
        .where(
            *scope.loans(),
            L.c.status.in_(LIVE),
            in_ids(L.c.id, select(I.c.loan_id).where(*falling, I.c.fee_minor > 0)),
        )
        .values(fee_receivable_minor=L.c.fee_receivable_minor + fees_due),
        status=update(I).where(*falling, _live_loan_of_installment()).values(status=DUE),
        emit_parts=emit_parts,
        emit=(
            _emit_statement(
                events.InstallmentDue,
                *emit_parts,
                tenant_id=scope.tenant_id,
                prefix=_EMIT_PREFIX,
                at=_EMIT_AT,
            )
            if bound
            else None
        ),
    )


def age(
    uow: SqlAlchemyUnitOfWork,
    business_date: date,
    loan_ids: Iterable[str] | None = None,
    *,
    emit: bool = True,
    sweep: bool = False,
) -> StepResult:
    """Days past due = business date - oldest unpaid due date (a revolving line without a schedule
    falls due at maturity), and the bucket. Due installments past their date become overdue
    (``InstallmentMissed``); a bucket change emits ``DaysPastDueChanged``. Moves no money.
    A line is picked up on its maturity date (the batch runs every date); ``sweep`` also looks at
    lines that matured earlier (a book loaded from elsewhere)."""
    ctx = _ctx(uow, business_date, loan_ids)
    d = ctx.day
    result = StepResult()
    missed = [*ctx.installments(), I.c.status == DUE, I.c.due_date < business_date]
    joined = I.join(L, L.c.id == I.c.loan_id)
    live = [L.c.tenant_id == ctx.tenant_id, L.c.status.in_(LIVE)]
    if emit:
        result.events += _emit_rows(
            ctx,
            events.InstallmentMissed,
            {
                "tenant_id": I.c.tenant_id,
                "loan_id": I.c.loan_id,
                "installment_id": I.c.id,
                "n": I.c.n,
                "due_date": I.c.due_date,
                "currency": L.c.currency,
                "outstanding_minor": _outstanding(),
            },
            joined,
            *missed,
            *live,
        )
    result.extra["missed"] = int(
        ctx.conn.execute(
            update(I).where(*missed, _live_loan_of_installment()).values(status=OVERDUE)
        ).rowcount
    )
    la = L.alias("aged")
    balance = (
        la.c.principal_outstanding_minor
        + la.c.interest_receivable_minor
        + la.c.penalty_receivable_minor
        + la.c.fee_receivable_minor
        + la.c.suspended_interest_minor
    )
    # The oldest unpaid due date per loan, grouped from the (status, due date) index: a few
    # rows per delinquent loan rather than a look-up of every installment of every candidate.
    unpaid = (
        select(I.c.loan_id.label("loan_id"), func.min(I.c.due_date).label("due_date"))
        # ``due_date <= business_date``: a repayment on a due date may bill that installment early
        # (``servicing._bring_due``) while an earlier date's end of day is still to run.
        .where(*ctx.installments(), I.c.status.in_(UNPAID_DUE), I.c.due_date <= business_date)
        .group_by(I.c.loan_id)
        .subquery("unpaid")
    )
    oldest_installment = unpaid.c.due_date
    matured_line = case(
        (
            and_(la.c.method == REVOLVING, la.c.maturity_date <= business_date, balance > 0),
            la.c.maturity_date,
        ),
        else_=null(),
    )
    new_oldest = func.coalesce(oldest_installment, matured_line)
    # Loans whose aging can change: those with an unpaid due installment, the delinquent ones
    # (days past due > 0 implies an oldest unpaid due date) and the lines maturing today; each
    # set comes from an index, so the step reads only these loans, not the book.
    candidates = union(
        select(I.c.loan_id).where(*ctx.installments(), I.c.status.in_(UNPAID_DUE)),
        select(L.c.id).where(*ctx.loans(), L.c.oldest_unpaid_due.isnot(None)),
        select(L.c.id).where(
            *ctx.loans(),
            L.c.maturity_date <= business_date if sweep else L.c.maturity_date == business_date,
            L.c.method == REVOLVING,
        ),
    )
    target = and_(*ctx.loans(), L.c.status.in_(LIVE), in_ids(L.c.id, candidates))
    # The oldest unpaid due date of each candidate, computed once (OFFSET 0: not inlined).
    oldest = (
        select(la.c.id.label("id"), new_oldest.label("oldest"))
        .select_from(la.outerjoin(unpaid, unpaid.c.loan_id == la.c.id))
        .where(*ctx.loans(la), la.c.status.in_(LIVE), in_ids(la.c.id, candidates))
        .offset(0)
        .subquery("oldest")
    )
    ctx.conn.execute(
        update(L)
        .where(L.c.id == oldest.c.id, L.c.tenant_id == ctx.tenant_id, in_ids(L.c.id, candidates))
        .where(L.c.oldest_unpaid_due.is_distinct_from(oldest.c.oldest))
        .values(oldest_unpaid_due=oldest.c.oldest)
    )
    dpd = case((L.c.oldest_unpaid_due.is_(None), 0), else_=d - day_number(L.c.oldest_unpaid_due))
    bucket = bucket_sql(dpd)
    if emit:
        result.events += _emit_rows(
            ctx,
            events.DaysPastDueChanged,
            {
                "tenant_id": L.c.tenant_id,
                "loan_id": L.c.id,
                "business_date": _text(business_date.isoformat()),
                "days_past_due": dpd,
                "oldest_unpaid_due": L.c.oldest_unpaid_due,
                "previous_bucket": L.c.bucket,
                "bucket": bucket,
            },
            L,
            target,
            L.c.bucket != bucket,
        )
    result.rows = int(
        ctx.conn.execute(
            update(L)
            .where(target, or_(L.c.days_past_due != dpd, L.c.bucket != bucket))
            .values(days_past_due=dpd, bucket=bucket)
        ).rowcount
    )
    counts = ctx.conn.execute(
        select(L.c.bucket, func.count(), _big(func.sum(L.c.principal_outstanding_minor)))
        .where(*ctx.loans(), L.c.status.in_(LIVE), L.c.oldest_unpaid_due.isnot(None), L.c.days_past_due > 0)
        .group_by(L.c.bucket)
    ).all()
    result.extra["delinquent"] = {b: {"loans": int(k), "principal_minor": int(p or 0)} for b, k, p in counts}
    return result


def accrue_penalty(
    uow: SqlAlchemyUnitOfWork,
    business_date: date,
    loan_ids: Iterable[str] | None = None,
    *,
    client_key: str | None = None,
) -> StepResult:
    """One day of penalty interest (罚息) at ``penalty_rate_e9`` on the unpaid principal of the
    installments more than ``grace_days`` past due (a matured revolving line: on its principal), plus
    their unpaid interest when the loan compounds (复利), with a carry like interest. Once per loan
    and date (``penalty_accrued_through``). Posts Dr 1133 / Cr 6012, for non-accrual loans too:
    servicing collects penalty from ``penalty_receivable_minor``, so it stays on the balance sheet."""
    ctx = _ctx(uow, business_date, loan_ids)
    d = ctx.day
    la = L.alias("penalised")
    unpaid_principal = I.c.principal_minor - I.c.principal_paid_minor
    unpaid_interest = I.c.interest_minor - I.c.interest_paid_minor
    per_installment = case((unpaid_principal > 0, unpaid_principal), else_=0) + case(
        (and_(la.c.compound_overdue_interest, unpaid_interest > 0), unpaid_interest), else_=0
    )
    scheduled_base = (
        select(_big(func.coalesce(func.sum(per_installment), 0)))
        .where(
            I.c.loan_id == la.c.id,
            I.c.status.in_(UNPAID_DUE),
            day_number(I.c.due_date) < d - la.c.grace_days,
        )
        .correlate(la)
        .scalar_subquery()
    )
    line_base = case(
        (
            and_(la.c.maturity_date.isnot(None), day_number(la.c.maturity_date) < d - la.c.grace_days),
            la.c.principal_outstanding_minor
            + case(
                (
                    la.c.compound_overdue_interest,
                    la.c.interest_receivable_minor + la.c.suspended_interest_minor,
                ),
                else_=0,
            ),
        ),
        else_=0,
    )
    base = case((la.c.method == REVOLVING, line_base), else_=scheduled_base)
    penalised = (
        select(la.c.id.label("id"), base.label("base"))
        .where(
            *ctx.loans(la),
            la.c.status.in_(LIVE),
            la.c.oldest_unpaid_due < business_date,  # from the index: the loans past due
            la.c.days_past_due > la.c.grace_days,
            or_(la.c.penalty_accrued_through.is_(None), la.c.penalty_accrued_through < business_date),
        )
        # OFFSET 0 keeps both databases from inlining the subquery: the base is summed once per
        # loan, not once for each of its uses in the accrual expression.
        .offset(0)
        .subquery("penalty_base")
    )
    accrued, carry = daily_accrual_sql(
        penalised.c.base, L.c.penalty_rate_e9, 1, L.c.penalty_carry, L.c.day_count_basis
    )
    # Every loan penalised is past due: its change is read on that set, from the index.
    scope = [*ctx.loans(), L.c.oldest_unpaid_due < business_date]
    before = _sums(ctx, _sums_query(scope, [L.c.penalty_receivable_minor]))
    rows = ctx.conn.execute(
        update(L)
        .where(L.c.id == penalised.c.id, L.c.tenant_id == ctx.tenant_id)
        .values(
            penalty_receivable_minor=L.c.penalty_receivable_minor + accrued,
            penalty_carry=carry,
            penalty_accrued_through=business_date,
        )
    ).rowcount
    totals = {
        c: {"penalty": p}
        for c, (p,) in _changes(
            before, _sums(ctx, _sums_query(scope, [L.c.penalty_receivable_minor]))
        ).items()
    }
    result = StepResult(rows=int(rows), totals=totals)
    result.entries = _post(ctx, "accrue_penalty", totals, client_key)
    return result


def update_status(
    uow: SqlAlchemyUnitOfWork,
    business_date: date,
    policy: DelinquencyPolicy | None = None,
    loan_ids: Iterable[str] | None = None,
    *,
    client_key: str | None = None,
) -> StepResult:
    """Overdue when days past due > 0; non-accrual beyond the policy's days (accrued unpaid interest
    leaves income: Dr 6011 / Cr 1132, into ``suspended_interest_minor``); back to active once fully
    current (the suspended interest is reinstated: Dr 1132 / Cr 6011); written off by rule when the
    policy says so, as servicing's ``WriteOffLoan`` does: principal, interest, penalty and fees
    against the provision (Dr 1304), the total kept in the memorandum pair Dr 7001 / Cr 7002."""
    policy = policy or DelinquencyPolicy()
    ctx = _ctx(uow, business_date, loan_ids)
    new = next_status_sql(L.c.status, L.c.days_past_due, policy)
    # A status can change only on a delinquent loan or one not yet back to active.
    candidates = union(
        select(L.c.id).where(*ctx.loans(), L.c.oldest_unpaid_due.isnot(None)),
        select(L.c.id).where(*ctx.loans(), L.c.status.in_((OVERDUE, NON_ACCRUAL))),
    )
    target = and_(*ctx.loans(), L.c.status.in_(LIVE), in_ids(L.c.id, candidates), L.c.status != new)
    suspend = new == NON_ACCRUAL
    reinstate = and_(L.c.status == NON_ACCRUAL, new.in_(ACCRUING))
    off = new == WRITTEN_OFF

    def when(condition: Any, value: Any) -> ColumnElement[int]:
        return case((condition, value), else_=0)

    written_off = {
        "written_off_principal": L.c.principal_outstanding_minor,
        "written_off_interest": L.c.interest_receivable_minor,
        "written_off_penalty": L.c.penalty_receivable_minor,
        "written_off_fee": L.c.fee_receivable_minor,
    }
    parts = {
        "suspended_interest": when(suspend, L.c.interest_receivable_minor),
        "reinstated_interest": when(reinstate, L.c.suspended_interest_minor),
        **{name: when(off, column) for name, column in written_off.items()},
    }
    totals = _totals(
        ctx.conn.execute(
            select(L.c.currency, *(func.sum(v) for v in parts.values())).where(target).group_by(L.c.currency)
        ).all(),
        list(parts),
    )
    for t in totals.values():
        t["written_off"] = sum(t[name] for name in written_off)
    changes = ctx.conn.execute(select(new, func.count()).where(target).group_by(new)).all()
    rows = ctx.conn.execute(
        update(L)
        .where(target)
        .values(
            status=new,
            interest_receivable_minor=case(
                (or_(suspend, off), 0),
                (reinstate, L.c.interest_receivable_minor + L.c.suspended_interest_minor),
                else_=L.c.interest_receivable_minor,
            ),
            suspended_interest_minor=case(
                (suspend, L.c.suspended_interest_minor + L.c.interest_receivable_minor),
                (reinstate, 0),
                else_=L.c.suspended_interest_minor,
            ),
            principal_outstanding_minor=case((off, 0), else_=L.c.principal_outstanding_minor),
            penalty_receivable_minor=case((off, 0), else_=L.c.penalty_receivable_minor),
            fee_receivable_minor=case((off, 0), else_=L.c.fee_receivable_minor),
            written_off_minor=case(
                (off, L.c.written_off_minor + sum(written_off.values(), literal(0, BigInteger()))),
                else_=L.c.written_off_minor,
            ),
        )
    ).rowcount
    result = StepResult(rows=int(rows), totals=totals)
    result.extra["to"] = {status: int(k) for status, k in changes}
    result.entries = _post(ctx, "status", totals, client_key)
    return result


# -- running a business date step by step ---------------------------------------------------------------


def _policy(cmd: commands.RunEndOfDay | commands.RunEndOfDayStep) -> DelinquencyPolicy:
    return DelinquencyPolicy(
        non_accrual_after_dpd=cmd.non_accrual_after_dpd, write_off_after_dpd=cmd.write_off_after_dpd
    )


def _check_tenant(cmd: Any, uow: SqlAlchemyUnitOfWork) -> str:
    if uow.tenant_id is None or uow.tenant_id != cmd.tenant_id:
        raise PermissionDenied("the command's bank is not the caller's bank", code="tenant_mismatch")
    return uow.tenant_id


def _run_step(
    uow: SqlAlchemyUnitOfWork,
    run: BatchRun,
    step: str,
    policy: DelinquencyPolicy,
    reconciliation: dict[str, Any],
) -> dict[str, Any]:
    d = run.business_date
    if step == "accrue_interest":
        return accrue_to(uow, d).figures()
    if step == "fall_due":
        return fall_due(uow, d).figures()
    if step == "age":
        return age(uow, d).figures()
    if step == "accrue_penalty":
        return accrue_penalty(uow, d).figures()
    if step == "status":
        return update_status(uow, d, policy).figures()
    if step == "post":
        # The entries were posted with each step; this checks that the books agree after them.
        return reconciliation
    if step == "emit":
        events_written = sum(int(f.get("events", 0)) for f in run.figures.values() if isinstance(f, dict))
        uow.emit(
            events.EndOfDayCompleted(tenant_id=run.tenant_id, run_id=run.id, business_date=d.isoformat())
        )
        return {"events": events_written + 1}
    raise AssertionError(f"unknown step {step}")


def _reconcile(uow: SqlAlchemyUnitOfWork) -> dict[str, Any]:
    """The sub-ledger column sums against the GL control accounts, every currency at once: the
    mapping of ``loans.queries.reconcile`` in one grouped scan of the book and one trial balance.
    Read outside the step's transaction (SQLite's second connection would wait for its lock)."""
    fresh = uow.for_tenant(str(uow.tenant_id))
    with fresh:
        sums = fresh.session.execute(
            select(L.c.currency, *(_big(func.sum(column)) for _, column, _ in loan_views.RECONCILED))
            .where(L.c.tenant_id == fresh.tenant_id)
            .group_by(L.c.currency)
        ).all()
    trial = ledger.trial_balance(uow.for_tenant(str(uow.tenant_id)), date.max)
    gl = {(line.account_code, line.currency): line.balance_minor for line in trial.lines}
    out: dict[str, dict[str, int]] = {}
    for currency, *columns in sums:
        differences = {
            code: int(total or 0) - gl.get((code, currency), 0)
            for (_, _, code), total in zip(loan_views.RECONCILED, columns, strict=True)
        }
        out[currency] = {code: diff for code, diff in differences.items() if diff}
    return {"reconciled": not any(out.values()), "differences": out}


def _next_step(
    uow: SqlAlchemyUnitOfWork, business_date: date, policy: DelinquencyPolicy
) -> views.StepOutcome:
    """Run and commit the first step not done of ``business_date`` (creating its run)."""
    tid = str(uow.tenant_id)
    existing = uow.session.scalar(
        select(BatchRun).where(BatchRun.tenant_id == tid, BatchRun.business_date == business_date)
    )
    peek = views.run_view(existing).next_step if existing is not None else commands.EOD_STEPS[0]
    uow.rollback()
    reconciliation = _reconcile(uow) if peek == "post" else {}
    _lock_book(uow.session.connection(), planner_hints=peek in _INDEX_LOOKUP_STEPS)
    run = uow.session.scalar(
        select(BatchRun)
        .where(BatchRun.tenant_id == tid, BatchRun.business_date == business_date)
        .with_for_update()
    )
    if run is None:
        run = BatchRun(
            id=new_id(),
            tenant_id=tid,
            business_date=business_date,
            status="running",
            steps_done=[],
            figures={
                "policy": {
                    "non_accrual_after_dpd": policy.non_accrual_after_dpd,
                    "write_off_after_dpd": policy.write_off_after_dpd,
                }
            },
            started_at=uow.clock.now(),
        )
        uow.session.add(run)
        uow.session.flush()
    step = views.run_view(run).next_step
    if step is None:
        view = views.run_view(run)
        uow.rollback()
        return views.StepOutcome(business_date, None, view)
    if step == "post" and peek != "post":
        uow.rollback()  # another process moved the run on meanwhile: look again
        return _next_step(uow, business_date, policy)
    started = time.perf_counter()
    figures = _run_step(uow, run, step, policy, reconciliation)
    figures["seconds"] = round(time.perf_counter() - started, 3)
    run.steps_done = [*run.steps_done, step]
    run.figures = {**run.figures, step: figures}
    last = step == commands.EOD_STEPS[-1]
    run.status = "done" if last else "running"
    if last:
        run.finished_at = uow.clock.now()
    view = views.run_view(run)
    uow.commit()
    log.info("end of day %s: %s done in %.3fs", business_date, step, figures["seconds"])
    return views.StepOutcome(business_date, step, view)


def _step_safely(
    uow: SqlAlchemyUnitOfWork, business_date: date, policy: DelinquencyPolicy
) -> views.StepOutcome:
    try:
        return _next_step(uow, business_date, policy)
    except IntegrityError:
        # Two runners created the same date's run at once: the loser looks again.
        uow.rollback()
        return _next_step(uow, business_date, policy)
    except Exception as exc:
        uow.rollback()
        _mark_failed(uow, business_date, exc)
        raise


def _mark_failed(uow: SqlAlchemyUnitOfWork, business_date: date, exc: Exception) -> None:
    run = uow.session.scalar(
        select(BatchRun).where(BatchRun.tenant_id == uow.tenant_id, BatchRun.business_date == business_date)
    )
    if run is None:
        return
    code = exc.code if isinstance(exc, DomainError) else type(exc).__name__
    run.status = "failed"
    run.figures = {**run.figures, "error": {"code": code, "message": str(exc)[:500]}}
    uow.commit()


def run_end_of_day_step(cmd: commands.RunEndOfDayStep, uow: SqlAlchemyUnitOfWork) -> views.StepOutcome:
    policy = _policy(cmd)
    with uow:
        tid = _check_tenant(cmd, uow)
        runs = dict(
            uow.session.execute(
                select(BatchRun.business_date, BatchRun.status).where(BatchRun.tenant_id == tid)
            ).all()
        )
        dates = views.plan_dates(runs, cmd.business_date, cmd.since, uow.clock.today())
        if not dates:
            done = uow.session.scalar(
                select(BatchRun).where(BatchRun.tenant_id == tid, BatchRun.business_date == cmd.business_date)
            )
            assert done is not None
            return views.StepOutcome(cmd.business_date, None, views.run_view(done))
        if dates[0] != cmd.business_date:
            raise Conflict(
                "an earlier business date has to run first",
                code="eod_out_of_order",
                details={"next": dates[0].isoformat(), "business_date": cmd.business_date.isoformat()},
            )
        uow.rollback()
        return _step_safely(uow, cmd.business_date, policy)


def run_end_of_day(cmd: commands.RunEndOfDay, uow: SqlAlchemyUnitOfWork) -> list[views.BatchRunView]:
    """Catch up every date after the last one done through ``cmd.business_date``, step by step."""
    policy = _policy(cmd)
    with uow:
        tid = _check_tenant(cmd, uow)
        runs = dict(
            uow.session.execute(
                select(BatchRun.business_date, BatchRun.status).where(BatchRun.tenant_id == tid)
            ).all()
        )
        dates = views.plan_dates(runs, cmd.business_date, cmd.since, uow.clock.today())
        uow.rollback()
        done: list[views.BatchRunView] = []
        for business_date in dates:
            while True:
                outcome = _step_safely(uow, business_date, policy)
                if outcome.step is None or outcome.run.status == "done":
                    done.append(outcome.run)
                    break
        return done


# -- a synthetic book, set-based (benchmarks and tests) -------------------------------------------------

_METHODS = {
    0: "equal-installment",
    1: "equal-installment",
    2: "equal-installment",
    3: "equal-installment",
    4: "equal-principal",
    5: "equal-principal",
    6: "interest-only",
    7: "bullet",
}
_RATES = ("0.0435", "0.06", "0.12", "0.18", "0.24")
MAX_SEED_LOANS = 5_000_000


def _insert_values(table: Table, given: dict[str, Any]) -> dict[str, Any]:
    """Every column of ``table``: the given expression, else its scalar default, else NULL; a new
    NOT NULL column without a default is a seeding bug to fix here, so it fails loudly."""
    out: dict[str, Any] = {}
    for col in table.columns:
        if col.name in given:
            out[col.name] = given[col.name]
        elif col.default is not None and getattr(col.default, "is_scalar", False):
            out[col.name] = literal(col.default.arg, col.type)  # type: ignore[attr-defined]
        elif col.nullable:
            out[col.name] = null()
        else:
            raise AssertionError(f"seeding does not know how to fill {table.name}.{col.name}")
    return out


def _insert_from(
    conn: Connection, table: Table, values: dict[str, Any], query: Callable[[list[Any]], Any]
) -> int:
    columns = list(values)
    select_stmt = query([values[c].label(c) if hasattr(values[c], "label") else values[c] for c in columns])
    statement = insert(table).from_select(columns, select_stmt).execution_options(preserve_rowcount=True)
    return int(conn.execute(statement).rowcount or 0)


def _seed_delinquent(i: Any) -> ColumnElement[bool]:
    # About one loan in eighteen, spread over every repayment method even in a small book.
    delinquent: ColumnElement[bool] = (i + i // 10) % 20 == 0
    return delinquent


def seed_synthetic_book(cmd: commands.SeedSyntheticBook, uow: SqlAlchemyUnitOfWork) -> int:
    """Loans ``0..n-1`` generated in SQL from their number: every repayment method, 3-12 monthly
    (30-day) periods, a spread of ages, rates, day bases, grace days and fees; one in eighteen
    delinquent (its last one to five installments unpaid, or a bullet / revolving line up to 150
    days past maturity), one in fifty in USD. Balances as at the end of ``as_of - 1``, posted as opening
    entries; then aged and classified for that date, so the book is consistent."""
    n = cmd.loans
    if type(n) is not int or not 1 <= n <= MAX_SEED_LOANS:
        raise ValidationFailed(f"loans must be 1-{MAX_SEED_LOANS}", code="invalid_seed_size")
    eve = cmd.as_of - timedelta(days=1)
    d0 = cmd.as_of.toordinal()
    now = uow.clock.now()
    with uow:
        tid = _check_tenant(cmd, uow)
        conn = uow.session.connection()
        _lock_book(conn)
        pg = conn.dialect.name == "postgresql"
        prefix = new_id()[:16]
        seq = select(literal(0, BigInteger()).label("i")).cte("seq", recursive=True)
        seq = seq.union_all(select((seq.c.i + 1).label("i")).where(seq.c.i < n - 1))
        i = seq.c.i
        kind = i % 10
        delinquent = _seed_delinquent(i)
        term = case((kind >= 8, 12), else_=case({0: 3, 1: 6}, value=(i // 10) % 3, else_=12))
        total = term * 30
        normal_age = 1 + (i * 37) % (total - 1)
        loan_age = case((and_(delinquent, kind >= 7), total + 1 + (i * 13) % 150), else_=normal_age)
        start = d0 - loan_age
        rate = (i // 3) % 5
        rate_e9 = case({k: int(Decimal(r) * rules.RATE_SCALE) for k, r in enumerate(_RATES)}, value=rate)
        given = {
            "id": _text(prefix) + padded10(i),
            "tenant_id": literal(tid, String()),
            "customer_id": _text(prefix[:15] + "C") + padded10(i),
            "product_code": literal("SYNTHETIC", String()),
            "currency": case((i % 50 == 13, "USD"), else_="CNY"),
            "method": case(_METHODS, value=kind, else_=REVOLVING),
            "term": term,
            "annual_rate": case(
                {k: literal(r, Loan.annual_rate.type) for k, r in enumerate(_RATES)}, value=rate
            ),
            "annual_rate_e9": rate_e9,
            "penalty_rate_e9": rate_e9 * 3 // 2,
            "compound_overdue_interest": i % 4 == 1,
            "day_count_basis": case((i % 7 == 3, 365), else_=360),
            "rounding": literal("half-up", String()),
            "grace_days": case((i % 2 == 1, 3), else_=0),
            "allocation": literal_column("'{}'::json" if pg else "'{}'"),
            "principal_minor": 100_000 + (i * 7919) % 4_900_000,
            "start_date": date_of(start),
            "maturity_date": date_of(start + total),
            "status": literal(ACTIVE, String()),
            "accrued_through": literal(eve, Date()),
            "created_at": literal(now, UTCDateTime()),
        }
        _insert_from(conn, L, _insert_values(L, given), lambda cols: select(*cols).select_from(seq))

        # Installments: period k of loan i, joined to a series 1..12 (the longest synthetic term).
        ks = select(literal(1, BigInteger()).label("k")).cte("ks", recursive=True)
        ks = ks.union_all(select((ks.c.k + 1).label("k")).where(ks.c.k < 12))
        k = ks.c.k
        li = cast(func.substr(L.c.id, 17), BigInteger())
        bullet, interest_only = L.c.method == "bullet", L.c.method == "interest-only"
        m = case((bullet, 1), else_=L.c.term)
        plen = case((bullet, L.c.term * 30), else_=30)
        s_day = day_number(L.c.start_date) + (k - 1) * plen
        e_day = s_day + plen
        share = L.c.principal_minor // m
        principal = case(
            (bullet, L.c.principal_minor),
            (interest_only, case((k == m, L.c.principal_minor), else_=0)),
            (k == m, L.c.principal_minor - share * (m - 1)),
            else_=share,
        )
        before = case(
            (or_(bullet, interest_only), L.c.principal_minor), else_=L.c.principal_minor - share * (k - 1)
        )
        interest = before * L.c.annual_rate_e9 * plen // divisor_sql(L.c.day_count_basis)
        fee = case((li % 3 == 0, L.c.principal_minor // 1000), else_=0)
        unpaid_past = and_(_seed_delinquent(li), e_day < d0, e_day >= d0 - (1 + (li // 3) % 5) * plen)
        status = case((e_day >= d0, SCHEDULED), (unpaid_past, DUE), else_="paid")
        paid = e_day < d0
        inst = {
            "id": _text(prefix[:15] + "I") + padded10(li * 64 + k),
            "tenant_id": L.c.tenant_id,
            "loan_id": L.c.id,
            "n": k,
            "due_date": date_of(e_day),
            "accrual_start": date_of(s_day),
            "accrual_end": date_of(e_day),
            "principal_minor": principal,
            "interest_minor": interest,
            "fee_minor": fee,
            "principal_paid_minor": case((and_(paid, ~unpaid_past), principal), else_=0),
            "interest_paid_minor": case((and_(paid, ~unpaid_past), interest), else_=0),
            "fee_paid_minor": case((and_(paid, ~unpaid_past), fee), else_=0),
            "status": status,
            "paid_on": case((and_(paid, ~unpaid_past), date_of(e_day)), else_=null()),
        }
        ours = [L.c.tenant_id == tid, L.c.id.like(f"{prefix}%"), L.c.method != REVOLVING]
        _insert_from(
            conn,
            I,
            _insert_values(I, inst),
            lambda cols: select(*cols).select_from(L.join(ks, k <= m)).where(*ours),
        )

        if pg:
            # Statistics for the rows just loaded, or the planner takes the new table for empty
            # and scans it once per loan in the UPDATE below.
            conn.exec_driver_sql("ANALYZE loans_loan")
            conn.exec_driver_sql("ANALYZE loans_installment")

        def installment_sum(expr: Any, *where: Any) -> Any:
            return (
                select(_big(func.coalesce(func.sum(expr), 0)))
                .where(I.c.loan_id == L.c.id, *where)
                .correlate(L)
                .scalar_subquery()
            )

        recognised = recognised_sql(
            I.c.interest_minor, day_number(I.c.accrual_start), day_number(I.c.accrual_end), d0 - 1
        )
        line_days = case(
            (day_number(L.c.maturity_date) < d0, day_number(L.c.maturity_date)), else_=d0
        ) - day_number(L.c.start_date)
        line_interest, line_carry = daily_accrual_sql(
            L.c.principal_minor, L.c.annual_rate_e9, line_days, 0, L.c.day_count_basis
        )
        revolving = L.c.method == REVOLVING
        conn.execute(
            update(L)
            .where(L.c.tenant_id == tid, L.c.id.like(f"{prefix}%"))
            .values(
                principal_outstanding_minor=case(
                    (revolving, L.c.principal_minor),
                    else_=L.c.principal_minor - installment_sum(I.c.principal_minor, I.c.status == "paid"),
                ),
                interest_receivable_minor=case(
                    (revolving, line_interest), else_=installment_sum(recognised, I.c.status != "paid")
                ),
                interest_carry=case((revolving, line_carry), else_=0),
                fee_receivable_minor=installment_sum(I.c.fee_minor, I.c.status == DUE),
            )
        )
        sums = conn.execute(
            select(
                L.c.currency,
                func.sum(L.c.principal_outstanding_minor),
                func.sum(L.c.interest_receivable_minor),
                func.sum(L.c.fee_receivable_minor),
            )
            .where(L.c.tenant_id == tid, L.c.id.like(f"{prefix}%"))
            .group_by(L.c.currency)
        ).all()
        ctx = _ctx(uow, eve, None)
        opening = _totals(sums, ["principal", "interest", "fee"])
        _post(ctx, "seed", opening, f"seed:{prefix}")
        age(uow, eve, emit=False, sweep=True)
        update_status(uow, eve, client_key=f"seed:{prefix}:status")
        uow.commit()
    _analyze(uow)
    return n


def _analyze(uow: SqlAlchemyUnitOfWork) -> None:
    """Fresh planner statistics after a bulk load (and, on PostgreSQL, the visibility map)."""
    engine = uow.session_factory.kw["bind"]
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            autocommit = conn.execution_options(isolation_level="AUTOCOMMIT")
            autocommit.exec_driver_sql("VACUUM ANALYZE loans_loan")
            autocommit.exec_driver_sql("VACUUM ANALYZE loans_installment")
        else:
            conn.exec_driver_sql("PRAGMA analysis_limit = 1000")
            conn.exec_driver_sql("ANALYZE")
            conn.commit()


_POSTINGS["seed"] = (
    ("principal", ledger.LOAN_PRINCIPAL, ledger.CLEARING, "opening principal"),
    ("interest", ledger.INTEREST_RECEIVABLE, ledger.INTEREST_INCOME, "opening accrued interest"),
    ("fee", ledger.FEE_RECEIVABLE, ledger.FEE_INCOME, "opening fees due"),
)


COMMAND_HANDLERS: dict[type, Callable[..., Any]] = {
    commands.RunEndOfDay: run_end_of_day,
    commands.RunEndOfDayStep: run_end_of_day_step,
    commands.SeedSyntheticBook: seed_synthetic_book,
}
