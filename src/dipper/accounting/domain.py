"""Pure rules of the general ledger: account types and normal balances, the default chart,
and what makes a journal entry postable (no SQLAlchemy, no I/O).

Money is integer minor units (fen) with a three-letter currency code; a float never
reaches a posting, because a rounding error in a ledger is a finding in an audit.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from dipper.accounting.commands import PostingLine
from dipper.kernel.errors import Conflict, UnbalancedEntry, ValidationFailed


class AccountType(StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    INCOME = "income"
    EXPENSE = "expense"


class NormalBalance(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"


class AccountStatus(StrEnum):
    ACTIVE = "active"
    CLOSED = "closed"


_NORMAL = {
    AccountType.ASSET: NormalBalance.DEBIT,
    AccountType.EXPENSE: NormalBalance.DEBIT,
    AccountType.LIABILITY: NormalBalance.CREDIT,
    AccountType.EQUITY: NormalBalance.CREDIT,
    AccountType.INCOME: NormalBalance.CREDIT,
}


def normal_balance_of(account_type: AccountType | str, *, contra: bool = False) -> NormalBalance:
    """Assets and expenses grow by debits; liabilities, equity and income by credits.
    A contra account (loan loss provisions under assets) sits on the other side of its type."""
    normal = _NORMAL[parse_account_type(account_type)]
    if contra:
        return NormalBalance.CREDIT if normal is NormalBalance.DEBIT else NormalBalance.DEBIT
    return normal


def parse_account_type(value: AccountType | str) -> AccountType:
    try:
        return AccountType(value)
    except ValueError:
        raise ValidationFailed(
            "account_type is asset, liability, equity, income or expense",
            code="invalid_account_type",
            details={"allowed": [t.value for t in AccountType]},
        ) from None


def signed_balance(normal: NormalBalance | str, debit_minor: int, credit_minor: int) -> int:
    """The balance in the account's normal direction: positive is the usual state."""
    if NormalBalance(normal) is NormalBalance.DEBIT:
        return debit_minor - credit_minor
    return credit_minor - debit_minor


# -- the default chart of accounts ------------------------------------------------------------------
#
# Codes follow the Chinese GL numbering for financial enterprises (企业会计准则应用指南, 金融企业):
# 1 assets, 2 liabilities, 3 common (clearing, FX), 4 equity, 6 profit and loss. Where the national
# list has no code for something a retail lender needs separately (penalty interest receivable,
# suspense, borrower overpayments) the next free code in the right class is used. Written-off
# loans are an off-balance memorandum (表外登记) kept in double entry as a 7xxx pair that nets to zero.

LOAN_PRINCIPAL = "1303"
LOAN_LOSS_PROVISION = "1304"
INTEREST_RECEIVABLE = "1132"
PENALTY_RECEIVABLE = "1133"
FEE_RECEIVABLE = "1134"
CASH = "1001"
BANK_DEPOSITS = "1002"
CENTRAL_BANK_RESERVES = "1003"
DUE_FROM_BANKS = "1011"
OTHER_RECEIVABLES = "1221"
SUSPENSE_PAYMENTS = "1222"
CUSTOMER_DEPOSITS = "2011"
DUE_TO_BANKS = "2012"
TAXES_PAYABLE = "2221"
INTEREST_PAYABLE = "2231"
OTHER_PAYABLES = "2241"
SUSPENSE_RECEIPTS = "2242"
BORROWER_OVERPAYMENTS = "2243"
CLEARING = "3001"
FX_POSITION = "3002"
PAID_IN_CAPITAL = "4001"
CAPITAL_RESERVE = "4002"
SURPLUS_RESERVE = "4101"
GENERAL_RISK_RESERVE = "4102"
CURRENT_YEAR_PROFIT = "4103"
RETAINED_EARNINGS = "4104"
INTEREST_INCOME = "6011"
PENALTY_INTEREST_INCOME = "6012"
FEE_INCOME = "6021"
OTHER_OPERATING_INCOME = "6051"
NON_OPERATING_INCOME = "6301"
TAXES_AND_SURCHARGES = "6403"
INTEREST_EXPENSE = "6411"
FEE_EXPENSE = "6421"
GENERAL_AND_ADMIN_EXPENSES = "6602"
ASSET_IMPAIRMENT_LOSS = "6701"
CREDIT_IMPAIRMENT_LOSS = "6702"
PROVISION_EXPENSE = CREDIT_IMPAIRMENT_LOSS  # loan provisions go to 信用减值损失 since CAS 22 (2017)
NON_OPERATING_EXPENSES = "6711"
WRITTEN_OFF_LOANS = "7001"
WRITTEN_OFF_LOANS_CONTRA = "7002"


@dataclass(frozen=True)
class ChartAccount:
    code: str
    name: str
    name_en: str
    account_type: AccountType
    parent_code: str | None = None
    is_control: bool = False
    contra: bool = False

    @property
    def normal_balance(self) -> NormalBalance:
        return normal_balance_of(self.account_type, contra=self.contra)


_A, _L, _E, _I, _X = (
    AccountType.ASSET,
    AccountType.LIABILITY,
    AccountType.EQUITY,
    AccountType.INCOME,
    AccountType.EXPENSE,
)

DEFAULT_CHART: tuple[ChartAccount, ...] = (
    ChartAccount(CASH, "库存现金", "Cash on hand", _A),
    ChartAccount(BANK_DEPOSITS, "银行存款", "Deposits with banks", _A),
    ChartAccount(CENTRAL_BANK_RESERVES, "存放中央银行款项", "Deposits with the central bank (reserves)", _A),
    ChartAccount(DUE_FROM_BANKS, "存放同业", "Due from banks", _A),
    ChartAccount(INTEREST_RECEIVABLE, "应收利息", "Interest receivable", _A, is_control=True),
    ChartAccount(PENALTY_RECEIVABLE, "应收罚息", "Penalty interest receivable", _A, is_control=True),
    ChartAccount(FEE_RECEIVABLE, "应收手续费", "Fees receivable", _A, is_control=True),
    ChartAccount(OTHER_RECEIVABLES, "其他应收款", "Other receivables", _A),
    ChartAccount(SUSPENSE_PAYMENTS, "暂付款项", "Suspense payments (挂账, debit side)", _A, is_control=True),
    ChartAccount(LOAN_PRINCIPAL, "贷款", "Loans (principal)", _A, is_control=True),
    ChartAccount(
        LOAN_LOSS_PROVISION, "贷款损失准备", "Loan loss provisions", _A, is_control=True, contra=True
    ),
    ChartAccount(CUSTOMER_DEPOSITS, "吸收存款", "Customer deposits", _L),
    ChartAccount(DUE_TO_BANKS, "同业存放", "Due to banks", _L),
    ChartAccount(TAXES_PAYABLE, "应交税费", "Taxes payable", _L),
    ChartAccount(INTEREST_PAYABLE, "应付利息", "Interest payable", _L),
    ChartAccount(OTHER_PAYABLES, "其他应付款", "Other payables", _L),
    ChartAccount(SUSPENSE_RECEIPTS, "暂收款项", "Suspense receipts (unallocated, 挂账)", _L, is_control=True),
    ChartAccount(
        BORROWER_OVERPAYMENTS, "借款人溢缴款", "Borrower overpayments (credit balances)", _L, is_control=True
    ),
    # Common class (3xxx) accounts may carry either sign; they are kept on the asset side.
    ChartAccount(CLEARING, "清算资金往来", "Clearing and settlement", _A, is_control=True),
    ChartAccount(FX_POSITION, "货币兑换", "Currency exchange position", _A),
    ChartAccount(PAID_IN_CAPITAL, "实收资本", "Paid-in capital", _E),
    ChartAccount(CAPITAL_RESERVE, "资本公积", "Capital reserve", _E),
    ChartAccount(SURPLUS_RESERVE, "盈余公积", "Surplus reserve", _E),
    ChartAccount(GENERAL_RISK_RESERVE, "一般风险准备", "General risk reserve", _E),
    ChartAccount(CURRENT_YEAR_PROFIT, "本年利润", "Current-year profit", _E),
    ChartAccount(RETAINED_EARNINGS, "利润分配", "Retained earnings (profit distribution)", _E),
    ChartAccount(INTEREST_INCOME, "利息收入", "Interest income", _I, is_control=True),
    ChartAccount(PENALTY_INTEREST_INCOME, "罚息收入", "Penalty interest income", _I, is_control=True),
    ChartAccount(FEE_INCOME, "手续费及佣金收入", "Fee and commission income", _I),
    ChartAccount(OTHER_OPERATING_INCOME, "其他业务收入", "Other operating income", _I),
    ChartAccount(NON_OPERATING_INCOME, "营业外收入", "Non-operating income", _I),
    ChartAccount(TAXES_AND_SURCHARGES, "税金及附加", "Taxes and surcharges", _X),
    ChartAccount(INTEREST_EXPENSE, "利息支出", "Interest expense", _X),
    ChartAccount(FEE_EXPENSE, "手续费及佣金支出", "Fee and commission expense", _X),
    ChartAccount(GENERAL_AND_ADMIN_EXPENSES, "业务及管理费", "General and administrative expenses", _X),
    ChartAccount(ASSET_IMPAIRMENT_LOSS, "资产减值损失", "Asset impairment loss", _X),
    ChartAccount(
        CREDIT_IMPAIRMENT_LOSS,
        "信用减值损失",
        "Credit impairment loss (loan provisions)",
        _X,
        is_control=True,
    ),
    ChartAccount(NON_OPERATING_EXPENSES, "营业外支出", "Non-operating expenses", _X),
    ChartAccount(WRITTEN_OFF_LOANS, "已核销贷款", "Written-off loans (memorandum)", _A, is_control=True),
    ChartAccount(
        WRITTEN_OFF_LOANS_CONTRA,
        "已核销贷款对照",
        "Written-off loans (memorandum contra)",
        _A,
        is_control=True,
        contra=True,
    ),
)


# -- input rules --------------------------------------------------------------------------------------

#: 4-digit first-level code, then 2 digits per sub-level (科目级次 4-2-2-2-2).
ACCOUNT_CODE_PATTERN = r"^[0-9]{4}(?:[0-9]{2}){0,4}$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"
#: Printable ASCII without spaces, so a key survives headers, logs and copy-paste unchanged.
CLIENT_KEY_PATTERN = r"^[\x21-\x7e]{1,128}$"
SOURCE_PATTERN = r"^[a-z][a-z0-9_.:-]{0,63}$"
MAX_AMOUNT_MINOR = 10**15  # 10 trillion yuan in fen per line; keeps any entry's sum far inside BIGINT
MAX_LINES = 500
MAX_DESCRIPTION = 500
MAX_MEMO = 200
MAX_NAME = 200

_ACCOUNT_CODE = re.compile(ACCOUNT_CODE_PATTERN)
_CURRENCY = re.compile(CURRENCY_PATTERN)
_CLIENT_KEY = re.compile(CLIENT_KEY_PATTERN)
_SOURCE = re.compile(SOURCE_PATTERN)


def check_account_code(code: object) -> str:
    if not isinstance(code, str) or not _ACCOUNT_CODE.fullmatch(code):
        raise ValidationFailed(
            "account code: 4 digits, then 2 digits per sub-level (e.g. 1303, 130301)",
            code="invalid_account_code",
        )
    return code


def check_currency(currency: object) -> str:
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise ValidationFailed("currency: three upper-case letters (ISO 4217)", code="invalid_currency")
    return currency


def check_client_key(key: object) -> str:
    if not isinstance(key, str) or not _CLIENT_KEY.fullmatch(key):
        raise ValidationFailed(
            "client key: 1-128 printable ASCII characters without spaces", code="invalid_client_key"
        )
    return key


def check_source(source: object) -> str:
    if not isinstance(source, str) or not _SOURCE.fullmatch(source):
        raise ValidationFailed(
            "source: 1-64 lower-case letters, digits or '_.:-', starting with a letter", code="invalid_source"
        )
    return source


def check_text(value: object, *, field: str, max_length: int, code: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > max_length:
        raise ValidationFailed(f"{field}: 1-{max_length} characters", code=code, details={"field": field})
    return value.strip()


def check_value_date(value: object) -> date:
    # datetime is a subclass of date: a timestamp would silently pick the server's day.
    if not isinstance(value, date) or isinstance(value, datetime):
        raise ValidationFailed("value_date must be a calendar date", code="invalid_value_date")
    return value


def check_amount(value: object, *, field: str, line_no: int) -> int:
    # bool is an int subclass and float/Decimal round: only a true int is an amount of fen.
    if type(value) is not int or value < 0 or value > MAX_AMOUNT_MINOR:
        raise ValidationFailed(
            f"line {line_no}: {field} must be a whole number of minor units in [0, {MAX_AMOUNT_MINOR}]",
            code="invalid_amount",
            details={"line_no": line_no, "field": field},
        )
    return value


def check_line(line: PostingLine, line_no: int) -> PostingLine:
    check_account_code(line.account_code)
    check_currency(line.currency)
    debit = check_amount(line.debit_minor, field="debit_minor", line_no=line_no)
    credit = check_amount(line.credit_minor, field="credit_minor", line_no=line_no)
    if (debit > 0) == (credit > 0):
        raise ValidationFailed(
            f"line {line_no}: exactly one of debit_minor and credit_minor must be positive",
            code="invalid_line",
            details={"line_no": line_no},
        )
    if not isinstance(line.memo, str) or len(line.memo) > MAX_MEMO:
        raise ValidationFailed(
            f"line {line_no}: memo is at most {MAX_MEMO} characters",
            code="invalid_memo",
            details={"line_no": line_no},
        )
    return line


def currency_totals(lines: Iterable[PostingLine]) -> dict[str, tuple[int, int]]:
    totals: dict[str, tuple[int, int]] = {}
    for line in lines:
        d, c = totals.get(line.currency, (0, 0))
        totals[line.currency] = (d + line.debit_minor, c + line.credit_minor)
    return dict(sorted(totals.items()))


def check_balanced(lines: Sequence[PostingLine]) -> dict[str, tuple[int, int]]:
    """Debits equal credits in every currency separately: fen never balance dollars."""
    totals = currency_totals(lines)
    unbalanced = [cur for cur, (d, c) in totals.items() if d != c]
    if unbalanced:
        raise UnbalancedEntry(
            "debits and credits differ in " + ", ".join(unbalanced),
            details={
                "unbalanced": unbalanced,
                "totals": {cur: {"debit_minor": d, "credit_minor": c} for cur, (d, c) in totals.items()},
            },
        )
    return totals


def check_entry(
    *, description: object, source: object, value_date: object, lines: Sequence[PostingLine]
) -> str:
    """Every rule of a postable entry that needs no database; returns the cleaned description."""
    cleaned = check_text(
        description, field="description", max_length=MAX_DESCRIPTION, code="invalid_description"
    )
    check_source(source)
    check_value_date(value_date)
    if not isinstance(lines, Sequence) or isinstance(lines, str) or not 2 <= len(lines) <= MAX_LINES:
        raise ValidationFailed(f"an entry has 2 to {MAX_LINES} lines", code="invalid_lines")
    for no, line in enumerate(lines, start=1):
        if not isinstance(line, PostingLine):
            raise ValidationFailed(
                f"line {no} is not a posting line", code="invalid_line", details={"line_no": no}
            )
        check_line(line, no)
    check_balanced(lines)
    return cleaned


@dataclass(frozen=True)
class AccountState:
    """What posting needs to know about an account."""

    code: str
    status: str


def check_accounts_usable(codes: Iterable[str], known: Mapping[str, AccountState]) -> None:
    wanted = sorted(set(codes))
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise ValidationFailed(
            "unknown accounts: " + ", ".join(unknown),
            code="unknown_account",
            details={"account_codes": unknown},
        )
    inactive = [c for c in wanted if known[c].status != AccountStatus.ACTIVE]
    if inactive:
        raise ValidationFailed(
            "accounts not open for posting: " + ", ".join(inactive),
            code="inactive_account",
            details={"account_codes": inactive},
        )


def mirror(lines: Iterable[PostingLine]) -> tuple[PostingLine, ...]:
    """The reversal of an entry: same accounts and amounts, debits and credits swapped."""
    return tuple(
        PostingLine(
            account_code=ln.account_code,
            currency=ln.currency,
            debit_minor=ln.credit_minor,
            credit_minor=ln.debit_minor,
            memo=ln.memo,
        )
        for ln in lines
    )


def check_reversal(
    *,
    original_is_reversal: bool,
    already_reversed_by: str | None,
    original_value_date: date,
    value_date: date,
) -> None:
    if original_is_reversal:
        raise Conflict(
            "a reversal cannot itself be reversed; post a new entry instead", code="cannot_reverse_reversal"
        )
    if already_reversed_by is not None:
        raise Conflict(
            "this entry has already been reversed",
            code="already_reversed",
            details={"reversed_by": already_reversed_by},
        )
    check_value_date(value_date)
    if value_date < original_value_date:
        raise ValidationFailed(
            "a reversal cannot be dated before the entry it reverses",
            code="reversal_before_original",
            details={"original_value_date": original_value_date.isoformat()},
        )


def content_digest(payload: Mapping[str, Any]) -> str:
    """A stable fingerprint of what a client asked for, to tell a retry from a reused key."""
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def posting_digest(*, value_date: date, description: str, source: str, lines: Sequence[PostingLine]) -> str:
    return content_digest(
        {
            "kind": "post",
            "value_date": value_date.isoformat(),
            "description": description,
            "source": source,
            "lines": [
                [ln.account_code, ln.currency, ln.debit_minor, ln.credit_minor, ln.memo] for ln in lines
            ],
        }
    )


def reversal_digest(*, entry_id: str, value_date: date | None, reason: str) -> str:
    return content_digest(
        {
            "kind": "reverse",
            "entry_id": entry_id,
            "value_date": value_date.isoformat() if value_date else None,
            "reason": reason,
        }
    )


def check_idempotent_replay(*, stored_digest: str, digest: str, client_key: str) -> None:
    if stored_digest != digest:
        raise Conflict(
            "this idempotency key was already used for a different request",
            code="idempotency_key_reused",
            details={"client_key": client_key},
        )


def check_new_account(
    *,
    code: object,
    name: object,
    name_en: object,
    account_type: object,
    parent: ChartAccount | None,
    parent_code: str | None,
) -> tuple[str, str, str, AccountType]:
    """A new account: well-formed code, names, type; a sub-account extends its parent's code and type."""
    check_account_code(code)
    assert isinstance(code, str)
    clean_name = check_text(name, field="name", max_length=MAX_NAME, code="invalid_account_name")
    clean_en = check_text(name_en, field="name_en", max_length=MAX_NAME, code="invalid_account_name")
    kind = parse_account_type(account_type if isinstance(account_type, str) else "")
    if parent_code is not None:
        check_account_code(parent_code)
        if parent is None:
            raise ValidationFailed(
                f"no parent account {parent_code}",
                code="unknown_parent_account",
                details={"parent_code": parent_code},
            )
        if not (code.startswith(parent.code) and len(code) == len(parent.code) + 2):
            raise ValidationFailed(
                "a sub-account's code is its parent's code plus two digits",
                code="invalid_account_code",
                details={"parent_code": parent.code},
            )
        if kind is not parent.account_type:
            raise ValidationFailed(
                "a sub-account has its parent's account type",
                code="invalid_account_type",
                details={"parent_type": parent.account_type.value},
            )
    elif len(code) != 4:
        raise ValidationFailed("a sub-account needs its parent_code", code="unknown_parent_account")
    return code, clean_name, clean_en, kind
