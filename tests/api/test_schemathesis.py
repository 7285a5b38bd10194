"""Property-based API testing of the whole OpenAPI spec (schemathesis).

Every operation is called with generated valid and invalid input by a partner key that holds
every permission; no response may be a 5xx, and every response must match the documented
status codes, content types and schemas.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from tests.conftest import create_bank

from dipper.access.queries import Permission
from dipper.entrypoints.http.app import create_app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fuzz_app(sqlite_container):
    return create_app(sqlite_container)


@pytest.fixture(scope="module")
def partner_headers(sqlite_container, fuzz_app):
    from fastapi.testclient import TestClient

    bank = create_bank(sqlite_container, "Fuzz Bank")
    with TestClient(fuzz_app) as client:
        admin = bank.login(client)
        r = client.post(
            "/api/v1/api-keys",
            json={"name": "fuzz", "permissions": [p.value for p in Permission]},
            headers=admin,
        )
        assert r.status_code == 201, r.text
        return {"Authorization": f"Bearer {r.json()['secret']}"}


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    # Starting an end of day catches up every date since the last one run (up to 400 per request):
    # random dates make that minutes of work per example on a busy machine. Its refusals and
    # answers are tested in tests/integration/loans/test_eod_api.py instead.
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app).exclude(
        method="POST", path="/api/v1/batch/runs"
    )


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_and_never_fails(case, partner_headers):
    case.call_and_validate(
        headers=partner_headers,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
