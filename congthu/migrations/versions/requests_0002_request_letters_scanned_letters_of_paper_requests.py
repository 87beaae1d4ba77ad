"""requests: the scanned letters of paper requests (Điều 4.1), their bytes in the blob store

Revision ID: requests_0002
Revises: requests_0001
Create Date: 2026-12-06 12:30:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'requests_0002'
down_revision: Union[str, Sequence[str], None] = 'requests_0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('request_letters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('blob', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('content_type', sa.String(length=40), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('added_by', sa.String(length=320), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], name=op.f('fk_request_letters_request_id_requests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_request_letters'))
    )
    with op.batch_alter_table('request_letters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_request_letters_request_id'), ['request_id'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('request_letters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_request_letters_request_id'))
    op.drop_table('request_letters')
