"""Credit lines (授信): approval, drawdowns against availability, expiry, freezing, limit changes,
the audit trail, and usage restored when servicing reports a principal change."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from tests.integration.loans.test_origination_flow import make_lender, raises

from dipper.access import queries as access
from dipper.kernel.errors import Conflict, NotFound, ValidationFailed
from dipper.loans import commands, events, queries
from dipper.loans.adapters.accounts import Loan


def line_view(lender, line_id):
    return queries.get_credit_line(lender.uow(), line_id)


def test_approve_a_line(bank):
    lender = make_lender(bank)
    line_id = lender.line(limit_minor=3_000_000, reason="授信审批通过")
    line = line_view(lender, line_id)
    assert (line.limit_minor, line.used_minor, line.available_minor) == (3_000_000, 0, 3_000_000)
    assert line.status == "active" and line.customer_id == lender.customer_id
    page = queries.list_credit_lines(lender.uow(), customer_id=lender.customer_id)
    assert [v.id for v in page.lines] == [line_id] and page.total == 1


def test_approval_is_checked(bank):
    lender = make_lender(bank)
    raises(NotFound, "customer_not_found", lender.line, customer_id="01JD0000000000000000000000")
    # Above the product's largest loan, or in another currency than the product's.
    raises(ValidationFailed, "limit_out_of_range", lender.line, limit_minor=5_000_001)
    raises(ValidationFailed, "currency_mismatch", lender.line, currency="USD")
    raises(ValidationFailed, "unknown_currency", lender.line, currency="XXX")
    raises(ValidationFailed, "invalid_expiry", lender.line, expires_on=lender.today - timedelta(days=1))
    raises(ValidationFailed, "invalid_amount", lender.line, limit_minor=0)
    # A product not (yet) published does not bound the line.
    assert lender.line(limit_minor=9_000_000, product_code="NOT-YET")
    assert queries.list_credit_lines(lender.uow(), customer_id=lender.customer_id).total == 1


def test_drawdown_reduces_availability_and_cannot_exceed_it(bank):
    lender = make_lender(bank)
    line_id = lender.line(limit_minor=3_000_000)
    first = lender.create(credit_line_id=line_id, amount_minor=1_000_000)
    # A pending loan holds its room before it is paid out, so two drawdowns cannot both take it.
    assert line_view(lender, line_id).available_minor == 2_000_000
    lender.disburse(first)
    line = line_view(lender, line_id)
    assert (line.used_minor, line.available_minor) == (1_000_000, 2_000_000)
    error = raises(
        Conflict, "credit_limit_exceeded", lender.create, credit_line_id=line_id, amount_minor=2_000_001
    )
    assert error.details["available_minor"] == 2_000_000
    lender.create(credit_line_id=line_id, amount_minor=2_000_000)  # exactly what is left
    assert line_view(lender, line_id).available_minor == 0


def test_a_line_is_drawn_only_by_its_customer_and_product(bank):
    lender = make_lender(bank)
    line_id = lender.line()
    other = lender.customer()
    raises(ValidationFailed, "credit_line_mismatch", lender.create, credit_line_id=line_id, customer_id=other)
    raises(NotFound, "credit_line_not_found", lender.create, credit_line_id="01JD0000000000000000000000")


def test_no_drawdown_after_expiry(bank):
    lender = make_lender(bank)
    line_id = lender.line(expires_on=lender.today)
    tomorrow = lender.today + timedelta(days=1)
    error = raises(Conflict, "credit_line_expired", lender.create, credit_line_id=line_id, start=tomorrow)
    assert error.details["expires_on"] == lender.today.isoformat()
    lender.create(credit_line_id=line_id)  # the last day still counts


def test_a_frozen_line_blocks_drawdown_and_disbursement(bank):
    lender = make_lender(bank)
    line_id = lender.line()
    pending = lender.create(credit_line_id=line_id)
    frozen = lender.handle(commands.FreezeCreditLine, credit_line_id=line_id, reason="风险预警")
    assert frozen.status == "frozen"
    raises(Conflict, "credit_line_frozen", lender.create, credit_line_id=line_id)
    raises(Conflict, "credit_line_frozen", lender.disburse, pending)
    raises(
        Conflict,
        "credit_line_status",
        lender.handle,
        commands.FreezeCreditLine,
        credit_line_id=line_id,
        reason="x",
    )
    raises(
        ValidationFailed,
        "invalid_reason",
        lender.handle,
        commands.UnfreezeCreditLine,
        credit_line_id=line_id,
        reason=" ",
    )
    lender.handle(commands.UnfreezeCreditLine, credit_line_id=line_id, reason="核查无误")
    assert lender.disburse(pending).status == "active"


def test_a_limit_never_goes_below_what_is_used(bank):
    lender = make_lender(bank)
    line_id = lender.line(limit_minor=3_000_000)
    lender.disburse(lender.create(credit_line_id=line_id, amount_minor=1_200_000))
    error = raises(
        Conflict,
        "limit_below_used",
        lender.handle,
        commands.ChangeCreditLimit,
        credit_line_id=line_id,
        limit_minor=1_199_999,
        reason="降额",
    )
    assert error.details == {"limit_minor": 1_199_999, "used_minor": 1_200_000}
    lowered = lender.handle(
        commands.ChangeCreditLimit, credit_line_id=line_id, limit_minor=1_200_000, reason="降额"
    )
    assert (lowered.limit_minor, lowered.available_minor) == (1_200_000, 0)
    raised = lender.handle(
        commands.ChangeCreditLimit, credit_line_id=line_id, limit_minor=4_000_000, reason="提额"
    )
    assert raised.available_minor == 2_800_000
    raises(
        NotFound,
        "credit_line_not_found",
        lender.handle,
        commands.ChangeCreditLimit,
        credit_line_id="01JD0000000000000000000000",
        limit_minor=1,
        reason="x",
    )


def test_every_limit_change_is_audited_with_its_reason(bank):
    lender = make_lender(bank)
    line_id = lender.line(limit_minor=3_000_000, reason="初次授信")
    lender.handle(
        commands.ChangeCreditLimit, credit_line_id=line_id, limit_minor=2_000_000, reason="年审降额"
    )
    lender.handle(commands.FreezeCreditLine, credit_line_id=line_id, reason="逾期预警")
    page = access.audit_log(lender.uow(), entity_type="loans_credit_line", entity_id=line_id)
    by_operation = sorted((e["operation"], e["action"]) for e in page.entries)
    assert [op for op, _ in by_operation] == ["create", "update", "update"]
    actions = " ".join(action for _, action in by_operation)
    for reason in ("初次授信", "年审降额", "逾期预警"):
        assert f"reason: {reason}" in actions
    changed = [e["changed_fields"] for e in page.entries if e["operation"] == "update"]
    assert ["limit_minor"] in changed and ["status"] in changed


def test_usage_follows_principal_changes_reported_by_servicing(bank):
    lender = make_lender(bank)
    line_id = lender.line(limit_minor=3_000_000)
    loan_id = lender.create(credit_line_id=line_id, amount_minor=1_000_000)
    lender.disburse(loan_id)
    # What a repayment of 400,000 fen of principal does to the sub-ledger (servicing's part).
    with lender.uow() as uow:
        uow.session.execute(
            update(Loan).where(Loan.id == loan_id).values(principal_outstanding_minor=600_000)
        )
        uow.commit()
    assert line_view(lender, line_id).available_minor == 2_000_000  # not until servicing says so
    event = events.LoanPrincipalChanged(tenant_id=bank.tenant_id, loan_id=loan_id, credit_line_id=line_id)
    lender.container.bus.handle(event, lender.uow())
    line = line_view(lender, line_id)
    assert (line.used_minor, line.available_minor) == (600_000, 2_400_000)
    # A closed loan holds nothing.
    with lender.uow() as uow:
        uow.session.execute(update(Loan).where(Loan.id == loan_id).values(principal_outstanding_minor=0))
        uow.commit()
    lender.handle(commands.CloseLoan, loan_id=loan_id)
    assert line_view(lender, line_id).used_minor == 0


def test_lines_of_another_bank_are_invisible(bank, make_bank):
    lender = make_lender(bank)
    line_id = lender.line()
    other = make_lender(make_bank("Other"))
    raises(NotFound, "credit_line_not_found", queries.get_credit_line, other.uow(), line_id)
    assert queries.list_credit_lines(other.uow()).total == 0
    raises(NotFound, "credit_line_not_found", other.create, credit_line_id=line_id)
    raises(
        NotFound,
        "credit_line_not_found",
        other.handle,
        commands.FreezeCreditLine,
        credit_line_id=line_id,
        reason="x",
    )
