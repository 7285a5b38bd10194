"""The end of day (ADR 0005) on SQLite and PostgreSQL: the set-based batch against a loan-by-loan
Python model, the books reconciled after every date, idempotent, catching up, resumable."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select, update
from tests.integration.loans.test_eod_support import (
    AS_OF,
    L,
    comparable,
    outbox_topics,
    reference_day,
    run_eod,
    seed,
    snapshot,
    step_totals,
)

from dipper.accounting import queries as ledger
from dipper.kernel.errors import Conflict, ValidationFailed
from dipper.loans import commands, queries
from dipper.loans.domain.delinquency import DelinquencyPolicy
from dipper.loans.handlers import batch
from dipper.persistence.outbox import OutboxMessage


def reconciled(bank) -> None:
    for currency in ("CNY", "USD"):
        report = queries.reconcile(bank.container.uow(bank.tenant_id), currency)
        assert report.balanced, [ln for ln in report.lines if ln.difference_minor]


def entries(bank) -> dict[str, list[tuple[str, int, int]]]:
    """The end of day's journal entries of the bank by client key, with their lines."""
    page = ledger.list_entries(bank.container.uow(bank.tenant_id), limit=1000)
    return {
        e.client_key: sorted((ln.account_code, ln.debit_minor, ln.credit_minor) for ln in e.lines)
        for e in page.entries
        if e.client_key.startswith("eod:")
    }


def test_the_batch_matches_the_loan_by_loan_model_every_date(make_bank):
    """35 dates over a book of every method and state, with write-off by rule at 120 days: every
    balance, carry, date, bucket and status equals the Python model, the GL totals equal its
    deltas, the events its transitions, and the books reconcile after every date."""
    bank = make_bank()
    seed(bank, 160)
    policy = DelinquencyPolicy(write_off_after_dpd=120)
    container, tid = bank.container, bank.tenant_id
    book = snapshot(container, tid)
    reconciled(bank)
    seen = {"written_off": 0, "non_accrual": 0, "missed": 0, "fees": 0, "penalty": 0}
    for day in range(35):
        d = AS_OF + timedelta(days=day)
        before_events = outbox_topics(container, tid)
        expected = reference_day(book, d, policy)
        (run,) = run_eod(bank, d, write_off_after_dpd=120)
        book = snapshot(container, tid)
        assert run.status == "done" and run.steps_done == list(commands.EOD_STEPS)
        assert comparable(book) == comparable(expected.book), d
        assert step_totals(run) == expected.totals, d
        events = outbox_topics(container, tid) - before_events
        assert events.pop("loans.EndOfDayCompleted") == 1
        assert events == expected.events, d
        assert run.figures["post"]["reconciled"], run.figures["post"]
        reconciled(bank)
        statuses = [loan["status"] for loan in book.loans.values()]
        seen["written_off"] = statuses.count("written_off")
        seen["non_accrual"] = max(seen["non_accrual"], statuses.count("non_accrual"))
        seen["missed"] += expected.events["loans.InstallmentMissed"]
        seen["fees"] += sum(v for k, v in expected.totals.get("fall_due", {}).items())
        seen["penalty"] += sum(v for k, v in expected.totals.get("accrue_penalty", {}).items())
    # The window exercised every transition the model knows.
    assert all(seen.values()), seen


def test_real_loans_accrue_exactly_the_billed_interest_by_each_due_date(bank, monkeypatch):
    """Loans booked by origination (real schedules: broken first period, holiday-rolled due dates):
    on the day a period ends the interest receivable equals the interest billed, to the fen."""
    from datetime import UTC, datetime

    from tests.integration.loans.test_origination_flow import make_lender

    from dipper.kernel.clock import FixedClock

    clock = FixedClock(datetime(2026, 4, 30, 4, tzinfo=UTC))  # noon in Shanghai
    monkeypatch.setattr(bank.container, "clock", clock)
    lender = make_lender(bank, repayment_methods=["equal-installment", "equal-principal", "interest-only"])
    ids = [
        lender.create(method="equal-installment", amount_minor=1_234_567),
        lender.create(method="equal-principal", amount_minor=500_000, term=6),
        lender.create(method="interest-only", amount_minor=800_000, first_due=date(2026, 6, 15)),
    ]
    for loan_id in ids:
        lender.disburse(loan_id)
    start = clock.today()
    book = snapshot(bank.container, bank.tenant_id)
    periods_checked = 0
    for day in range(75):
        d = start + timedelta(days=day)
        clock.instant = datetime(d.year, d.month, d.day, 4, tzinfo=UTC)
        run_eod(bank, d)
        book = snapshot(bank.container, bank.tenant_id)
        for loan_id in ids:
            loan, installments = book.loans[loan_id], book.installments[loan_id]
            ended = [i for i in installments if i["accrual_end"] == d + timedelta(days=1)]
            if ended:
                # Nothing was repaid: every period accrued so far is receivable, exactly as billed.
                billed = sum(
                    i["interest_minor"] for i in installments if i["accrual_end"] <= d + timedelta(days=1)
                )
                assert loan["interest_receivable_minor"] == billed, (loan_id, d)
                periods_checked += 1
        reconciled(bank)
    assert periods_checked >= 5
    # Unpaid since the first due date: overdue, penalised, in the right bucket.
    first_due = min(i["due_date"] for i in book.installments[ids[0]])
    loan = book.loans[ids[0]]
    assert loan["status"] == "overdue" and loan["oldest_unpaid_due"] == first_due
    assert loan["days_past_due"] == (d - first_due).days
    assert loan["penalty_receivable_minor"] > 0


def test_a_second_run_for_a_done_date_does_nothing(make_bank):
    bank = make_bank()
    seed(bank, 60)
    (first,) = run_eod(bank, AS_OF)
    state, posted = comparable(snapshot(bank.container, bank.tenant_id)), entries(bank)
    events = outbox_topics(bank.container, bank.tenant_id)
    assert run_eod(bank, AS_OF) == []
    step = bank.container.handle(commands.RunEndOfDayStep(tenant_id=bank.tenant_id, business_date=AS_OF))
    assert step.step is None and step.run.id == first.id
    assert comparable(snapshot(bank.container, bank.tenant_id)) == state
    assert entries(bank) == posted
    assert outbox_topics(bank.container, bank.tenant_id) == events
    assert {k for k in posted if k.startswith("eod:")} >= {f"eod:{AS_OF}:accrue_interest:CNY"}


def test_missed_dates_are_caught_up_in_order_and_equal_running_each_date(make_bank):
    caught_up, daily = make_bank(), make_bank()
    for bank in (caught_up, daily):
        seed(bank, 80)
        run_eod(bank, AS_OF)
    runs = run_eod(caught_up, AS_OF + timedelta(days=3))
    assert [r.business_date for r in runs] == [AS_OF + timedelta(days=k) for k in (1, 2, 3)]
    for k in (1, 2, 3):
        run_eod(daily, AS_OF + timedelta(days=k))
    assert comparable(snapshot(caught_up.container, caught_up.tenant_id)) == comparable(
        snapshot(daily.container, daily.tenant_id)
    )
    assert entries(caught_up) == entries(daily)
    page = queries.list_batch_runs(caught_up.container.uow(caught_up.tenant_id))
    assert [r.business_date for r in page.runs] == [AS_OF + timedelta(days=k) for k in (3, 2, 1, 0)]


def test_a_run_stopped_between_steps_resumes_and_equals_an_uninterrupted_one(make_bank):
    stopped, whole = make_bank(), make_bank()
    for bank in (stopped, whole):
        seed(bank, 80)
    for expected_step in commands.EOD_STEPS[:3]:
        outcome = stopped.container.handle(
            commands.RunEndOfDayStep(tenant_id=stopped.tenant_id, business_date=AS_OF)
        )
        assert outcome.step == expected_step
    partial = queries.list_batch_runs(stopped.container.uow(stopped.tenant_id)).runs[0]
    assert partial.status == "running" and partial.steps_done == list(commands.EOD_STEPS[:3])
    assert partial.next_step == "accrue_penalty"
    # The steps done are on the books already, and the books agree.
    reconciled(stopped)
    (resumed,) = run_eod(stopped, AS_OF)
    run_eod(whole, AS_OF)
    assert resumed.id == partial.id and resumed.steps_done == list(commands.EOD_STEPS)
    assert comparable(snapshot(stopped.container, stopped.tenant_id)) == comparable(
        snapshot(whole.container, whole.tenant_id)
    )
    assert entries(stopped) == entries(whole)
    assert outbox_topics(stopped.container, stopped.tenant_id) == outbox_topics(
        whole.container, whole.tenant_id
    )


def test_refusals_have_stable_codes(make_bank):
    bank = make_bank()
    seed(bank, 10)
    today = bank.container.clock.today()

    def refused(error, code, business_date, **fields):
        with pytest.raises(error) as caught:
            bank.container.handle(
                commands.RunEndOfDay(tenant_id=bank.tenant_id, business_date=business_date, **fields)
            )
        assert caught.value.code == code
        return caught.value

    refused(ValidationFailed, "eod_date_in_future", today + timedelta(days=1))
    refused(ValidationFailed, "invalid_date_range", AS_OF, since=AS_OF + timedelta(days=1))
    refused(ValidationFailed, "invalid_delinquency_policy", AS_OF, write_off_after_dpd=30)
    refused(ValidationFailed, "eod_catch_up_too_long", AS_OF, since=AS_OF - timedelta(days=500))
    run_eod(bank, AS_OF)
    refused(Conflict, "eod_date_before_last_run", AS_OF - timedelta(days=1))
    with pytest.raises(Conflict) as caught:
        bank.container.handle(
            commands.RunEndOfDayStep(tenant_id=bank.tenant_id, business_date=AS_OF + timedelta(days=2))
        )
    assert caught.value.code == "eod_out_of_order"
    # Nothing above left a run behind.
    assert [r.business_date for r in queries.list_batch_runs(bank.container.uow(bank.tenant_id)).runs] == [
        AS_OF
    ]


def test_events_go_to_the_outbox_in_the_shape_of_their_dataclasses(make_bank):
    from dataclasses import fields

    from dipper.loans import events

    bank = make_bank()
    seed(bank, 120)
    (run,) = run_eod(bank, AS_OF)
    with bank.container.engine.connect() as conn:
        rows = conn.execute(
            select(OutboxMessage.id, OutboxMessage.topic, OutboxMessage.payload).where(
                OutboxMessage.tenant_id == bank.tenant_id, OutboxMessage.topic.like("loans.%")
            )
        ).all()
    by_topic: dict[str, list[dict]] = {}
    for _, topic, payload in rows:
        by_topic.setdefault(topic, []).append(payload)
    assert len({r.id for r in rows}) == len(rows) and all(len(r.id) == 26 for r in rows)
    for event_type in (events.InstallmentDue, events.InstallmentMissed, events.DaysPastDueChanged):
        payloads = by_topic[f"loans.{event_type.__name__}"]
        assert payloads, event_type
        names = {f.name for f in fields(event_type)}
        for payload in payloads:
            assert set(payload) == names
            assert payload["tenant_id"] == bank.tenant_id
            event_type(**payload)  # the payload rebuilds the event
    due = by_topic["loans.InstallmentDue"]
    assert len(due) == run.figures["fall_due"]["events"] == run.figures["fall_due"]["rows"]
    assert all(p["due_date"] <= AS_OF.isoformat() and isinstance(p["outstanding_minor"], int) for p in due)
    changed = by_topic["loans.DaysPastDueChanged"]
    assert all(
        p["previous_bucket"] != p["bucket"] and p["business_date"] == AS_OF.isoformat() for p in changed
    )
    (done,) = by_topic["loans.EndOfDayCompleted"]
    assert done == {"tenant_id": bank.tenant_id, "run_id": run.id, "business_date": AS_OF.isoformat()}


def test_a_cured_non_accrual_loan_is_active_again_and_its_interest_back_in_income(make_bank):
    bank = make_bank()
    seed(bank, 200)
    container, tid = bank.container, bank.tenant_id
    book = snapshot(container, tid)
    loan = next(v for v in book.loans.values() if v["status"] == "non_accrual" and v["method"] != "revolving")
    # What servicing does when the borrower pays every arrear: the due installments are paid,
    # their principal and interest (on or off the balance sheet) and fees leave the books.
    due = [i for i in book.installments[loan["id"]] if i["status"] in ("due", "overdue")]
    principal = sum(i["principal_minor"] for i in due)
    interest = sum(i["interest_minor"] for i in due)
    fee = sum(i["fee_minor"] for i in due)
    memo = loan["suspended_interest_minor"] - interest  # the current period's, accrued off income
    assert memo >= 0 and loan["interest_receivable_minor"] == 0
    with container.engine.begin() as conn:
        conn.execute(
            update(batch.I)
            .where(batch.I.c.loan_id == loan["id"], batch.I.c.status.in_(("due", "overdue")))
            .values(
                status="paid",
                principal_paid_minor=batch.I.c.principal_minor,
                interest_paid_minor=batch.I.c.interest_minor,
                fee_paid_minor=batch.I.c.fee_minor,
            )
        )
        conn.execute(
            update(L)
            .where(L.c.id == loan["id"])
            .values(
                principal_outstanding_minor=L.c.principal_outstanding_minor - principal,
                suspended_interest_minor=memo,
                fee_receivable_minor=L.c.fee_receivable_minor - fee,
                oldest_unpaid_due=None,
                days_past_due=0,
                bucket="current",
            )
        )
    from dipper.accounting.commands import PostingLine, PostJournalEntry

    lines = [
        PostingLine(
            account_code=ledger.CLEARING, currency=loan["currency"], debit_minor=principal + interest + fee
        ),
        PostingLine(account_code=ledger.LOAN_PRINCIPAL, currency=loan["currency"], credit_minor=principal),
        PostingLine(account_code=ledger.INTEREST_INCOME, currency=loan["currency"], credit_minor=interest),
    ]
    if fee:
        lines.append(
            PostingLine(account_code=ledger.FEE_RECEIVABLE, currency=loan["currency"], credit_minor=fee)
        )
    container.handle(
        PostJournalEntry(
            tenant_id=tid,
            client_key=f"test-cure-{loan['id']}",
            value_date=AS_OF - timedelta(days=1),
            description="arrears repaid",
            lines=tuple(lines),
        )
    )
    reconciled(bank)
    (run,) = run_eod(bank, AS_OF)
    after = snapshot(container, tid).loans[loan["id"]]
    assert after["status"] == "active" and after["suspended_interest_minor"] == 0
    accrued_today = after["interest_receivable_minor"] - memo
    assert accrued_today > 0
    assert run.figures["status"]["totals"][loan["currency"]]["reinstated_interest"] >= memo
    reconciled(bank)


def test_the_single_loan_path_is_a_batch_of_one(make_bank):
    bank = make_bank()
    seed(bank, 40)
    container, tid = bank.container, bank.tenant_id
    book = snapshot(container, tid)
    loan_id = next(k for k, v in book.loans.items() if v["method"] == "revolving" and v["status"] == "active")
    with container.uow(tid) as uow:
        result = batch.accrue_to(uow, AS_OF, [loan_id], client_key="test-one-loan")
        with pytest.raises(ValueError):
            batch.accrue_to(uow, AS_OF, [loan_id])  # a single-loan posting needs its own key
        uow.commit()
    assert result.rows == 1
    one = snapshot(container, tid).loans[loan_id]
    assert one["accrued_through"] == AS_OF
    assert one["interest_receivable_minor"] - book.loans[loan_id]["interest_receivable_minor"] == sum(
        t["interest"] for t in result.totals.values()
    )
    reconciled(bank)
    (run,) = run_eod(bank, AS_OF)
    # The batch accrued every other loan and left this one alone: accrued through the date already.
    assert (
        run.figures["accrue_interest"]["rows"]
        == len([v for v in book.loans.values() if v["status"] in ("active", "overdue", "non_accrual")]) - 1
    )
    assert (
        snapshot(container, tid).loans[loan_id]["interest_receivable_minor"]
        == one["interest_receivable_minor"]
    )
    reconciled(bank)


def test_another_banks_book_is_untouched(make_bank):
    ours, theirs = make_bank(), make_bank()
    seed(ours, 30)
    seed(theirs, 30)
    before = comparable(snapshot(theirs.container, theirs.tenant_id))
    run_eod(ours, AS_OF)
    assert comparable(snapshot(theirs.container, theirs.tenant_id)) == before
    assert queries.list_batch_runs(theirs.container.uow(theirs.tenant_id)).runs == []
    with pytest.raises(Exception) as caught:
        ours.container.handle(
            commands.RunEndOfDay(tenant_id=theirs.tenant_id, business_date=AS_OF), tenant_id=ours.tenant_id
        )
    assert getattr(caught.value, "code", None) == "tenant_mismatch"


def test_sql_rules_equal_their_python_twins(container):
    """The column expressions evaluated by the database against the domain functions."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from dipper.loans.domain.accrual import (
        MAX_BALANCE_MINOR,
        MAX_RATE_E9,
        Period,
        accrue_daily,
        scheduled_accrued,
    )
    from dipper.loans.domain.delinquency import bucket_of

    def value(expr):
        with container.engine.connect() as conn:
            return conn.execute(select(expr)).scalar()

    for d in (date(2024, 2, 29), date(2026, 1, 1), date(1999, 12, 31), date(2100, 3, 1)):
        assert value(batch.day_number(batch.literal(d, batch.Date()))) == d.toordinal()
        assert value(batch.date_of(batch.literal(d.toordinal(), batch.BigInteger()))) in (d, d.isoformat())

    big = batch.BigInteger()

    @settings(max_examples=60, deadline=None)
    @given(
        st.integers(0, MAX_BALANCE_MINOR),
        st.integers(0, MAX_RATE_E9),
        st.integers(0, 400),
        st.sampled_from([360, 365]),
        st.data(),
    )
    def accrual(balance, rate, days, basis, data):
        carry = data.draw(st.integers(0, basis * 10**9 - 1))
        accrued, new_carry = batch.daily_accrual_sql(
            batch.literal(balance, big),
            batch.literal(rate, big),
            batch.literal(days, big),
            batch.literal(carry, big),
            batch.literal(basis, big),
        )
        twin = accrue_daily(balance, rate, days, carry, basis)
        assert (int(value(accrued)), int(value(new_carry))) == (twin.accrued_minor, twin.carry)

    @settings(max_examples=60, deadline=None)
    @given(st.integers(0, MAX_BALANCE_MINOR), st.integers(1, 400), st.integers(-5, 420))
    def recognised(interest, length, elapsed):
        start = date(2026, 1, 1)
        through = start + timedelta(days=elapsed - 1)
        expr = batch.recognised_sql(
            batch.literal(interest, big),
            batch.literal(start.toordinal(), big),
            batch.literal(start.toordinal() + length, big),
            batch.literal(through.toordinal(), big),
        )
        period = Period(interest, start, start + timedelta(days=length))
        assert int(value(expr)) == scheduled_accrued(period, through)

    accrual()
    recognised()
    for dpd in (0, 1, 30, 31, 60, 61, 90, 91, 5000):
        assert value(batch.bucket_sql(batch.literal(dpd, big))) == bucket_of(dpd)
    policy = DelinquencyPolicy(write_off_after_dpd=180)
    from dipper.loans.domain.delinquency import next_status

    for status in ("active", "overdue", "non_accrual"):
        for dpd in (0, 1, 90, 91, 180, 181):
            expr = batch.next_status_sql(
                batch.literal(status, batch.String()), batch.literal(dpd, big), policy
            )
            assert value(expr) == next_status(status, dpd, policy), (status, dpd)
