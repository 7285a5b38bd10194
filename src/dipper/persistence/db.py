"""Engines and sessions for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy issue BEGIN itself so that SAVEPOINTs and locking work as on PostgreSQL.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if ":memory:" not in url and "mode=memory" not in url:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # IMMEDIATE takes the write lock up front: no deadlock between two read-then-write transactions.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # Connections kept open: the HTTP app lets as many sync requests run at once (see its
    # lifespan), so a busy worker reuses them instead of opening one per request (a new
    # PostgreSQL backend costs a fork and an authentication). Overflow covers other callers.
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 10)
    engine = create_engine(url, **kwargs)
    # Many rows of one INSERT (journal lines, audit entries, outbox messages) go as one statement
    # with many VALUES, as with RETURNING, instead of psycopg's pipelined executemany: less work on
    # both sides for the few rows of a request, and batched for the end of day's thousands.
    engine.dialect.use_insertmanyvalues_wo_returning = True
    if "pool_pre_ping" not in kwargs:  # else the caller chose: a ping on every checkout, or none
        _ping_when_idle(engine, IDLE_PING_SECONDS)
    return engine


#: A pooled connection idle for longer than this is pinged before use (a restarted server or a
#: firewall may have dropped it); one handed back moments ago is not, which saves a round trip
#: per transaction on a busy server. A connection that dies in between fails its request, and
#: SQLAlchemy then invalidates the pool.
IDLE_PING_SECONDS = 10.0


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            # The pool drops this connection and checks out another (a fresh one if need be).
            raise DisconnectionError("pooled connection is gone") from exc


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=True)


@contextmanager
def scratch_database(server_url: str, prefix: str = "dipper_scratch") -> Iterator[str]:
    """A throw-away PostgreSQL database on ``server_url`` (tests, benchmarks), dropped afterwards."""
    if server_url.startswith("postgresql://"):
        server_url = "postgresql+psycopg://" + server_url.removeprefix("postgresql://")
    base = make_url(server_url)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
