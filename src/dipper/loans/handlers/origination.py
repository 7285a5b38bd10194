"""Handlers of origination: credit lines, offers, loan creation, disbursement, closing, and the
payment channel's reconciliation.

Reads of other modules (the customer, the bank's APR ceiling, the published product) go through
their queries on a *separate* unit of work and always before this handler's own transaction
begins: their queries open and close their own session, and on SQLite every transaction takes the
write lock up front, so a read inside our transaction would wait for ourselves.

Postings go through ``accounting.queries.post_within`` in the same transaction as the loan change,
so the sub-ledger and the GL commit together or not at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError

from dipper.access import queries as access
from dipper.accounting import queries as ledger
from dipper.accounting.commands import PostingLine, PostJournalEntry
from dipper.identity import queries as identity
from dipper.kernel.calendar import RollConvention
from dipper.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from dipper.kernel.money import Currency, Money
from dipper.kernel.rates import Rate
from dipper.kernel.rounding import RoundingRule
from dipper.loans import commands, events
from dipper.loans.adapters.accounts import CreditLine, Installment, Loan, LoanTransaction
from dipper.loans.adapters.channel import DISBURSEMENT, Payout, get_channel
from dipper.loans.domain import origination as rules
from dipper.loans.domain.apr import DEFAULT_APR_CEILING, annual_percentage_rate, check_apr_ceiling
from dipper.loans.domain.product import FeeKind, PeriodicFeeKind, ProductTerms
from dipper.loans.domain.schedule import Schedule, ScheduleTerms, add_months, build_schedule
from dipper.loans.domain.terms import RepaymentMethod
from dipper.loans.queries import loans as views
from dipper.loans.queries import products as product_queries
from dipper.persistence.uow import SqlAlchemyUnitOfWork
from dipper.reference.calendars import china_mainland

__all__ = ["COMMAND_HANDLERS", "EVENT_HANDLERS", "refresh_line_usage"]

_KEY = re.compile(ledger.CLIENT_KEY_PATTERN)
MAX_CHANNEL_FILE = 5_000_000  # characters; a day's file of 100k payouts fits comfortably
#: Loans in these states hold nothing on their line any more.
_RELEASED = ("closed",)


# -- plumbing -------------------------------------------------------------------------------------------


def _tenant(uow: SqlAlchemyUnitOfWork, cmd: Any) -> str:
    # The unit of work's bank scopes every query; a command naming another bank is a wiring bug.
    if uow.tenant_id is None or uow.tenant_id != cmd.tenant_id:
        raise PermissionDenied("the command's bank is not the caller's bank", code="tenant_mismatch")
    return uow.tenant_id


def _side(uow: SqlAlchemyUnitOfWork) -> SqlAlchemyUnitOfWork:
    """A separate unit of work for other modules' queries (see the module docstring)."""
    assert uow.tenant_id is not None
    return uow.for_tenant(uow.tenant_id)


def _check_key(key: object) -> str:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValidationFailed(
            "idempotency key: 1-128 printable ASCII characters without spaces", code="invalid_idempotency_key"
        )
    return key


def _note_reason(uow: SqlAlchemyUnitOfWork, reason: str) -> None:
    # Audit entries store digests, not values: the action text is where a reviewer reads why.
    if reason:
        action = uow.session.info.get("action") or ""
        uow.session.info["action"] = f"{action} | reason: {reason}"[:200]


def _line_for_update(uow: SqlAlchemyUnitOfWork, tenant_id: str, credit_line_id: str) -> CreditLine:
    # Row lock: two drawdowns on one line must see each other's usage.
    line = uow.session.scalar(
        select(CreditLine)
        .where(CreditLine.tenant_id == tenant_id, CreditLine.id == credit_line_id)
        .with_for_update()
    )
    if line is None:
        raise NotFound("no such credit line", code="credit_line_not_found")
    return line


def _loan_for_update(uow: SqlAlchemyUnitOfWork, tenant_id: str, loan_id: str) -> Loan:
    loan = uow.session.scalar(
        select(Loan).where(Loan.tenant_id == tenant_id, Loan.id == loan_id).with_for_update()
    )
    if loan is None:
        raise NotFound("no such loan", code="loan_not_found")
    return loan


def _line_state(line: CreditLine) -> rules.LineState:
    return rules.LineState(
        status=line.status,
        currency=line.currency,
        limit_minor=int(line.limit_minor),
        used_minor=int(line.used_minor),
        expires_on=line.expires_on,
    )


def refresh_line_usage(uow: SqlAlchemyUnitOfWork, line_ids: Iterable[str | None]) -> None:
    """Recompute ``used_minor`` of the given lines in one UPDATE: the principal outstanding of their
    loans, a pending (not yet paid out) loan counting with its full amount so it keeps its room.
    Runs inside the caller's transaction; the caller commits."""
    ids = sorted({i for i in line_ids if i})
    if not ids:
        return
    tid = uow.tenant_id
    used = (
        select(
            func.coalesce(
                func.sum(
                    case(
                        (Loan.status == rules.LoanStatus.PENDING, Loan.principal_minor),
                        else_=Loan.principal_outstanding_minor,
                    )
                ),
                0,
            )
        )
        .where(Loan.tenant_id == tid, Loan.credit_line_id == CreditLine.id, Loan.status.not_in(_RELEASED))
        .correlate(CreditLine)
        .scalar_subquery()
    )
    uow.session.execute(
        update(CreditLine)
        .where(CreditLine.tenant_id == tid, CreditLine.id.in_(ids))
        .values(used_minor=used)
        .execution_options(synchronize_session=False)
    )
    # The UPDATE bypassed the identity map: make loaded lines read the new figure.
    for obj in list(uow.session.identity_map.values()):
        if isinstance(obj, CreditLine) and obj.id in ids:
            uow.session.expire(obj, ["used_minor"])


# -- credit lines ---------------------------------------------------------------------------------------


def approve_credit_line(cmd: commands.ApproveCreditLine, uow: SqlAlchemyUnitOfWork) -> str:
    """授信: a limit for one customer under one product; returns the line id."""
    tid = _tenant(uow, cmd)
    limit = rules.check_amount(cmd.limit_minor, field_name="limit_minor")
    reason = rules.check_reason(cmd.reason, required=False)
    currency = Currency.of(cmd.currency).code if isinstance(cmd.currency, str) else ""
    if not currency:
        raise ValidationFailed("currency: an ISO 4217 code", code="unknown_currency")
    rules.check_expiry(cmd.expires_on, uow.clock.today())
    identity.get_customer(_side(uow), cmd.customer_id)
    version = product_queries.published_version(_side(uow), cmd.product_code, uow.clock.today())
    if version is not None:
        # A line is drawn by loans of its product: its limit and currency must fit the product.
        terms = product_queries.product_terms(version)
        if currency != terms.currency:
            raise ValidationFailed(
                "the line's currency is not the product's",
                code="currency_mismatch",
                details={"line": currency, "product": terms.currency},
            )
        if not terms.allows_amount(limit):
            raise ValidationFailed(
                "the limit is outside the product's amount range",
                code="limit_out_of_range",
                details={"min": terms.min_amount_minor, "max": terms.max_amount_minor},
            )
    with uow:
        _note_reason(uow, reason)
        line = CreditLine(
            customer_id=cmd.customer_id,
            product_code=cmd.product_code,
            currency=currency,
            limit_minor=limit,
            used_minor=0,
            expires_on=cmd.expires_on,
            status=rules.LineStatus.ACTIVE,
        )
        uow.session.add(line)
        uow.session.flush()
        uow.emit(
            events.CreditLineApproved(
                tenant_id=tid,
                credit_line_id=line.id,
                customer_id=line.customer_id,
                product_code=line.product_code,
                currency=currency,
                limit_minor=limit,
                expires_on=cmd.expires_on.isoformat(),
                reason=reason,
            )
        )
        uow.commit()
        return line.id


def change_credit_limit(cmd: commands.ChangeCreditLimit, uow: SqlAlchemyUnitOfWork) -> views.CreditLineView:
    tid = _tenant(uow, cmd)
    limit = rules.check_amount(cmd.limit_minor, field_name="limit_minor")
    reason = rules.check_reason(cmd.reason)
    with uow:
        _note_reason(uow, reason)
        line = _line_for_update(uow, tid, cmd.credit_line_id)
        rules.check_line_transition(line.status, "change_limit")
        refresh_line_usage(uow, [line.id])
        rules.check_new_limit(limit, int(line.used_minor))
        old = int(line.limit_minor)
        line.limit_minor = limit
        uow.emit(
            events.CreditLimitChanged(
                tenant_id=tid,
                credit_line_id=line.id,
                old_limit_minor=old,
                new_limit_minor=limit,
                reason=reason,
            )
        )
        uow.commit()
        return views.line_view(line)


def _set_line_status(
    cmd: commands.FreezeCreditLine | commands.UnfreezeCreditLine, uow: SqlAlchemyUnitOfWork, action: str
) -> views.CreditLineView:
    tid = _tenant(uow, cmd)
    reason = rules.check_reason(cmd.reason)
    with uow:
        _note_reason(uow, reason)
        line = _line_for_update(uow, tid, cmd.credit_line_id)
        after = rules.check_line_transition(line.status, action)
        assert after is not None
        line.status = after
        event_type = events.CreditLineFrozen if action == "freeze" else events.CreditLineUnfrozen
        uow.emit(event_type(tenant_id=tid, credit_line_id=line.id, reason=reason))
        uow.commit()
        return views.line_view(line)


def freeze_credit_line(cmd: commands.FreezeCreditLine, uow: SqlAlchemyUnitOfWork) -> views.CreditLineView:
    return _set_line_status(cmd, uow, "freeze")


def unfreeze_credit_line(cmd: commands.UnfreezeCreditLine, uow: SqlAlchemyUnitOfWork) -> views.CreditLineView:
    return _set_line_status(cmd, uow, "unfreeze")


# -- offers ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Priced:
    offer: views.OfferView
    schedule: Schedule | None  # None for a revolving drawdown: it has no installments
    terms: ProductTerms
    rate_e9: int


def _fee_rule(terms: ProductTerms) -> RoundingRule:
    # Whole-yuan rounding is for level installment amounts; fees round half-up to the fen then
    # (the schedule rounds its fees the same way).
    return RoundingRule.HALF_UP if terms.rounding is RoundingRule.WHOLE_UNIT_UP else terms.rounding


def _fees(terms: ProductTerms, principal: Money) -> dict[str, Any]:
    fees: dict[str, Any] = {}
    if terms.upfront_fee_kind is FeeKind.FIXED and terms.upfront_fee_minor:
        fees["upfront_fee"] = Money(terms.upfront_fee_minor, principal.currency)
    elif terms.upfront_fee_kind is FeeKind.RATE and terms.upfront_fee_rate is not None:
        fees["upfront_fee"] = principal.multiply(terms.upfront_fee_rate, _fee_rule(terms))
    if terms.periodic_fee_kind is PeriodicFeeKind.FIXED_PER_INSTALLMENT and terms.periodic_fee_minor:
        fees["periodic_fee"] = Money(terms.periodic_fee_minor, principal.currency)
    elif terms.periodic_fee_kind is PeriodicFeeKind.MONTHLY_RATE and terms.periodic_fee_rate is not None:
        fees["monthly_fee_rate"] = terms.periodic_fee_rate
    return fees


def _check_offer_input(
    *,
    amount_minor: object,
    term: object,
    method: object,
    annual_rate: object,
    start: object,
    first_due: object,
) -> None:
    rules.check_amount(amount_minor)
    if isinstance(term, bool) or not isinstance(term, int):
        raise ValidationFailed("term is a whole number of months", code="invalid_term")
    if not isinstance(method, str):
        raise ValidationFailed("method is a repayment method name", code="unknown_repayment_method")
    if isinstance(annual_rate, bool) or not isinstance(annual_rate, Decimal) or not annual_rate.is_finite():
        raise ValidationFailed("annual_rate is a decimal fraction, e.g. 0.0435", code="invalid_rate")
    for name, value in (("start", start), ("first_due", first_due)):
        if value is not None and not isinstance(value, date):
            raise ValidationFailed(f"{name} is a date", code="invalid_date")


def _price(
    uow: SqlAlchemyUnitOfWork,
    *,
    customer_id: str,
    product_code: str,
    amount_minor: int,
    term: int,
    method: str,
    annual_rate: Decimal,
    start: date,
    first_due: date | None,
) -> _Priced:
    """Validate an offer against the product version published on ``start``, build its schedule and
    disclose its APR under the bank's ceiling. Reads only through separate units of work."""
    _check_offer_input(
        amount_minor=amount_minor,
        term=term,
        method=method,
        annual_rate=annual_rate,
        start=start,
        first_due=first_due,
    )
    rules.check_start(start, uow.clock.today())
    e9 = rules.rate_e9(annual_rate)
    identity.get_customer(_side(uow), customer_id)
    version = product_queries.published_version(_side(uow), product_code, start)
    if version is None:
        raise NotFound(
            "no product of this code is published for that date",
            code="product_not_found",
            details={"product_code": product_code, "on": start.isoformat()},
        )
    terms = product_queries.product_terms(version)
    rules.check_offer_ranges(
        amount_minor=amount_minor,
        term=term,
        method=method,
        annual_rate=annual_rate,
        min_amount_minor=terms.min_amount_minor,
        max_amount_minor=terms.max_amount_minor,
        min_term=terms.min_term_months,
        max_term=terms.max_term_months,
        allowed_terms=terms.allowed_terms,
        methods=[m.value for m in terms.repayment_methods],
        min_rate=terms.min_rate,
        max_rate=terms.max_rate,
    )
    principal = Money(amount_minor, terms.currency)
    settings = access.get_tenant(_side(uow))["settings"]
    ceiling = Decimal(str(settings.get("apr_ceiling", DEFAULT_APR_CEILING)))
    if method == RepaymentMethod.REVOLVING:
        return _price_drawdown(
            customer_id=customer_id,
            product_code=product_code,
            version=version,
            terms=terms,
            principal=principal,
            term=term,
            annual_rate=annual_rate,
            start=start,
            first_due=first_due,
            ceiling=ceiling,
            rate_e9=e9,
        )
    # Regular periods earn 月利率 = annual / 12 (the schedule's monthly convention, as Chinese bank
    # calculators do); the product's day count is the basis of daily accrual and penalty interest.
    schedule = build_schedule(
        ScheduleTerms(
            principal=principal,
            annual_rate=Rate.annual(annual_rate),
            term=term,
            method=RepaymentMethod(method),  # one of the product's methods: checked above
            start=start,
            first_due=first_due,
            rounding=terms.rounding,
            calendar=None if terms.holiday_roll is RollConvention.UNADJUSTED else china_mainland(),
            roll=terms.holiday_roll,
            **_fees(terms, principal),
        )
    )
    check_apr_ceiling(schedule.apr, ceiling)
    upfront = schedule.terms.upfront_fee.minor if schedule.terms.upfront_fee else 0
    installments = [
        views.OfferInstallment(
            n=i.n,
            due_date=i.due_date,
            accrual_start=i.accrual_start,
            accrual_end=i.accrual_end,
            principal_minor=i.principal.minor,
            interest_minor=i.interest.minor,
            fee_minor=i.fee.minor,
            total_minor=i.total.minor,
            balance_minor=i.balance.minor,
        )
        for i in schedule.installments
    ]
    figures: dict[str, Any] = {
        "customer_id": customer_id,
        "product_code": product_code,
        "product_version_id": version["id"],
        "terms_digest": version["terms_digest"],
        "currency": terms.currency,
        "amount_minor": amount_minor,
        "term": term,
        "method": method,
        "annual_rate": annual_rate,
        "start": start,
        "first_due": first_due,
        "apr": schedule.apr,
        "upfront_fee_minor": upfront,
        "installments": [
            [i.n, i.due_date, i.principal_minor, i.interest_minor, i.fee_minor] for i in installments
        ],
    }
    offer = views.OfferView(
        customer_id=customer_id,
        product_code=product_code,
        product_version_id=version["id"],
        currency=terms.currency,
        amount_minor=amount_minor,
        term=term,
        method=method,
        annual_rate=annual_rate,
        start=start,
        first_due=first_due,
        maturity_date=schedule.installments[-1].due_date,
        apr=schedule.apr,
        apr_ceiling=ceiling,
        upfront_fee_minor=upfront,
        paid_out_minor=amount_minor - upfront,
        total_interest_minor=schedule.total_interest.minor,
        total_fees_minor=schedule.total_fees.minor,
        total_repayment_minor=sum(i.total_minor for i in installments),
        day_count_basis=terms.day_count.days_in_year,
        rounding=terms.rounding.value,
        installments=installments,
        offer_digest=rules.content_digest(figures),
    )
    return _Priced(offer=offer, schedule=schedule, terms=terms, rate_e9=e9)


def _price_drawdown(
    *,
    customer_id: str,
    product_code: str,
    version: dict[str, Any],
    terms: ProductTerms,
    principal: Money,
    term: int,
    annual_rate: Decimal,
    start: date,
    first_due: date | None,
    ceiling: Decimal,
    rate_e9: int,
) -> _Priced:
    """A drawdown on a revolving line (随借随还): no installments; interest accrues daily on the
    drawn balance (the end of day), anything may be repaid at any time, and all is due at maturity
    (``term`` months after the drawdown). The APR is disclosed for the costliest use the contract
    allows - the whole amount kept to maturity, every fee included - so it is an upper bound."""
    if first_due is not None:
        raise ValidationFailed(
            "a revolving drawdown has no due dates before its maturity",
            code="invalid_first_due",
            details={"method": RepaymentMethod.REVOLVING.value},
        )
    maturity = add_months(start, term)
    basis = terms.day_count.days_in_year
    # Drawdown day counted, repayment day not: the days from start to maturity.
    days = (maturity - start).days
    rule = RoundingRule.HALF_UP if terms.rounding is RoundingRule.WHOLE_UNIT_UP else terms.rounding
    interest = principal.multiply(annual_rate * days / basis, rule)
    upfront = _fees(terms, principal).get("upfront_fee") or Money.zero(principal.currency)
    apr = annual_percentage_rate([(start, principal - upfront), (maturity, -(principal + interest))])
    check_apr_ceiling(apr, ceiling)
    figures: dict[str, Any] = {
        "customer_id": customer_id,
        "product_code": product_code,
        "product_version_id": version["id"],
        "terms_digest": version["terms_digest"],
        "currency": terms.currency,
        "amount_minor": principal.minor,
        "term": term,
        "method": RepaymentMethod.REVOLVING.value,
        "annual_rate": annual_rate,
        "start": start,
        "first_due": None,
        "apr": apr,
        "upfront_fee_minor": upfront.minor,
        "maturity_date": maturity,
    }
    offer = views.OfferView(
        customer_id=customer_id,
        product_code=product_code,
        product_version_id=version["id"],
        currency=terms.currency,
        amount_minor=principal.minor,
        term=term,
        method=RepaymentMethod.REVOLVING.value,
        annual_rate=annual_rate,
        start=start,
        first_due=None,
        maturity_date=maturity,
        apr=apr,
        apr_ceiling=ceiling,
        upfront_fee_minor=upfront.minor,
        paid_out_minor=principal.minor - upfront.minor,
        total_interest_minor=interest.minor,
        total_fees_minor=upfront.minor,
        total_repayment_minor=principal.minor + interest.minor,
        day_count_basis=basis,
        rounding=terms.rounding.value,
        installments=[],
        offer_digest=rules.content_digest(figures),
    )
    return _Priced(offer=offer, schedule=None, terms=terms, rate_e9=rate_e9)


def make_offer(cmd: commands.MakeOffer, uow: SqlAlchemyUnitOfWork) -> views.OfferView:
    """A priced offer with its schedule and APR; nothing is stored."""
    _tenant(uow, cmd)
    return _price(
        uow,
        customer_id=cmd.customer_id,
        product_code=cmd.product_code,
        amount_minor=cmd.amount_minor,
        term=cmd.term,
        method=cmd.method,
        annual_rate=cmd.annual_rate,
        start=cmd.start,
        first_due=cmd.first_due,
    ).offer


# -- loans ----------------------------------------------------------------------------------------------


def _create_digest(cmd: commands.CreateLoan) -> str:
    return rules.content_digest(
        {
            "customer_id": cmd.customer_id,
            "product_code": cmd.product_code,
            "amount_minor": cmd.amount_minor,
            "term": cmd.term,
            "method": cmd.method,
            "annual_rate": cmd.annual_rate,
            "start": cmd.start,
            "first_due": cmd.first_due,
            "credit_line_id": cmd.credit_line_id,
            "offer_digest": cmd.offer_digest,
        }
    )


def _replayed_loan(uow: SqlAlchemyUnitOfWork, key: str, digest: str) -> str | None:
    existing = uow.session.execute(
        select(Loan.id, Loan.content_digest).where(
            Loan.tenant_id == uow.tenant_id, Loan.idempotency_key == key
        )
    ).first()
    if existing is None:
        return None
    rules.check_idempotent_replay(stored_digest=existing.content_digest or "", digest=digest, key=key)
    return str(existing.id)


def _book_loan(
    uow: SqlAlchemyUnitOfWork, tid: str, cmd: commands.CreateLoan, *, priced: _Priced, key: str, digest: str
) -> str:
    """Write the loan, its installments and the line's usage in the open transaction (no commit)."""
    offer, terms = priced.offer, priced.terms
    if cmd.credit_line_id is not None:
        line = _line_for_update(uow, tid, cmd.credit_line_id)
        if line.customer_id != cmd.customer_id or line.product_code != cmd.product_code:
            raise ValidationFailed(
                "the credit line belongs to another customer or product",
                code="credit_line_mismatch",
            )
        refresh_line_usage(uow, [line.id])
        rules.check_drawdown(
            _line_state(line), amount_minor=offer.amount_minor, currency=offer.currency, on=offer.start
        )
    loan = Loan(
        customer_id=cmd.customer_id,
        credit_line_id=cmd.credit_line_id,
        product_code=cmd.product_code,
        product_version_id=offer.product_version_id,
        currency=offer.currency,
        method=offer.method,
        term=offer.term,
        annual_rate=offer.annual_rate,
        annual_rate_e9=priced.rate_e9,
        penalty_rate_e9=rules.penalty_rate_e9(priced.rate_e9, terms.penalty_uplift),
        compound_overdue_interest=terms.compound_overdue_interest,
        day_count_basis=terms.day_count.days_in_year,
        rounding=terms.rounding.value,
        grace_days=terms.grace_days,
        allocation={
            "order": [p.value for p in terms.allocation_order],
            "overdue_first": terms.overdue_first,
        },
        disburse_to=rules.DisburseTo.BORROWER,
        principal_minor=offer.amount_minor,
        upfront_fee_minor=offer.upfront_fee_minor,
        apr=offer.apr,
        start_date=offer.start,
        due_day=(cmd.first_due or offer.start).day,
        maturity_date=offer.maturity_date,
        status=rules.LoanStatus.PENDING,
        idempotency_key=key,
        content_digest=digest,
    )
    uow.session.add(loan)
    uow.session.flush()
    uow.session.add_all(
        Installment(
            loan_id=loan.id,
            n=i.n,
            due_date=i.due_date,
            accrual_start=i.accrual_start,
            accrual_end=i.accrual_end,
            principal_minor=i.principal_minor,
            interest_minor=i.interest_minor,
            fee_minor=i.fee_minor,
            status="scheduled",
        )
        for i in offer.installments
    )
    refresh_line_usage(uow, [loan.credit_line_id])
    uow.emit(
        events.LoanCreated(
            tenant_id=tid,
            loan_id=loan.id,
            customer_id=loan.customer_id,
            credit_line_id=loan.credit_line_id,
            product_code=loan.product_code,
            currency=loan.currency,
            principal_minor=offer.amount_minor,
            apr=str(offer.apr),
        )
    )
    return loan.id


def create_loan(cmd: commands.CreateLoan, uow: SqlAlchemyUnitOfWork) -> str:
    """Book an accepted offer as a pending loan with its installments; returns the loan id."""
    tid = _tenant(uow, cmd)
    key = _check_key(cmd.idempotency_key)
    _check_offer_input(
        amount_minor=cmd.amount_minor,
        term=cmd.term,
        method=cmd.method,
        annual_rate=cmd.annual_rate,
        start=cmd.start,
        first_due=cmd.first_due,
    )
    digest = _create_digest(cmd)
    with uow:
        replay = _replayed_loan(uow, key, digest)
    if replay is not None:
        return replay
    priced = _price(
        uow,
        customer_id=cmd.customer_id,
        product_code=cmd.product_code,
        amount_minor=cmd.amount_minor,
        term=cmd.term,
        method=cmd.method,
        annual_rate=cmd.annual_rate,
        start=cmd.start,
        first_due=cmd.first_due,
    )
    offer = priced.offer
    if cmd.offer_digest is not None and cmd.offer_digest != offer.offer_digest:
        raise Conflict(
            "the offer changed since it was made (product, rates or dates): make a new offer",
            code="offer_changed",
            details={"offer_digest": offer.offer_digest},
        )
    with uow:
        try:
            loan_id = _book_loan(uow, tid, cmd, priced=priced, key=key, digest=digest)
            uow.commit()
        except IntegrityError:
            # A concurrent request with the same key committed first: answer with its loan.
            uow.rollback()
            replay = _replayed_loan(uow, key, digest)
            if replay is None:
                raise
            return replay
    return loan_id


def _disbursement_view(t: LoanTransaction, loan: Loan, *, replayed: bool) -> views.DisbursementView:
    allocation = dict(t.allocation or {})
    return views.DisbursementView(
        loan_id=t.loan_id,
        transaction_id=t.id,
        journal_entry_id=t.journal_entry_id or "",
        value_date=t.value_date,
        currency=t.currency,
        principal_minor=int(t.amount_minor),
        fee_minor=int(allocation.get("fee", 0)),
        paid_out_minor=int(t.channel_amount_minor or 0),
        disburse_to=loan.disburse_to,
        merchant_id=loan.merchant_id,
        channel_reference=t.channel_reference or "",
        status=loan.status,
        replayed=replayed,
    )


def _replayed_disbursement(uow: SqlAlchemyUnitOfWork, key: str, digest: str) -> views.DisbursementView | None:
    t = uow.session.scalar(
        select(LoanTransaction).where(
            LoanTransaction.tenant_id == uow.tenant_id, LoanTransaction.idempotency_key == key
        )
    )
    if t is None:
        return None
    rules.check_idempotent_replay(stored_digest=t.content_digest, digest=digest, key=key)
    loan = uow.session.scalar(select(Loan).where(Loan.tenant_id == uow.tenant_id, Loan.id == t.loan_id))
    assert loan is not None
    return _disbursement_view(t, loan, replayed=True)


def _pay_out(
    uow: SqlAlchemyUnitOfWork,
    tid: str,
    loan_id: str,
    *,
    key: str,
    digest: str,
    target: rules.DisburseTo,
    merchant_id: str | None,
    today: date,
) -> views.DisbursementView:
    """Post, pay out and activate in the open transaction (no commit)."""
    loan = _loan_for_update(uow, tid, loan_id)
    if loan.status != rules.LoanStatus.PENDING:
        raise Conflict(
            "only a pending loan can be disbursed",
            code="loan_not_pending",
            details={"status": loan.status},
        )
    if loan.start_date != today:
        # The schedule and APR were fixed for the start date; paying out on another day would
        # change both, so the borrower needs a new offer.
        raise Conflict(
            "a loan is disbursed on its start date",
            code="disbursement_date_mismatch",
            details={"start_date": loan.start_date.isoformat() if loan.start_date else None},
        )
    if loan.credit_line_id is not None:
        line = _line_for_update(uow, tid, loan.credit_line_id)
        # The loan already holds its room on the line; the line itself must still be usable.
        rules.check_drawdown(_line_state(line), amount_minor=0, currency=loan.currency, on=today)
    principal, fee = int(loan.principal_minor), int(loan.upfront_fee_minor)
    paid_out = principal - fee
    lines = [
        PostingLine(account_code=ledger.LOAN_PRINCIPAL, currency=loan.currency, debit_minor=principal),
        PostingLine(
            account_code=ledger.CLEARING, currency=loan.currency, credit_minor=paid_out, memo="payout"
        ),
    ]
    if fee:
        lines.append(
            PostingLine(
                account_code=ledger.FEE_INCOME,
                currency=loan.currency,
                credit_minor=fee,
                memo="upfront fee",
            )
        )
    posting = ledger.post_within(
        uow,
        PostJournalEntry(
            tenant_id=tid,
            client_key=f"loan:{loan.id}:disbursement",
            value_date=today,
            description=f"放款 Disbursement of loan {loan.id}",
            lines=tuple(lines),
            source="loans.disbursement",
        ),
    )
    # Last before commit, so that nothing we could still refuse is paid out; the reference is
    # derived from the key, so a retry after a failed commit is the same payout to the channel.
    receipt = get_channel().pay_out(
        Payout(
            tenant_id=tid,
            loan_id=loan.id,
            amount_minor=paid_out,
            currency=loan.currency,
            to=target.value,
            merchant_id=merchant_id,
            value_date=today,
            idempotency_key=key,
        )
    )
    t = LoanTransaction(
        loan_id=loan.id,
        kind=DISBURSEMENT,
        value_date=today,
        amount_minor=principal,
        currency=loan.currency,
        idempotency_key=key,
        content_digest=digest,
        allocation={"principal": principal, "fee": fee, "paid_out": paid_out},
        journal_entry_id=posting.entry_id,
        channel_reference=receipt.reference,
        channel_amount_minor=paid_out,
        channel_status=rules.ChannelStatus.SENT,
    )
    uow.session.add(t)
    loan.status = rules.LoanStatus.ACTIVE
    loan.disburse_to = target.value
    loan.merchant_id = merchant_id
    loan.principal_outstanding_minor = principal
    loan.start_date = today
    # The drawdown day earns interest (ADR 0005): accrual starts from the day before.
    loan.accrued_through = today - timedelta(days=1)
    uow.session.flush()
    refresh_line_usage(uow, [loan.credit_line_id])
    uow.emit(
        events.LoanDisbursed(
            tenant_id=tid,
            loan_id=loan.id,
            credit_line_id=loan.credit_line_id,
            currency=loan.currency,
            principal_minor=principal,
            fee_minor=fee,
            paid_out_minor=paid_out,
            value_date=today.isoformat(),
            channel_reference=receipt.reference,
            journal_entry_id=posting.entry_id,
        )
    )
    return _disbursement_view(t, loan, replayed=False)


def disburse_loan(cmd: commands.DisburseLoan, uow: SqlAlchemyUnitOfWork) -> views.DisbursementView:
    """放款 on the loan's start date: Dr 1303 principal / Cr 3001 clearing (what the channel pays
    out) / Cr 6021 the upfront fee deducted at source; the loan becomes active."""
    tid = _tenant(uow, cmd)
    key = _check_key(cmd.idempotency_key)
    target, merchant_id = rules.check_disburse_target(cmd.to, cmd.merchant_id)
    digest = rules.content_digest(
        {"kind": DISBURSEMENT, "loan_id": cmd.loan_id, "to": target.value, "merchant_id": merchant_id}
    )
    today = uow.clock.today()
    with uow:
        replay = _replayed_disbursement(uow, key, digest)
        if replay is not None:
            return replay
        try:
            view = _pay_out(
                uow,
                tid,
                cmd.loan_id,
                key=key,
                digest=digest,
                target=target,
                merchant_id=merchant_id,
                today=today,
            )
            uow.commit()
        except IntegrityError:
            # A concurrent retry with the same key committed first: answer with its result.
            uow.rollback()
            replay = _replayed_disbursement(uow, key, digest)
            if replay is None:
                raise
            return replay
        return view


def close_loan(cmd: commands.CloseLoan, uow: SqlAlchemyUnitOfWork) -> views.LoanView:
    """结清: every balance is zero. A pending loan (never paid out) closes too, releasing its line."""
    tid = _tenant(uow, cmd)
    today = uow.clock.today()
    with uow:
        loan = _loan_for_update(uow, tid, cmd.loan_id)
        rules.check_settled(
            loan.status,
            rules.LoanBalances(
                principal_outstanding_minor=int(loan.principal_outstanding_minor),
                interest_receivable_minor=int(loan.interest_receivable_minor),
                penalty_receivable_minor=int(loan.penalty_receivable_minor),
                fee_receivable_minor=int(loan.fee_receivable_minor),
                suspended_interest_minor=int(loan.suspended_interest_minor),
                credit_balance_minor=int(loan.credit_balance_minor),
            ),
        )
        loan.status = rules.LoanStatus.CLOSED
        loan.closed_on = today
        uow.session.flush()
        refresh_line_usage(uow, [loan.credit_line_id])
        uow.emit(
            events.LoanClosed(
                tenant_id=tid,
                loan_id=loan.id,
                credit_line_id=loan.credit_line_id,
                closed_on=today.isoformat(),
            )
        )
        uow.commit()
        return views.loan_view(loan)


# -- the payment channel --------------------------------------------------------------------------------


def _settlement_key(business_date: date, first: bool, references: Sequence[str]) -> str:
    # The first settlement of a day is ``channel:<date>``; a later file confirming payouts the
    # first left open (after a mismatch was cleared) gets its own key, derived from what it settles.
    if first:
        return f"channel:{business_date.isoformat()}"
    return f"channel:{business_date.isoformat()}:{rules.content_digest({'refs': sorted(references)})[:16]}"


def reconcile_channel_file(
    cmd: commands.ReconcileChannelFile, uow: SqlAlchemyUnitOfWork
) -> views.ChannelReconciliation:
    """Match the channel's file against the day's payouts: confirmed ones settle clearing against the
    bank, the rest are reported and left open (their clearing stays open too).

    A payout is money leaving the bank's account: the disbursement credited 3001 with it, so the
    settlement is Dr 3001 CLEARING / Cr 1011 DUE_FROM_BANKS for the confirmed total, which brings
    clearing back to zero (the opposite direction, Dr 1011 / Cr 3001, settles money coming in)."""
    tid = _tenant(uow, cmd)
    if not isinstance(cmd.csv_text, str) or len(cmd.csv_text) > MAX_CHANNEL_FILE:
        raise ValidationFailed("the channel file is missing or too large", code="invalid_channel_file")
    if cmd.business_date > uow.clock.today():
        raise ValidationFailed("the business date is in the future", code="invalid_business_date")
    reported = rules.parse_channel_file(cmd.csv_text)
    with uow:
        payouts = uow.session.scalars(
            select(LoanTransaction)
            .where(
                LoanTransaction.tenant_id == tid,
                LoanTransaction.kind == DISBURSEMENT,
                LoanTransaction.value_date == cmd.business_date,
                LoanTransaction.channel_reference.is_not(None),
            )
            .with_for_update()
        ).all()
        by_ref = {t.channel_reference: t for t in payouts}
        match = rules.match_payouts(
            [
                rules.ExpectedPayout(
                    t.channel_reference or "", t.loan_id, int(t.channel_amount_minor or 0), t.currency
                )
                for t in payouts
            ],
            reported,
        )
        fresh = [
            p for p in match.matched if by_ref[p.reference].channel_status != rules.ChannelStatus.RECONCILED
        ]
        already = len(match.matched) - len(fresh)
        first = not any(t.channel_status == rules.ChannelStatus.RECONCILED for t in payouts)
        totals: dict[str, int] = {}
        for p in fresh:
            totals[p.currency] = totals.get(p.currency, 0) + p.amount_minor
        entry_ids: list[str] = []
        if fresh:
            lines: list[PostingLine] = []
            for currency, total in sorted(totals.items()):
                lines.append(PostingLine(account_code=ledger.CLEARING, currency=currency, debit_minor=total))
                lines.append(
                    PostingLine(account_code=ledger.DUE_FROM_BANKS, currency=currency, credit_minor=total)
                )
            posting = ledger.post_within(
                uow,
                PostJournalEntry(
                    tenant_id=tid,
                    client_key=_settlement_key(cmd.business_date, first, [p.reference for p in fresh]),
                    value_date=cmd.business_date,
                    description=f"放款通道对账 Payment channel settlement {cmd.business_date.isoformat()}",
                    lines=tuple(lines),
                    source="loans.channel",
                ),
            )
            entry_ids.append(posting.entry_id)
            uow.session.execute(
                update(LoanTransaction)
                .where(
                    LoanTransaction.tenant_id == tid,
                    LoanTransaction.id.in_([by_ref[p.reference].id for p in fresh]),
                )
                .values(channel_status=rules.ChannelStatus.RECONCILED)
                .execution_options(synchronize_session=False)
            )
        uow.emit(
            events.ChannelFileReconciled(
                tenant_id=tid,
                business_date=cmd.business_date.isoformat(),
                matched=len(fresh),
                matched_minor=sum(totals.values()),
                mismatches=len(match.mismatches),
                journal_entry_id=entry_ids[0] if entry_ids else None,
            )
        )
        uow.commit()
    return views.ChannelReconciliation(
        business_date=cmd.business_date,
        matched=len(fresh),
        matched_minor=totals,
        already_reconciled=already,
        mismatches=match.mismatches,
        journal_entry_ids=entry_ids,
    )


# -- events ---------------------------------------------------------------------------------------------


def on_principal_changed(event: events.LoanPrincipalChanged, uow: SqlAlchemyUnitOfWork) -> None:
    """Servicing changed a loan's principal: its line's used amount (and so availability) follows."""
    if event.credit_line_id is None:
        return
    with uow:
        refresh_line_usage(uow, [event.credit_line_id])
        uow.commit()


COMMAND_HANDLERS: dict[type, Any] = {
    commands.ApproveCreditLine: approve_credit_line,
    commands.ChangeCreditLimit: change_credit_limit,
    commands.FreezeCreditLine: freeze_credit_line,
    commands.UnfreezeCreditLine: unfreeze_credit_line,
    commands.MakeOffer: make_offer,
    commands.CreateLoan: create_loan,
    commands.DisburseLoan: disburse_loan,
    commands.CloseLoan: close_loan,
    commands.ReconcileChannelFile: reconcile_channel_file,
}

EVENT_HANDLERS: dict[type, list[Any]] = {
    events.LoanPrincipalChanged: [on_principal_changed],
}
