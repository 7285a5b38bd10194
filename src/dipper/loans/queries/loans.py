"""Read side of credit lines and loans: views, pages, schedules, transactions, and the
sub-ledger-to-GL reconciliation (ADR 0005).

Every query filters on the caller's bank explicitly besides the session's automatic scoping:
aggregates are where a missing filter would leak the most.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from dipper.accounting import queries as ledger
from dipper.kernel.errors import NotFound, PermissionDenied, ValidationFailed
from dipper.loans.adapters.accounts import CreditLine, Installment, Loan, LoanTransaction
from dipper.loans.adapters.channel import get_channel
from dipper.loans.domain.apr import APR_PLACES
from dipper.loans.domain.delinquency import BUCKETS
from dipper.loans.domain.origination import E9, LineStatus, LoanStatus, Mismatch
from dipper.persistence.uow import SqlAlchemyUnitOfWork

__all__ = [
    "BUCKETS",
    "LOAN_BUCKETS",
    "LOAN_STATUSES",
    "MAX_FILTER_DPD",
    "MAX_PAGE",
    "ChannelReconciliation",
    "CreditLinePage",
    "CreditLineView",
    "DisbursementView",
    "DpdHistory",
    "DpdPoint",
    "InstallmentView",
    "LoanPage",
    "LoanView",
    "Mismatch",
    "OfferInstallment",
    "OfferView",
    "ReconciliationLine",
    "ReconciliationReport",
    "ScheduleView",
    "TransactionView",
    "channel_file",
    "dpd_series",
    "get_credit_line",
    "get_loan",
    "list_credit_lines",
    "list_loans",
    "loan_dpd_history",
    "loan_schedule",
    "loan_transactions",
    "reconcile",
]

MAX_PAGE = 500
LINE_STATUSES = tuple(s.value for s in LineStatus)
LOAN_STATUSES = tuple(s.value for s in LoanStatus)
LOAN_BUCKETS = tuple(name for name, _ in BUCKETS)
#: The widest days-past-due a filter takes (ten years; the write-off policy's own bound).
MAX_FILTER_DPD = 3660
#: A loan id or its leading part as the console shows it (ids are ULIDs: letters and digits).
_ID_PREFIX = re.compile(r"^[0-9A-Za-z]{4,64}$")


# -- views ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreditLineView:
    id: str
    customer_id: str
    product_code: str
    currency: str
    limit_minor: int
    used_minor: int
    available_minor: int
    expires_on: date
    status: str
    created_at: datetime


@dataclass(frozen=True)
class CreditLinePage:
    lines: list[CreditLineView]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class LoanView:
    """A loan contract and its sub-ledger. ``apr`` is the disclosed annualized rate of all costs."""

    id: str
    customer_id: str
    credit_line_id: str | None
    product_code: str
    product_version_id: str | None
    currency: str
    method: str
    term: int
    annual_rate: Decimal
    apr: Decimal | None
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


@dataclass(frozen=True)
class LoanPage:
    loans: list[LoanView]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class InstallmentView:
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
    outstanding_minor: int  # scheduled principal + interest + fee not yet paid (penalty is on the loan)
    status: str
    paid_on: date | None


@dataclass(frozen=True)
class ScheduleView:
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
    installments: list[InstallmentView]


@dataclass(frozen=True)
class TransactionView:
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


@dataclass(frozen=True)
class OfferInstallment:
    n: int
    due_date: date
    accrual_start: date
    accrual_end: date
    principal_minor: int
    interest_minor: int
    fee_minor: int
    total_minor: int
    balance_minor: int


@dataclass(frozen=True)
class OfferView:
    """A priced, unsigned offer. ``offer_digest`` pins every input and figure: ``CreateLoan`` with
    the same inputs reproduces it exactly, or is refused when given the digest and anything changed."""

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
    apr: Decimal
    apr_ceiling: Decimal
    upfront_fee_minor: int
    paid_out_minor: int  # what the borrower receives: amount - upfront fee
    total_interest_minor: int
    total_fees_minor: int  # upfront + periodic
    total_repayment_minor: int
    day_count_basis: int
    rounding: str
    installments: list[OfferInstallment]
    offer_digest: str


@dataclass(frozen=True)
class DisbursementView:
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
    replayed: bool


@dataclass(frozen=True)
class ChannelReconciliation:
    business_date: date
    matched: int
    matched_minor: dict[str, int]  # per currency
    already_reconciled: int
    mismatches: list[Mismatch]
    journal_entry_ids: list[str]

    @property
    def clean(self) -> bool:
        return not self.mismatches


@dataclass(frozen=True)
class ReconciliationLine:
    column: str
    account_code: str
    sub_ledger_minor: int
    gl_minor: int
    difference_minor: int  # sub-ledger - GL


@dataclass(frozen=True)
class ReconciliationReport:
    """The loan sub-ledger against its GL control accounts for one currency (ADR 0005)."""

    currency: str
    as_of: date
    lines: list[ReconciliationLine] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return all(line.difference_minor == 0 for line in self.lines)


# -- helpers --------------------------------------------------------------------------------------------


def _tenant(uow: SqlAlchemyUnitOfWork) -> str:
    if uow.tenant_id is None:
        raise PermissionDenied("loan queries need a bank", code="tenant_required")
    return uow.tenant_id


def _check_page(limit: int, offset: int) -> None:
    if type(limit) is not int or not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(f"limit must be 1-{MAX_PAGE}", code="invalid_limit")
    if type(offset) is not int or offset < 0:
        raise ValidationFailed("offset must be 0 or more", code="invalid_offset")


def _check_choice(value: str | None, allowed: tuple[str, ...], code: str) -> None:
    if value is not None and value not in allowed:
        raise ValidationFailed(f"unknown status {value!r}", code=code, details={"allowed": list(allowed)})


def line_view(line: CreditLine) -> CreditLineView:
    return CreditLineView(
        id=line.id,
        customer_id=line.customer_id,
        product_code=line.product_code,
        currency=line.currency,
        limit_minor=int(line.limit_minor),
        used_minor=int(line.used_minor),
        available_minor=max(int(line.limit_minor) - int(line.used_minor), 0),
        expires_on=line.expires_on,
        status=line.status,
        created_at=line.created_at,
    )


def _apr(value: Decimal | None) -> Decimal | None:
    # Stored rates come back normalized (0.07388); disclosure shows the APR's fixed places (0.073880).
    return None if value is None else value.quantize(Decimal(1).scaleb(-APR_PLACES))


def _rate(e9: int) -> Decimal:
    return (Decimal(int(e9)) / Decimal(E9)).normalize()


def loan_view(loan: Loan) -> LoanView:
    return LoanView(
        id=loan.id,
        customer_id=loan.customer_id,
        credit_line_id=loan.credit_line_id,
        product_code=loan.product_code,
        product_version_id=loan.product_version_id,
        currency=loan.currency,
        method=loan.method,
        term=loan.term,
        annual_rate=loan.annual_rate,
        apr=_apr(loan.apr),
        penalty_rate=_rate(loan.penalty_rate_e9),
        day_count_basis=loan.day_count_basis,
        rounding=loan.rounding,
        grace_days=loan.grace_days,
        allocation=dict(loan.allocation or {}),
        disburse_to=loan.disburse_to,
        merchant_id=loan.merchant_id,
        principal_minor=int(loan.principal_minor),
        upfront_fee_minor=int(loan.upfront_fee_minor),
        start_date=loan.start_date,
        maturity_date=loan.maturity_date,
        status=loan.status,
        principal_outstanding_minor=int(loan.principal_outstanding_minor),
        interest_receivable_minor=int(loan.interest_receivable_minor),
        penalty_receivable_minor=int(loan.penalty_receivable_minor),
        fee_receivable_minor=int(loan.fee_receivable_minor),
        suspended_interest_minor=int(loan.suspended_interest_minor),
        credit_balance_minor=int(loan.credit_balance_minor),
        written_off_minor=int(loan.written_off_minor),
        accrued_through=loan.accrued_through,
        days_past_due=loan.days_past_due,
        bucket=loan.bucket,
        oldest_unpaid_due=loan.oldest_unpaid_due,
        closed_on=loan.closed_on,
        created_at=loan.created_at,
    )


def transaction_view(t: LoanTransaction) -> TransactionView:
    return TransactionView(
        id=t.id,
        loan_id=t.loan_id,
        kind=t.kind,
        value_date=t.value_date,
        amount_minor=int(t.amount_minor),
        currency=t.currency,
        allocation=dict(t.allocation or {}),
        journal_entry_id=t.journal_entry_id,
        reverses_id=t.reverses_id,
        reversed=bool(t.reversed),
        channel_reference=t.channel_reference,
        channel_amount_minor=None if t.channel_amount_minor is None else int(t.channel_amount_minor),
        channel_status=t.channel_status,
        created_at=t.created_at,
    )


def _loan(uow: SqlAlchemyUnitOfWork, loan_id: str) -> Loan:
    loan = uow.session.scalar(select(Loan).where(Loan.tenant_id == _tenant(uow), Loan.id == loan_id))
    if loan is None:
        raise NotFound("no such loan", code="loan_not_found")
    return loan


# -- credit lines ---------------------------------------------------------------------------------------


def get_credit_line(uow: SqlAlchemyUnitOfWork, credit_line_id: str) -> CreditLineView:
    with uow:
        line = uow.session.scalar(
            select(CreditLine).where(CreditLine.tenant_id == _tenant(uow), CreditLine.id == credit_line_id)
        )
        if line is None:
            raise NotFound("no such credit line", code="credit_line_not_found")
        return line_view(line)


def list_credit_lines(
    uow: SqlAlchemyUnitOfWork,
    *,
    customer_id: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> CreditLinePage:
    """Lines newest first, optionally of one customer or in one status."""
    _check_page(limit, offset)
    _check_choice(status, LINE_STATUSES, "invalid_status")
    with uow:
        q = select(CreditLine).where(CreditLine.tenant_id == _tenant(uow))
        if customer_id is not None:
            q = q.where(CreditLine.customer_id == customer_id)
        if status is not None:
            q = q.where(CreditLine.status == status)
        total = uow.session.scalar(select(func.count()).select_from(q.subquery())) or 0
        rows = uow.session.scalars(
            q.order_by(CreditLine.created_at.desc(), CreditLine.id.desc()).limit(limit).offset(offset)
        )
        return CreditLinePage([line_view(r) for r in rows], int(total), limit, offset)


# -- loans ----------------------------------------------------------------------------------------------


def get_loan(uow: SqlAlchemyUnitOfWork, loan_id: str) -> LoanView:
    """One loan: contract terms (rate, APR, product version), status, DPD, bucket and balances."""
    with uow:
        return loan_view(_loan(uow, loan_id))


def _check_dpd(value: int | None, name: str) -> None:
    if value is not None and (type(value) is not int or not 0 <= value <= MAX_FILTER_DPD):
        raise ValidationFailed(
            f"{name}: days past due from 0 to {MAX_FILTER_DPD}",
            code="invalid_days_past_due",
            details={"field": name},
        )


def list_loans(
    uow: SqlAlchemyUnitOfWork,
    *,
    status: str | None = None,
    customer_id: str | None = None,
    bucket: str | None = None,
    product_code: str | None = None,
    loan_id: str | None = None,
    min_dpd: int | None = None,
    max_dpd: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> LoanPage:
    """Loans newest first, filtered by status, customer, DPD bucket, product, loan id (or its
    leading characters, at least four) and a days-past-due range (inclusive)."""
    _check_page(limit, offset)
    _check_choice(status, LOAN_STATUSES, "invalid_status")
    if bucket is not None and bucket not in LOAN_BUCKETS:
        raise ValidationFailed(
            f"unknown bucket {bucket!r}", code="invalid_bucket", details={"allowed": list(LOAN_BUCKETS)}
        )
    if product_code is not None and (not isinstance(product_code, str) or not 1 <= len(product_code) <= 32):
        raise ValidationFailed("product code: 1-32 characters", code="invalid_product_code")
    if loan_id is not None and (not isinstance(loan_id, str) or not _ID_PREFIX.match(loan_id)):
        raise ValidationFailed("loan id: 4-64 letters or digits", code="invalid_loan_id")
    _check_dpd(min_dpd, "min_dpd")
    _check_dpd(max_dpd, "max_dpd")
    if min_dpd is not None and max_dpd is not None and min_dpd > max_dpd:
        raise ValidationFailed("min_dpd is above max_dpd", code="invalid_dpd_range")
    with uow:
        q = select(Loan).where(Loan.tenant_id == _tenant(uow))
        if status is not None:
            q = q.where(Loan.status == status)
        if customer_id is not None:
            q = q.where(Loan.customer_id == customer_id)
        if bucket is not None:
            q = q.where(Loan.bucket == bucket)
        if product_code is not None:
            q = q.where(Loan.product_code == product_code)
        if loan_id is not None:
            # Letters and digits only (checked above), so the pattern needs no escaping.
            q = q.where(Loan.id == loan_id if len(loan_id) >= 26 else Loan.id.like(f"{loan_id}%"))
        if min_dpd is not None:
            q = q.where(Loan.days_past_due >= min_dpd)
        if max_dpd is not None:
            q = q.where(Loan.days_past_due <= max_dpd)
        total = uow.session.scalar(select(func.count()).select_from(q.subquery())) or 0
        rows = uow.session.scalars(
            q.order_by(Loan.created_at.desc(), Loan.id.desc()).limit(limit).offset(offset)
        )
        return LoanPage([loan_view(r) for r in rows], int(total), limit, offset)


def loan_schedule(uow: SqlAlchemyUnitOfWork, loan_id: str) -> ScheduleView:
    """The contract schedule with what has been paid against each installment."""
    with uow:
        loan = _loan(uow, loan_id)
        rows = uow.session.scalars(
            select(Installment)
            .where(Installment.tenant_id == _tenant(uow), Installment.loan_id == loan.id)
            .order_by(Installment.n)
        ).all()
        items = []
        for i in rows:
            total = int(i.principal_minor) + int(i.interest_minor) + int(i.fee_minor)
            paid = int(i.principal_paid_minor) + int(i.interest_paid_minor) + int(i.fee_paid_minor)
            items.append(
                InstallmentView(
                    n=i.n,
                    due_date=i.due_date,
                    accrual_start=i.accrual_start,
                    accrual_end=i.accrual_end,
                    principal_minor=int(i.principal_minor),
                    interest_minor=int(i.interest_minor),
                    fee_minor=int(i.fee_minor),
                    total_minor=total,
                    principal_paid_minor=int(i.principal_paid_minor),
                    interest_paid_minor=int(i.interest_paid_minor),
                    fee_paid_minor=int(i.fee_paid_minor),
                    penalty_paid_minor=int(i.penalty_paid_minor),
                    outstanding_minor=max(total - paid, 0),
                    status=i.status,
                    paid_on=i.paid_on,
                )
            )
        return ScheduleView(
            loan_id=loan.id,
            currency=loan.currency,
            method=loan.method,
            term=loan.term,
            annual_rate=loan.annual_rate,
            apr=_apr(loan.apr),
            principal_minor=int(loan.principal_minor),
            upfront_fee_minor=int(loan.upfront_fee_minor),
            total_interest_minor=sum(i.interest_minor for i in items),
            total_fees_minor=int(loan.upfront_fee_minor) + sum(i.fee_minor for i in items),
            installments=items,
        )


def loan_transactions(uow: SqlAlchemyUnitOfWork, loan_id: str) -> list[TransactionView]:
    """Money movements of a loan, oldest first."""
    with uow:
        loan = _loan(uow, loan_id)
        rows = uow.session.scalars(
            select(LoanTransaction)
            .where(LoanTransaction.tenant_id == _tenant(uow), LoanTransaction.loan_id == loan.id)
            .order_by(LoanTransaction.value_date, LoanTransaction.created_at, LoanTransaction.id)
        )
        return [transaction_view(t) for t in rows]


@dataclass(frozen=True)
class DpdPoint:
    day: date
    days_past_due: int


@dataclass(frozen=True)
class DpdHistory:
    """Days past due of a loan day by day, as its corners: between two points the series is a
    straight line (flat at 0, or rising one day a day), so the points draw it exactly."""

    loan_id: str
    since: date | None
    until: date | None
    points: list[DpdPoint]
    max_days_past_due: int

    def on(self, day: date) -> int:
        """Days past due on ``day`` read off the corners (0 outside the history)."""
        if self.until is None or not self.points or not self.points[0].day <= day <= self.until:
            return 0
        before = [p for p in self.points if p.day <= day][-1]
        after = next((p for p in self.points if p.day > day), None)
        if after is None:
            return before.days_past_due
        rise = (after.days_past_due - before.days_past_due) * (day - before.day).days
        return before.days_past_due + rise // (after.day - before.day).days


def dpd_series(installments: Iterable[tuple[date, date | None]], since: date, until: date) -> list[DpdPoint]:
    """Days past due for each day from ``since`` through ``until``, as the series' corners.

    ``installments`` are ``(due_date, paid_on)``. On day *t* an installment is unpaid when it fell
    due by *t* and was not paid by *t* (``paid_on`` after *t*, or never); days past due is *t* minus
    the oldest unpaid due date - the end of day's rule (``delinquency.days_past_due``), replayed
    over the dates the installments keep. The oldest unpaid due date changes only on a due date or
    a paid-on date, so the series is evaluated there (and the day before) and not on every day."""
    if until < since:
        return []
    rows = sorted(installments, key=lambda row: row[0])

    def dpd(day: date) -> int:
        for due, paid_on in rows:  # by due date: the first unpaid one is the oldest
            if due > day:
                return 0
            if paid_on is None or paid_on > day:
                return (day - due).days
        return 0

    one = timedelta(days=1)
    candidates = {since, until}
    for due, paid_on in rows:
        for day in (due, paid_on):
            if day is not None:
                candidates |= {day - one, day}
    days = sorted(d for d in candidates if since <= d <= until)
    values = [(d, dpd(d)) for d in days]
    corners: list[DpdPoint] = []
    for i, (day, value) in enumerate(values):
        if 0 < i < len(values) - 1:
            (d0, v0), (d1, v1) = values[i - 1], values[i + 1]
            # A point on the straight line between its neighbours adds nothing to the drawing.
            if (value - v0) * (d1 - day).days == (v1 - value) * (day - d0).days and v0 <= value <= v1:
                continue
        corners.append(DpdPoint(day, value))
    return corners


def loan_dpd_history(uow: SqlAlchemyUnitOfWork, loan_id: str, until: date | None = None) -> DpdHistory:
    """The loan's days past due from its start date through ``until`` (default: the last date the
    end of day ran for it, else the business date; never after the loan closed), derived from its
    installments' due dates and paid-on dates. A reversed payment leaves its installment unpaid
    again, and a reschedule replaces the remaining installments: the history is that of the
    schedule as it stands now, which is what the collection team reasons about."""
    if until is not None and not isinstance(until, date):
        raise ValidationFailed("until must be a date", code="invalid_date")
    with uow:
        loan = _loan(uow, loan_id)
        rows = uow.session.execute(
            select(Installment.due_date, Installment.paid_on).where(
                Installment.tenant_id == _tenant(uow), Installment.loan_id == loan.id
            )
        ).all()
        end = until or max(d for d in (loan.accrued_through, uow.clock.today()) if d is not None)
        if loan.closed_on is not None:
            end = min(end, loan.closed_on)
        if loan.start_date is None or end < loan.start_date:  # not disbursed yet
            return DpdHistory(loan.id, loan.start_date, None, [], 0)
        points = dpd_series([(r.due_date, r.paid_on) for r in rows], loan.start_date, end)
        return DpdHistory(
            loan_id=loan.id,
            since=loan.start_date,
            until=end,
            points=points,
            max_days_past_due=max((p.days_past_due for p in points), default=0),
        )


# -- the payment channel --------------------------------------------------------------------------------


def channel_file(uow: SqlAlchemyUnitOfWork, business_date: date) -> str:
    """The payment channel's CSV of one day's payouts (what ``ReconcileChannelFile`` takes)."""
    _tenant(uow)
    return get_channel().reconciliation_file(uow, business_date)


# -- reconciliation -------------------------------------------------------------------------------------

#: ADR 0005's table: sub-ledger column -> GL control account. Written-off loans are a memo pair, so
#: both sides are compared with the column.
RECONCILED = (
    ("principal_outstanding", Loan.principal_outstanding_minor, ledger.LOAN_PRINCIPAL),
    ("interest_receivable", Loan.interest_receivable_minor, ledger.INTEREST_RECEIVABLE),
    ("penalty_receivable", Loan.penalty_receivable_minor, ledger.PENALTY_RECEIVABLE),
    ("fee_receivable", Loan.fee_receivable_minor, ledger.FEE_RECEIVABLE),
    ("credit_balance", Loan.credit_balance_minor, ledger.BORROWER_OVERPAYMENTS),
    ("written_off", Loan.written_off_minor, ledger.WRITTEN_OFF_LOANS),
    ("written_off", Loan.written_off_minor, ledger.WRITTEN_OFF_LOANS_CONTRA),
)


def reconcile(uow: SqlAlchemyUnitOfWork, currency: str = "CNY") -> ReconciliationReport:
    """Sums of the loan sub-ledger columns (one aggregate SELECT) against the GL control accounts'
    balances as of the latest posted value date, with the differences (sub-ledger - GL)."""
    tid = _tenant(uow)
    if (
        not isinstance(currency, str)
        or len(currency) != 3
        or not currency.isalpha()
        or not currency.isupper()
    ):
        raise ValidationFailed("currency: three upper-case letters (ISO 4217)", code="invalid_currency")
    columns = {name: col for name, col, _ in RECONCILED}
    with uow:
        sums = uow.session.execute(
            select(*(func.coalesce(func.sum(col), 0).label(name) for name, col in columns.items())).where(
                Loan.tenant_id == tid, Loan.currency == currency
            )
        ).one()
    sub_ledger = {name: int(getattr(sums, name)) for name in columns}
    latest = ledger.list_entries(uow, limit=1).entries
    as_of = latest[0].value_date if latest else uow.clock.today()
    gl = {line.account_code: line.balance_minor for line in ledger.trial_balance(uow, as_of, currency).lines}
    lines = [
        ReconciliationLine(
            column=name,
            account_code=code,
            sub_ledger_minor=sub_ledger[name],
            gl_minor=gl.get(code, 0),
            difference_minor=sub_ledger[name] - gl.get(code, 0),
        )
        for name, _, code in RECONCILED
    ]
    return ReconciliationReport(currency=currency, as_of=as_of, lines=lines)
