"""Content pipeline: the quarantine of held messages (Điều 9.9)

Revision ID: content_0001
Revises: 
Create Date: 2026-12-06 03:30:11.136371

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'content_0001'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = ('content',)
depends_on: Union[str, Sequence[str], None] = 'store_0001'


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('content_quarantine',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('held_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('door', sa.String(length=20), nullable=False),
    sa.Column('mail_from', sa.String(length=320), nullable=False),
    sa.Column('recipients', sa.Text(), nullable=False),
    sa.Column('subject', sa.String(length=500), nullable=False),
    sa.Column('rule', sa.String(length=40), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_content_quarantine'))
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('content_quarantine')
