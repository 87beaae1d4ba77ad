"""webmail: each user's choices: the list by conversation, senders whose remote images are shown

``webmail_prefs`` (one row per user who changed a choice) and ``webmail_image_senders``
(declared in congthu/webmail/tables.py, used by congthu/webmail/prefs.py).

Revision ID: webmail_0002
Revises: webmail_0001
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "webmail_0002"
down_revision: str | Sequence[str] | None = "webmail_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webmail_prefs",
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("thread_list", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["mailbox_id"], ["mailboxes.id"], name=op.f("fk_webmail_prefs_mailbox_id_mailboxes"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("mailbox_id", name=op.f("pk_webmail_prefs")),
    )
    op.create_table(
        "webmail_image_senders",
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["mailbox_id"], ["mailboxes.id"],
                                name=op.f("fk_webmail_image_senders_mailbox_id_mailboxes"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("mailbox_id", "address", name=op.f("pk_webmail_image_senders")),
    )


def downgrade() -> None:
    op.drop_table("webmail_image_senders")
    op.drop_table("webmail_prefs")
