"""reports: daily counters per organisation, mailboxes used per month, mailed reports
(congthu/reports/tables.py)

Revision ID: reports_0001
Revises:
Create Date: 2026-12-06 05:56:26.147548

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'reports_0001'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = ('reports',)
depends_on: Union[str, Sequence[str], None] = 'store_0001'


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('report_counters',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('org_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('metric', sa.String(length=48), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'org_id', 'metric', name=op.f('pk_report_counters'))
    )
    with op.batch_alter_table('report_counters', schema=None) as batch_op:
        batch_op.create_index('ix_report_counters_org_day', ['org_id', 'day'], unique=False)

    op.create_table('report_months',
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('org_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('metric', sa.String(length=48), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('month', 'org_id', 'metric', name=op.f('pk_report_months'))
    )
    op.create_table('report_active',
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('mailbox_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.PrimaryKeyConstraint('month', 'mailbox_id', name=op.f('pk_report_active'))
    )
    op.create_table('report_mailings',
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.PrimaryKeyConstraint('period', name=op.f('pk_report_mailings'))
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('report_mailings')
    op.drop_table('report_active')
    op.drop_table('report_months')
    with op.batch_alter_table('report_counters', schema=None) as batch_op:
        batch_op.drop_index('ix_report_counters_org_day')
    op.drop_table('report_counters')
