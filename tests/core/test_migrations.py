"""The Alembic branches build exactly the tables the code declares, on both engines."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from congthu.app import App
from congthu.db import SQLITE_FILE, at_heads, import_all_tables, include_object, metadata, migration_heads
from tests.conftest import make_data_dir


async def test_schema_after_migrations_matches_the_tables(any_app: App) -> None:
    import_all_tables()

    def diff(connection: Any) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"include_object": include_object})
        return compare_metadata(context, metadata)

    differences = await any_app.db.run_read(diff)
    assert differences == []


async def test_open_brings_a_database_behind_head_up_to_date(tmp_path: Path) -> None:
    """``App.open`` on a database of an older version: a branch it never had (migrate)
    and a branch one revision behind (webmail_0003 not applied) are migrated, and the
    schema is then the code's. (An up-to-date database is not handed to Alembic at all:
    ``at_heads``.)"""
    data = await make_data_dir(tmp_path / "data")
    db = sqlite3.connect(data / SQLITE_FILE)
    with db:
        db.execute("DROP TABLE migrate_folders")
        db.execute("DELETE FROM alembic_version WHERE version_num = 'migrate_0001'")
        db.execute("ALTER TABLE webmail_prefs DROP COLUMN compose_html")
        db.execute("UPDATE alembic_version SET version_num = 'webmail_0002' WHERE version_num = 'webmail_0003'")
    db.close()

    app = await App.open(data)
    try:
        import_all_tables()

        def check(connection: Any) -> tuple[bool, set[str], list[Any]]:
            context = MigrationContext.configure(connection, opts={"include_object": include_object})
            return at_heads(connection), set(context.get_current_heads()), compare_metadata(context, metadata)

        up_to_date, heads, differences = await app.db.run_read(check)
    finally:
        await app.close()
    assert up_to_date and {"migrate_0001", "webmail_0003"} <= heads and heads == migration_heads()
    assert differences == []


def test_heads_read_from_the_scripts_are_alembics() -> None:
    """``migration_heads`` reads the scripts' text (no Alembic import at start-up): the
    same heads as Alembic's own script directory."""
    from alembic.script import ScriptDirectory

    from congthu.db import MIGRATIONS

    assert migration_heads() == frozenset(ScriptDirectory(str(MIGRATIONS)).get_heads())
    assert len(migration_heads()) >= 10
