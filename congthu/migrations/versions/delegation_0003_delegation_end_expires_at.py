"""delegation: the end of a delegation (``expires_at``, congthu/delegation/term.py) on the
mailbox-wide and the folder grants; NULL, the value of every existing grant, means no end

Revision ID: delegation_0003
Revises: delegation_0002
Create Date: 2026-12-06 12:20:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'delegation_0003'
down_revision: Union[str, Sequence[str], None] = 'delegation_0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('delegations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('folder_delegations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('folder_delegations', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
    with op.batch_alter_table('delegations', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
