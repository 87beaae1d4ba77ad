"""What the accounts package writes into the store's tables inside its own transaction.

A successful login records the mailbox's access (the six-month rule of Điều 4.4) in the
same transaction as the login's audit record and counters: one commit per login, not
two. A plain synchronous function taking a ``Connection`` first, so it joins the
caller's ``Database.run_write`` transaction. (Reads of mailboxes by id or address for
other packages are in ``lookup.py``.)
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Connection

from congthu.store.statements import TOUCH


def record_access(conn: Connection, mailbox_id: int, when: datetime) -> None:
    """Note that the owner used the mailbox at ``when`` (``MailStore.touch`` in one call)."""
    conn.execute(TOUCH, {"b_mailbox": mailbox_id, "b_when": when})
