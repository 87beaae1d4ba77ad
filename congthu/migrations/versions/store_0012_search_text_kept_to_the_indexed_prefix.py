"""store: a content's search text is kept only up to what is indexed (65,536 characters)

The folded text of a 1 MB message (up to ``congthu.mime.search.MAX_SEARCH_TEXT``
characters) was written whole to ``contents.search_text``: ~2 MB of WAL per message, a
fifth of a 1 MB delivery's CPU on the single writer, for text of which the trigram index
holds only the first 65,536 characters (store_0011). From this revision the column holds
at most those characters, cut where ``search_prefix`` cuts (``substr`` counts
characters, as Python's slicing does), so what is indexed does not change; and
``contents.search_cut`` (declared in congthu/store/tables.py) says the text was longer.
Search checks a cut content that its prefix does not answer against the whole text,
made again from the message's bytes by the one reader (``congthu.store.search``), so the
answers stay the same.

``ix_contents_search_cut``, a partial index on both engines, lists the cut contents (the
condition written as each dialect's SQL renders the boolean: ``search_cut = 1`` on SQLite,
``search_cut`` on PostgreSQL, for the planner to match it).

Existing long texts are cut here, 200 rows per statement (keyset on the id, so the work
is one pass whatever the table's size), but only those holding
``congthu.mime.search.BODY_MARK`` (char 127): those were made by the analysis of today
(the mark came with it), so the text made again is the same. A long text without the mark
was made by an older analysis: it is kept whole (and checked whole, as before, through
``ix_contents_long_text`` on SQLite) until ``congthu store reindex`` writes it again.
On SQLite the update trigger of store_0011 lists each cut content as pending: the
indexer indexes its (unchanged) prefix again.

Downgrade: the column and the index go; a cut text cannot be made whole from the
database alone, so each cut content's preview is set to NULL, which makes the earlier
version's ``congthu store reindex`` analyse it again and write its whole text (until then
a search misses terms beyond its first 65,536 characters).

Revision ID: store_0012
Revises: store_0011
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "store_0012"
down_revision: str | Sequence[str] | None = "store_0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# congthu.store.search.INDEXED_CHARS when this was written (a migration must not change).
_CHARS = 65536
_BATCH = 200


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    # Plain ADD COLUMN, no batch copy (which would drop the contents_fts triggers).
    op.add_column("contents", sa.Column("search_cut", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute("CREATE INDEX ix_contents_search_cut ON contents (id) WHERE "
               + ("search_cut = 1" if sqlite else "search_cut"))
    find = "instr(search_text, char(127))" if sqlite else "strpos(search_text, chr(127))"
    pick = sa.text(f"SELECT id FROM contents WHERE length(search_text) > {_CHARS} AND {find} > 0 "
                   "AND id > :after ORDER BY id LIMIT :n")
    cut = sa.text(f"UPDATE contents SET search_text = substr(search_text, 1, {_CHARS}), search_cut = "
                  + ("1" if sqlite else "true") + " WHERE id >= :low AND id <= :high "
                  f"AND length(search_text) > {_CHARS} AND {find} > 0")
    after = 0
    while True:
        ids = [int(i) for i in bind.execute(pick, {"after": after, "n": _BATCH}).scalars()]
        if not ids:
            return
        bind.execute(cut, {"low": ids[0], "high": ids[-1]})
        after = ids[-1]


def downgrade() -> None:
    op.execute("UPDATE contents SET preview = NULL WHERE search_cut")
    op.execute("DROP INDEX ix_contents_search_cut")
    op.drop_column("contents", "search_cut")
