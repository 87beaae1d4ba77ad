"""smtp: claimed_until, an outbound attempt claimed by one runner so nothing is sent
twice across workers and nodes (congthu/smtp/queue.py)

Revision ID: smtp_0003
Revises: smtp_0002
Create Date: 2026-12-06 03:31:09.367679

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'smtp_0003'
down_revision: Union[str, Sequence[str], None] = 'smtp_0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('smtp_queue_rcpt', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('smtp_queue_rcpt', schema=None) as batch_op:
        batch_op.drop_column('claimed_until')
