"""Property: whatever sequence of postings, refusals and reversals a bank goes through, its trial
balance balances in every currency and matches a plain-Python model of the ledger."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from dipper.access import commands as access_commands
from dipper.accounting import commands, queries
from dipper.kernel.errors import Conflict, UnbalancedEntry, ValidationFailed
from dipper.kernel.ids import new_id

ACCOUNTS = ["1001", "1303", "1304", "2011", "6011"]  # debit- and credit-normal, a contra account among them
CURRENCIES = ["CNY", "USD"]
DATES = [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 5)]
NORMAL = {"1001": "debit", "1303": "debit", "1304": "credit", "2011": "credit", "6011": "credit"}

amounts = st.integers(min_value=1, max_value=10**9)


@st.composite
def leg_group(draw: Any, currency: str) -> list[tuple[str, str, int, int]]:
    """Lines in one currency whose debits equal their credits (credits split the debit total)."""
    debits = draw(st.lists(amounts, min_size=1, max_size=3))
    total = sum(debits)
    cuts = sorted(set(draw(st.lists(st.integers(1, max(1, total - 1)), max_size=2)))) if total > 1 else []
    credits = [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]
    lines = [(draw(st.sampled_from(ACCOUNTS)), currency, d, 0) for d in debits]
    lines += [(draw(st.sampled_from(ACCOUNTS)), currency, 0, c) for c in credits]
    return draw(st.permutations(lines))


@st.composite
def post_op(draw: Any) -> tuple[str, date, list[tuple[str, str, int, int]], bool]:
    currencies = draw(st.lists(st.sampled_from(CURRENCIES), min_size=1, max_size=2, unique=True))
    lines = [ln for cur in currencies for ln in draw(leg_group(cur))]
    unbalanced = draw(st.booleans()) and draw(st.booleans())  # about one entry in four is refused
    if unbalanced:
        i = draw(st.integers(0, len(lines) - 1))
        acct, cur, d, c = lines[i]
        bump = draw(st.integers(1, 1000))
        lines[i] = (acct, cur, d + bump, 0) if d else (acct, cur, 0, c + bump)
    return ("post", draw(st.sampled_from(DATES)), lines, unbalanced)


# Reversals aim at recent entries (counted from the newest), so reversing a reversal or reversing
# twice happens often enough to be tested.
reverse_op = st.tuples(st.just("reverse"), st.sampled_from(DATES), st.integers(0, 3))
operations = st.lists(st.one_of(post_op(), reverse_op), min_size=1, max_size=14)


@dataclass
class Model:
    """The ledger as plain Python: accepted entries only."""

    entries: list[dict[str, Any]] = field(default_factory=list)

    def figures(self, as_of: date) -> dict[tuple[str, str], tuple[int, int]]:
        sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        for e in self.entries:
            if e["value_date"] <= as_of:
                for acct, cur, d, c in e["lines"]:
                    sums[(acct, cur)][0] += d
                    sums[(acct, cur)][1] += c
        return {k: (v[0], v[1]) for k, v in sums.items()}


def new_bank(container: Any) -> str:
    tenant_id = new_id()
    container.handle(
        access_commands.CreateTenant(
            tenant_id=tenant_id, code=f"p{uuid.uuid4().hex[:12]}", name="Property bank"
        )
    )
    return tenant_id


@settings(max_examples=40, deadline=None)
@given(ops=operations)
def test_ledger_matches_a_model_and_always_balances(container: Any, ops: list[Any]) -> None:
    tenant_id = new_bank(container)  # one bank per example: figures of other examples never mix in
    model = Model()
    refused_keys: list[str] = []

    def handle(cmd: Any) -> Any:
        return container.handle(cmd, tenant_id=tenant_id)

    for n, op in enumerate(ops):
        key = f"op-{n}"
        if op[0] == "post":
            _, value_date, lines, unbalanced = op
            cmd = commands.PostJournalEntry(
                tenant_id=tenant_id,
                client_key=key,
                value_date=value_date,
                description=f"entry {n}",
                lines=tuple(
                    commands.PostingLine(account_code=a, currency=cur, debit_minor=d, credit_minor=c)
                    for a, cur, d, c in lines
                ),
            )
            if unbalanced:
                try:
                    handle(cmd)
                except UnbalancedEntry:
                    event("unbalanced entry refused")
                    refused_keys.append(key)
                    continue
                raise AssertionError("an unbalanced entry was posted")
            result = handle(cmd)
            model.entries.append(
                {
                    "id": result.entry_id,
                    "value_date": value_date,
                    "lines": lines,
                    "reversal": False,
                    "reversed": False,
                }
            )
        else:
            _, value_date, pick = op
            if not model.entries:
                continue
            target = model.entries[-1 - pick % len(model.entries)]
            rev = commands.ReverseJournalEntry(
                tenant_id=tenant_id,
                entry_id=target["id"],
                client_key=key,
                reason="property",
                value_date=value_date,
            )
            expected = (
                "cannot_reverse_reversal"
                if target["reversal"]
                else "already_reversed"
                if target["reversed"]
                else "reversal_before_original"
                if value_date < target["value_date"]
                else None
            )
            try:
                result = handle(rev)
            except (Conflict, ValidationFailed) as exc:
                assert exc.code == expected, (exc.code, expected)
                event(f"reversal refused: {exc.code}")
                refused_keys.append(key)
                continue
            assert expected is None, expected
            event("reversal posted")
            target["reversed"] = True
            model.entries.append(
                {
                    "id": result.entry_id,
                    "value_date": value_date,
                    "reversal": True,
                    "reversed": False,
                    "lines": [(a, cur, c, d) for a, cur, d, c in target["lines"]],
                }
            )

    uow = container.uow(tenant_id)
    for as_of in [date(2026, 2, 28), *DATES]:
        tb = queries.trial_balance(uow, as_of)
        assert tb.balanced
        for cur, (d, c) in tb.totals.items():
            assert d == c, cur
        actual = {(x.account_code, x.currency): (x.debit_minor, x.credit_minor) for x in tb.lines}
        assert actual == model.figures(as_of)
        for x in tb.lines:
            sign = 1 if NORMAL[x.account_code] == "debit" else -1
            assert x.balance_minor == sign * (x.debit_minor - x.credit_minor)
        # The per-account query agrees with the trial balance.
        for (acct, cur), (d, c) in list(actual.items())[:3]:
            sign = 1 if NORMAL[acct] == "debit" else -1
            assert queries.account_balance(uow, acct, as_of, cur) == sign * (d - c)

    assert queries.list_entries(uow, limit=1).total == len(model.entries)
    for key in refused_keys:  # refusals leave no trace, not even a consumed key
        assert queries.find_entry_by_client_key(uow, key) is None
