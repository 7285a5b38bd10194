"""Trial balance, account balances, the account ledger and entry lists."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from dipper.accounting import commands, handlers, queries
from dipper.kernel.errors import NotFound, PermissionDenied, ValidationFailed

D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 15), date(2026, 3, 31)


def ln(code: str, cur: str = "CNY", d: int = 0, c: int = 0) -> commands.PostingLine:
    return commands.PostingLine(account_code=code, currency=cur, debit_minor=d, credit_minor=c)


def post(bank: Any, key: str, value_date: date, *lines: commands.PostingLine) -> str:
    result = bank.container.handle(
        commands.PostJournalEntry(
            tenant_id=bank.tenant_id,
            client_key=key,
            value_date=value_date,
            description=key,
            lines=lines,
        ),
        tenant_id=bank.tenant_id,
    )
    return str(result.entry_id)


def uow(bank: Any) -> Any:
    return bank.container.uow(bank.tenant_id)


@pytest.fixture
def book(bank: Any) -> Any:
    """Capital paid in on D1, a loan disbursed on D2; interest, a USD deposit and a provision on D3."""
    post(
        bank,
        "capital",
        D1,
        ln(queries.BANK_DEPOSITS, d=10_000_000),
        ln(queries.PAID_IN_CAPITAL, c=10_000_000),
    )
    post(bank, "disburse", D2, ln(queries.LOAN_PRINCIPAL, d=300_000), ln(queries.BANK_DEPOSITS, c=300_000))
    post(bank, "accrue", D3, ln(queries.INTEREST_RECEIVABLE, d=1_500), ln(queries.INTEREST_INCOME, c=1_500))
    post(
        bank,
        "usd",
        D3,
        ln(queries.BANK_DEPOSITS, "USD", d=2_000),
        ln(queries.CUSTOMER_DEPOSITS, "USD", c=2_000),
    )
    post(bank, "provision", D3, ln(queries.PROVISION_EXPENSE, d=900), ln(queries.LOAN_LOSS_PROVISION, c=900))
    return bank


def figures(tb: queries.TrialBalance) -> dict[tuple[str, str], tuple[int, int, int]]:
    return {(x.account_code, x.currency): (x.debit_minor, x.credit_minor, x.balance_minor) for x in tb.lines}


def test_trial_balance_before_any_entry_is_empty_and_balanced(book: Any) -> None:
    tb = queries.trial_balance(uow(book), date(2026, 2, 28))
    assert tb.lines == [] and tb.totals == {} and tb.balanced is True


def test_trial_balance_includes_only_entries_up_to_the_date(book: Any) -> None:
    tb = queries.trial_balance(uow(book), D1)
    assert figures(tb) == {
        ("1002", "CNY"): (10_000_000, 0, 10_000_000),
        ("4001", "CNY"): (0, 10_000_000, 10_000_000),
    }
    tb = queries.trial_balance(uow(book), date(2026, 3, 30))
    assert figures(tb)[("1002", "CNY")] == (10_000_000, 300_000, 9_700_000)
    assert figures(tb)[("1303", "CNY")] == (300_000, 0, 300_000)
    assert ("1132", "CNY") not in figures(tb)
    assert tb.totals == {"CNY": (10_300_000, 10_300_000)} and tb.balanced


def test_trial_balance_is_per_currency_with_normal_direction_balances(book: Any) -> None:
    tb = queries.trial_balance(uow(book), D3)
    f = figures(tb)
    assert f[("1002", "USD")] == (2_000, 0, 2_000)
    assert f[("2011", "USD")] == (0, 2_000, 2_000)  # a liability's credit balance is positive
    assert f[("1304", "CNY")] == (0, 900, 900)  # contra-asset: credit balance is its normal balance
    assert f[("6702", "CNY")] == (900, 0, 900)
    assert f[("6011", "CNY")] == (0, 1_500, 1_500)
    assert tb.totals == {"CNY": (10_302_400, 10_302_400), "USD": (2_000, 2_000)}
    assert tb.balanced
    assert [x.account_code for x in tb.lines] == sorted(x.account_code for x in tb.lines)
    line = next(x for x in tb.lines if x.account_code == "1303")
    assert (line.account_name, line.account_name_en, line.account_type) == (
        "贷款",
        "Loans (principal)",
        "asset",
    )
    usd = queries.trial_balance(uow(book), D3, currency="USD")
    assert {x.currency for x in usd.lines} == {"USD"} and usd.totals == {"USD": (2_000, 2_000)}


def test_account_balance(book: Any) -> None:
    assert queries.account_balance(uow(book), "1002", D1, "CNY") == 10_000_000
    assert queries.account_balance(uow(book), "1002", D3, "CNY") == 9_700_000
    assert queries.account_balance(uow(book), "1002", D3, "USD") == 2_000
    assert queries.account_balance(uow(book), "1002", D3, "EUR") == 0
    assert queries.account_balance(uow(book), "4001", date(2026, 2, 1), "CNY") == 0
    with pytest.raises(NotFound) as e:
        queries.account_balance(uow(book), "1999", D3, "CNY")
    assert e.value.code == "account_not_found"
    with pytest.raises(ValidationFailed):
        queries.account_balance(uow(book), "1002", D3, "cny")


def test_account_ledger_running_balance_with_opening_balance(bank: Any) -> None:
    for i, day in enumerate([1, 2, 2, 5, 9], start=1):
        post(
            bank,
            f"cash-{i}",
            date(2026, 3, day),
            ln(queries.CASH, d=100 * i),
            ln(queries.BANK_DEPOSITS, c=100 * i),
        )
    post(bank, "cash-out", date(2026, 3, 6), ln(queries.BANK_DEPOSITS, d=50), ln(queries.CASH, c=50))
    full = queries.account_ledger(uow(bank), queries.CASH, "CNY")
    assert [x.balance_minor for x in full.lines] == [100, 300, 600, 1_000, 950, 1_450]
    assert (full.opening_balance_minor, full.closing_balance_minor, full.total) == (0, 1_450, 6)
    window = queries.account_ledger(
        uow(bank), queries.CASH, "CNY", since=date(2026, 3, 3), until=date(2026, 3, 6)
    )
    assert window.opening_balance_minor == 600
    assert [(x.value_date.day, x.debit_minor, x.credit_minor, x.balance_minor) for x in window.lines] == [
        (5, 400, 0, 1_000),
        (6, 0, 50, 950),
    ]
    assert window.closing_balance_minor == 950 and window.total == 2
    page = queries.account_ledger(uow(bank), queries.CASH, "CNY", limit=2, offset=3)
    assert [x.balance_minor for x in page.lines] == [1_000, 950]  # the running balance ignores paging
    assert page.closing_balance_minor == 1_450
    credit_side = queries.account_ledger(uow(bank), queries.BANK_DEPOSITS, "CNY")
    assert credit_side.lines[-1].balance_minor == -1_450  # a debit-normal account in credit shows negative
    with pytest.raises(ValidationFailed) as e:
        queries.account_ledger(uow(bank), queries.CASH, "CNY", since=date(2026, 3, 7), until=date(2026, 3, 6))
    assert e.value.code == "invalid_date_range"


def test_list_entries_filters_and_pages(book: Any) -> None:
    page = queries.list_entries(uow(book))
    assert page.total == 5
    assert [e.client_key for e in page.entries] == [
        "provision",
        "usd",
        "accrue",
        "disburse",
        "capital",
    ]  # newest value date first
    by_account = queries.list_entries(uow(book), account_code=queries.BANK_DEPOSITS)
    assert {e.client_key for e in by_account.entries} == {"capital", "disburse", "usd"}
    dated = queries.list_entries(uow(book), since=D2, until=D2)
    assert [e.client_key for e in dated.entries] == ["disburse"]
    paged = queries.list_entries(uow(book), limit=1, offset=1)
    assert paged.total == 5 and [e.client_key for e in paged.entries] == ["usd"]
    assert all(e.lines for e in page.entries)
    for bad in ({"limit": 0}, {"limit": queries.MAX_PAGE + 1}, {"offset": -1}):
        with pytest.raises(ValidationFailed):
            queries.list_entries(uow(book), **bad)


def test_seeding_the_chart_twice_adds_nothing(bank: Any) -> None:
    accounts = queries.list_accounts(uow(bank))
    assert len(accounts) >= 30
    assert handlers.seed_default_chart(bank.tenant_id, bank.container.uow(None)) == 0
    assert [a.code for a in queries.list_accounts(uow(bank))] == [a.code for a in accounts]


def test_queries_without_a_bank_are_refused(container: Any) -> None:
    with pytest.raises(PermissionDenied) as e:
        queries.trial_balance(container.uow(None), D3)
    assert e.value.code == "tenant_required"
