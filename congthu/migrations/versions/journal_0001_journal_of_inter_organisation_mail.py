"""Journal of inter-organisation mail (Điều 7.3–7.5): entries and their blobs

Revision ID: journal_0001
Revises: 
Create Date: 2026-12-06 06:30:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'journal_0001'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = ('journal',)
depends_on: Union[str, Sequence[str], None] = 'store_0001'


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('journal_entries',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('door', sa.String(length=20), nullable=False),
    sa.Column('queue_id', sa.String(length=40), nullable=False),
    sa.Column('mail_from', sa.String(length=320), nullable=False),
    sa.Column('recipients', sa.Text(), nullable=False),
    sa.Column('submitted_by', sa.String(length=320), nullable=False),
    sa.Column('organisation', sa.String(length=320), nullable=False),
    sa.Column('org_recipients', sa.Text(), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('message_id', sa.Text(), nullable=False),
    sa.Column('document_type', sa.String(length=40), nullable=True),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('search_key', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_journal_entries'))
    )
    op.create_index('ix_journal_entries_sent_at', 'journal_entries', ['sent_at'], unique=False)
    op.create_table('journal_segments',
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('blob', sa.String(length=64), nullable=False),
    sa.Column('length', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['journal_entries.id'],
                            name=op.f('fk_journal_segments_entry_id_journal_entries'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('entry_id', 'seq', name=op.f('pk_journal_segments'))
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('journal_segments')
    op.drop_index('ix_journal_entries_sent_at', table_name='journal_entries')
    op.drop_table('journal_entries')
