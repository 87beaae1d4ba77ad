"""First passwords of new mailboxes, set inside the transaction that creates them (the
directory's, for one person or the import of 50,000).

Every such password was chosen by someone other than the owner, so it must be changed
at first login (Điều 13.2). A plain synchronous function taking a ``Connection`` first,
so it joins the caller's transaction (``Database.run_write``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.engine import Connection

from congthu.accounts.tables import credentials
from congthu.db import bulk_insert


def set_initial_passwords(conn: Connection, hashes: Sequence[tuple[int, str]], now: datetime) -> None:
    """Credentials of new mailboxes: (mailbox id, argon2id hash) each, in bulk, to be
    changed at first login."""
    bulk_insert(conn, credentials, [{"mailbox_id": mailbox_id, "password_hash": hashed}
                                    for mailbox_id, hashed in hashes],
                constants={"must_change": True, "changed_at": now})
