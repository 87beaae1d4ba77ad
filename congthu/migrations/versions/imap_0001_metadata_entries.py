"""imap: METADATA entries of the server and of mailboxes (RFC 5464)

``imap_server_metadata`` and ``imap_mailbox_metadata`` (declared in
congthu/imap/tables.py): GETMETADATA/SETMETADATA's entries, per user for the server,
per folder (and per user for /private) for mailboxes.

Revision ID: imap_0001
Revises:
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "imap_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("imap",)
depends_on: str | Sequence[str] | None = "store_0001"


def upgrade() -> None:
    op.create_table(
        "imap_server_metadata",
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("entry", sa.String(length=1024), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["mailbox_id"], ["mailboxes.id"],
                                name=op.f("fk_imap_server_metadata_mailbox_id_mailboxes"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("mailbox_id", "entry", name=op.f("pk_imap_server_metadata")),
    )
    op.create_table(
        "imap_mailbox_metadata",
        sa.Column("folder_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("entry", sa.String(length=1024), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["folder_id"], ["folders.id"],
                                name=op.f("fk_imap_mailbox_metadata_folder_id_folders"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("folder_id", "owner_id", "entry", name=op.f("pk_imap_mailbox_metadata")),
    )


def downgrade() -> None:
    op.drop_table("imap_mailbox_metadata")
    op.drop_table("imap_server_metadata")
