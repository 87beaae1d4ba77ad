"""directory: dir_generation, one more at every change of what the LDAP tree shows

One row, counted by triggers (``congthu.migrations.generation``) on the tables the tree
is made of, as ``congthu.directory.tables`` says, so that the LDAP server rebuilds its tree
when the directory changed rather than on a timer (issue 16), whatever path made the
change. Here the directory's own tables; the other owners count theirs in their own
migrations: the roles and service accounts in accounts_0003, the mailboxes' addresses in
store_0013.

Revision ID: directory_0003
Revises: directory_0002
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from congthu.migrations.generation import PG_FUNCTION, count_changes, uncount_changes

revision: str = "directory_0003"
down_revision: str | Sequence[str] | None = "directory_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, the columns whose update counts: None for any)
WATCHED: list[tuple[str, tuple[str, ...] | None]] = [
    ("dir_orgs", None),
    ("dir_people", None),
]


def upgrade() -> None:
    generation = op.create_table(
        "dir_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dir_generation")),
    )
    op.bulk_insert(generation, [{"id": 1, "value": 0}])
    for table, columns in WATCHED:
        count_changes(table, columns)


def downgrade() -> None:
    for table, _columns in WATCHED:
        uncount_changes(table)
    if op.get_bind().dialect.name != "sqlite":
        op.execute(f"DROP FUNCTION IF EXISTS {PG_FUNCTION}() CASCADE")
    op.drop_table("dir_generation")
