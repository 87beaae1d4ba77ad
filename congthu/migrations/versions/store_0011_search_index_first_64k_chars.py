"""store: the search index holds the first 65,536 characters of a text (SQLite)

Indexing a text costs ~25-45 ms of CPU per MB in the FTS5 trigram table, on the single
writer shared by every worker: the largest single cost of a 1 MB delivery. Search
engines bound what they index per field (Lucene's maxFieldLength); here the answers stay
the same: a content whose folded text is longer than what is indexed is a candidate for
every term and is checked whole with ``instr``, as a pending content is
(``congthu.store.search``).

``contents.search_prefix`` is a VIRTUAL generated column, ``substr(search_text, 1,
65536)`` (characters, not bytes; computed when read, never stored); ``contents_fts`` is
made again over it (external content: FTS5's 'rebuild' and 'integrity-check' read the
same prefix the indexer and the triggers give it), with store_0010's triggers over it;
every content is pending, so the store's indexer fills the new index in the background
(search stays right meanwhile). ``ix_contents_long_text``, a partial index, lists the
contents whose text is longer. The bound is ``congthu.store.search.INDEXED_CHARS``; it is
written here as a number because a migration must not change (the planner uses the
partial index only for a query with the very same condition:
tests/store/test_search_prefix.py checks it).

PostgreSQL is not changed: its pg_trgm GIN index stays as it is. The column is not in
the table's declaration (congthu/store/tables.py), so PostgreSQL never gets it.

Revision ID: store_0011
Revises: store_0010
"""
from collections.abc import Sequence

from congthu.migrations.trigram import index_prefix, index_whole

revision: str = "store_0011"
down_revision: str | Sequence[str] | None = "store_0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    index_prefix("contents", "search_text", "search_prefix", 65536)


def downgrade() -> None:
    index_whole("contents", "search_text", "search_prefix")
