"""folder grants: rights per folder

RFC 4314 ACLs per folder: ``folder_delegations`` holds a folder's own grant, which
replaces the mailbox-wide one (``delegations``) for that folder. Existing rows of
``delegations`` are untouched and keep meaning "the whole mailbox".

Revision ID: delegation_0002
Revises: delegation_0001
Create Date: 2026-11-28 18:32:32.580797

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'delegation_0002'
down_revision: Union[str, Sequence[str], None] = 'delegation_0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('folder_delegations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('folder_id', sa.Integer(), nullable=False),
    sa.Column('grantee_mailbox_id', sa.Integer(), nullable=False),
    sa.Column('rights', sa.String(length=32), nullable=False),
    sa.Column('granted_by', sa.String(length=320), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['folder_id'], ['folders.id'], name=op.f('fk_folder_delegations_folder_id_folders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['grantee_mailbox_id'], ['mailboxes.id'], name=op.f('fk_folder_delegations_grantee_mailbox_id_mailboxes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_folder_delegations')),
    sa.UniqueConstraint('folder_id', 'grantee_mailbox_id', name=op.f('uq_folder_delegations_folder_id'))
    )
    with op.batch_alter_table('folder_delegations', schema=None) as batch_op:
        batch_op.create_index('ix_folder_delegations_grantee', ['grantee_mailbox_id'], unique=False)



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('folder_delegations', schema=None) as batch_op:
        batch_op.drop_index('ix_folder_delegations_grantee')

    op.drop_table('folder_delegations')
