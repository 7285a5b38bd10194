"""Console: the review queue and a decision's page (reasons, versions, masked inputs, replay), and
resolving a case there by another person holding risk.approve; zh-CN and en."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from tests.conftest import create_bank
from tests.integration.loans.test_repay_support import key, make_book, resident_id

from dipper.kernel.clock import FixedClock
from dipper.risk import commands, queries
from dipper.risk.adapters.demo_models import demo_setup, simulated_application
from dipper.risk.handlers.decisions import StaticSetupSource, use_setup_source

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_serial = itertools.count(90_000)


def console_login(client: Any, bank: Any, username: str = "admin") -> Any:
    client.cookies.clear()
    token = CSRF.search(client.get("/console/login").text).group(1)  # type: ignore[union-attr]
    r = client.post(
        "/console/login",
        data={"bank": bank.code, "username": username, "password": bank.admin_password, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return client


@pytest.fixture(scope="module")
def seeded(container: Any) -> Iterator[dict[str, Any]]:
    """A bank with decisions made by its admin, one of them in the gray zone."""
    previous = use_setup_source(StaticSetupSource(demo_setup(), source="demo"))
    saved = container.clock
    container.clock = FixedClock(datetime(2026, 1, 5, 2, tzinfo=UTC))
    try:
        bank = create_bank(container, "Risk Console Bank")
        book = make_book(bank, container.clock)
        review = approve = None
        for i in range(300):
            app = {k: v for k, v in simulated_application(i, seed=8).items() if not k.startswith("bureau_")}
            app.update(
                id_number=resident_id(next(_serial)),
                name="赵六",
                application_date=date(2026, 1, 5).isoformat(),
                kyc_passed=True,
                four_elements_verified=True,
                blacklisted=False,
                device_risky=False,
            )
            view = container.handle(
                commands.DecideApplication(
                    tenant_id=bank.tenant_id,
                    idempotency_key=key(),
                    product_code=book.product_code,
                    application=app,
                ),
                actor=book.admin,
            )
            if view["decision"] == "review" and review is None:
                review = view
            if view["decision"] == "approve" and approve is None:
                approve = view
            if review and approve:
                break
        assert review is not None and approve is not None
        bank.add_user("checker", ("risk_analyst",))
        yield {"bank": bank, "book": book, "review": review, "approve": approve}
    finally:
        container.clock = saved
        use_setup_source(previous)


def test_queue_lists_the_gray_zone_case(client: Any, seeded: dict[str, Any]) -> None:
    console_login(client, seeded["bank"])
    html = client.get("/console/risk/reviews").text
    assert f'data-case-id="{seeded["review"]["review_case"]["id"]}"' in html
    assert "人工复核队列" in html
    en = client.get("/console/risk/reviews?lang=en").text
    assert "Manual review queue" in en
    assert "Risk decisions" in client.get("/console/risk/decisions?decision=approve").text
    module = client.get("/console/modules/risk").text
    assert "/console/risk/reviews" in module and "/console/risk/decisions" in module


def test_decision_page_shows_reasons_versions_masked_inputs_and_replays(
    client: Any, seeded: dict[str, Any]
) -> None:
    console_login(client, seeded["bank"])
    view = seeded["approve"]
    r = client.get(f"/console/risk/decisions/{view['id']}?lang=zh-CN")
    assert r.status_code == 200
    html = r.text
    assert 'id="decision-reasons"' in html and "使评分降低" in html
    assert view["record"]["strategy"]["content_hash"][:16] in html
    plain = queries.decision_inputs(seeded["book"].uow(), view["id"])["application"]
    assert plain["id_number"] not in html and "赵六" not in html and "赵*" in html
    token = CSRF.search(html).group(1)  # type: ignore[union-attr]
    replayed = client.post(f"/console/risk/decisions/{view['id']}/replay", data={"csrf_token": token})
    assert replayed.status_code == 200 and 'data-equal="true"' in replayed.text
    refused = client.post(f"/console/risk/decisions/{view['id']}/replay", data={"csrf_token": "x"})
    assert refused.status_code == 403


def test_a_checker_resolves_the_case_from_its_page(client: Any, seeded: dict[str, Any]) -> None:
    review = seeded["review"]
    page = f"/console/risk/decisions/{review['id']}"
    console_login(client, seeded["bank"])  # the maker: no resolve form
    html = client.get(page).text
    assert 'id="own-case"' in html and 'id="resolve-form"' not in html

    console_login(client, seeded["bank"], "checker")
    html = client.get(page).text
    assert 'id="resolve-form"' in html
    token = CSRF.search(html).group(1)  # type: ignore[union-attr]
    case_id = review["review_case"]["id"]
    bad = client.post(
        f"/console/risk/reviews/{case_id}/resolve",
        data={
            "csrf_token": token,
            "decision_id": review["id"],
            "outcome": "approve",
            "limit_yuan": "0.5",
            "annual_rate": "0.1",
            "note": "ok",
        },
    )
    assert bad.status_code == 422 and "limit_out_of_bounds" in bad.text
    done = client.post(
        f"/console/risk/reviews/{case_id}/resolve",
        data={
            "csrf_token": token,
            "decision_id": review["id"],
            "outcome": "approve",
            "limit_yuan": "5000.00",
            "annual_rate": "0.15",
            "note": "流水核实",
        },
        follow_redirects=True,
    )
    assert done.status_code == 200 and 'data-status="approved"' in done.text and "流水核实" in done.text
    case = queries.get_review_case(seeded["book"].uow(), case_id)
    assert case["status"] == "approved" and case["limit_minor"] == 500_000
