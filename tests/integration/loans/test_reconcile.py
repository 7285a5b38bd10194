"""Reconciliation: the loan sub-ledger against the GL (ADR 0005), and the payment channel's daily
file against the payouts booked that day."""

from __future__ import annotations

from datetime import timedelta

from tests.integration.loans.test_origination_flow import make_lender, raises

from dipper.accounting import commands as gl
from dipper.accounting import queries as ledger
from dipper.kernel.errors import ValidationFailed
from dipper.loans import commands, queries


def _reconcile_file(lender, csv_text, business_date=None):
    return lender.handle(
        commands.ReconcileChannelFile, business_date=business_date or lender.today, csv_text=csv_text
    )


def test_the_sub_ledger_equals_the_gl_to_the_fen(bank):
    lender = make_lender(bank, upfront_fee_kind="rate", upfront_fee_rate="0.0033")
    empty = queries.reconcile(lender.uow(), "CNY")
    assert empty.balanced and all(ln.sub_ledger_minor == ln.gl_minor == 0 for ln in empty.lines)
    amounts = [100_001, 1_234_567, 4_999_999]
    for amount in amounts:
        lender.disburse(lender.create(amount_minor=amount))
    lender.create(amount_minor=777_777)  # pending: nothing on the books yet
    report = queries.reconcile(lender.uow(), "CNY")
    assert report.balanced, report.lines
    assert report.as_of == lender.today
    by_column = {(ln.column, ln.account_code): ln for ln in report.lines}
    assert set(by_column) == {
        ("principal_outstanding", ledger.LOAN_PRINCIPAL),
        ("interest_receivable", ledger.INTEREST_RECEIVABLE),
        ("penalty_receivable", ledger.PENALTY_RECEIVABLE),
        ("fee_receivable", ledger.FEE_RECEIVABLE),
        ("credit_balance", ledger.BORROWER_OVERPAYMENTS),
        ("written_off", ledger.WRITTEN_OFF_LOANS),
        ("written_off", ledger.WRITTEN_OFF_LOANS_CONTRA),
    }
    assert by_column[("principal_outstanding", ledger.LOAN_PRINCIPAL)].gl_minor == sum(amounts)
    assert queries.reconcile(lender.uow(), "USD").balanced


def test_a_difference_is_reported(bank):
    lender = make_lender(bank)
    lender.disburse(lender.create(amount_minor=1_000_000))
    # A hand posting to the loan control account that no loan carries.
    lender.container.handle(
        gl.PostJournalEntry(
            tenant_id=bank.tenant_id,
            client_key="stray-1303",
            value_date=lender.today,
            description="stray",
            lines=(
                gl.PostingLine(account_code=ledger.LOAN_PRINCIPAL, currency="CNY", debit_minor=1),
                gl.PostingLine(account_code=ledger.CLEARING, currency="CNY", credit_minor=1),
            ),
        ),
        actor=lender.admin,
    )
    report = queries.reconcile(lender.uow(), "CNY")
    assert not report.balanced
    (off,) = [ln for ln in report.lines if ln.difference_minor]
    assert (off.column, off.sub_ledger_minor, off.gl_minor, off.difference_minor) == (
        "principal_outstanding",
        1_000_000,
        1_000_001,
        -1,
    )


def test_the_channel_file_settles_clearing_and_reports_a_tampered_amount(bank):
    lender = make_lender(bank, upfront_fee_kind="fixed", upfront_fee_minor=2_000)
    a = lender.disburse(lender.create(amount_minor=1_000_000))
    b = lender.disburse(lender.create(amount_minor=2_000_000))
    original = queries.channel_file(lender.uow(), lender.today)
    lines = original.strip().splitlines()
    assert lines[0] == "reference,loan_id,amount_minor,currency,status" and len(lines) == 3
    assert f"{a.channel_reference},{a.loan_id},998000,CNY,success" in lines
    assert lender.balance(ledger.CLEARING) == -(998_000 + 1_998_000)

    tampered = original.replace(f"{b.loan_id},1998000,", f"{b.loan_id},1998001,")
    tampered += "SIMUNKNOWN,01JD0000000000000000000000,5,CNY,success\n"
    result = _reconcile_file(lender, tampered)
    assert result.matched == 1 and result.matched_minor == {"CNY": 998_000}
    kinds = {(m.reference, m.kind, m.expected_minor, m.reported_minor) for m in result.mismatches}
    assert kinds == {
        (b.channel_reference, "amount_differs", 1_998_000, 1_998_001),
        ("SIMUNKNOWN", "unknown_reference", None, 5),
    }
    (entry_id,) = result.journal_entry_ids
    entry = ledger.get_entry(lender.uow(), entry_id)
    assert entry.client_key == f"channel:{lender.today.isoformat()}"
    assert {(ln.account_code, ln.debit_minor, ln.credit_minor) for ln in entry.lines} == {
        (ledger.CLEARING, 998_000, 0),
        (ledger.DUE_FROM_BANKS, 0, 998_000),
    }
    assert lender.balance(ledger.CLEARING) == -1_998_000  # the disputed payout stays open
    statuses = {
        t.channel_reference: t.channel_status
        for loan_id in (a.loan_id, b.loan_id)
        for t in queries.loan_transactions(lender.uow(), loan_id)
    }
    assert statuses == {a.channel_reference: "reconciled", b.channel_reference: "sent"}

    # The same file again settles nothing twice.
    again = _reconcile_file(lender, tampered)
    assert again.matched == 0 and again.already_reconciled == 1 and not again.journal_entry_ids
    # The corrected file settles the rest, under its own key.
    corrected = _reconcile_file(lender, original)
    assert (corrected.matched, corrected.already_reconciled, corrected.mismatches) == (1, 1, [])
    assert ledger.get_entry(lender.uow(), corrected.journal_entry_ids[0]).client_key.startswith(
        f"channel:{lender.today.isoformat()}:"
    )
    assert lender.balance(ledger.CLEARING) == 0
    assert lender.balance(ledger.DUE_FROM_BANKS) == -(998_000 + 1_998_000)
    assert queries.reconcile(lender.uow(), "CNY").balanced


def test_a_payout_missing_from_the_file_is_reported(bank):
    lender = make_lender(bank)
    a = lender.disburse(lender.create())
    header = "reference,loan_id,amount_minor,currency,status\n"
    result = _reconcile_file(lender, header)
    assert result.matched == 0 and not result.journal_entry_ids
    assert [(m.reference, m.kind, m.loan_id) for m in result.mismatches] == [
        (a.channel_reference, "missing", a.loan_id)
    ]
    failed = _reconcile_file(lender, header + f"{a.channel_reference},{a.loan_id},1000000,CNY,failed\n")
    assert [m.kind for m in failed.mismatches] == ["failed"]


def test_a_malformed_file_is_refused_whole(bank):
    lender = make_lender(bank)
    lender.disburse(lender.create())
    for text in (
        "",
        "ref,amount\nx,1\n",
        "reference,loan_id,amount_minor,currency,status\nR1,L1,1.5,CNY,success\n",
    ):
        raises(ValidationFailed, "invalid_channel_file", _reconcile_file, lender, text)
    raises(
        ValidationFailed,
        "invalid_business_date",
        _reconcile_file,
        lender,
        "reference,loan_id,amount_minor,currency,status\n",
        lender.today + timedelta(days=1),
    )
    assert lender.balance(ledger.DUE_FROM_BANKS) == 0
