"""Helpers of the end-of-day tests: a seeded book, snapshots of it, and a per-loan Python model of
one business date built from the domain twins (``loans.domain.accrual`` / ``delinquency``), which
the set-based SQL of the batch must match to the fen."""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from dipper.loans import commands
from dipper.loans.adapters.accounts import Installment, Loan
from dipper.loans.domain.accrual import Period, accrue_daily, daily_accrual_days, scheduled_accrual
from dipper.loans.domain.delinquency import (
    ACCRUING,
    LIVE,
    DelinquencyPolicy,
    bucket_of,
    days_past_due,
    next_status,
)
from dipper.persistence.outbox import OutboxMessage

AS_OF = date(2026, 3, 2)
L = Loan.__table__
I = Installment.__table__  # noqa: E741

#: The columns the batch maintains, compared loan by loan.
LOAN_COLUMNS = (
    "status",
    "principal_outstanding_minor",
    "interest_receivable_minor",
    "penalty_receivable_minor",
    "fee_receivable_minor",
    "suspended_interest_minor",
    "written_off_minor",
    "interest_carry",
    "penalty_carry",
    "accrued_through",
    "penalty_accrued_through",
    "days_past_due",
    "bucket",
    "oldest_unpaid_due",
)


def seed(bank: Any, loans: int, as_of: date = AS_OF) -> int:
    return bank.container.handle(
        commands.SeedSyntheticBook(tenant_id=bank.tenant_id, loans=loans, as_of=as_of)
    )


def run_eod(bank: Any, business_date: date, **policy: Any) -> list[Any]:
    return bank.container.handle(
        commands.RunEndOfDay(tenant_id=bank.tenant_id, business_date=business_date, **policy)
    )


@dataclass
class Book:
    loans: dict[str, dict[str, Any]]
    installments: dict[str, list[dict[str, Any]]]  # by loan id, in order of n


def snapshot(container: Any, tenant_id: str) -> Book:
    with container.engine.connect() as conn:
        loans = {
            r.id: dict(r._mapping)
            for r in conn.execute(select(L).where(L.c.tenant_id == tenant_id).order_by(L.c.id))
        }
        installments: dict[str, list[dict[str, Any]]] = {loan_id: [] for loan_id in loans}
        for r in conn.execute(select(I).where(I.c.tenant_id == tenant_id).order_by(I.c.loan_id, I.c.n)):
            installments[r.loan_id].append(dict(r._mapping))
    return Book(loans, installments)


def comparable(book: Book) -> list[tuple[Any, ...]]:
    """The maintained columns of every loan and its installments' statuses, in id order (two banks
    seeded alike compare equal although their ids differ)."""
    return [
        (
            *(loan[c] for c in LOAN_COLUMNS),
            tuple(i["status"] for i in book.installments[loan_id]),
        )
        for loan_id, loan in sorted(book.loans.items())
    ]


def outbox_topics(container: Any, tenant_id: str) -> Counter[str]:
    with container.engine.connect() as conn:
        rows = conn.execute(
            select(OutboxMessage.topic).where(
                OutboxMessage.tenant_id == tenant_id, OutboxMessage.topic.like("loans.%")
            )
        ).scalars()
        return Counter(rows)


@dataclass
class Expected:
    book: Book
    totals: dict[str, dict[str, int]]  # step -> "<currency>:<total>" -> amount
    events: Counter[str]


def _add(totals: dict[str, dict[str, int]], step: str, currency: str, name: str, amount: int) -> None:
    if amount:
        bucket = totals.setdefault(step, {})
        bucket[f"{currency}:{name}"] = bucket.get(f"{currency}:{name}", 0) + amount


def reference_day(before: Book, d: date, policy: DelinquencyPolicy) -> Expected:
    """One business date, loan by loan, in plain Python: what the batch must produce."""
    book = copy.deepcopy(before)
    totals: dict[str, dict[str, int]] = {}
    events: Counter[str] = Counter()
    live = [loan for loan in book.loans.values() if loan["status"] in LIVE]

    for loan in live:  # accrue_interest
        if loan["start_date"] > d or (loan["accrued_through"] is not None and loan["accrued_through"] >= d):
            continue
        if loan["method"] == "revolving":
            days = daily_accrual_days(loan["accrued_through"], loan["start_date"], d, loan["maturity_date"])
            step = accrue_daily(
                loan["principal_outstanding_minor"],
                loan["annual_rate_e9"],
                days,
                loan["interest_carry"],
                loan["day_count_basis"],
            )
            amount, loan["interest_carry"] = step.accrued_minor, step.carry
        else:
            periods = [
                Period(i["interest_minor"], i["accrual_start"], i["accrual_end"])
                for i in book.installments[loan["id"]]
                if i["accrual_end"] > i["accrual_start"]
            ]
            after = loan["accrued_through"] or loan["start_date"] - timedelta(days=1)
            amount = scheduled_accrual(periods, after, d)
        if loan["status"] == "non_accrual":
            loan["suspended_interest_minor"] += amount
        else:
            loan["interest_receivable_minor"] += amount
            _add(totals, "accrue_interest", loan["currency"], "interest", amount)
        loan["accrued_through"] = d

    for loan in live:  # fall_due
        for i in book.installments[loan["id"]]:
            if i["status"] == "scheduled" and i["due_date"] <= d:
                i["status"] = "due"
                loan["fee_receivable_minor"] += i["fee_minor"]
                _add(totals, "fall_due", loan["currency"], "fee", i["fee_minor"])
                events["loans.InstallmentDue"] += 1

    for loan in live:  # age
        for i in book.installments[loan["id"]]:
            if i["status"] == "due" and i["due_date"] < d:
                i["status"] = "overdue"
                events["loans.InstallmentMissed"] += 1
        unpaid = [i["due_date"] for i in book.installments[loan["id"]] if i["status"] in ("due", "overdue")]
        owed = sum(
            loan[c]
            for c in (
                "principal_outstanding_minor",
                "interest_receivable_minor",
                "penalty_receivable_minor",
                "fee_receivable_minor",
                "suspended_interest_minor",
            )
        )
        oldest = min(unpaid, default=None)
        if oldest is None and loan["method"] == "revolving" and loan["maturity_date"] <= d and owed > 0:
            oldest = loan["maturity_date"]
        loan["oldest_unpaid_due"] = oldest
        loan["days_past_due"] = days_past_due(d, oldest)
        bucket = bucket_of(loan["days_past_due"])
        if bucket != loan["bucket"]:
            events["loans.DaysPastDueChanged"] += 1
        loan["bucket"] = bucket

    for loan in live:  # accrue_penalty
        grace = loan["grace_days"]
        if loan["days_past_due"] <= grace:
            continue
        if loan["penalty_accrued_through"] is not None and loan["penalty_accrued_through"] >= d:
            continue
        if loan["method"] == "revolving":
            base = 0
            if loan["maturity_date"] is not None and (d - loan["maturity_date"]).days > grace:
                base = loan["principal_outstanding_minor"]
                if loan["compound_overdue_interest"]:
                    base += loan["interest_receivable_minor"] + loan["suspended_interest_minor"]
        else:
            base = 0
            for i in book.installments[loan["id"]]:
                if i["status"] in ("due", "overdue") and (d - i["due_date"]).days > grace:
                    base += max(i["principal_minor"] - i["principal_paid_minor"], 0)
                    if loan["compound_overdue_interest"]:
                        base += max(i["interest_minor"] - i["interest_paid_minor"], 0)
        step = accrue_daily(base, loan["penalty_rate_e9"], 1, loan["penalty_carry"], loan["day_count_basis"])
        loan["penalty_receivable_minor"] += step.accrued_minor
        loan["penalty_carry"] = step.carry
        loan["penalty_accrued_through"] = d
        _add(totals, "accrue_penalty", loan["currency"], "penalty", step.accrued_minor)

    for loan in live:  # status
        new = next_status(loan["status"], loan["days_past_due"], policy)
        old = loan["status"]
        if new == old:
            continue
        cur = loan["currency"]
        if new == "non_accrual":
            _add(totals, "status", cur, "suspended_interest", loan["interest_receivable_minor"])
            loan["suspended_interest_minor"] += loan["interest_receivable_minor"]
            loan["interest_receivable_minor"] = 0
        elif old == "non_accrual" and new in ACCRUING:
            _add(totals, "status", cur, "reinstated_interest", loan["suspended_interest_minor"])
            loan["interest_receivable_minor"] += loan["suspended_interest_minor"]
            loan["suspended_interest_minor"] = 0
        elif new == "written_off":
            total = 0
            for column, name in (
                ("principal_outstanding_minor", "written_off_principal"),
                ("interest_receivable_minor", "written_off_interest"),
                ("penalty_receivable_minor", "written_off_penalty"),
                ("fee_receivable_minor", "written_off_fee"),
            ):
                _add(totals, "status", cur, name, loan[column])
                total += loan[column]
                loan[column] = 0
            _add(totals, "status", cur, "written_off", total)
            loan["written_off_minor"] += total
        loan["status"] = new
    return Expected(book, totals, events)


def step_totals(run: Any) -> dict[str, dict[str, int]]:
    """The totals a run recorded per step, in ``reference_day``'s shape (zeros left out)."""
    out: dict[str, dict[str, int]] = {}
    for step in ("accrue_interest", "fall_due", "accrue_penalty", "status"):
        for currency, named in run.figures[step]["totals"].items():
            for name, amount in named.items():
                _add(out, step, currency, name, amount)
    return out
