"""smtp: MTA-STS policies kept across restarts (RFC 8461 section 5.1) and outbound TLS
session counts for TLS reports (RFC 8460) (congthu/smtp/mtasts.py, tlsrpt.py)

Revision ID: smtp_0005
Revises: smtp_0004
Create Date: 2026-12-06 09:20:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'smtp_0005'
down_revision: Union[str, Sequence[str], None] = 'smtp_0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('smtp_mta_sts_policies',
    sa.Column('domain', sa.String(length=255), nullable=False),
    sa.Column('policy_id', sa.String(length=32), nullable=False),
    sa.Column('mode', sa.String(length=10), nullable=False),
    sa.Column('mx', sa.Text(), nullable=False),
    sa.Column('max_age', sa.Integer(), nullable=False),
    sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('domain', name=op.f('pk_smtp_mta_sts_policies'))
    )
    op.create_table('smtp_tls_results',
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('policy_domain', sa.String(length=255), nullable=False),
    sa.Column('policy_type', sa.String(length=20), nullable=False),
    sa.Column('policy_key', sa.String(length=16), nullable=False),
    sa.Column('result', sa.String(length=40), nullable=False),
    sa.Column('mx_host', sa.String(length=255), nullable=False),
    sa.Column('ip', sa.String(length=45), nullable=False),
    sa.Column('policy_text', sa.Text(), nullable=False),
    sa.Column('mx_patterns', sa.Text(), nullable=False),
    sa.Column('sessions', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'policy_domain', 'policy_type', 'policy_key', 'result', 'mx_host', 'ip',
                            name=op.f('pk_smtp_tls_results'))
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('smtp_tls_results')
    op.drop_table('smtp_mta_sts_policies')
