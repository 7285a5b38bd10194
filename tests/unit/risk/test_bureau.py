"""The simulated credit bureau: deterministic per customer, plausible over a population."""

from __future__ import annotations

import datetime as dt

import pytest

from dipper.kernel.errors import ValidationFailed
from dipper.risk.domain.bureau import BureauReport, CreditBureau, SimulatedBureau
from dipper.risk.domain.feature_set import DEFAULT_FEATURE_SET

ON = dt.date(2024, 5, 1)


def test_same_customer_same_report() -> None:
    bureau = SimulatedBureau()
    assert bureau.report("cust-1", ON) == SimulatedBureau().report("cust-1", ON)
    assert bureau.report("cust-1", ON) == bureau.report("cust-1", dt.date(2025, 1, 1))
    reports = {bureau.report(f"cust-{i}", ON) for i in range(50)}
    assert len(reports) > 40  # different customers, different reports


def test_seed_changes_the_population() -> None:
    a = [SimulatedBureau("a").report(f"c{i}", ON) for i in range(30)]
    b = [SimulatedBureau("b").report(f"c{i}", ON) for i in range(30)]
    assert a != b


def test_population_shares_are_plausible() -> None:
    bureau: CreditBureau = SimulatedBureau()
    reports = [bureau.report(f"customer-{i}", ON) for i in range(4000)]
    thin = sum(r.thin_file for r in reports) / len(reports)
    delinquent = sum(r.current_delinquency for r in reports) / len(reports)
    assert 0.08 < thin < 0.16
    assert 0.005 < delinquent < 0.06
    for r in reports:
        assert 0 <= r.inquiries_3m <= r.inquiries_6m
        assert r.monthly_debt_minor >= 0 and r.monthly_debt_minor % 100 == 0
        assert not r.current_delinquency or r.delinquencies_24m >= 1
        if r.thin_file:
            assert r.open_accounts == 0 and r.card_utilisation is None


def test_report_feeds_the_feature_set() -> None:
    report = SimulatedBureau().report("customer-7", ON)
    inputs = report.as_inputs()
    assert set(inputs) <= set(DEFAULT_FEATURE_SET.inputs)
    row = DEFAULT_FEATURE_SET.row(
        {**inputs, "id_number": "11010519900615002X", "application_date": ON, "requested_amount_minor": 1}
    )
    assert row["bureau_inquiries_6m"] == float(report.inquiries_6m)
    assert row["bureau_monthly_debt"] == report.monthly_debt_minor / 100


@pytest.mark.parametrize("key", ["", "   ", "x" * 201])
def test_bad_customer_key(key: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        SimulatedBureau().report(key, ON)
    assert err.value.code == "invalid_customer_key"


def test_report_rejects_impossible_counts() -> None:
    with pytest.raises(ValidationFailed) as err:
        BureauReport("x", False, 3, 2, False, 0, 0, 1, 0, None)
    assert err.value.code == "invalid_bureau_report"
