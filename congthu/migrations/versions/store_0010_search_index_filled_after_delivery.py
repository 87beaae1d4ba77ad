"""store: the search index filled after delivery, in batches (SQLite)

Until now the FTS5 trigram table ``contents_fts`` (store_0002) was filled by a trigger
inside the transaction that stores a content: ~30 ms of CPU per MB of text on the single
writer, a third of a 1 MB delivery. From this revision the insert trigger puts the new
content's id in ``contents_fts_pending`` instead, and the store's indexer
(``congthu.store.indexer``) moves pending contents into the index a batch at a time,
after the deliveries are answered. Search treats a pending content as a candidate for
every term (``congthu.store.search``), so its answers do not depend on whether the
indexer has run. The delete and update triggers tell the index only about contents it
holds (``congthu.migrations.trigram.create_sqlite_pending_triggers``).

What is indexed stays indexed; nothing is pending after the upgrade. PostgreSQL is not
changed: its pg_trgm GIN index keeps its own pending list (``fastupdate``).

Revision ID: store_0010
Revises: store_0009
"""
from collections.abc import Sequence

from congthu.migrations.trigram import index_after_write, index_in_write

revision: str = "store_0010"
down_revision: str | Sequence[str] | None = "store_0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    index_after_write("contents", "search_text")


def downgrade() -> None:
    index_in_write("contents", "search_text")
