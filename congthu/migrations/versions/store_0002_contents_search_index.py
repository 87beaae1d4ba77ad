"""store: substring search index on contents.search_text (IMAP SEARCH TEXT/BODY)

Also an index of messages by (content_id, folder_id, uid), where the candidates the text index
gives are looked up (declared in congthu.store.search, so autogenerate knows it).

SQLite: an FTS5 table with the trigram tokenizer over ``contents.search_text`` (external
content: the folded text is stored once, in contents; no positions, no column sizes),
kept in step by triggers, so every way a content row is written (delivery, APPEND, the
benchmark's direct inserts, garbage collection) keeps the index right. PostgreSQL: a
pg_trgm GIN index on the same column, used by ``LIKE '%term%'``; if the pg_trgm
extension cannot be created (no privilege), search still works, scanning.

Written by hand (engine-specific DDL that autogenerate does not know): the FTS5 table and
its shadow tables are listed in ``metadata.info["unmanaged_tables"]`` (congthu.store.
search) so that autogenerate leaves them alone. A batch ALTER of contents on SQLite (copy
and rename) drops its triggers: such a migration must create them again
(``create_sqlite_triggers`` below). Queries: ``congthu.store.search``.

Revision ID: store_0002
Revises: store_0001
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "store_0002"
down_revision: str | Sequence[str] | None = "store_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_TRIGGERS = (
    """CREATE TRIGGER contents_fts_insert AFTER INSERT ON contents BEGIN
         INSERT INTO contents_fts(rowid, search_text) VALUES (new.id, new.search_text);
       END""",
    """CREATE TRIGGER contents_fts_delete AFTER DELETE ON contents BEGIN
         INSERT INTO contents_fts(contents_fts, rowid, search_text) VALUES ('delete', old.id, old.search_text);
       END""",
    """CREATE TRIGGER contents_fts_update AFTER UPDATE OF search_text ON contents BEGIN
         INSERT INTO contents_fts(contents_fts, rowid, search_text) VALUES ('delete', old.id, old.search_text);
         INSERT INTO contents_fts(rowid, search_text) VALUES (new.id, new.search_text);
       END""",
)


def create_sqlite_triggers() -> None:
    for statement in SQLITE_TRIGGERS:
        op.execute(statement)


def upgrade() -> None:
    bind = op.get_bind()
    # The messages of a content, by folder (congthu/store/tables.py): where the
    # text index's candidates are looked up.
    op.create_index("ix_messages_content_folder", "messages", ["content_id", "folder_id", "uid"])
    if bind.dialect.name == "sqlite":
        # detail=none, columnsize=0: only which rows hold each trigram; a term is looked
        # up as the AND of its trigrams and then checked whole on contents.search_text.
        op.execute("CREATE VIRTUAL TABLE contents_fts USING fts5(search_text, content='contents', "
                   "content_rowid='id', tokenize='trigram', detail=none, columnsize=0)")
        create_sqlite_triggers()
        op.execute("INSERT INTO contents_fts(contents_fts) VALUES ('rebuild')")
    elif bind.dialect.name == "postgresql":
        try:
            with bind.begin_nested():
                bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except sa.exc.DBAPIError:
            return  # no privilege for the extension: search scans instead
        op.execute("CREATE INDEX ix_contents_search_trgm ON contents USING gin (search_text gin_trgm_ops)")


def downgrade() -> None:
    bind = op.get_bind()
    op.drop_index("ix_messages_content_folder", table_name="messages")
    if bind.dialect.name == "sqlite":
        for name in ("contents_fts_insert", "contents_fts_delete", "contents_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS contents_fts")
    elif bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_contents_search_trgm")
