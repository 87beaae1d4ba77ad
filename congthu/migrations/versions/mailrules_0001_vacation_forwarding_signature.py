"""mailrules: vacation auto-reply and its replies, forwarding rules, signatures

Revision ID: mailrules_0001
Revises: 
Create Date: 2026-12-06 06:10:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'mailrules_0001'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = ('mailrules',)
depends_on: Union[str, Sequence[str], None] = 'store_0001'


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('mailrules_vacations',
    sa.Column('mailbox_id', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=True),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], name=op.f('fk_mailrules_vacations_mailbox_id_mailboxes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('mailbox_id', name=op.f('pk_mailrules_vacations'))
    )
    op.create_table('mailrules_vacation_replies',
    sa.Column('mailbox_id', sa.Integer(), nullable=False),
    sa.Column('sender', sa.String(length=320), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], name=op.f('fk_mailrules_vacation_replies_mailbox_id_mailboxes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('mailbox_id', 'sender', name=op.f('pk_mailrules_vacation_replies'))
    )
    op.create_table('mailrules_forwardings',
    sa.Column('mailbox_id', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('targets', sa.Text(), nullable=False),
    sa.Column('keep_copy', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], name=op.f('fk_mailrules_forwardings_mailbox_id_mailboxes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('mailbox_id', name=op.f('pk_mailrules_forwardings'))
    )
    op.create_table('mailrules_signatures',
    sa.Column('mailbox_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], name=op.f('fk_mailrules_signatures_mailbox_id_mailboxes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('mailbox_id', name=op.f('pk_mailrules_signatures'))
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('mailrules_signatures')
    op.drop_table('mailrules_forwardings')
    op.drop_table('mailrules_vacation_replies')
    op.drop_table('mailrules_vacations')
