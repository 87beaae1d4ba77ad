"""webmail: each user's choice of writing in rich text (HTML) or plain text

``webmail_prefs.compose_html`` (declared in congthu/webmail/tables.py, used by
congthu/webmail/prefs.py): the compose page starts in the rich editor when true.

Revision ID: webmail_0003
Revises: webmail_0002
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "webmail_0003"
down_revision: str | Sequence[str] | None = "webmail_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN with a default (no batch copy of the table), as store_0008 does.
    op.add_column("webmail_prefs", sa.Column("compose_html", sa.Boolean(), server_default=sa.false(),
                                             nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("webmail_prefs") as batch_op:
        batch_op.drop_column("compose_html")
