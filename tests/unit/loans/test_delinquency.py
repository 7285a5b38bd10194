"""Days past due, buckets, penalty eligibility and the status a loan moves to at the end of day."""

from __future__ import annotations

from datetime import date

import pytest

from dipper.kernel.errors import ValidationFailed
from dipper.loans.domain.delinquency import (
    BUCKETS,
    DelinquencyPolicy,
    bucket_of,
    days_past_due,
    in_penalty,
    next_status,
)


def test_days_past_due_counts_from_the_oldest_unpaid_due_date():
    d = date(2026, 5, 10)
    assert days_past_due(d, None) == 0
    assert days_past_due(d, date(2026, 5, 10)) == 0  # due today: the borrower has all day
    assert days_past_due(d, date(2026, 5, 9)) == 1
    assert days_past_due(d, date(2026, 2, 9)) == 90
    assert days_past_due(d, date(2026, 5, 11)) == 0


@pytest.mark.parametrize(
    ("dpd", "bucket"),
    [
        (0, "current"),
        (1, "M1"),
        (30, "M1"),
        (31, "M2"),
        (60, "M2"),
        (61, "M3"),
        (90, "M3"),
        (91, "M4+"),
        (999, "M4+"),
    ],
)
def test_bucket_bounds(dpd, bucket):
    assert bucket_of(dpd) == bucket


def test_buckets_fit_the_bucket_column_and_rise():
    assert all(len(name) <= 8 for name, _ in BUCKETS)
    bounds = [upper for _, upper in BUCKETS if upper is not None]
    assert bounds == sorted(bounds) and BUCKETS[-1][1] is None


@pytest.mark.parametrize("bad", [-1, True, 1.0])
def test_bucket_refuses_what_is_not_a_day_count(bad):
    with pytest.raises(ValidationFailed):
        bucket_of(bad)


def test_penalty_starts_after_the_grace_days():
    assert not in_penalty(0, 0)
    assert in_penalty(1, 0)
    assert not in_penalty(3, 3)
    assert in_penalty(4, 3)


DEFAULT = DelinquencyPolicy()
WRITE_OFF_180 = DelinquencyPolicy(write_off_after_dpd=180)


@pytest.mark.parametrize(
    ("status", "dpd", "policy", "expected"),
    [
        ("active", 0, DEFAULT, "active"),
        ("active", 1, DEFAULT, "overdue"),
        ("overdue", 0, DEFAULT, "active"),
        ("overdue", 90, DEFAULT, "overdue"),
        ("overdue", 91, DEFAULT, "non_accrual"),
        ("active", 120, DEFAULT, "non_accrual"),  # a book loaded already late skips a stage
        ("non_accrual", 40, DEFAULT, "non_accrual"),  # a partial catch-up keeps it off income
        ("non_accrual", 0, DEFAULT, "active"),  # fully current again
        ("non_accrual", 500, DEFAULT, "non_accrual"),  # write-off by rule is off by default
        ("non_accrual", 180, WRITE_OFF_180, "non_accrual"),
        ("non_accrual", 181, WRITE_OFF_180, "written_off"),
        ("overdue", 200, WRITE_OFF_180, "written_off"),
        ("closed", 5, DEFAULT, "closed"),
        ("written_off", 0, DEFAULT, "written_off"),
        ("pending", 3, DEFAULT, "pending"),
    ],
)
def test_next_status(status, dpd, policy, expected):
    assert next_status(status, dpd, policy) == expected


@pytest.mark.parametrize(
    "kwargs",
    [
        {"non_accrual_after_dpd": 0},
        {"non_accrual_after_dpd": True},
        {"write_off_after_dpd": 90},  # not after non-accrual
        {"write_off_after_dpd": 10_000},
        {"write_off_after_dpd": "180"},
    ],
)
def test_policy_validation(kwargs):
    with pytest.raises(ValidationFailed) as err:
        DelinquencyPolicy(**kwargs)
    assert err.value.code == "invalid_delinquency_policy"
