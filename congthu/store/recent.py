"""Which IMAP session is the first to be told of a message: \\Recent (RFC 3501 sections
2.3.2, 6.3.1, 6.3.2, 6.3.10 and 7.3.2; RFC 9051 removed it, IMAP4rev2 sessions do without).

The model is Dovecot's and costs one column, no row per message: each folder keeps
``first_recent_uid``, the lowest UID that no session has been told of yet. A read-write
session that selects the folder, or learns of new messages while it is selected,
*claims* the UIDs from that mark up to its own UIDNEXT by moving the mark there
(``claim``): those messages are \\Recent in that session for its lifetime and in no
other. The claim is a compare-and-set on the folder row inside one write transaction, so
of two sessions that claim at once exactly one wins (on SQLite the single writer runs
them one after the other; on PostgreSQL the loser's UPDATE waits for the winner's commit,
then finds the mark moved and matches no row). A read-only session (EXAMINE, a delegate
without write rights) only looks at the mark (``first_unclaimed``): the messages from it
are \\Recent for it too, but it leaves them to the next read-write session (RFC 3501
section 6.3.2: EXAMINE MUST NOT make messages lose \\Recent). STATUS RECENT counts the
messages from the mark (``count_unclaimed``): those the next session would see as recent.

These are functions taking the ``MailStore`` (and its ``_tx`` / ``_ro`` transactions);
the IMAP server calls them from ``congthu.imap.selected``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import and_, func, select, update
from sqlalchemy.engine import Connection

from congthu.store.tables import folders, messages

if TYPE_CHECKING:
    from congthu.store import MailStore

__all__ = ["claim", "count_unclaimed", "first_unclaimed"]


def _read_mark(conn: Connection, folder_id: int) -> int | None:
    value = conn.execute(select(folders.c.first_recent_uid).where(folders.c.id == folder_id)).scalar()
    return None if value is None else int(value)


async def claim(store: MailStore, folder_id: int, uid_end: int) -> range:
    """Take the unclaimed UIDs below ``uid_end`` (the session's UIDNEXT): returns the
    range claimed, empty if another session was first or the folder is gone.

    Most SELECTs find nothing new: a read tells so without queueing a write transaction
    behind the deliveries (the mark only grows, so a mark read at or above ``uid_end``
    is final; one read below it is checked again inside the write)."""
    mark = await first_unclaimed(store, folder_id)
    if mark is None or mark >= uid_end:
        return range(0)

    def tx(conn: Connection) -> range:
        while True:
            mark = _read_mark(conn, folder_id)
            if mark is None or mark >= uid_end:
                return range(0)
            # Compare-and-set: only if nobody moved the mark since we read it. On
            # PostgreSQL (READ COMMITTED) a concurrent claimer's UPDATE blocks here until
            # this one commits and then re-reads the row, finds the new mark and matches
            # nothing; it then reads the mark again, which a new statement sees.
            moved = conn.execute(update(folders)
                                 .where(and_(folders.c.id == folder_id, folders.c.first_recent_uid == mark))
                                 .values(first_recent_uid=uid_end))
            if moved.rowcount == 1:
                return range(mark, uid_end)

    return await store._tx(tx)


async def first_unclaimed(store: MailStore, folder_id: int) -> int | None:
    """The folder's mark: UIDs from it are recent for whoever looks (read-only sessions)."""
    def read(conn: Connection) -> int | None:
        return _read_mark(conn, folder_id)

    return await store._ro(read)


async def count_unclaimed(store: MailStore, folder_id: int) -> int:
    """STATUS RECENT: the messages no session has been told of (one index range scan)."""
    def read(conn: Connection) -> int:
        mark = select(folders.c.first_recent_uid).where(folders.c.id == folder_id).scalar_subquery()
        query = select(func.count()).where(and_(messages.c.folder_id == folder_id, messages.c.uid >= mark))
        return int(conn.execute(query).scalar() or 0)

    return await store._ro(read)
