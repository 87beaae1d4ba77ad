"""Substring search indexes for migrations: SQLite FTS5 with the trigram tokenizer, or a
PostgreSQL pg_trgm GIN index, on one text column of a table keyed by ``id``.

SQLite: an external-content FTS5 table ``<table>_fts`` (the text is stored once, in the
table; ``detail=none, columnsize=0``: only which rows hold each trigram, so a term is
looked up as the AND of its trigrams and must then be checked whole on the column), kept
in step by three triggers. PostgreSQL: ``ix_<table>_search_trgm``, used by
``LIKE '%term%'``; if the pg_trgm extension cannot be created (no privilege), search
still works, scanning.

A batch ALTER of the table on SQLite (copy and rename) drops its triggers: such a
migration must call ``create_sqlite_triggers`` again. Migrations call these functions, so
what they create must not change: a different index is a new function.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def _fts(table: str) -> str:
    return f"{table}_fts"


def create_sqlite_triggers(table: str, column: str) -> None:
    """The triggers that keep ``<table>_fts`` in step with inserts, deletes and updates."""
    fts = _fts(table)
    op.execute(f"""CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN
         INSERT INTO {fts}(rowid, {column}) VALUES (new.id, new.{column});
       END""")
    op.execute(f"""CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN
         INSERT INTO {fts}({fts}, rowid, {column}) VALUES ('delete', old.id, old.{column});
       END""")
    op.execute(f"""CREATE TRIGGER {fts}_update AFTER UPDATE OF {column} ON {table} BEGIN
         INSERT INTO {fts}({fts}, rowid, {column}) VALUES ('delete', old.id, old.{column});
         INSERT INTO {fts}(rowid, {column}) VALUES (new.id, new.{column});
       END""")


def create_trigram_index(table: str, column: str) -> None:
    """Create the engine's substring index on ``table.column`` and fill it."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        fts = _fts(table)
        op.execute(f"CREATE VIRTUAL TABLE {fts} USING fts5({column}, content='{table}', "
                   "content_rowid='id', tokenize='trigram', detail=none, columnsize=0)")
        create_sqlite_triggers(table, column)
        op.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")
    elif bind.dialect.name == "postgresql":
        try:
            with bind.begin_nested():
                bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except sa.exc.DBAPIError:
            return  # no privilege for the extension: search scans instead
        op.execute(f"CREATE INDEX ix_{table}_search_trgm ON {table} USING gin ({column} gin_trgm_ops)")


def drop_trigram_index(table: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        fts = _fts(table)
        for suffix in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS {fts}_{suffix}")
        op.execute(f"DROP TABLE IF EXISTS {fts}")
    elif bind.dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS ix_{table}_search_trgm")
