"""Product terms: every rule has a stable code, every violation is reported with its field."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from dipper.kernel.errors import Conflict, ValidationFailed
from dipper.loans.domain import product as domain
from dipper.loans.domain.product import (
    DailyInterestRule,
    PrepaymentFeeKind,
    ProductTerms,
    check_new_product,
    check_publish_payload,
    check_retire_payload,
    ensure_editable,
    parse_terms,
    terms_digest,
    terms_to_dict,
)
from dipper.loans.domain.terms import AllocationPart, PrepaymentMode, RepaymentMethod

BASE: dict[str, Any] = {
    "currency": "CNY",
    "min_amount_minor": 100_000,
    "max_amount_minor": 20_000_000,
    "min_term_months": 3,
    "max_term_months": 24,
    "allowed_terms": [12, 3, 6, 24],
    "repayment_methods": ["equal-installment", "equal-principal"],
    "min_rate": "0.072",
    "max_rate": "0.18",
}


def terms(**changes: Any) -> dict[str, Any]:
    return {**BASE, **changes}


def failure(**changes: Any) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as info:
        parse_terms(terms(**changes))
    return info.value


def test_minimal_terms_take_the_documented_defaults():
    t = parse_terms(BASE)
    assert t.currency == "CNY"
    assert t.allowed_terms == (3, 6, 12, 24)  # sorted
    assert t.repayment_methods == (RepaymentMethod.EQUAL_INSTALLMENT, RepaymentMethod.EQUAL_PRINCIPAL)
    assert t.min_rate == Decimal("0.072") and t.max_rate == Decimal("0.18")
    # Default allocation: oldest overdue installment first; penalty, interest, principal (then fee).
    assert t.overdue_first is True
    assert t.allocation_order[:3] == (
        AllocationPart.PENALTY,
        AllocationPart.INTEREST,
        AllocationPart.PRINCIPAL,
    )
    assert t.grace_days == 0 and t.penalty_uplift == Decimal("0.5")
    assert t.prepayment_allowed is False and t.revolving_interest_rule is None
    assert (
        str(t.day_count) == "ACT/360" and str(t.rounding) == "half-up" and str(t.holiday_roll) == "following"
    )


def test_a_full_document_round_trips_and_its_digest_is_stable():
    full = terms(
        currency="cny",
        day_count="ACT/365F",
        rounding="half-even",
        overdue_first=False,
        allocation_order=["fee", "penalty", "interest", "principal"],
        grace_days=3,
        penalty_uplift="0.30",
        compound_overdue_interest=True,
        prepayment_allowed=True,
        prepayment_partial_modes=["shorten-term", "lower-installment"],
        prepayment_full=True,
        prepayment_fee_kind="percentage",
        prepayment_fee_rate="0.0100",
        prepayment_lockin_months=3,
        upfront_fee_kind="fixed",
        upfront_fee_minor=5_000,
        periodic_fee_kind="monthly-rate",
        periodic_fee_rate="0.003",
        holiday_roll="modified-following",
    )
    t = parse_terms(full)
    assert t.currency == "CNY"
    assert t.prepayment_partial_modes == (PrepaymentMode.SHORTEN_TERM, PrepaymentMode.LOWER_INSTALLMENT)
    assert t.prepayment_fee_kind is PrepaymentFeeKind.PERCENTAGE
    document = terms_to_dict(t)
    assert document["penalty_uplift"] == "0.3" and document["prepayment_fee_rate"] == "0.01"  # one spelling
    assert parse_terms(document) == t
    assert terms_digest(parse_terms(document)) == terms_digest(t)
    assert terms_digest(parse_terms(terms(max_rate="0.19"))) != terms_digest(parse_terms(BASE))


def test_revolving_records_its_daily_interest_rule():
    t = parse_terms(terms(repayment_methods=["revolving"]))
    assert t.revolving
    # 随借随还: interest per day on the drawn balance, drawdown day counted, repayment day not.
    assert t.revolving_interest_rule is DailyInterestRule.DRAWDOWN_DAY_IN_REPAYMENT_DAY_OUT
    e = failure(revolving_interest_rule="drawdown-day-counted-repayment-day-not")
    assert e.code == "invalid_revolving_rule"


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"currency": "XXX"}, "unknown_currency", "currency"),
        ({"min_amount_minor": 0}, "invalid_amount_range", "min_amount_minor"),
        (
            {"min_amount_minor": 5_000_000, "max_amount_minor": 1_000_000},
            "invalid_amount_range",
            "max_amount_minor",
        ),
        ({"max_amount_minor": 10**16}, "invalid_amount_range", "max_amount_minor"),
        ({"min_amount_minor": 100.0}, "invalid_amount_range", "min_amount_minor"),
        ({"min_amount_minor": True}, "invalid_amount_range", "min_amount_minor"),
        ({"min_term_months": 0}, "invalid_term_range", "min_term_months"),
        (
            {"min_term_months": 12, "max_term_months": 6, "allowed_terms": [6]},
            "invalid_term_range",
            "max_term_months",
        ),
        ({"max_term_months": 361}, "invalid_term_range", "max_term_months"),
        ({"allowed_terms": []}, "invalid_allowed_terms", "allowed_terms"),
        ({"allowed_terms": [3, 3]}, "invalid_allowed_terms", "allowed_terms"),
        ({"allowed_terms": [3, 36]}, "invalid_allowed_terms", "allowed_terms"),
        ({"repayment_methods": ["balloon"]}, "unknown_method", "repayment_methods"),
        ({"repayment_methods": []}, "invalid_repayment_methods", "repayment_methods"),
        ({"repayment_methods": ["bullet", "bullet"]}, "invalid_repayment_methods", "repayment_methods"),
        ({"min_rate": "0"}, "invalid_rate_range", "min_rate"),
        ({"max_rate": "1"}, "invalid_rate_range", "max_rate"),
        ({"min_rate": "0.2", "max_rate": "0.1"}, "invalid_rate_range", "max_rate"),
        ({"min_rate": 0.07}, "invalid_rate_range", "min_rate"),  # a float is never a rate
        ({"min_rate": "seven"}, "invalid_rate_range", "min_rate"),
        ({"min_rate": "0.12345678901"}, "invalid_rate_range", "min_rate"),  # more than NUMERIC(18,10)
        ({"day_count": "ACT/366"}, "unknown_day_count", "day_count"),
        ({"rounding": "nearest"}, "unknown_rounding_rule", "rounding"),
        ({"allocation_order": ["penalty", "interest"]}, "invalid_allocation_order", "allocation_order"),
        (
            {"allocation_order": ["penalty", "penalty", "interest", "principal"]},
            "invalid_allocation_order",
            "allocation_order",
        ),
        ({"allocation_order": ["tax"]}, "unknown_allocation_part", "allocation_order"),
        ({"overdue_first": "yes"}, "invalid_allocation_order", "overdue_first"),
        ({"grace_days": 31}, "invalid_grace_days", "grace_days"),
        ({"grace_days": -1}, "invalid_grace_days", "grace_days"),
        ({"penalty_uplift": "0.29"}, "invalid_penalty_uplift", "penalty_uplift"),
        ({"penalty_uplift": "0.51"}, "invalid_penalty_uplift", "penalty_uplift"),
        ({"compound_overdue_interest": 1}, "invalid_compound_interest", "compound_overdue_interest"),
        ({"prepayment_partial_modes": ["shorten-term"]}, "invalid_prepayment", "prepayment_allowed"),
        ({"prepayment_allowed": True}, "invalid_prepayment", "prepayment_partial_modes"),
        (
            {"prepayment_allowed": True, "prepayment_partial_modes": ["skip-a-month"]},
            "unknown_prepayment_mode",
            "prepayment_partial_modes",
        ),
        (
            {"prepayment_allowed": True, "prepayment_full": True, "prepayment_fee_kind": "percentage"},
            "invalid_prepayment_fee",
            "prepayment_fee_rate",
        ),
        (
            {
                "prepayment_allowed": True,
                "prepayment_full": True,
                "prepayment_fee_kind": "fixed",
                "prepayment_fee_rate": "0.01",
            },
            "invalid_prepayment_fee",
            "prepayment_fee_minor",
        ),
        ({"prepayment_fee_kind": "penalty"}, "invalid_prepayment_fee", "prepayment_fee_kind"),
        (
            {"prepayment_allowed": True, "prepayment_full": True, "prepayment_lockin_months": 24},
            "invalid_lockin_months",
            "prepayment_lockin_months",
        ),
        ({"prepayment_lockin_months": 3}, "invalid_lockin_months", "prepayment_lockin_months"),
        ({"upfront_fee_kind": "rate"}, "invalid_upfront_fee", "upfront_fee_rate"),
        ({"upfront_fee_kind": "fixed", "upfront_fee_minor": 0}, "invalid_upfront_fee", "upfront_fee_minor"),
        ({"upfront_fee_rate": "0.01"}, "invalid_upfront_fee", "upfront_fee_kind"),
        ({"periodic_fee_kind": "weekly"}, "invalid_periodic_fee", "periodic_fee_kind"),
        ({"periodic_fee_kind": "fixed-per-installment"}, "invalid_periodic_fee", "periodic_fee_minor"),
        (
            {"periodic_fee_kind": "monthly-rate", "periodic_fee_rate": "1.5"},
            "invalid_periodic_fee",
            "periodic_fee_rate",
        ),
        ({"holiday_roll": "nearest"}, "unknown_roll_convention", "holiday_roll"),
        ({"revolving_interest_rule": "every-day"}, "invalid_revolving_rule", "revolving_interest_rule"),
    ],
)
def test_each_rule_has_a_stable_code_and_names_its_field(changes, code, field):
    e = failure(**changes)
    assert e.code == code, e.details
    assert e.details["field"] == field
    assert {"field": field, "code": code} in [
        {"field": v["field"], "code": v["code"]} for v in e.details["violations"]
    ]


def test_missing_and_unknown_terms():
    missing = {k: v for k, v in BASE.items() if k != "max_rate"}
    with pytest.raises(ValidationFailed) as info:
        parse_terms(missing)
    assert info.value.code == "invalid_rate_range" and info.value.details["field"] == "max_rate"
    with pytest.raises(ValidationFailed) as info:
        parse_terms(terms(max_rat="0.2"))
    assert info.value.code == "unknown_term" and info.value.details["unknown"] == ["max_rat"]
    with pytest.raises(ValidationFailed) as info:
        parse_terms(["not", "a", "mapping"])  # type: ignore[arg-type]
    assert info.value.code == "invalid_terms"
    # null is "not given": an optional term takes its default.
    assert parse_terms(terms(grace_days=None)).grace_days == 0


def test_every_violation_is_reported_at_once_in_document_order():
    e = failure(
        min_rate="0.3", max_rate="0.2", penalty_uplift="0.9", repayment_methods=["foo"], grace_days=99
    )
    fields = [v["field"] for v in e.details["violations"]]
    assert fields == ["repayment_methods", "max_rate", "grace_days", "penalty_uplift"]
    assert e.code == "unknown_method"  # the first one names the error


def test_rules_across_fields_are_skipped_when_a_field_they_read_is_broken():
    e = failure(min_term_months="three", allowed_terms=[99])
    # allowed_terms cannot be checked against a range that could not be read: one violation only.
    assert [v["code"] for v in e.details["violations"]] == ["invalid_term_range"]


def test_product_header_rules():
    header, parsed = check_new_product(
        code="XFD-01", name=" 惠民贷 ", name_en="Huimin", scene="", segment="", terms=BASE
    )
    assert header.name == "惠民贷" and isinstance(parsed, ProductTerms)
    for code_value, expected in (("x", "invalid_product_code"), ("有中文", "invalid_product_code")):
        with pytest.raises(ValidationFailed) as info:
            check_new_product(code=code_value, name="a", name_en="a", scene="", segment="", terms=None)
        assert info.value.code == expected
    with pytest.raises(ValidationFailed) as info:
        check_new_product(
            code="OK1", name=" ", name_en="a\x00b", scene="s" * 201, segment="", terms=terms(min_rate="2")
        )
    codes = [v["code"] for v in info.value.details["violations"]]
    assert codes == [
        "invalid_product_name",
        "invalid_product_name",
        "invalid_product_scene",
        "invalid_rate_range",
    ]


def test_published_versions_are_not_editable():
    ensure_editable("draft")
    for status in ("published", "superseded"):
        with pytest.raises(Conflict) as info:
            ensure_editable(status)
        assert info.value.code == "version_not_editable"


def test_the_publish_payload_carries_exactly_the_terms_it_names():
    t = parse_terms(BASE)
    payload = {
        "product_id": "P1",
        "product_code": "XFD-01",
        "version_id": "V1",
        "version_no": 1,
        "terms": terms_to_dict(t),
        "terms_digest": terms_digest(t),
    }
    clean = check_publish_payload(payload)
    assert clean["terms_digest"] == terms_digest(t) and clean["note"] == ""
    for broken in (
        {**payload, "terms_digest": "0" * 64},
        {**payload, "version_no": 0},
        {**payload, "product_id": ""},
        {**payload, "extra": 1},
    ):
        with pytest.raises(ValidationFailed) as info:
            check_publish_payload(broken)
        assert info.value.code == "invalid_change_payload"
    with pytest.raises(ValidationFailed) as info:
        check_publish_payload({**payload, "terms": {**payload["terms"], "grace_days": 99}})
    assert info.value.code == "invalid_grace_days"
    assert check_retire_payload({"product_id": "P1", "product_code": "X1"})["reason"] == ""
    with pytest.raises(ValidationFailed):
        check_retire_payload({"product_code": "X1"})


def test_helpers_for_offers():
    t = parse_terms(BASE)
    assert t.allows_term(12) and not t.allows_term(9)
    assert t.allows_amount(100_000) and not t.allows_amount(99_999)
    assert t.allows_rate(Decimal("0.18")) and not t.allows_rate(Decimal("0.1801"))
    assert set(domain.default_terms()) == set(domain.TERM_FIELDS) - set(domain.REQUIRED_TERMS)
