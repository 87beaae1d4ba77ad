"""api: rate limit buckets shared by every worker and node (congthu/api/limits.py)

Revision ID: api_0002
Revises: api_0001
Create Date: 2026-12-06 12:30:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'api_0002'
down_revision: Union[str, Sequence[str], None] = 'api_0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('api_rate_buckets',
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('level', sa.Float(), nullable=False),
    sa.Column('at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_api_rate_buckets'))
    )
    op.create_index(op.f('ix_api_rate_buckets_at'), 'api_rate_buckets', ['at'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index(op.f('ix_api_rate_buckets_at'), table_name='api_rate_buckets')
    op.drop_table('api_rate_buckets')
