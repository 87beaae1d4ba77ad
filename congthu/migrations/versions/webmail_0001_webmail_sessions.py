"""webmail: server-side sessions of the webmail (congthu/webmail/sessions.py)

Revision ID: webmail_0001
Revises: 
Create Date: 2026-12-06 03:20:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'webmail_0001'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = ('webmail',)
depends_on: Union[str, Sequence[str], None] = 'store_0001'


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('webmail_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('mailbox_id', sa.Integer(), nullable=False),
    sa.Column('must_change', sa.Boolean(), nullable=False),
    sa.Column('user_agent', sa.String(length=300), nullable=False),
    sa.Column('client_ip', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['mailbox_id'], ['mailboxes.id'], name=op.f('fk_webmail_sessions_mailbox_id_mailboxes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webmail_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_webmail_sessions_token_hash'))
    )
    op.create_index('ix_webmail_sessions_expires_at', 'webmail_sessions', ['expires_at'], unique=False)
    op.create_index(op.f('ix_webmail_sessions_mailbox_id'), 'webmail_sessions', ['mailbox_id'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index(op.f('ix_webmail_sessions_mailbox_id'), table_name='webmail_sessions')
    op.drop_index('ix_webmail_sessions_expires_at', table_name='webmail_sessions')
    op.drop_table('webmail_sessions')
