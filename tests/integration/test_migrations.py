"""The Alembic history builds exactly the schema the models declare, on every database."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import dipper.bootstrap  # noqa: F401 - every module's tables
from dipper.persistence.base import Base


def test_migrations_match_the_models(container):
    with container.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []
    assert container.schema_revision() is not None
