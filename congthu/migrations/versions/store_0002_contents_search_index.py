"""store: substring search index on contents.search_text (IMAP SEARCH TEXT/BODY)

Also an index of messages by (content_id, folder_id, uid), where the candidates the text
index gives are looked up (declared in congthu/store/tables.py).

The text index (congthu.migrations.trigram): on SQLite the FTS5 table ``contents_fts``,
kept by triggers, so every way a content row is written (delivery, APPEND, the
benchmark's direct inserts, garbage collection) keeps it right; on PostgreSQL the GIN
index ``ix_contents_search_trgm``. Both are listed as unmanaged in
``congthu.store.search`` so that autogenerate leaves them alone. Queries:
``congthu.store.search``.

Revision ID: store_0002
Revises: store_0001
"""
from collections.abc import Sequence

from alembic import op

from congthu.migrations.trigram import create_trigram_index, drop_trigram_index

revision: str = "store_0002"
down_revision: str | Sequence[str] | None = "store_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_messages_content_folder", "messages", ["content_id", "folder_id", "uid"])
    create_trigram_index("contents", "search_text")


def downgrade() -> None:
    op.drop_index("ix_messages_content_folder", table_name="messages")
    drop_trigram_index("contents")
