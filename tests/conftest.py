"""Shared fixtures.

Integration tests take the ``container`` fixture, which is parametrized over the
databases: SQLite always, PostgreSQL when ``DIPPER_TEST_PG_URL`` is set (each
test run gets its own throw-away database there). Tests isolate themselves by
creating their own banks (``bank`` / ``make_bank``), never by truncating.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dipper.access import commands as access_commands
from dipper.bootstrap import Container, bootstrap
from dipper.kernel.ids import new_id
from dipper.persistence.db import scratch_database
from dipper.persistence.migrate import upgrade
from dipper.settings import Settings

PG_URL = os.environ.get("DIPPER_TEST_PG_URL")
ADMIN_PASSWORD = "Adm1n-password!"

DATABASES = ["sqlite"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    if not PG_URL:
        pytest.skip("PostgreSQL tests need DIPPER_TEST_PG_URL")
    with scratch_database(PG_URL, prefix="dipper_test") as url:
        yield url


def _container(url: str) -> Container:
    container = bootstrap(Settings(database_url=url, environment="test"))
    upgrade(container.engine)
    return container


@pytest.fixture(scope="session", params=DATABASES)
def container(request: pytest.FixtureRequest) -> Iterator[Container]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    c = _container(url)
    yield c
    c.dispose()


@pytest.fixture(scope="session")
def sqlite_container(sqlite_url: str) -> Iterator[Container]:
    """SQLite only, for tests that do not depend on the database engine (faster)."""
    c = _container(sqlite_url)
    yield c
    c.dispose()


@dataclass
class Bank:
    container: Container
    tenant_id: str
    code: str
    admin_id: str
    admin_username: str = "admin"
    admin_password: str = ADMIN_PASSWORD
    users: dict[str, str] = field(default_factory=dict)

    def add_user(self, username: str, roles: tuple[str, ...], password: str = ADMIN_PASSWORD) -> str:
        user_id: str = self.container.handle(
            access_commands.CreateUser(
                tenant_id=self.tenant_id,
                username=username,
                display_name=username,
                password=password,
                roles=roles,
            )
        )
        self.users[username] = user_id
        return user_id

    def login(self, client: Any, username: str = "admin", password: str = ADMIN_PASSWORD) -> dict[str, str]:
        r = client.post(
            "/api/v1/auth/login", json={"tenant": self.code, "username": username, "password": password}
        )
        assert r.status_code == 200, r.text
        client.cookies.clear()
        return {"Authorization": f"Bearer {r.json()['token']}"}


def create_bank(container: Container, name: str = "Test Bank") -> Bank:
    tenant_id = new_id()
    code = f"b{uuid.uuid4().hex[:12]}"
    container.handle(access_commands.CreateTenant(tenant_id=tenant_id, code=code, name=name))
    admin_id = container.handle(
        access_commands.CreateUser(
            tenant_id=tenant_id,
            username="admin",
            display_name="Admin",
            password=ADMIN_PASSWORD,
            roles=("admin",),
        )
    )
    return Bank(container=container, tenant_id=tenant_id, code=code, admin_id=admin_id)


@pytest.fixture
def make_bank(container: Container) -> Any:
    return lambda name="Test Bank": create_bank(container, name)


@pytest.fixture
def bank(container: Container) -> Bank:
    return create_bank(container)


@pytest.fixture
def app(container: Container) -> Any:
    from dipper.entrypoints.http.app import create_app

    return create_app(container)


@pytest.fixture
def client(app: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


SHARED = Path(__file__).resolve().parents[2] / "shared"
