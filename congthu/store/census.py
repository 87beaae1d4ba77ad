"""Every mailbox's state in one pass, for reports (``congthu/reports``): kind, status,
when it was made and last used, its storage. Lean rows (no ``Mailbox`` records), as a
province has tens of thousands of mailboxes. A plain synchronous function taking a
``Connection`` first, so it joins the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection

from congthu.store.tables import mailboxes

__all__ = ["MailboxState", "mailbox_states"]


@dataclass(frozen=True, slots=True)
class MailboxState:
    id: int
    kind: str
    status: str
    created_at: datetime
    last_access_at: datetime | None
    used_bytes: int
    quota_bytes: int


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def mailbox_states(conn: Connection) -> list[MailboxState]:
    """The state of every mailbox (any status)."""
    c = mailboxes.c
    return [MailboxState(int(r[0]), r[1], r[2], _aware(r[3]) or datetime.min.replace(tzinfo=UTC), _aware(r[4]),
                         int(r[5]), int(r[6]))
            for r in conn.execute(select(c.id, c.kind, c.status, c.created_at, c.last_access_at, c.used_bytes,
                                         c.quota_bytes))]
