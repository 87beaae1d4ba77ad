"""store: save dates (RFC 8514), mailbox ids (RFC 8474) and previews (RFC 8970)

Three nullable columns (declared in congthu/store/tables.py), added with plain ALTER
TABLE ... ADD COLUMN (no batch copy: on SQLite it would drop the triggers that keep
``contents_fts`` in step, see store_0004), and nothing is filled here, so the upgrade
takes the same short time on a mailbox of 100,000 messages as on an empty one:

- ``messages.saved_at``: when the message was put in its folder; NULL for older
  messages, whose SAVEDATE is their internal date;
- ``folders.mailboxid``: the folder's MAILBOXID, kept by RENAME; NULL for older
  folders, whose MAILBOXID is made from their id and UIDVALIDITY
  (``congthu.store.objectid``);
- ``contents.preview``: the PREVIEW text made at delivery; NULL for older contents,
  made by ``congthu store reindex`` or by the first FETCH PREVIEW of the message.

Revision ID: store_0006
Revises: store_0005
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "store_0006"
down_revision: str | Sequence[str] | None = "store_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("saved_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("folders", sa.Column("mailboxid", sa.String(length=64), nullable=True))
    op.add_column("contents", sa.Column("preview", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("contents", "preview")
    op.drop_column("folders", "mailboxid")
    op.drop_column("messages", "saved_at")
