"""Alembic environment: runs on a connection handed over by ``dipper.persistence.migrate``
or on ``sqlalchemy.url``; the target metadata is every module's tables."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import dipper.bootstrap  # noqa: F401 - imports every module's tables into the metadata
from dipper.persistence.base import Base
from dipper.persistence.types import EncryptedString

config = context.config
target_metadata = Base.metadata


def _render_item(type_, obj, autogen_context):  # type: ignore[no-untyped-def]
    # Encrypted columns are plain TEXT to the database: migrations must not depend on the keyring.
    if type_ == "type" and isinstance(obj, EncryptedString):
        return "sa.Text()"
    return False


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_item=_render_item,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///demo.db")
    with engine.begin() as conn:
        _run(conn)
