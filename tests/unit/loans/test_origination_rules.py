"""Pure origination rules: exact rates, credit-line decisions, offer ranges, digests, closing, and
the payment channel's file."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from dipper.kernel.errors import Conflict, ValidationFailed
from dipper.loans.domain import origination as rules

TODAY = date(2026, 3, 10)


def _code(error: type[Exception], fn, *args, **kwargs) -> str:
    with pytest.raises(error) as caught:
        fn(*args, **kwargs)
    return caught.value.code  # type: ignore[attr-defined]


# -- rates ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "e9"),
    [
        (Decimal("0.0435"), 43_500_000),
        (Decimal("0.072"), 72_000_000),
        (Decimal("0.123456789"), 123_456_789),
        (Decimal("0"), 0),
        (Decimal("0.1000000000"), 100_000_000),  # trailing zeros are not extra places
    ],
)
def test_rate_e9_is_exact(rate, e9):
    assert rules.rate_e9(rate) == e9


def test_rate_e9_refuses_what_it_would_cut():
    assert _code(ValidationFailed, rules.rate_e9, Decimal("0.0000000001")) == "invalid_rate"
    assert _code(ValidationFailed, rules.rate_e9, Decimal("NaN")) == "invalid_rate"


def test_penalty_rate_is_the_uplifted_contract_rate_rounded_down():
    assert rules.penalty_rate_e9(72_000_000, Decimal("0.5")) == 108_000_000
    assert rules.penalty_rate_e9(43_500_000, Decimal("0.3")) == 56_550_000
    assert rules.penalty_rate_e9(123_456_789, Decimal("0.5")) == 185_185_183  # 185185183.5 down
    assert rules.penalty_rate_e9(1, Decimal("0.3")) == 1
    assert _code(ValidationFailed, rules.penalty_rate_e9, 1, Decimal("-0.1")) == "invalid_rate"


# -- credit lines -----------------------------------------------------------------------------------------


def _line(**overrides) -> rules.LineState:
    fields = {
        "status": "active",
        "currency": "CNY",
        "limit_minor": 1_000_000,
        "used_minor": 400_000,
        "expires_on": TODAY,
    }
    return rules.LineState(**{**fields, **overrides})


def test_a_drawdown_fits_the_available_limit():
    line = _line()
    assert line.available_minor == 600_000
    rules.check_drawdown(line, amount_minor=600_000, currency="CNY", on=TODAY)
    code = _code(Conflict, rules.check_drawdown, line, amount_minor=600_001, currency="CNY", on=TODAY)
    assert code == "credit_limit_exceeded"
    assert _line(used_minor=1_200_000).available_minor == 0  # never negative


@pytest.mark.parametrize(
    ("overrides", "on", "error", "code"),
    [
        ({"status": "frozen"}, TODAY, Conflict, "credit_line_frozen"),
        ({"status": "closed"}, TODAY, Conflict, "credit_line_closed"),
        ({}, TODAY + timedelta(days=1), Conflict, "credit_line_expired"),
        ({"currency": "USD"}, TODAY, ValidationFailed, "currency_mismatch"),
    ],
)
def test_a_drawdown_needs_a_usable_line(overrides, on, error, code):
    assert (
        _code(error, rules.check_drawdown, _line(**overrides), amount_minor=1, currency="CNY", on=on) == code
    )


def test_a_limit_never_goes_below_what_is_used():
    rules.check_new_limit(400_000, 400_000)
    assert _code(Conflict, rules.check_new_limit, 399_999, 400_000) == "limit_below_used"


def test_line_status_transitions():
    assert rules.check_line_transition("active", "freeze") == "frozen"
    assert rules.check_line_transition("frozen", "unfreeze") == "active"
    assert rules.check_line_transition("frozen", "change_limit") is None
    for status, action in (("frozen", "freeze"), ("active", "unfreeze"), ("closed", "change_limit")):
        assert _code(Conflict, rules.check_line_transition, status, action) == "credit_line_status"


def test_dates_and_amounts():
    rules.check_expiry(TODAY, TODAY)
    assert _code(ValidationFailed, rules.check_expiry, TODAY - timedelta(days=1), TODAY) == "invalid_expiry"
    assert (
        _code(ValidationFailed, rules.check_expiry, TODAY + timedelta(days=3700), TODAY) == "invalid_expiry"
    )
    rules.check_start(TODAY, TODAY)
    assert (
        _code(ValidationFailed, rules.check_start, TODAY - timedelta(days=1), TODAY) == "invalid_start_date"
    )
    assert _code(ValidationFailed, rules.check_start, date(9999, 12, 31), TODAY) == "invalid_start_date"
    assert rules.check_amount(rules.MAX_LOAN_MINOR) == rules.MAX_LOAN_MINOR
    for bad in (0, -1, rules.MAX_LOAN_MINOR + 1, True, 1.0, "100"):
        assert _code(ValidationFailed, rules.check_amount, bad) == "invalid_amount"
    assert rules.check_reason("  提额  ") == "提额"
    assert rules.check_reason("", required=False) == ""
    for bad in ("", "   ", "x" * 301, None):
        assert _code(ValidationFailed, rules.check_reason, bad) == "invalid_reason"


def test_disbursement_targets():
    assert rules.check_disburse_target("borrower", None) == (rules.DisburseTo.BORROWER, None)
    assert rules.check_disburse_target("merchant", "M-1") == (rules.DisburseTo.MERCHANT, "M-1")
    assert _code(ValidationFailed, rules.check_disburse_target, "merchant", None) == "invalid_merchant_id"
    assert _code(ValidationFailed, rules.check_disburse_target, "merchant", "a b") == "invalid_merchant_id"
    assert _code(ValidationFailed, rules.check_disburse_target, "borrower", "M-1") == "invalid_merchant_id"
    assert _code(ValidationFailed, rules.check_disburse_target, "bank", None) == "invalid_disburse_to"


# -- offers -----------------------------------------------------------------------------------------------

RANGES = {
    "min_amount_minor": 100_000,
    "max_amount_minor": 5_000_000,
    "min_term": 3,
    "max_term": 24,
    "allowed_terms": (3, 6, 12, 24),
    "methods": ("equal-installment", "bullet"),
    "min_rate": Decimal("0.04"),
    "max_rate": Decimal("0.18"),
}
OFFER = {"amount_minor": 1_000_000, "term": 12, "method": "bullet", "annual_rate": Decimal("0.18")}


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"amount_minor": 99_999}, "amount_out_of_range"),
        ({"amount_minor": 5_000_001}, "amount_out_of_range"),
        ({"term": 9}, "term_out_of_range"),
        ({"term": 2}, "term_out_of_range"),
        ({"method": "equal-principal"}, "method_not_offered"),
        ({"annual_rate": Decimal("0.180000001")}, "rate_out_of_range"),
        ({"annual_rate": Decimal("0.0399")}, "rate_out_of_range"),
    ],
)
def test_offer_ranges(overrides, code):
    rules.check_offer_ranges(**OFFER, **RANGES)
    assert _code(ValidationFailed, rules.check_offer_ranges, **{**OFFER, **overrides}, **RANGES) == code


def test_content_digest_is_canonical():
    a = rules.content_digest({"rate": Decimal("0.10"), "on": TODAY, "n": 1})
    assert a == rules.content_digest({"n": 1, "on": TODAY, "rate": Decimal("0.1")})
    assert a != rules.content_digest({"n": 1, "on": TODAY, "rate": Decimal("0.11")})
    assert len(a) == 64
    rules.check_idempotent_replay(stored_digest=a, digest=a, key="k")
    assert _code(Conflict, rules.check_idempotent_replay, stored_digest=a, digest="b", key="k") == (
        "idempotency_key_reused"
    )


def test_closing_needs_every_balance_at_zero():
    rules.check_settled("active", rules.LoanBalances())
    rules.check_settled("pending", rules.LoanBalances())  # never paid out: a cancellation
    with pytest.raises(Conflict) as caught:
        rules.check_settled("active", rules.LoanBalances(interest_receivable_minor=1, credit_balance_minor=5))
    assert caught.value.code == "loan_not_settled"
    assert caught.value.details["balances"] == {"interest_receivable_minor": 1, "credit_balance_minor": 5}
    assert _code(Conflict, rules.check_settled, "closed", rules.LoanBalances()) == "loan_closed"


# -- the channel's file -----------------------------------------------------------------------------------


def test_channel_file_round_trip():
    rows = [
        rules.ChannelRow("R1", "L1", 998_000, "CNY", "success"),
        rules.ChannelRow("R,2", "L2", 5, "CNY", "failed"),
    ]
    text = rules.render_channel_file(rows)
    assert text.splitlines()[0] == "reference,loan_id,amount_minor,currency,status"
    assert rules.parse_channel_file(text) == rows
    assert rules.parse_channel_file(text + "\n\n") == rows  # blank lines are not rows


@pytest.mark.parametrize(
    "text",
    [
        "",
        "reference,amount\n",
        "reference,loan_id,amount_minor,currency,status\nR1,L1,1.50,CNY,success\n",
        "reference,loan_id,amount_minor,currency,status\nR1,L1,1,CNY\n",
        "reference,loan_id,amount_minor,currency,status\n,L1,1,CNY,success\n",
        "reference,loan_id,amount_minor,currency,status\nR1,L1,1,CNY,success\nR1,L2,2,CNY,success\n",
        "reference,loan_id,amount_minor,currency,status\nR1,L1,1e3,CNY,success\n",
    ],
)
def test_a_malformed_channel_file_is_refused(text):
    assert _code(ValidationFailed, rules.parse_channel_file, text) == "invalid_channel_file"


def test_matching_payouts_reports_every_kind_of_difference():
    ours = [
        rules.ExpectedPayout("R1", "L1", 100, "CNY"),
        rules.ExpectedPayout("R2", "L2", 200, "CNY"),
        rules.ExpectedPayout("R3", "L3", 300, "CNY"),
        rules.ExpectedPayout("R4", "L4", 400, "CNY"),
        rules.ExpectedPayout("R5", "L5", 500, "CNY"),
        rules.ExpectedPayout("R6", "L6", 600, "USD"),
    ]
    theirs = [
        rules.ChannelRow("R1", "L1", 100, "CNY", "success"),
        rules.ChannelRow("R2", "L2", 201, "CNY", "success"),
        rules.ChannelRow("R3", "L9", 300, "CNY", "success"),
        rules.ChannelRow("R4", "L4", 400, "CNY", "FAILED"),
        rules.ChannelRow("R6", "L6", 600, "CNY", "success"),
        rules.ChannelRow("R7", "L7", 700, "CNY", "success"),
    ]
    result = rules.match_payouts(ours, theirs)
    assert [p.reference for p in result.matched] == ["R1"]
    assert result.matched_total("CNY") == 100 and result.matched_total("USD") == 0
    assert {(m.reference, m.kind) for m in result.mismatches} == {
        ("R2", "amount_differs"),
        ("R3", "loan_differs"),
        ("R4", "failed"),
        ("R5", "missing"),
        ("R6", "currency_differs"),
        ("R7", "unknown_reference"),
    }
    differs = next(m for m in result.mismatches if m.kind == "amount_differs")
    assert (differs.expected_minor, differs.reported_minor) == (200, 201)
