"""store: folded subject, from, to and cc of each content, for SEARCH in SQL

``contents.subject_key``, ``from_key``, ``to_key`` and ``cc_key`` (declared in
congthu/store/tables.py): the decoded ``subject``, ``from_addr``, ``to_addr`` and
``cc_addr`` folded with ``congthu.text.fold``, as ``congthu.mime.analyse`` now does at
delivery, so that IMAP SEARCH SUBJECT / FROM / TO / CC is a substring test in SQL
(``congthu.store.search.field_query``) instead of folding every candidate in Python.

The columns are added with plain ALTER TABLE ... ADD COLUMN, not a batch copy of the
table: on SQLite that copy would drop the triggers that keep ``contents_fts`` in step
(congthu.migrations.trigram). Contents stored before the upgrade are filled from their
decoded columns by ``fill_keys``, a batch of rows at a time; the fill does not touch
``search_text``, so the FTS update trigger does not fire.

Revision ID: store_0004
Revises: store_0003
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

from congthu.text import fold

revision: str = "store_0004"
down_revision: str | Sequence[str] | None = "store_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Decoded column -> its folded key column.
KEYS = {"subject": "subject_key", "from_addr": "from_key", "to_addr": "to_key", "cc_addr": "cc_key"}
# Rows read and written per statement while filling.
FILL_BATCH = 2000

# The table as this revision knows it (not congthu.store.tables, which may change later).
_contents = sa.table("contents", sa.column("id", sa.Integer),
                     *(sa.column(name, sa.Text) for pair in KEYS.items() for name in pair))


def fill_keys(conn: Connection, batch: int = FILL_BATCH) -> int:
    """Set the key columns of every content row from its decoded columns, in batches of
    ``batch`` rows in id order; returns the number of rows filled."""
    decoded = [_contents.c[name] for name in KEYS]
    write = (sa.update(_contents).where(_contents.c.id == sa.bindparam("b_id"))
             .values({key: sa.bindparam(f"b_{key}") for key in KEYS.values()}))
    done = last = 0
    while True:
        rows = conn.execute(sa.select(_contents.c.id, *decoded).where(_contents.c.id > last)
                            .order_by(_contents.c.id).limit(batch)).all()
        if not rows:
            return done
        conn.execute(write, [{"b_id": r[0], **{f"b_{key}": fold(r[i + 1] or "") for i, key in enumerate(KEYS.values())}}
                             for r in rows])
        done += len(rows)
        last = rows[-1][0]


def upgrade() -> None:
    for key in KEYS.values():
        op.add_column("contents", sa.Column(key, sa.Text(), server_default="", nullable=False))
    fill_keys(op.get_bind())


def downgrade() -> None:
    for key in reversed(KEYS.values()):
        op.drop_column("contents", key)
