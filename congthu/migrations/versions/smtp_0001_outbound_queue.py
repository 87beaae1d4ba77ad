"""outbound queue

Revision ID: smtp_0001
Revises: 
Create Date: 2026-11-28 16:06:40.934173

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'smtp_0001'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = ('smtp',)
depends_on: Union[str, Sequence[str], None] = 'store_0001'


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('smtp_queue',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mail_from', sa.String(length=320), nullable=False),
    sa.Column('blob', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('smtputf8', sa.Boolean(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('mailbox_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_smtp_queue'))
    )
    op.create_table('smtp_queue_rcpt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('queue_id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('domain', sa.String(length=255), nullable=False),
    sa.Column('mailbox_id', sa.Integer(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('delay_notified', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['queue_id'], ['smtp_queue.id'], name=op.f('fk_smtp_queue_rcpt_queue_id_smtp_queue'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_smtp_queue_rcpt'))
    )
    with op.batch_alter_table('smtp_queue_rcpt', schema=None) as batch_op:
        batch_op.create_index('ix_smtp_queue_rcpt_due', ['next_attempt_at'], unique=False)
        batch_op.create_index('ix_smtp_queue_rcpt_queue', ['queue_id'], unique=False)



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('smtp_queue_rcpt', schema=None) as batch_op:
        batch_op.drop_index('ix_smtp_queue_rcpt_queue')
        batch_op.drop_index('ix_smtp_queue_rcpt_due')

    op.drop_table('smtp_queue_rcpt')
    op.drop_table('smtp_queue')
