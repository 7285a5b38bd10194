"""A customer's own history with the bank (本行表现), as of a date: what risk decisions read.

Three grouped statements per 2,000 customers (loans, credit lines, installments), so the same query
serves one application and a batch over the whole book. Days past due follow the end
of day's rule as ``dpd_series`` replays it: on day *t* an installment is unpaid when it fell due by
*t* and was not paid by *t*, and the days past due are *t* minus the oldest unpaid due date. So an
installment paid on day *p* was past due at most ``p - 1 - due`` days, and one still unpaid on
``as_of`` is ``as_of - due`` days past due. Payments after ``as_of`` count as not made yet, so a
past ``as_of`` sees the history as it stood then (outstanding principal and line usage are today's
figures: the ledger's balances are not kept per day here).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import and_, case, func, or_, select

from dipper.kernel.errors import PermissionDenied, ValidationFailed
from dipper.loans.adapters.accounts import CreditLine, Installment, Loan
from dipper.loans.queries.loans import CreditLineView, line_view
from dipper.persistence.uow import SqlAlchemyUnitOfWork

__all__ = [
    "CustomerBehaviour",
    "customer_behaviour",
    "customer_behaviour_many",
    "open_credit_lines",
    "open_loan_customers",
]

_OPEN = ("active", "overdue", "non_accrual")
_WINDOW_12M = timedelta(days=365)
#: Customers per round of statements: an IN list stays well under SQLite's bound-parameter limit.
_CHUNK = 2_000


@dataclass(frozen=True, slots=True)
class CustomerBehaviour:
    customer_id: str
    as_of: date
    loans_total: int  # disbursed by as_of
    loans_active: int  # disbursed and not closed by as_of (written-off loans are not active)
    max_dpd_now: int
    max_dpd_ever: int
    max_dpd_12m: int
    installments_due: int  # fallen due by as_of
    installments_on_time: int  # of those, paid by their due date (and by as_of)
    principal_outstanding_minor: int
    line_limit_minor: int | None  # open (active or frozen) lines; None without one
    line_used_minor: int | None
    first_loan_on: date | None

    @property
    def has_history(self) -> bool:
        return self.loans_total > 0

    @property
    def on_time_ratio(self) -> float | None:
        return self.installments_on_time / self.installments_due if self.installments_due else None

    @property
    def months_since_first_loan(self) -> int | None:
        if self.first_loan_on is None:
            return None
        months = (
            (self.as_of.year - self.first_loan_on.year) * 12 + self.as_of.month - self.first_loan_on.month
        )
        return max(0, months - (self.as_of.day < self.first_loan_on.day))


def _tenant(uow: SqlAlchemyUnitOfWork) -> str:
    if uow.tenant_id is None:
        raise PermissionDenied("loan queries need a bank", code="tenant_required")
    return uow.tenant_id


def open_credit_lines(uow: SqlAlchemyUnitOfWork) -> list[CreditLineView]:
    """Every active or frozen line of the bank (the book a limit review runs over), in one statement."""
    with uow:
        rows = uow.session.scalars(
            select(CreditLine)
            .where(CreditLine.tenant_id == _tenant(uow), CreditLine.status.in_(("active", "frozen")))
            .order_by(CreditLine.id)
        )
        return [line_view(r) for r in rows]


def open_loan_customers(uow: SqlAlchemyUnitOfWork) -> list[str]:
    """The customers with a loan open (active, overdue or non-accrual), in one statement."""
    with uow:
        rows = uow.session.scalars(
            select(Loan.customer_id)
            .where(Loan.tenant_id == _tenant(uow), Loan.status.in_(_OPEN))
            .group_by(Loan.customer_id)
            .order_by(Loan.customer_id)
        )
        return list(rows)


def customer_behaviour(uow: SqlAlchemyUnitOfWork, customer_id: str, as_of: date) -> CustomerBehaviour:
    """One customer's history here as of ``as_of`` (zeros and ``None`` for a new customer)."""
    return customer_behaviour_many(uow, [customer_id], as_of)[customer_id]


def customer_behaviour_many(
    uow: SqlAlchemyUnitOfWork, customer_ids: Iterable[str], as_of: date
) -> dict[str, CustomerBehaviour]:
    """The history of each customer, by id (every id asked for is in the answer)."""
    if not isinstance(as_of, date):
        raise ValidationFailed("as_of must be a date", code="invalid_date")
    ids = sorted({c for c in customer_ids if isinstance(c, str) and c})
    with uow:
        tenant = _tenant(uow)
        out: dict[str, CustomerBehaviour] = {}
        for start in range(0, len(ids), _CHUNK):
            out.update(_behaviour(uow, tenant, ids[start : start + _CHUNK], as_of))
        return out


def _behaviour(
    uow: SqlAlchemyUnitOfWork, tenant: str, ids: list[str], as_of: date
) -> dict[str, CustomerBehaviour]:
    session = uow.session
    disbursed = and_(Loan.start_date.is_not(None), Loan.start_date <= as_of)
    active = and_(disbursed, Loan.status.in_(_OPEN), or_(Loan.closed_on.is_(None), Loan.closed_on > as_of))
    loans = {
        r.customer_id: r
        for r in session.execute(
            select(
                Loan.customer_id,
                func.count().label("total"),
                func.coalesce(func.sum(case((active, 1), else_=0)), 0).label("active"),
                func.coalesce(func.sum(case((active, Loan.principal_outstanding_minor), else_=0)), 0).label(
                    "outstanding"
                ),
                func.min(Loan.start_date).label("first"),
            )
            .where(Loan.tenant_id == tenant, Loan.customer_id.in_(ids), disbursed)
            .group_by(Loan.customer_id)
        )
    }
    lines = {
        r.customer_id: r
        for r in session.execute(
            select(
                CreditLine.customer_id,
                func.sum(CreditLine.limit_minor).label("limit"),
                func.sum(CreditLine.used_minor).label("used"),
            )
            .where(
                CreditLine.tenant_id == tenant,
                CreditLine.customer_id.in_(ids),
                CreditLine.status.in_(("active", "frozen")),
            )
            .group_by(CreditLine.customer_id)
        )
    }
    # Installments fallen due by as_of on disbursed loans: counts in SQL, and the rows of the late or
    # unpaid ones only (their days past due need date arithmetic, which SQLite and PostgreSQL spell
    # differently; there are few such rows).
    paid_by_as_of = and_(Installment.paid_on.is_not(None), Installment.paid_on <= as_of)
    on_time = and_(paid_by_as_of, Installment.paid_on <= Installment.due_date)
    base = (
        select(Loan.customer_id)
        .select_from(Installment)
        .join(Loan, and_(Loan.id == Installment.loan_id, Loan.tenant_id == Installment.tenant_id))
        .where(
            Installment.tenant_id == tenant,
            Loan.customer_id.in_(ids),
            disbursed,
            Installment.due_date <= as_of,
        )
    )
    due_counts = {
        r.customer_id: (int(r.due), int(r.on_time))
        for r in session.execute(
            base.add_columns(
                func.count().label("due"),
                func.coalesce(func.sum(case((on_time, 1), else_=0)), 0).label("on_time"),
            ).group_by(Loan.customer_id)
        )
    }
    worst: dict[str, list[int]] = {}  # customer -> [now, ever, 12m]
    window_start = as_of - _WINDOW_12M
    for r in session.execute(base.add_columns(Installment.due_date, Installment.paid_on).where(~on_time)):
        paid = r.paid_on if r.paid_on is not None and r.paid_on <= as_of else None
        last_unpaid_day = as_of if paid is None else paid - timedelta(days=1)
        dpd = max(0, (last_unpaid_day - r.due_date).days)
        w = worst.setdefault(r.customer_id, [0, 0, 0])
        if paid is None:
            w[0] = max(w[0], dpd)
        w[1] = max(w[1], dpd)
        if last_unpaid_day >= window_start:
            w[2] = max(w[2], dpd)
    out: dict[str, CustomerBehaviour] = {}
    for cid in ids:
        loan, line = loans.get(cid), lines.get(cid)
        due, timely = due_counts.get(cid, (0, 0))
        now, ever, last12 = worst.get(cid, [0, 0, 0])
        out[cid] = CustomerBehaviour(
            customer_id=cid,
            as_of=as_of,
            loans_total=int(loan.total) if loan else 0,
            loans_active=int(loan.active) if loan else 0,
            max_dpd_now=now,
            max_dpd_ever=ever,
            max_dpd_12m=last12,
            installments_due=due,
            installments_on_time=timely,
            principal_outstanding_minor=int(loan.outstanding) if loan else 0,
            line_limit_minor=int(line.limit) if line else None,
            line_used_minor=int(line.used) if line else None,
            first_loan_on=loan.first if loan else None,
        )
    return out
