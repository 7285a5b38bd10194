"""The end of day over HTTP: start a run (loans.service, Idempotency-Key), list runs, read one."""

from __future__ import annotations

from datetime import timedelta

from tests.integration.loans.test_eod_support import AS_OF, seed

from dipper.loans import commands


def test_start_list_and_read_runs(client, bank):
    seed(bank, 40)
    admin = bank.login(client)
    url = "/api/v1/batch/runs"

    r = client.post(url, json={"business_date": AS_OF.isoformat()}, headers=admin)
    assert r.status_code == 400 and r.json()["code"] == "idempotency_key_required"

    r = client.post(
        url, json={"business_date": AS_OF.isoformat()}, headers={**admin, "Idempotency-Key": "eod-1"}
    )
    assert r.status_code == 201, r.text
    run = r.json()
    assert run["status"] == "done" and run["steps_done"] == list(commands.EOD_STEPS)
    assert run["next_step"] is None and run["dates_run"] == [AS_OF.isoformat()]
    assert run["figures"]["accrue_interest"]["totals"]["CNY"]["interest"] > 0
    assert run["figures"]["post"]["reconciled"] is True

    # The business date is the run's own key: again, and it answers with the same run.
    r = client.post(
        url, json={"business_date": AS_OF.isoformat()}, headers={**admin, "Idempotency-Key": "eod-2"}
    )
    assert r.status_code == 200 and r.json()["id"] == run["id"] and r.json()["dates_run"] == []

    # Two missed dates are caught up by one request.
    later = (AS_OF + timedelta(days=2)).isoformat()
    r = client.post(url, json={"business_date": later}, headers={**admin, "Idempotency-Key": "eod-3"})
    assert r.status_code == 201 and r.json()["dates_run"] == [(AS_OF + timedelta(days=1)).isoformat(), later]

    page = client.get(url, headers=admin).json()
    assert page["total"] == 3 and page["runs"][0]["business_date"] == later
    one = client.get(f"{url}/{run['id']}", headers=admin)
    assert one.status_code == 200 and one.json()["figures"] == run["figures"]
    missing = client.get(f"{url}/01ARZ3NDEKTSV4RRFFQ69G5FAV", headers=admin)
    assert missing.status_code == 404 and missing.json()["code"] == "batch_run_not_found"


def test_refusals(client, bank):
    admin = bank.login(client)
    url = "/api/v1/batch/runs"
    future = (bank.container.clock.today() + timedelta(days=1)).isoformat()
    r = client.post(url, json={"business_date": future}, headers={**admin, "Idempotency-Key": "f-1"})
    assert r.status_code == 422 and r.json()["code"] == "eod_date_in_future"
    r = client.post(url, json={"business_date": "2026-13-01"}, headers={**admin, "Idempotency-Key": "f-2"})
    assert r.status_code == 422
    r = client.post(
        url, json={"business_date": AS_OF.isoformat(), "x": 1}, headers={**admin, "Idempotency-Key": "f-3"}
    )
    assert r.status_code == 422
    # A collector reads runs but does not start them.
    bank.add_user("collector1", ("collector",))
    collector = bank.login(client, "collector1")
    r = client.post(
        url, json={"business_date": AS_OF.isoformat()}, headers={**collector, "Idempotency-Key": "c-1"}
    )
    assert r.status_code == 403
    assert client.get(url, headers=collector).status_code == 200
