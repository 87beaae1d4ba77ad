"""smtp: the DSN parameters (RFC 3461: RET, ENVID, NOTIFY, ORCPT) kept with queued
messages and recipients (congthu/smtp/dsn.py)

Revision ID: smtp_0004
Revises: smtp_0003
Create Date: 2026-12-06 06:40:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'smtp_0004'
down_revision: Union[str, Sequence[str], None] = 'smtp_0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('smtp_queue', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dsn_ret', sa.String(length=4), server_default='', nullable=False))
        batch_op.add_column(sa.Column('dsn_envid', sa.String(length=100), server_default='', nullable=False))
    with op.batch_alter_table('smtp_queue_rcpt', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dsn_notify', sa.String(length=40), server_default='', nullable=False))
        batch_op.add_column(sa.Column('dsn_orcpt', sa.String(length=500), server_default='', nullable=False))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('smtp_queue_rcpt', schema=None) as batch_op:
        batch_op.drop_column('dsn_orcpt')
        batch_op.drop_column('dsn_notify')
    with op.batch_alter_table('smtp_queue', schema=None) as batch_op:
        batch_op.drop_column('dsn_envid')
        batch_op.drop_column('dsn_ret')
