"""store: folders.first_recent_uid, for IMAP \\Recent (RFC 3501 section 2.3.2)

The lowest UID of a folder that no IMAP session has been told of yet (declared in
congthu/store/tables.py, used by congthu/store/recent.py). Folders that exist at the
upgrade start at their UIDNEXT: their messages were delivered before \\Recent was kept
and clients have seen them, so they are not announced as recent once more.

Revision ID: store_0003
Revises: store_0002
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "store_0003"
down_revision: str | Sequence[str] | None = "store_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("folders") as batch_op:
        batch_op.add_column(sa.Column("first_recent_uid", sa.BigInteger(), server_default="1", nullable=False))
    op.execute("UPDATE folders SET first_recent_uid = uidnext")


def downgrade() -> None:
    with op.batch_alter_table("folders") as batch_op:
        batch_op.drop_column("first_recent_uid")
