"""accounts: the roles and the service accounts count in the directory's generation

The LDAP tree lists the role holders (the role groups) and the service accounts
(ou=services): any change of the roles, and an insert, a delete or a change of name or
description of a service account (not of its secret or its last use) add one to
``dir_generation`` (directory_0003), so the tree is rebuilt (issue 16). The trigger bodies
name ``dir_generation`` only when they run: the order the branches are upgraded in does
not matter.

Revision ID: accounts_0003
Revises: accounts_0002
"""
from collections.abc import Sequence

from congthu.migrations.generation import count_changes, uncount_changes

revision: str = "accounts_0003"
down_revision: str | Sequence[str] | None = "accounts_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    count_changes("roles")
    count_changes("service_accounts", ("name", "description"))


def downgrade() -> None:
    uncount_changes("service_accounts")
    uncount_changes("roles")
