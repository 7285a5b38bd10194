"""Corrections by reversal: the mirror entry, once only, never of a reversal."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from dipper.accounting import commands, queries
from dipper.accounting.adapters import JournalEntry
from dipper.kernel.errors import Conflict, NotFound, ValidationFailed
from dipper.persistence.outbox import OutboxMessage

D = date(2026, 3, 31)
LATER = date(2026, 4, 10)


def ln(code: str, cur: str = "CNY", d: int = 0, c: int = 0, memo: str = "") -> commands.PostingLine:
    return commands.PostingLine(account_code=code, currency=cur, debit_minor=d, credit_minor=c, memo=memo)


def post(bank: Any, key: str, amount: int = 50_000, value_date: date = D) -> str:
    result = bank.container.handle(
        commands.PostJournalEntry(
            tenant_id=bank.tenant_id,
            client_key=key,
            value_date=value_date,
            description="accrual",
            lines=(
                ln(queries.INTEREST_RECEIVABLE, d=amount, memo="L-1"),
                ln(queries.INTEREST_INCOME, c=amount),
            ),
        ),
        tenant_id=bank.tenant_id,
    )
    return str(result.entry_id)


def reverse(
    bank: Any, entry_id: str, key: str, reason: str = "wrong loan", value_date: date | None = None
) -> queries.PostingResult:
    result: queries.PostingResult = bank.container.handle(
        commands.ReverseJournalEntry(
            tenant_id=bank.tenant_id,
            entry_id=entry_id,
            client_key=key,
            reason=reason,
            value_date=value_date,
        ),
        tenant_id=bank.tenant_id,
    )
    return result


def entry_count(bank: Any) -> int:
    with bank.container.uow(bank.tenant_id) as uow:
        return (
            uow.session.scalar(
                select(func.count(JournalEntry.id)).where(JournalEntry.tenant_id == bank.tenant_id)
            )
            or 0
        )


def balance(bank: Any, code: str, as_of: date) -> int:
    return queries.account_balance(bank.container.uow(bank.tenant_id), code, as_of, "CNY")


def test_reversal_posts_the_mirror_and_links_both_entries(bank: Any) -> None:
    original = post(bank, "acc-1")
    result = reverse(bank, original, "rev-1")
    assert result.replayed is False
    uow = bank.container.uow(bank.tenant_id)
    rev = queries.get_entry(uow, result.entry_id)
    orig = queries.get_entry(uow, original)
    assert rev.reversal_of == original and orig.reversed_by == rev.id and rev.reversed_by is None
    assert rev.value_date == D and rev.source == "reversal" and "wrong loan" in rev.description
    assert [(x.account_code, x.debit_minor, x.credit_minor, x.memo) for x in rev.lines] == [
        ("1132", 0, 50_000, "L-1"),
        ("6011", 50_000, 0, ""),
    ]
    assert balance(bank, queries.INTEREST_RECEIVABLE, D) == 0
    assert balance(bank, queries.INTEREST_INCOME, D) == 0
    with bank.container.uow(bank.tenant_id) as u:
        msg = u.session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.tenant_id == bank.tenant_id,
                OutboxMessage.topic == "accounting.JournalEntryReversed",
            )
        )
        assert msg is not None
        assert (msg.payload["entry_id"], msg.payload["reversal_entry_id"]) == (original, rev.id)


def test_an_entry_is_reversed_only_once(bank: Any) -> None:
    original = post(bank, "acc-2")
    first = reverse(bank, original, "rev-2a")
    before = entry_count(bank)
    with pytest.raises(Conflict) as e:
        reverse(bank, original, "rev-2b")
    assert e.value.code == "already_reversed"
    assert e.value.details["reversed_by"] == first.entry_id
    assert entry_count(bank) == before


def test_a_reversal_cannot_be_reversed(bank: Any) -> None:
    rev = reverse(bank, post(bank, "acc-3"), "rev-3").entry_id
    before = entry_count(bank)
    with pytest.raises(Conflict) as e:
        reverse(bank, rev, "rev-of-rev-3")
    assert e.value.code == "cannot_reverse_reversal"
    assert entry_count(bank) == before


def test_replaying_a_reversal_returns_it_and_a_reused_key_conflicts(bank: Any) -> None:
    original = post(bank, "acc-4")
    first = reverse(bank, original, "rev-4")
    assert reverse(bank, original, "rev-4") == queries.PostingResult(first.entry_id, replayed=True)
    with pytest.raises(Conflict) as e:
        reverse(bank, original, "rev-4", reason="another reason")
    assert e.value.code == "idempotency_key_reused"
    with pytest.raises(Conflict) as e:
        reverse(bank, original, "acc-4")  # the key of the posting itself
    assert e.value.code == "idempotency_key_reused"


def test_reversing_an_unknown_entry_is_not_found(bank: Any) -> None:
    with pytest.raises(NotFound) as e:
        reverse(bank, "01HZZZZZZZZZZZZZZZZZZZZZZZ", "rev-5")
    assert e.value.code == "entry_not_found"


def test_a_later_dated_reversal_keeps_history_as_of_earlier_dates(bank: Any) -> None:
    original = post(bank, "acc-6", amount=1_234)
    reverse(bank, original, "rev-6", value_date=LATER)
    assert balance(bank, queries.INTEREST_RECEIVABLE, D) == 1_234
    assert balance(bank, queries.INTEREST_RECEIVABLE, date(2026, 4, 9)) == 1_234
    assert balance(bank, queries.INTEREST_RECEIVABLE, LATER) == 0
    with pytest.raises(ValidationFailed) as e:
        reverse(bank, post(bank, "acc-6b"), "rev-6b", value_date=date(2026, 3, 30))
    assert e.value.code == "reversal_before_original"


def test_a_reason_is_required(bank: Any) -> None:
    with pytest.raises(ValidationFailed) as e:
        reverse(bank, post(bank, "acc-7"), "rev-7", reason="  ")
    assert e.value.code == "invalid_reason"


def test_concurrent_reversals_of_one_entry_make_one_reversal(bank: Any) -> None:
    original = post(bank, "acc-8")
    barrier = threading.Barrier(3)
    outcomes: list[Any] = []

    def worker(i: int) -> None:
        barrier.wait()
        try:
            outcomes.append(reverse(bank, original, f"rev-8-{i}"))
        except Exception as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done = [o for o in outcomes if isinstance(o, queries.PostingResult)]
    refused = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(done) == 1 and len(refused) == 2, outcomes
    assert {c.code for c in refused} == {"already_reversed"}
    assert entry_count(bank) == 2
