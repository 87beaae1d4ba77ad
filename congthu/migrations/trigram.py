"""Substring search indexes for migrations: SQLite FTS5 with the trigram tokenizer, or a
PostgreSQL pg_trgm GIN index, on one text column of a table keyed by ``id``.

SQLite: an external-content FTS5 table ``<table>_fts`` (the text is stored once, in the
table; ``detail=none, columnsize=0``: only which rows hold each trigram, so a term is
looked up as the AND of its trigrams and must then be checked whole on the column), kept
in step by three triggers. PostgreSQL: ``ix_<table>_search_trgm``, used by
``LIKE '%term%'``; if the pg_trgm extension cannot be created (no privilege), search
still works, scanning.

A batch ALTER of the table on SQLite (copy and rename) drops its triggers: such a
migration must call ``create_sqlite_triggers`` again (``create_sqlite_pending_triggers``
for a table indexed after the write, ``index_after_write``: ``contents`` since store_0010;
``create_sqlite_prefix_triggers`` for one indexed on a prefix, ``index_prefix``: since
store_0011).
Migrations call these functions, so
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


# -- Filled after the write (SQLite): store_0010 ---------------------------------------------
#
# Indexing a row's text inside the transaction that writes the row costs ~30 ms of CPU per
# MB of text, on the single writer. With these triggers a new row's id goes into
# ``<table>_fts_pending`` instead, and an indexer moves pending rows into the index later,
# many per transaction (congthu.store.indexer). A searcher treats a pending row as a
# candidate for every term (it is checked whole anyway). The invariant the triggers keep:
# a row of ``<table>`` is either in the index, with the text it has now, or pending, never
# both. An external-content FTS5 table must never be told to 'delete' a row it does not
# hold (that corrupts it), so the delete and update triggers tell it only for rows that
# are not pending. No id watermark: SQLite may give a deleted highest id to the next row.


def _pending(table: str) -> str:
    return f"{_fts(table)}_pending"


def create_sqlite_pending_triggers(table: str, column: str) -> None:
    """The triggers that keep ``<table>_fts`` and ``<table>_fts_pending`` (rows written but
    not yet indexed) in step with inserts, deletes and updates of ``table.column``."""
    create_sqlite_prefix_triggers(table, column, column)


def _drop_sqlite_triggers(table: str) -> None:
    for suffix in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS {_fts(table)}_{suffix}")


def index_after_write(table: str, column: str) -> None:
    """SQLite: from now on ``<table>_fts`` is filled after the write, from
    ``<table>_fts_pending`` (see above); what is indexed stays. Nothing on PostgreSQL,
    whose GIN index has its own pending list."""
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(f"CREATE TABLE {_pending(table)} (id INTEGER NOT NULL PRIMARY KEY)")
    _drop_sqlite_triggers(table)
    create_sqlite_pending_triggers(table, column)


def index_in_write(table: str, column: str) -> None:
    """Undo ``index_after_write``: the pending rows are indexed, and the triggers index
    in the write again."""
    if op.get_bind().dialect.name != "sqlite":
        return
    fts, pending = _fts(table), _pending(table)
    op.execute(f"INSERT INTO {fts}(rowid, {column}) SELECT id, {column} FROM {table} "
               f"WHERE id IN (SELECT id FROM {pending})")
    _drop_sqlite_triggers(table)
    create_sqlite_triggers(table, column)
    op.execute(f"DROP TABLE {pending}")


# -- The first characters indexed (SQLite): store_0011 ---------------------------------------
#
# Indexing a text costs CPU in proportion to its length (~25-45 ms per MB, on the single
# writer), and a long text's trigrams are mostly in every query's way anyway. From
# store_0011 ``<table>_fts`` indexes ``<table>.<prefix>``, a VIRTUAL generated column
# holding the first characters of the text (computed when read, never stored), so FTS5's
# 'rebuild' and 'integrity-check' read what the indexer and the triggers give it. A row
# whose text is longer than the prefix is found by the partial index ``ix_<table>_long_text``
# and checked whole by the searcher, like a pending row (congthu.store.search).


def create_sqlite_prefix_triggers(table: str, column: str, prefix: str) -> None:
    """The triggers of ``create_sqlite_pending_triggers`` for ``<table>_fts`` indexing
    ``prefix``: ``column`` itself (store_0010), or a generated column made from it
    (store_0011; ``column`` is the one written, so the update trigger watches it)."""
    fts, pending = _fts(table), _pending(table)
    not_pending = f"NOT EXISTS (SELECT 1 FROM {pending} WHERE id = old.id)"
    op.execute(f"""CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN
         INSERT OR IGNORE INTO {pending}(id) VALUES (new.id);
       END""")
    op.execute(f"""CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN
         INSERT INTO {fts}({fts}, rowid, {prefix}) SELECT 'delete', old.id, old.{prefix} WHERE {not_pending};
         DELETE FROM {pending} WHERE id = old.id;
       END""")
    op.execute(f"""CREATE TRIGGER {fts}_update AFTER UPDATE OF {column} ON {table} BEGIN
         INSERT INTO {fts}({fts}, rowid, {prefix}) SELECT 'delete', old.id, old.{prefix} WHERE {not_pending};
         INSERT OR IGNORE INTO {pending}(id) VALUES (new.id);
       END""")


def _create_sqlite_fts(table: str, column: str) -> None:
    op.execute(f"CREATE VIRTUAL TABLE {_fts(table)} USING fts5({column}, content='{table}', "
               "content_rowid='id', tokenize='trigram', detail=none, columnsize=0)")


def _all_pending(table: str) -> None:
    op.execute(f"INSERT OR IGNORE INTO {_pending(table)}(id) SELECT id FROM {table}")


def index_prefix(table: str, column: str, prefix: str, chars: int) -> None:
    """SQLite, on a table indexed after the write (``index_after_write``): ``<table>_fts``
    made again over the first ``chars`` characters of ``column`` (the generated column
    ``prefix``), every row pending so that the indexer fills it in the background, and
    ``ix_<table>_long_text`` listing the rows whose text is longer. Nothing on PostgreSQL."""
    if op.get_bind().dialect.name != "sqlite":
        return
    fts = _fts(table)
    _drop_sqlite_triggers(table)
    op.execute(f"DROP TABLE {fts}")
    op.execute(f"ALTER TABLE {table} ADD COLUMN {prefix} TEXT "
               f"GENERATED ALWAYS AS (substr({column}, 1, {int(chars)})) VIRTUAL")
    _create_sqlite_fts(table, prefix)
    create_sqlite_prefix_triggers(table, column, prefix)
    _all_pending(table)
    op.execute(f"CREATE INDEX ix_{table}_long_text ON {table}(id) WHERE length({column}) > {int(chars)}")


def index_whole(table: str, column: str, prefix: str) -> None:
    """Undo ``index_prefix``: ``<table>_fts`` over the whole ``column`` again, every row
    pending (the indexer, or a downgrade's ``index_in_write``, fills it)."""
    if op.get_bind().dialect.name != "sqlite":
        return
    fts = _fts(table)
    _drop_sqlite_triggers(table)
    op.execute(f"DROP INDEX ix_{table}_long_text")
    op.execute(f"DROP TABLE {fts}")
    op.execute(f"ALTER TABLE {table} DROP COLUMN {prefix}")
    _create_sqlite_fts(table, column)
    create_sqlite_pending_triggers(table, column)
    _all_pending(table)
