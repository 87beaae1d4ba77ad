"""api: the token a token was made by (revoked with its maker)

Revision ID: api_0003
Revises: api_0002
Create Date: 2026-12-06 17:10:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'api_0003'
down_revision: Union[str, Sequence[str], None] = 'api_0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('made_by_token', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_api_tokens_made_by_token'), ['made_by_token'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_made_by_token'))
        batch_op.drop_column('made_by_token')
