"""Posting through the command handlers: balance rules, idempotency, immutability."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError

from dipper.accounting import commands, handlers, queries
from dipper.accounting.adapters import Account, JournalEntry, JournalLine
from dipper.kernel.errors import Conflict, PermissionDenied, UnbalancedEntry, ValidationFailed
from dipper.persistence.outbox import OutboxMessage
from dipper.persistence.scoping import ImmutableRowViolation

D = date(2026, 3, 31)


def ln(code: str, cur: str = "CNY", d: int = 0, c: int = 0, memo: str = "") -> commands.PostingLine:
    return commands.PostingLine(account_code=code, currency=cur, debit_minor=d, credit_minor=c, memo=memo)


def post(
    bank: Any, key: str, *lines: commands.PostingLine, value_date: date = D, description: str = "test entry"
) -> queries.PostingResult:
    result: queries.PostingResult = bank.container.handle(
        commands.PostJournalEntry(
            tenant_id=bank.tenant_id,
            client_key=key,
            value_date=value_date,
            description=description,
            lines=lines,
        ),
        tenant_id=bank.tenant_id,
    )
    return result


def disbursement(amount: int = 100_000) -> tuple[commands.PostingLine, ...]:
    return (ln(queries.LOAN_PRINCIPAL, d=amount, memo="principal"), ln(queries.BANK_DEPOSITS, c=amount))


def counts(bank: Any) -> tuple[int, int, int]:
    """Entries, lines and outbox messages of this bank's ledger."""
    with bank.container.uow(bank.tenant_id) as uow:
        s = uow.session
        tid = bank.tenant_id
        return (
            s.scalar(select(func.count(JournalEntry.id)).where(JournalEntry.tenant_id == tid)) or 0,
            s.scalar(select(func.count(JournalLine.id)).where(JournalLine.tenant_id == tid)) or 0,
            s.scalar(
                select(func.count(OutboxMessage.id)).where(
                    OutboxMessage.tenant_id == tid, OutboxMessage.topic.like("accounting.%")
                )
            )
            or 0,
        )


def test_posting_writes_the_entry_its_lines_and_an_event(bank: Any) -> None:
    result = post(bank, "disb-1", *disbursement(), description="放款 L-1")
    assert result.replayed is False
    entry = queries.get_entry(bank.container.uow(bank.tenant_id), result.entry_id)
    assert (entry.client_key, entry.value_date, entry.description, entry.source) == (
        "disb-1",
        D,
        "放款 L-1",
        "manual",
    )
    assert entry.reversal_of is None and entry.reversed_by is None
    assert [(x.line_no, x.account_code, x.debit_minor, x.credit_minor, x.memo) for x in entry.lines] == [
        (1, "1303", 100_000, 0, "principal"),
        (2, "1002", 0, 100_000, ""),
    ]
    assert entry.lines[0].account_name == "贷款"
    assert counts(bank) == (1, 2, 1)
    with bank.container.uow(bank.tenant_id) as uow:
        msg = uow.session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.tenant_id == bank.tenant_id,
                OutboxMessage.topic == "accounting.JournalEntryPosted",
            )
        )
        assert msg is not None
        assert msg.payload["entry_id"] == result.entry_id
        assert msg.payload["value_date"] == "2026-03-31"


def test_unbalanced_entry_in_one_currency_is_refused_and_leaves_no_trace(bank: Any) -> None:
    before = counts(bank)
    with pytest.raises(UnbalancedEntry) as e:
        post(
            bank,
            "fx-1",
            ln("3002", d=700),
            ln("1002", c=700),
            ln("1002", cur="USD", d=100),
            ln("3002", cur="USD", c=99),
        )
    assert e.value.details["unbalanced"] == ["USD"]
    assert e.value.details["totals"]["USD"] == {"debit_minor": 100, "credit_minor": 99}
    assert counts(bank) == before
    # The key was not consumed: the corrected entry can use it.
    assert (
        post(
            bank,
            "fx-1",
            ln("3002", d=700),
            ln("1002", c=700),
            ln("1002", cur="USD", d=100),
            ln("3002", cur="USD", c=100),
        ).replayed
        is False
    )


def test_unknown_and_closed_accounts_are_refused(bank: Any) -> None:
    before = counts(bank)
    with pytest.raises(ValidationFailed) as e:
        post(bank, "k-unknown", ln("1999", d=5), ln("1002", c=5))
    assert (e.value.code, e.value.details["account_codes"]) == ("unknown_account", ["1999"])
    with bank.container.uow(bank.tenant_id) as uow:
        uow.session.scalars(select(Account).where(Account.code == "1001")).one().status = "closed"
        uow.commit()
    with pytest.raises(ValidationFailed) as e:
        post(bank, "k-closed", ln("1001", d=5), ln("1002", c=5))
    assert e.value.code == "inactive_account"
    assert counts(bank) == before


def test_a_retry_with_the_same_key_returns_the_first_entry_and_writes_nothing(bank: Any) -> None:
    first = post(bank, "disb-2", *disbursement())
    after_first = counts(bank)
    again = post(bank, "disb-2", *disbursement())
    assert again == queries.PostingResult(entry_id=first.entry_id, replayed=True)
    assert counts(bank) == after_first  # no rows and no second event


@pytest.mark.parametrize(
    "change",
    [
        {"lines": disbursement(100_001)},
        {"value_date": date(2026, 4, 1)},
        {"description": "another"},
        {"lines": disbursement()[::-1]},
    ],
)
def test_the_same_key_with_other_content_is_a_conflict(bank: Any, change: dict[str, Any]) -> None:
    post(bank, "disb-3", *disbursement())
    before = counts(bank)
    kwargs: dict[str, Any] = {"value_date": D, "description": "test entry", **change}
    lines = kwargs.pop("lines", disbursement())
    with pytest.raises(Conflict) as e:
        post(bank, "disb-3", *lines, **kwargs)
    assert e.value.code == "idempotency_key_reused"
    assert counts(bank) == before


def test_a_race_past_the_key_lookup_is_caught_by_the_unique_constraint(bank: Any, monkeypatch: Any) -> None:
    first = post(bank, "race-1", *disbursement())
    real = handlers._find_by_client_key
    calls = {"n": 0}

    def blind_first_time(uow: Any, key: str) -> Any:
        # As if the other request committed just after this one looked.
        calls["n"] += 1
        return None if calls["n"] == 1 else real(uow, key)

    monkeypatch.setattr(handlers, "_find_by_client_key", blind_first_time)
    before = counts(bank)
    assert post(bank, "race-1", *disbursement()) == queries.PostingResult(first.entry_id, replayed=True)
    calls["n"] = 0
    with pytest.raises(Conflict) as e:
        post(bank, "race-1", *disbursement(5))
    assert e.value.code == "idempotency_key_reused"
    assert counts(bank) == before


def test_concurrent_posts_with_one_key_make_one_entry(bank: Any) -> None:
    barrier = threading.Barrier(4)
    results: list[Any] = []

    def worker() -> None:
        barrier.wait()
        try:
            results.append(post(bank, "concurrent-1", *disbursement()))
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(isinstance(r, queries.PostingResult) for r in results), results
    assert len({r.entry_id for r in results}) == 1
    assert sorted(r.replayed for r in results) == [False, True, True, True]
    assert counts(bank)[:2] == (1, 2)


def test_posted_rows_cannot_be_changed_or_deleted_through_the_orm(bank: Any) -> None:
    entry_id = post(bank, "imm-1", *disbursement()).entry_id
    with bank.container.uow(bank.tenant_id) as uow:
        line = uow.session.scalars(select(JournalLine).where(JournalLine.entry_id == entry_id)).first()
        assert line is not None
        line.debit_minor = 1
        with pytest.raises(ImmutableRowViolation):
            uow.session.flush()
    with bank.container.uow(bank.tenant_id) as uow:
        line = uow.session.scalars(select(JournalLine).where(JournalLine.entry_id == entry_id)).first()
        uow.session.delete(line)
        with pytest.raises(ImmutableRowViolation):
            uow.session.flush()
    with bank.container.uow(bank.tenant_id) as uow:
        entry = uow.session.get(JournalEntry, entry_id)
        assert entry is not None
        entry.description = "rewritten history"
        with pytest.raises(ImmutableRowViolation):
            uow.session.flush()
    view = queries.get_entry(bank.container.uow(bank.tenant_id), entry_id)
    assert view.description == "test entry" and view.lines[0].debit_minor == 100_000


# Each statement would be valid for every constraint (check, foreign key): only the append-only
# triggers can refuse it, so a database built without them fails here.
TAMPERING = {
    "orm-update-line": lambda e: update(JournalLine).where(JournalLine.entry_id == e).values(memo="tampered"),
    "orm-delete-lines": lambda e: delete(JournalLine).where(JournalLine.entry_id == e),
    "orm-update-entry": lambda e: update(JournalEntry).where(JournalEntry.id == e).values(description="x"),
    "sql-update-line": lambda e: text(f"UPDATE accounting_journal_line SET memo = '' WHERE entry_id = '{e}'"),
    "sql-delete-lines": lambda e: text(f"DELETE FROM accounting_journal_line WHERE entry_id = '{e}'"),
}


@pytest.mark.parametrize("statement", sorted(TAMPERING))
def test_the_database_refuses_changes_that_bypass_the_orm_flush(bank: Any, statement: str) -> None:
    entry_id = post(bank, f"imm-{statement}", *disbursement()).entry_id
    with bank.container.uow(bank.tenant_id) as uow:
        try:
            uow.session.execute(TAMPERING[statement](entry_id))
        except DBAPIError as exc:
            assert "immutable" in str(exc)
        else:
            pytest.fail("the ledger's append-only triggers are missing (migration 0002)")
    assert counts(bank)[:2] == (1, 2)
    view = queries.get_entry(bank.container.uow(bank.tenant_id), entry_id)
    assert view.description == "test entry"
    assert [(x.debit_minor, x.memo) for x in view.lines] == [(100_000, "principal"), (0, "")]


def test_a_command_naming_another_bank_is_refused(make_bank: Any) -> None:
    a, b = make_bank("A"), make_bank("B")
    with pytest.raises(PermissionDenied) as e:
        a.container.handle(
            commands.PostJournalEntry(
                tenant_id=a.tenant_id, client_key="x", value_date=D, description="x", lines=disbursement()
            ),
            tenant_id=b.tenant_id,
        )
    assert e.value.code == "tenant_mismatch"
    assert counts(a)[0] == counts(b)[0] == 0


def test_the_same_client_key_in_two_banks_is_two_entries(make_bank: Any) -> None:
    a, b = make_bank("A"), make_bank("B")
    ra, rb = post(a, "shared-key", *disbursement()), post(b, "shared-key", *disbursement(7))
    assert not ra.replayed and not rb.replayed and ra.entry_id != rb.entry_id
