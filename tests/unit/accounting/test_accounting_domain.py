"""Posting rules of the general ledger, without a database."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from dipper.accounting import domain
from dipper.accounting.commands import PostingLine
from dipper.kernel.errors import Conflict, UnbalancedEntry, ValidationFailed

D = date(2026, 3, 31)


def line(code: str = "1303", cur: str = "CNY", d: object = 0, c: object = 0, memo: str = "") -> PostingLine:
    return PostingLine(account_code=code, currency=cur, debit_minor=d, credit_minor=c, memo=memo)  # type: ignore[arg-type]


def check(
    lines: list[PostingLine],
    description: object = "disbursement",
    source: object = "manual",
    value_date: object = D,
) -> str:
    return domain.check_entry(description=description, source=source, value_date=value_date, lines=lines)


def test_normal_balance_follows_type_and_contra_flips_it() -> None:
    assert domain.normal_balance_of("asset") is domain.NormalBalance.DEBIT
    assert domain.normal_balance_of("expense") is domain.NormalBalance.DEBIT
    assert domain.normal_balance_of("liability") is domain.NormalBalance.CREDIT
    assert domain.normal_balance_of("equity") is domain.NormalBalance.CREDIT
    assert domain.normal_balance_of("income") is domain.NormalBalance.CREDIT
    assert domain.normal_balance_of("asset", contra=True) is domain.NormalBalance.CREDIT
    with pytest.raises(ValidationFailed) as e:
        domain.normal_balance_of("revenue")
    assert e.value.code == "invalid_account_type"


def test_signed_balance_is_positive_in_the_normal_direction() -> None:
    assert domain.signed_balance("debit", 500, 200) == 300
    assert domain.signed_balance("credit", 500, 200) == -300
    assert domain.signed_balance(domain.NormalBalance.CREDIT, 0, 70) == 70


def test_a_balanced_entry_passes_and_its_description_is_trimmed() -> None:
    assert check([line(d=100), line("1002", c=100)], description="  放款  ") == "放款"


@pytest.mark.parametrize("lines", [[], [line(d=100)]])
def test_an_entry_needs_two_lines(lines: list[PostingLine]) -> None:
    with pytest.raises(ValidationFailed) as e:
        check(lines)
    assert e.value.code == "invalid_lines"


def test_too_many_lines_are_refused() -> None:
    n = domain.MAX_LINES + 2
    with pytest.raises(ValidationFailed) as e:
        check([line(d=1)] * (n // 2) + [line("1002", c=1)] * (n // 2))
    assert e.value.code == "invalid_lines"


@pytest.mark.parametrize(
    ("d", "c", "code"),
    [
        (0, 0, "invalid_line"),  # zero line
        (100, 100, "invalid_line"),  # both sides
        (-100, 0, "invalid_amount"),
        (0, -5, "invalid_amount"),
        (1.0, 0, "invalid_amount"),  # float
        (Decimal("1"), 0, "invalid_amount"),
        (True, 0, "invalid_amount"),  # bool is an int subclass
        ("100", 0, "invalid_amount"),
        (domain.MAX_AMOUNT_MINOR + 1, 0, "invalid_amount"),
    ],
)
def test_each_line_has_exactly_one_positive_integer_side(d: object, c: object, code: str) -> None:
    with pytest.raises(ValidationFailed) as e:
        check([line(d=d, c=c), line("1002", c=100)])
    assert e.value.code == code
    assert e.value.details["line_no"] == 1


def test_the_largest_allowed_amount_is_accepted() -> None:
    check([line(d=domain.MAX_AMOUNT_MINOR), line("1002", c=domain.MAX_AMOUNT_MINOR)])


def test_unbalanced_entry_reports_totals_of_every_currency() -> None:
    lines = [line(d=100), line("1002", c=100), line(cur="USD", d=7), line("1002", cur="USD", c=5)]
    with pytest.raises(UnbalancedEntry) as e:
        check(lines)
    assert e.value.code == "unbalanced_entry"
    assert e.value.details["unbalanced"] == ["USD"]
    assert e.value.details["totals"] == {
        "CNY": {"debit_minor": 100, "credit_minor": 100},
        "USD": {"debit_minor": 7, "credit_minor": 5},
    }


def test_currencies_do_not_offset_each_other() -> None:
    # 100 CNY debit against 100 USD credit is equal in numbers but unbalanced in both currencies.
    with pytest.raises(UnbalancedEntry) as e:
        check([line(d=100), line("1002", cur="USD", c=100)])
    assert e.value.details["unbalanced"] == ["CNY", "USD"]


def test_multi_currency_entry_balanced_per_currency_passes() -> None:
    lines = [
        line("3002", d=700),
        line("1002", c=700),
        line("1002", cur="USD", d=100),
        line("3002", cur="USD", c=100),
    ]
    check(lines)
    assert domain.check_balanced(lines) == {"CNY": (700, 700), "USD": (100, 100)}


@pytest.mark.parametrize("cur", ["cny", "CN", "CNYY", "", "C1Y", "人民币"])
def test_currency_is_three_upper_case_letters(cur: str) -> None:
    with pytest.raises(ValidationFailed) as e:
        check([line(cur=cur, d=1), line("1002", cur=cur, c=1)])
    assert e.value.code == "invalid_currency"


@pytest.mark.parametrize("description", ["", "   ", "x" * (domain.MAX_DESCRIPTION + 1), None])
def test_description_is_required_and_bounded(description: object) -> None:
    with pytest.raises(ValidationFailed) as e:
        check([line(d=1), line("1002", c=1)], description=description)
    assert e.value.code == "invalid_description"


def test_value_date_must_be_a_date_not_a_timestamp() -> None:
    with pytest.raises(ValidationFailed) as e:
        check([line(d=1), line("1002", c=1)], value_date=datetime(2026, 3, 31, 12))
    assert e.value.code == "invalid_value_date"
    with pytest.raises(ValidationFailed):
        check([line(d=1), line("1002", c=1)], value_date="2026-03-31")


@pytest.mark.parametrize("code", ["130", "13030", "abcd", "1303-01", "", "1303010101011"])
def test_account_codes_are_digits_in_levels(code: str) -> None:
    with pytest.raises(ValidationFailed) as e:
        domain.check_account_code(code)
    assert e.value.code == "invalid_account_code"
    for ok in ("1303", "130301", "13030101"):
        assert domain.check_account_code(ok) == ok


@pytest.mark.parametrize("key", ["", "a b", "x" * 129, "键", "tab\t"])
def test_client_keys_are_printable_ascii(key: str) -> None:
    with pytest.raises(ValidationFailed) as e:
        domain.check_client_key(key)
    assert e.value.code == "invalid_client_key"
    assert domain.check_client_key("loan:L-1:disburse") == "loan:L-1:disburse"


def test_memo_and_source_are_bounded() -> None:
    with pytest.raises(ValidationFailed) as e:
        check([line(d=1, memo="m" * (domain.MAX_MEMO + 1)), line("1002", c=1)])
    assert e.value.code == "invalid_memo"
    with pytest.raises(ValidationFailed) as e:
        check([line(d=1), line("1002", c=1)], source="Loans Module")
    assert e.value.code == "invalid_source"


def test_accounts_must_be_known_and_active() -> None:
    known = {"1303": domain.AccountState("1303", "active"), "1002": domain.AccountState("1002", "closed")}
    with pytest.raises(ValidationFailed) as e:
        domain.check_accounts_usable(["1303", "9999"], known)
    assert (e.value.code, e.value.details["account_codes"]) == ("unknown_account", ["9999"])
    with pytest.raises(ValidationFailed) as e:
        domain.check_accounts_usable(["1303", "1002"], known)
    assert (e.value.code, e.value.details["account_codes"]) == ("inactive_account", ["1002"])
    domain.check_accounts_usable(["1303"], known)


def test_mirror_swaps_debits_and_credits_and_keeps_the_rest() -> None:
    original = [line(d=100, memo="p"), line("1002", c=100)]
    mirrored = domain.mirror(original)
    assert [(m.account_code, m.debit_minor, m.credit_minor, m.memo) for m in mirrored] == [
        ("1303", 0, 100, "p"),
        ("1002", 100, 0, ""),
    ]
    assert domain.mirror(mirrored) == tuple(original)


def test_reversal_rules() -> None:
    ok = {"original_value_date": D, "value_date": D}
    domain.check_reversal(original_is_reversal=False, already_reversed_by=None, **ok)
    with pytest.raises(Conflict) as e:
        domain.check_reversal(original_is_reversal=True, already_reversed_by=None, **ok)
    assert e.value.code == "cannot_reverse_reversal"
    with pytest.raises(Conflict) as e:
        domain.check_reversal(original_is_reversal=False, already_reversed_by="E2", **ok)
    assert e.value.code == "already_reversed"
    with pytest.raises(ValidationFailed) as e:
        domain.check_reversal(
            original_is_reversal=False,
            already_reversed_by=None,
            original_value_date=D,
            value_date=date(2026, 3, 30),
        )
    assert e.value.code == "reversal_before_original"


def test_digest_tells_a_retry_from_a_different_request() -> None:
    lines = (line(d=100), line("1002", c=100))
    a = domain.posting_digest(value_date=D, description="x", source="manual", lines=lines)
    assert a == domain.posting_digest(value_date=D, description="x", source="manual", lines=lines)
    assert a != domain.posting_digest(
        value_date=D, description="x", source="manual", lines=(line(d=101), line("1002", c=101))
    )
    assert a != domain.posting_digest(
        value_date=date(2026, 4, 1), description="x", source="manual", lines=lines
    )
    assert a != domain.posting_digest(value_date=D, description="x", source="manual", lines=lines[::-1])
    domain.check_idempotent_replay(stored_digest=a, digest=a, client_key="k")
    with pytest.raises(Conflict) as e:
        domain.check_idempotent_replay(stored_digest=a, digest="other", client_key="k")
    assert e.value.code == "idempotency_key_reused"


def test_new_accounts_extend_their_parent() -> None:
    parent = next(a for a in domain.DEFAULT_CHART if a.code == domain.LOAN_PRINCIPAL)
    assert domain.check_new_account(
        code="130301",
        name=" 消费贷 ",
        name_en="Consumer",
        account_type="asset",
        parent=parent,
        parent_code="1303",
    ) == ("130301", "消费贷", "Consumer", domain.AccountType.ASSET)
    cases = [
        ({"code": "130401", "parent": parent, "parent_code": "1303"}, "invalid_account_code"),
        ({"code": "13030101", "parent": parent, "parent_code": "1303"}, "invalid_account_code"),
        (
            {"code": "130301", "parent": parent, "parent_code": "1303", "account_type": "income"},
            "invalid_account_type",
        ),
        ({"code": "130301", "parent": None, "parent_code": "1303"}, "unknown_parent_account"),
        ({"code": "130301", "parent": None, "parent_code": None}, "unknown_parent_account"),
        ({"code": "1399", "parent": None, "parent_code": None, "name": " "}, "invalid_account_name"),
        (
            {"code": "1399", "parent": None, "parent_code": None, "account_type": "memo"},
            "invalid_account_type",
        ),
    ]
    for kwargs, code in cases:
        args = {"name": "n", "name_en": "n", "account_type": "asset", **kwargs}
        with pytest.raises(ValidationFailed) as e:
            domain.check_new_account(**args)  # type: ignore[arg-type]
        assert e.value.code == code, kwargs
