"""directory: substring search index on dir_people.search_key

SQLite: an FTS5 table with the trigram tokenizer over ``dir_people.search_key`` (external
content: the text is stored once, in dir_people; no positions), kept in step by triggers. PostgreSQL: a
pg_trgm GIN index on the same column, used by ``LIKE '%term%'``; if the pg_trgm extension
cannot be created (no privilege), search still works, scanning.

Written by hand (engine-specific DDL that autogenerate does not know): the FTS5 table and
its shadow tables are listed in ``metadata.info["unmanaged_tables"]`` (congthu.directory.
tables) so that autogenerate leaves them alone. A batch ALTER of dir_people on SQLite
(copy and rename) drops its triggers: such a migration must create them again
(``create_sqlite_triggers`` below).

Revision ID: directory_0002
Revises: directory_0001
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "directory_0002"
down_revision: str | Sequence[str] | None = "directory_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_TRIGGERS = (
    """CREATE TRIGGER dir_people_fts_insert AFTER INSERT ON dir_people BEGIN
         INSERT INTO dir_people_fts(rowid, search_key) VALUES (new.id, new.search_key);
       END""",
    """CREATE TRIGGER dir_people_fts_delete AFTER DELETE ON dir_people BEGIN
         INSERT INTO dir_people_fts(dir_people_fts, rowid, search_key) VALUES ('delete', old.id, old.search_key);
       END""",
    """CREATE TRIGGER dir_people_fts_update AFTER UPDATE OF search_key ON dir_people BEGIN
         INSERT INTO dir_people_fts(dir_people_fts, rowid, search_key) VALUES ('delete', old.id, old.search_key);
         INSERT INTO dir_people_fts(rowid, search_key) VALUES (new.id, new.search_key);
       END""",
)


def create_sqlite_triggers() -> None:
    for statement in SQLITE_TRIGGERS:
        op.execute(statement)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # detail=none, columnsize=0: only which rows hold each trigram (half the cost to
        # build of the positional index); a word is looked up as the AND of its trigrams,
        # and the substring is then checked on the key (Directory.search).
        op.execute("CREATE VIRTUAL TABLE dir_people_fts USING fts5(search_key, content='dir_people', "
                   "content_rowid='id', tokenize='trigram', detail=none, columnsize=0)")
        create_sqlite_triggers()
        op.execute("INSERT INTO dir_people_fts(dir_people_fts) VALUES ('rebuild')")
    elif bind.dialect.name == "postgresql":
        try:
            with bind.begin_nested():
                bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except sa.exc.DBAPIError:
            return  # no privilege for the extension: search scans instead
        op.execute("CREATE INDEX ix_dir_people_search_trgm ON dir_people USING gin (search_key gin_trgm_ops)")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for name in ("dir_people_fts_insert", "dir_people_fts_delete", "dir_people_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS dir_people_fts")
    elif bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_dir_people_search_trgm")
