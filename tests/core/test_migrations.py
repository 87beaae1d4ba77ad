"""The Alembic branches build exactly the tables the code declares, on both engines."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from congthu.app import App
from congthu.db import import_all_tables, include_object, metadata


async def test_schema_after_migrations_matches_the_tables(any_app: App) -> None:
    import_all_tables()

    def diff(connection: Any) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"include_object": include_object})
        return compare_metadata(context, metadata)

    differences = await any_app.db.run_read(diff)
    assert differences == []
