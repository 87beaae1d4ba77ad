"""store: a mailbox added, removed or readdressed counts in the directory's generation

The LDAP tree shows each person's and organisation's mail address, their mailbox's: an
insert, a delete or a new address of a mailbox (not its last access, its quota or its
status, which the tree does not show) adds one to ``dir_generation`` (directory_0003), so
the tree is rebuilt (issue 16). The trigger bodies name ``dir_generation`` only when they
run: the order the branches are upgraded in does not matter.

Revision ID: store_0013
Revises: store_0012
"""
from collections.abc import Sequence

from congthu.migrations.generation import count_changes, uncount_changes

revision: str = "store_0013"
down_revision: str | Sequence[str] | None = "store_0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    count_changes("mailboxes", ("address",))


def downgrade() -> None:
    uncount_changes("mailboxes")
