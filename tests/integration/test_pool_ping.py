"""PostgreSQL pool: a connection idle for longer than ``IDLE_PING_SECONDS`` is pinged before use, so
one the server dropped meanwhile is replaced instead of failing the request; a connection handed
back moments ago is used without the extra round trip."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from dipper.persistence import db

PG_URL = os.environ.get("DIPPER_TEST_PG_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="PostgreSQL tests need DIPPER_TEST_PG_URL")


def _pid(engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _kill(pid: int) -> None:
    admin = db.make_engine(PG_URL, pool_size=1, max_overflow=0)
    try:
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    finally:
        admin.dispose()


def test_an_idle_connection_the_server_dropped_is_replaced(monkeypatch):
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)
    engine = db.make_engine(PG_URL, pool_size=1, max_overflow=0)
    try:
        first = _pid(engine)
        _kill(first)
        assert _pid(engine) != first
    finally:
        engine.dispose()


def test_a_recently_used_connection_is_not_pinged(monkeypatch):
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 3600.0)
    engine = db.make_engine(PG_URL, pool_size=1, max_overflow=0)
    try:
        first = _pid(engine)
        _kill(first)
        # No ping: the dead connection is used and the request fails; the pool then starts afresh.
        with pytest.raises(OperationalError):
            _pid(engine)
        assert _pid(engine) != first
    finally:
        engine.dispose()
