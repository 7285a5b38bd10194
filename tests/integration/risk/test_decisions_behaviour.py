"""The customer's history here (``loans.queries.customer_behaviour``): counts, days past due now, ever and
in 12 months, on-time share, lines; as of a date; per bank."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from dipper.bootstrap import Container
from dipper.kernel.ids import new_id
from dipper.loans import queries
from dipper.loans.adapters.accounts import CreditLine, Installment, Loan

AS_OF = date(2026, 6, 30)


def _loan(customer: str, start: date, *, status: str = "active", outstanding: int = 0, **kw: object) -> Loan:
    return Loan(
        id=new_id(),
        customer_id=customer,
        product_code="P",
        currency="CNY",
        method="equal-installment",
        term=6,
        annual_rate=Decimal("0.12"),
        annual_rate_e9=120_000_000,
        penalty_rate_e9=180_000_000,
        day_count_basis=360,
        rounding="half-up",
        principal_minor=600_000,
        principal_outstanding_minor=outstanding,
        start_date=start,
        status=status,
        **kw,
    )


def _installment(loan: Loan, n: int, due: date, paid_on: date | None) -> Installment:
    return Installment(
        loan_id=loan.id,
        n=n,
        due_date=due,
        accrual_start=due - timedelta(days=30),
        accrual_end=due,
        principal_minor=100_000,
        interest_minor=1_000,
        paid_on=paid_on,
        status="paid" if paid_on else "due",
    )


def _seed(container: Container, tenant: str) -> tuple[str, str]:
    good, late = new_id(), new_id()
    with container.uow(tenant) as uow:
        old = _loan(good, date(2024, 3, 20), status="closed", closed_on=date(2024, 9, 20))
        cur = _loan(good, date(2026, 1, 10), outstanding=300_000)
        bad = _loan(late, date(2025, 1, 10), status="overdue", outstanding=500_000)
        pending = _loan(late, None)  # type: ignore[arg-type]
        pending.status = "pending"
        uow.session.add_all([old, cur, bad, pending])
        uow.session.flush()
        uow.session.add_all(
            [
                _installment(old, 1, date(2024, 4, 20), date(2024, 4, 20)),
                _installment(cur, 1, date(2026, 2, 10), date(2026, 2, 9)),
                _installment(cur, 2, date(2026, 3, 10), date(2026, 3, 10)),
                _installment(cur, 3, date(2026, 4, 10), date(2026, 4, 15)),  # 4 days late
                _installment(cur, 4, date(2026, 7, 10), None),  # not due yet
                _installment(bad, 1, date(2025, 2, 10), date(2025, 4, 1)),  # 49 days late, > 12m ago
                _installment(bad, 2, date(2026, 5, 10), None),  # unpaid: 51 days past due
                _installment(bad, 3, date(2026, 6, 10), date(2026, 7, 5)),  # paid after as_of
            ]
        )
        uow.session.add(
            CreditLine(
                customer_id=late,
                product_code="P",
                currency="CNY",
                limit_minor=2_000_000,
                used_minor=500_000,
                expires_on=date(2027, 1, 1),
            )
        )
        uow.commit()
    return good, late


def test_history_as_of_a_date(container: Container, make_bank) -> None:
    bank = make_bank()
    good, late = _seed(container, bank.tenant_id)
    out = queries.customer_behaviour_many(container.uow(bank.tenant_id), [good, late, "nobody"], AS_OF)

    g = out[good]
    assert (g.loans_total, g.loans_active, g.principal_outstanding_minor) == (2, 1, 300_000)
    assert (g.max_dpd_now, g.max_dpd_ever, g.max_dpd_12m) == (0, 4, 4)
    assert (g.installments_due, g.installments_on_time) == (4, 3) and g.on_time_ratio == 0.75
    assert g.first_loan_on == date(2024, 3, 20) and g.months_since_first_loan == 27
    assert g.line_limit_minor is None and g.has_history

    b = out[late]
    assert (b.loans_total, b.loans_active, b.principal_outstanding_minor) == (1, 1, 500_000)
    # Installment 3 was paid after as_of: unpaid then (20 days); installment 2 is 51 days past due.
    assert (b.max_dpd_now, b.max_dpd_ever, b.max_dpd_12m) == (51, 51, 51)
    assert (b.installments_due, b.installments_on_time) == (3, 0)
    assert (b.line_limit_minor, b.line_used_minor) == (2_000_000, 500_000)

    n = out["nobody"]
    assert (n.loans_total, n.max_dpd_ever, n.on_time_ratio, n.months_since_first_loan) == (0, 0, None, None)

    earlier = queries.customer_behaviour(container.uow(bank.tenant_id), late, date(2026, 4, 15))
    # Before installment 2 fell due: only the old 49-day delay, now outside the 12 months.
    assert (earlier.max_dpd_now, earlier.max_dpd_ever, earlier.max_dpd_12m) == (0, 49, 0)


def test_another_bank_sees_nothing(container: Container, make_bank) -> None:
    bank, other = make_bank(), make_bank()
    good, _ = _seed(container, bank.tenant_id)
    seen = queries.customer_behaviour(container.uow(other.tenant_id), good, AS_OF)
    assert seen.loans_total == 0 and seen.installments_due == 0 and seen.line_limit_minor is None


def test_many_customers_are_read_in_chunks_with_the_same_answer(
    container: Container, make_bank, monkeypatch
) -> None:
    from dipper.loans.queries import behaviour

    bank = make_bank()
    good, late = _seed(container, bank.tenant_id)
    whole = queries.customer_behaviour_many(container.uow(bank.tenant_id), [good, late, "x"], AS_OF)
    monkeypatch.setattr(behaviour, "_CHUNK", 1)
    chunked = queries.customer_behaviour_many(container.uow(bank.tenant_id), [good, late, "x"], AS_OF)
    assert chunked == whole and whole[late].max_dpd_now == 51
    assert set(queries.open_loan_customers(container.uow(bank.tenant_id))) == {good, late}
