"""A servicing request's answer is built from the command's own transaction, not read again:
it must equal what the database holds, which a replay of the request (status 200) reads."""

from __future__ import annotations

import uuid
from datetime import date

from tests.integration.loans.test_repay_support import book_fixture  # noqa: F401

from dipper.kernel.clock import SystemClock


def _login(book, client) -> dict[str, str]:
    saved = book.container.clock
    book.container.clock = SystemClock()
    try:
        return book.bank.login(client, "admin")
    finally:
        book.container.clock = saved


def _twice(client, url: str, body: dict, headers: dict[str, str]) -> dict:
    """POST once and again with the same key: the fresh answer must equal the replayed one."""
    h = {**headers, "Idempotency-Key": uuid.uuid4().hex}
    first = client.post(url, json=body, headers=h)
    assert first.status_code == 201, first.text
    again = client.post(url, json=body, headers=h)
    assert again.status_code == 200, again.text
    assert first.json() == again.json()
    return first.json()


def test_each_answer_is_the_stored_transaction(client, book):
    loan_id = book.open_loan()
    first = book.installments(loan_id)[0]
    # Paid on its due date before that day's end of day: the repayment bills the installment.
    book.end_of_day(loan_id, first.due_date - date.resolution)
    book.set_today(first.due_date)
    admin = _login(book, client)
    paid = _twice(
        client,
        f"/api/v1/loans/{loan_id}/repayments",
        {"amount_minor": first.principal_minor + first.interest_minor, "currency": "CNY"},
        admin,
    )
    assert paid["kind"] == "repayment" and paid["journal_entry_id"] and not paid["reversed"]
    assert paid["allocation"]["principal"] == first.principal_minor
    extra = _twice(
        client, f"/api/v1/loans/{loan_id}/repayments", {"amount_minor": 5_000, "currency": "CNY"}, admin
    )
    reversal = _twice(client, f"/api/v1/repayments/{extra['id']}/reverse", {"reason": "duplicate"}, admin)
    assert (reversal["kind"], reversal["reverses_id"]) == ("reversal", extra["id"])
    assert reversal["journal_entry_id"]
    _twice(client, f"/api/v1/loans/{loan_id}/write-off", {"reason": "核销"}, admin)
    book.reconcile()
