"""store: subscriptions kept by name, apart from the folders

``subscriptions`` (declared in congthu/store/tables.py): one row per subscribed name of
a mailbox (RFC 9051 sections 6.3.7-6.3.8). Until now a subscription was a flag of the
folder, so DELETE ended it; RFC 5258 section 3.4 (and Dovecot) keep it, and LIST
(SUBSCRIBED) shows the name with \\NonExistent. The folders subscribed at the upgrade
are copied in one INSERT ... SELECT; ``folders.subscribed`` stays, unread.

Revision ID: store_0005
Revises: store_0004
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "store_0005"
down_revision: str | Sequence[str] | None = "store_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=1000), nullable=False),
        sa.ForeignKeyConstraint(["mailbox_id"], ["mailboxes.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("mailbox_id", "name"),
    )
    folders = sa.table("folders", sa.column("mailbox_id", sa.Integer), sa.column("name", sa.String),
                       sa.column("subscribed", sa.Boolean))
    subscriptions = sa.table("subscriptions", sa.column("mailbox_id", sa.Integer), sa.column("name", sa.String))
    op.execute(subscriptions.insert().from_select(
        ["mailbox_id", "name"],
        sa.select(folders.c.mailbox_id, folders.c.name).where(folders.c.subscribed == sa.true())))


def downgrade() -> None:
    op.drop_table("subscriptions")
