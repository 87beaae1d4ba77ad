"""store: folder snapshots, a folder's index packed in one row

``folder_snapshots`` (declared in congthu/store/tables.py) holds, per folder, the UIDs,
system flags, modseqs and keywords of its messages as of a modseq, packed in one blob
(``congthu.store.snapshots``). A worker's first IMAP SELECT of a folder reads it and the
rows changed since its modseq (``ix_messages_folder_modseq``, the ``expunged`` rows),
instead of every row of the folder. Nothing to fill: a folder without a snapshot is read
whole as before, and its snapshot is written then.

Revision ID: store_0009
Revises: store_0008
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "store_0009"
down_revision: str | Sequence[str] | None = "store_0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "folder_snapshots",
        sa.Column("folder_id", sa.Integer(), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("modseq", sa.BigInteger(), nullable=False),
        sa.Column("format", sa.Integer(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["folder_id"], ["folders.id"], name=op.f("fk_folder_snapshots_folder_id_folders"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("folder_id", name=op.f("pk_folder_snapshots")),
    )


def downgrade() -> None:
    op.drop_table("folder_snapshots")
