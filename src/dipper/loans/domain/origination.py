"""Pure rules of origination: credit lines (授信), offers, loan creation, disbursement, closing,
and the payment channel's reconciliation file. No I/O: handlers feed these functions plain values.

Money is integer minor units; rates are exact Decimals and their ``*_e9`` integers (rate x 10^9),
so that SQL can accrue interest without a float (ADR 0005).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any, Final

from dipper.kernel.errors import Conflict, ValidationFailed

__all__ = [
    "CHANNEL_FILE_COLUMNS",
    "E9",
    "MAX_FUTURE_DAYS",
    "MAX_LINE_DAYS",
    "MAX_LOAN_MINOR",
    "MAX_REASON",
    "ChannelRow",
    "ChannelStatus",
    "DisburseTo",
    "ExpectedPayout",
    "LineState",
    "LineStatus",
    "LoanBalances",
    "LoanStatus",
    "Mismatch",
    "PayoutMatch",
    "check_amount",
    "check_disburse_target",
    "check_drawdown",
    "check_expiry",
    "check_idempotent_replay",
    "check_line_transition",
    "check_new_limit",
    "check_offer_ranges",
    "check_reason",
    "check_settled",
    "check_start",
    "content_digest",
    "match_payouts",
    "parse_channel_file",
    "penalty_rate_e9",
    "rate_e9",
    "render_channel_file",
]

E9: Final = 10**9
MAX_LOAN_MINOR: Final = 10**10
"""ADR 0005: balances stay below 10^10 fen per loan so balance x rate_e9 x days fits in 64 bits."""
MAX_REASON: Final = 300
MAX_LINE_DAYS: Final = 366 * 10
"""A credit line lasts at most ten years; longer approvals are renewals, decided again."""
MAX_FUTURE_DAYS: Final = 366
"""An offer may start at most a year ahead: a quote further out would price an unknown product."""
MAX_CHANNEL_ROWS: Final = 100_000

_MERCHANT = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_INTEGER = re.compile(r"-?[0-9]{1,18}")


class LineStatus(StrEnum):
    ACTIVE = "active"
    FROZEN = "frozen"
    CLOSED = "closed"


class LoanStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    OVERDUE = "overdue"
    NON_ACCRUAL = "non_accrual"
    WRITTEN_OFF = "written_off"
    CLOSED = "closed"


class DisburseTo(StrEnum):
    BORROWER = "borrower"
    MERCHANT = "merchant"  # 受托支付: paid to the seller of what the loan buys


class ChannelStatus(StrEnum):
    SENT = "sent"  # handed to the channel, not yet confirmed by its file
    RECONCILED = "reconciled"  # the channel's file confirmed reference, amount and currency


# -- small checks ---------------------------------------------------------------------------------------


def check_amount(amount_minor: object, *, field_name: str = "amount_minor") -> int:
    """A positive integer amount within the per-loan bound."""
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise ValidationFailed(f"{field_name} must be an integer of minor units", code="invalid_amount")
    if not 0 < amount_minor <= MAX_LOAN_MINOR:
        raise ValidationFailed(
            f"{field_name} must be 1 to {MAX_LOAN_MINOR} minor units",
            code="invalid_amount",
            details={field_name: amount_minor, "max": MAX_LOAN_MINOR},
        )
    return amount_minor


def check_reason(reason: object, *, required: bool = True) -> str:
    text = reason.strip() if isinstance(reason, str) else ""
    if not isinstance(reason, str) or len(text) > MAX_REASON or (required and not text):
        raise ValidationFailed(f"a reason of 1-{MAX_REASON} characters is required", code="invalid_reason")
    return text


def check_expiry(expires_on: dt.date, today: dt.date) -> dt.date:
    if not today <= expires_on <= today + dt.timedelta(days=MAX_LINE_DAYS):
        raise ValidationFailed(
            "expires_on must be today or later, and at most ten years ahead",
            code="invalid_expiry",
            details={"expires_on": expires_on.isoformat(), "today": today.isoformat()},
        )
    return expires_on


def check_start(start: dt.date, today: dt.date) -> dt.date:
    """A loan starts on the business date or later: it is disbursed on its start date, and a
    disbursement is never back-dated."""
    if not today <= start <= today + dt.timedelta(days=MAX_FUTURE_DAYS):
        raise ValidationFailed(
            "the start date must be today or later, and at most a year ahead",
            code="invalid_start_date",
            details={"start": start.isoformat(), "today": today.isoformat()},
        )
    return start


def check_disburse_target(to: str, merchant_id: str | None) -> tuple[DisburseTo, str | None]:
    try:
        target = DisburseTo(to)
    except ValueError:
        raise ValidationFailed(
            "to is borrower or merchant", code="invalid_disburse_to", details={"to": str(to)}
        ) from None
    if target is DisburseTo.MERCHANT:
        if merchant_id is None or not _MERCHANT.fullmatch(merchant_id):
            raise ValidationFailed(
                "a payment to a merchant needs merchant_id (1-64 letters, digits or '_.:-')",
                code="invalid_merchant_id",
            )
        return target, merchant_id
    if merchant_id is not None:
        raise ValidationFailed("merchant_id is only for to=merchant", code="invalid_merchant_id")
    return target, None


# -- rates ----------------------------------------------------------------------------------------------


def rate_e9(rate: Decimal) -> int:
    """``rate`` x 10^9 as an exact integer; a rate with more than nine decimals is refused, never cut."""
    if not isinstance(rate, Decimal) or not rate.is_finite():
        raise ValidationFailed("a rate must be a finite decimal", code="invalid_rate")
    scaled = Fraction(rate) * E9
    if scaled.denominator != 1:
        raise ValidationFailed(
            "a rate may have at most nine decimal places", code="invalid_rate", details={"rate": str(rate)}
        )
    return int(scaled)


def penalty_rate_e9(contract_rate_e9: int, uplift: Decimal) -> int:
    """罚息利率 = contract rate x (1 + uplift), in units of 10^-9, rounded down: a fraction of the
    ninth decimal is never charged."""
    if not isinstance(uplift, Decimal) or not uplift.is_finite() or uplift < 0:
        raise ValidationFailed("the penalty uplift must be a non-negative decimal", code="invalid_rate")
    value = Fraction(contract_rate_e9) * (1 + Fraction(uplift))
    return value.numerator // value.denominator


# -- offers ---------------------------------------------------------------------------------------------


def check_offer_ranges(
    *,
    amount_minor: int,
    term: int,
    method: str,
    annual_rate: Decimal,
    min_amount_minor: int,
    max_amount_minor: int,
    min_term: int,
    max_term: int,
    allowed_terms: Iterable[int] | None = None,
    methods: Iterable[str],
    min_rate: Decimal,
    max_rate: Decimal,
) -> None:
    """The offer's amount, term, method and rate lie inside the published product's ranges."""
    if not min_amount_minor <= amount_minor <= max_amount_minor:
        raise ValidationFailed(
            "the amount is outside the product's range",
            code="amount_out_of_range",
            details={"amount_minor": amount_minor, "min": min_amount_minor, "max": max_amount_minor},
        )
    terms = sorted(allowed_terms) if allowed_terms is not None else None
    if not min_term <= term <= max_term or (terms is not None and term not in terms):
        raise ValidationFailed(
            "the product does not offer this term",
            code="term_out_of_range",
            details={"term": term, "min": min_term, "max": max_term, "allowed": terms},
        )
    allowed = sorted(str(m) for m in methods)
    if method not in allowed:
        raise ValidationFailed(
            "the product does not offer this repayment method",
            code="method_not_offered",
            details={"method": method, "allowed": allowed},
        )
    if not min_rate <= annual_rate <= max_rate:
        raise ValidationFailed(
            "the rate is outside the product's range",
            code="rate_out_of_range",
            details={"annual_rate": str(annual_rate), "min": str(min_rate), "max": str(max_rate)},
        )


def content_digest(payload: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``payload``: equal content, equal digest (dates, decimals as text)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain)
    return hashlib.sha256(text.encode()).hexdigest()


def _plain(value: object) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        # normalize: 0.1 and 0.10 are the same rate, so the same offer
        return format(value.normalize(), "f")
    raise TypeError(f"{type(value).__name__} is not digestible")


def check_idempotent_replay(*, stored_digest: str, digest: str, key: str) -> None:
    """The same key must carry the same content; anything else is a client bug, not a retry."""
    if stored_digest != digest:
        raise Conflict(
            "this Idempotency-Key was used for a different request",
            code="idempotency_key_reused",
            details={"idempotency_key": key},
        )


# -- credit lines ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineState:
    status: str
    currency: str
    limit_minor: int
    used_minor: int
    expires_on: dt.date

    @property
    def available_minor(self) -> int:
        return max(self.limit_minor - self.used_minor, 0)


def check_drawdown(line: LineState, *, amount_minor: int, currency: str, on: dt.date) -> None:
    """A drawdown (用信) needs an active, unexpired line in the loan's currency with room for it."""
    if line.status == LineStatus.FROZEN:
        raise Conflict("the credit line is frozen", code="credit_line_frozen")
    if line.status != LineStatus.ACTIVE:
        raise Conflict("the credit line is closed", code="credit_line_closed")
    if on > line.expires_on:
        raise Conflict(
            "the credit line has expired",
            code="credit_line_expired",
            details={"expires_on": line.expires_on.isoformat()},
        )
    if currency != line.currency:
        raise ValidationFailed(
            "the loan's currency is not the credit line's",
            code="currency_mismatch",
            details={"loan": currency, "line": line.currency},
        )
    if amount_minor > line.available_minor:
        raise Conflict(
            "the amount exceeds the credit line's available limit",
            code="credit_limit_exceeded",
            details={"amount_minor": amount_minor, "available_minor": line.available_minor},
        )


def check_new_limit(limit_minor: int, used_minor: int) -> None:
    """A limit may go down, but not below what is already drawn (that would be a forced recall)."""
    if limit_minor < used_minor:
        raise Conflict(
            "the new limit is below the amount already used",
            code="limit_below_used",
            details={"limit_minor": limit_minor, "used_minor": used_minor},
        )


_TRANSITIONS: Final = {
    "freeze": ({LineStatus.ACTIVE}, LineStatus.FROZEN),
    "unfreeze": ({LineStatus.FROZEN}, LineStatus.ACTIVE),
    "change_limit": ({LineStatus.ACTIVE, LineStatus.FROZEN}, None),
}


def check_line_transition(status: str, action: str) -> LineStatus | None:
    """The status after ``action`` (None: unchanged); a wrong status is ``credit_line_status``."""
    allowed, after = _TRANSITIONS[action]
    if status not in allowed:
        raise Conflict(
            f"cannot {action.replace('_', ' ')} a {status} credit line",
            code="credit_line_status",
            details={"status": status, "action": action},
        )
    return after


# -- loans ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoanBalances:
    principal_outstanding_minor: int = 0
    interest_receivable_minor: int = 0
    penalty_receivable_minor: int = 0
    fee_receivable_minor: int = 0
    suspended_interest_minor: int = 0
    credit_balance_minor: int = 0

    def nonzero(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if v}


def check_settled(status: str, balances: LoanBalances) -> None:
    """A loan closes only when nothing is owed either way (an overpayment must be refunded first).
    A pending loan owes nothing: closing it cancels it and frees its room on the credit line."""
    if status == LoanStatus.CLOSED:
        raise Conflict("the loan is already closed", code="loan_closed")
    left = balances.nonzero()
    if left:
        raise Conflict("the loan still has balances", code="loan_not_settled", details={"balances": left})


# -- the payment channel's reconciliation file ---------------------------------------------------------

CHANNEL_FILE_COLUMNS: Final = ("reference", "loan_id", "amount_minor", "currency", "status")


@dataclass(frozen=True)
class ChannelRow:
    reference: str
    loan_id: str
    amount_minor: int
    currency: str
    status: str


@dataclass(frozen=True)
class ExpectedPayout:
    """A payout as our books have it: what the channel's file must confirm."""

    reference: str
    loan_id: str
    amount_minor: int
    currency: str


@dataclass(frozen=True)
class Mismatch:
    reference: str
    kind: str  # missing | amount_differs | currency_differs | loan_differs | unknown_reference | failed
    expected_minor: int | None = None
    reported_minor: int | None = None
    loan_id: str | None = None


@dataclass(frozen=True)
class PayoutMatch:
    matched: list[ExpectedPayout] = field(default_factory=list)
    mismatches: list[Mismatch] = field(default_factory=list)

    def matched_total(self, currency: str) -> int:
        return sum(p.amount_minor for p in self.matched if p.currency == currency)


def render_channel_file(rows: Sequence[ChannelRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CHANNEL_FILE_COLUMNS)
    for r in rows:
        writer.writerow((r.reference, r.loan_id, r.amount_minor, r.currency, r.status))
    return out.getvalue()


def parse_channel_file(text: str) -> list[ChannelRow]:
    """Rows of a channel's CSV; a malformed file is refused whole (``invalid_channel_file``)."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != CHANNEL_FILE_COLUMNS:
        raise ValidationFailed(
            "the file must start with the header " + ",".join(CHANNEL_FILE_COLUMNS),
            code="invalid_channel_file",
        )
    rows: list[ChannelRow] = []
    seen: set[str] = set()
    for line_no, raw in enumerate(reader, start=2):
        if not raw or all(not c.strip() for c in raw):
            continue
        if len(raw) != len(CHANNEL_FILE_COLUMNS) or len(rows) >= MAX_CHANNEL_ROWS:
            raise ValidationFailed(
                f"line {line_no}: expected {len(CHANNEL_FILE_COLUMNS)} fields",
                code="invalid_channel_file",
                details={"line": line_no},
            )
        reference, loan_id, amount, currency, status = (c.strip() for c in raw)
        amount_minor = int(amount) if _INTEGER.fullmatch(amount) else None
        if amount_minor is None or not reference or len(reference) > 64 or reference in seen:
            raise ValidationFailed(
                f"line {line_no}: a unique reference and an integer amount in minor units are required",
                code="invalid_channel_file",
                details={"line": line_no},
            )
        seen.add(reference)
        rows.append(ChannelRow(reference, loan_id[:64], amount_minor, currency[:3], status[:16]))
    return rows


def match_payouts(expected: Sequence[ExpectedPayout], reported: Sequence[ChannelRow]) -> PayoutMatch:
    """Match the channel's rows to our payouts by reference: a payout is confirmed only when the loan,
    amount and currency agree and the channel says it succeeded; everything else is reported."""
    ours = {p.reference: p for p in expected}
    result = PayoutMatch()
    for row in reported:
        payout = ours.pop(row.reference, None)
        if payout is None:
            result.mismatches.append(
                Mismatch(
                    row.reference, "unknown_reference", reported_minor=row.amount_minor, loan_id=row.loan_id
                )
            )
            continue
        kind = None
        if row.status.lower() != "success":
            kind = "failed"
        elif row.loan_id != payout.loan_id:
            kind = "loan_differs"
        elif row.currency != payout.currency:
            kind = "currency_differs"
        elif row.amount_minor != payout.amount_minor:
            kind = "amount_differs"
        if kind is None:
            result.matched.append(payout)
        else:
            result.mismatches.append(
                Mismatch(payout.reference, kind, payout.amount_minor, row.amount_minor, payout.loan_id)
            )
    for payout in ours.values():
        result.mismatches.append(
            Mismatch(payout.reference, "missing", expected_minor=payout.amount_minor, loan_id=payout.loan_id)
        )
    return result
