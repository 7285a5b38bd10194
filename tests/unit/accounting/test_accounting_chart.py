"""The default chart of accounts every new bank starts with."""

from __future__ import annotations

from dipper.accounting import domain, queries

CHART = {a.code: a for a in domain.DEFAULT_CHART}

# First digit of a Chinese GL code: 1 assets, 2 liabilities, 3 common, 4 equity, 6 profit and loss, 7 memo.
CLASS_TYPES = {
    "1": {"asset"},
    "2": {"liability"},
    "3": {"asset", "liability"},
    "4": {"equity"},
    "6": {"income", "expense"},
    "7": {"asset"},
}


def test_codes_are_unique_and_well_formed() -> None:
    assert len(CHART) == len(domain.DEFAULT_CHART)
    for a in domain.DEFAULT_CHART:
        domain.check_account_code(a.code)
        assert a.name.strip() and a.name_en.strip()
        assert a.account_type.value in CLASS_TYPES[a.code[0]], a.code


def test_parents_exist_and_come_first() -> None:
    seen: set[str] = set()
    for a in domain.DEFAULT_CHART:
        if a.parent_code is not None:
            assert a.parent_code in seen
            assert a.code.startswith(a.parent_code)
        seen.add(a.code)


def test_named_codes_are_in_the_chart_with_the_expected_meaning() -> None:
    expected = {
        queries.CASH: ("1001", "asset", "debit", False),
        queries.BANK_DEPOSITS: ("1002", "asset", "debit", False),
        queries.LOAN_PRINCIPAL: ("1303", "asset", "debit", True),
        queries.LOAN_LOSS_PROVISION: ("1304", "asset", "credit", True),  # contra-asset
        queries.INTEREST_RECEIVABLE: ("1132", "asset", "debit", True),
        queries.PENALTY_RECEIVABLE: ("1133", "asset", "debit", True),
        queries.SUSPENSE_RECEIPTS: ("2242", "liability", "credit", True),
        queries.SUSPENSE_PAYMENTS: ("1222", "asset", "debit", True),
        queries.CLEARING: ("3001", "asset", "debit", True),
        queries.BORROWER_OVERPAYMENTS: ("2243", "liability", "credit", True),
        queries.PAID_IN_CAPITAL: ("4001", "equity", "credit", False),
        queries.RETAINED_EARNINGS: ("4104", "equity", "credit", False),
        queries.INTEREST_INCOME: ("6011", "income", "credit", True),
        queries.PENALTY_INTEREST_INCOME: ("6012", "income", "credit", True),
        queries.FEE_INCOME: ("6021", "income", "credit", False),
        queries.PROVISION_EXPENSE: ("6702", "expense", "debit", True),
        queries.ASSET_IMPAIRMENT_LOSS: ("6701", "expense", "debit", False),
        queries.WRITTEN_OFF_LOANS: ("7001", "asset", "debit", True),
        queries.WRITTEN_OFF_LOANS_CONTRA: ("7002", "asset", "credit", True),
    }
    for code, (literal, kind, normal, control) in expected.items():
        a = CHART[code]
        assert (a.code, a.account_type.value, a.normal_balance.value, a.is_control) == (
            literal,
            kind,
            normal,
            control,
        )


def test_the_write_off_memorandum_pair_sits_on_opposite_sides_of_the_same_class() -> None:
    # Debit 7001 / credit 7002 for the same amount: both show a positive balance, and total assets
    # (both are in the asset class) do not move, as an off-balance register must not.
    memo, contra = CHART[queries.WRITTEN_OFF_LOANS], CHART[queries.WRITTEN_OFF_LOANS_CONTRA]
    assert memo.account_type is contra.account_type is domain.AccountType.ASSET
    assert domain.signed_balance(memo.normal_balance, 500, 0) == 500
    assert domain.signed_balance(contra.normal_balance, 0, 500) == 500


def test_every_public_code_is_exported_by_queries() -> None:
    for name in queries.__all__:
        if name.isupper() and not name.endswith(("PATTERN",)) and not name.startswith("MAX_"):
            assert getattr(queries, name) in CHART, name
