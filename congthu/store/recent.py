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

A read-write session that APPENDs to the folder it has selected claims in the APPEND's
own transaction (``claim_in``, through ``DeliveryMethods.append``'s ``also``): it is the
first to be told of its message (the EXISTS that answers its APPEND), so no write of
its own is needed, and the other sessions that learn of the message find the mark past
it (in this process without reading it, ``remember``). Under imaptest's load, where
every client APPENDs to the INBOX all of them have selected, that takes most claims
off the write queue.

These are functions taking the ``MailStore`` (and its ``_tx`` / ``_ro`` transactions);
the IMAP server calls them from ``congthu.imap.selected``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.engine import Connection

from congthu.store.rows import Compiled
from congthu.store.tables import folders, messages

if TYPE_CHECKING:
    from congthu.store import MailStore

__all__ = ["claim", "claim_in", "count_unclaimed", "first_unclaimed", "first_unclaimed_below", "remember"]


_MARK = select(folders.c.first_recent_uid).where(folders.c.id == bindparam("b_folder"))
# Read by key at every claim and by every session that learns of new messages: straight
# on the driver (statements.py says why).
_MARK_READ = Compiled(_MARK)
_UNCLAIMED = select(func.count()).where(and_(messages.c.folder_id == bindparam("b_folder"),
                                             messages.c.uid >= _MARK.scalar_subquery()))
_MOVE_MARK = (update(folders)
              .where(and_(folders.c.id == bindparam("b_folder"), folders.c.first_recent_uid == bindparam("b_mark")))
              .values(first_recent_uid=bindparam("b_end")))
# In the APPEND's transaction (``claim_in``): straight on the driver too.
_MOVE_MARK_WRITE = Compiled(_MOVE_MARK)


def _read_mark(conn: Connection, folder_id: int) -> int | None:
    found = _MARK_READ.rows(conn, b_folder=folder_id)
    return None if not found or found[0][0] is None else int(found[0][0])


def claim_in(conn: Connection, folder_id: int, uid_end: int) -> range:
    """In a write transaction: take the unclaimed UIDs below ``uid_end``; the range
    taken (empty if none is left or the folder is gone). The caller hands it to one
    session and tells ``remember`` once it has committed."""
    while True:
        mark = _read_mark(conn, folder_id)
        if mark is None or mark >= uid_end:
            return range(0)
        # Compare-and-set: only if nobody moved the mark since we read it. On
        # PostgreSQL (READ COMMITTED) a concurrent claimer's UPDATE blocks here until
        # this one commits and then re-reads the row, finds the new mark and matches
        # nothing; it then reads the mark again, which a new statement sees.
        if _MOVE_MARK_WRITE.changed(conn, b_folder=folder_id, b_mark=mark, b_end=uid_end) == 1:
            return range(mark, uid_end)


def remember(store: MailStore, folder_id: int, uidvalidity: int, claimed: range) -> None:
    """A claim of ``claim_in`` committed: the sessions of this process that learn of
    those messages find them claimed without reading the mark."""
    if claimed:
        _remember_mark(store, (folder_id, uidvalidity), claimed.stop)


async def claim(store: MailStore, folder_id: int, uid_end: int, uidvalidity: int | None = None) -> range:
    """Take the unclaimed UIDs below ``uid_end`` (the session's UIDNEXT): returns the
    range claimed, empty if another session was first or the folder is gone.

    Most SELECTs find nothing new: a read tells so without queueing a write transaction
    behind the deliveries (the mark only grows, so a mark read at or above ``uid_end``
    is final; one read below it is checked again inside the write). Often not even the
    read is needed: when one session has claimed a new message, the others of the same
    folder learn of it at once and find the mark they remember already past it
    (``uidvalidity``, the folder's, names that memory; without it the database is read)."""
    key = (folder_id, uidvalidity)
    while True:
        if _known_mark(store, key) >= uid_end:
            return range(0)
        claiming = store._recent_claims.get(key)
        if claiming is None:
            break
        # Another session of this process is claiming in this folder (all of them learn
        # of a new message at once): wait for it rather than read the same mark too.
        await asyncio.shield(claiming)
    if uidvalidity is None:
        return await _claim(store, folder_id, uid_end, key)
    done = asyncio.get_running_loop().create_future()
    store._recent_claims[key] = done
    try:
        return await _claim(store, folder_id, uid_end, key)
    finally:
        del store._recent_claims[key]
        done.set_result(None)


async def _claim(store: MailStore, folder_id: int, uid_end: int, key: tuple[int, int | None]) -> range:
    mark = await first_unclaimed(store, folder_id, key[1])
    if mark is None or mark >= uid_end:
        return range(0)

    def tx(conn: Connection) -> range:
        return claim_in(conn, folder_id, uid_end)

    # Not waiting for the disk (as flag changes, ``Database.run_write``): a power cut may
    # undo the last claims, and those messages are then \Recent again for the next
    # session, which RFC 3501 section 2.3.2 asks when it cannot be told who saw them first.
    got = await store._tx(tx, durable=False)
    if got:
        _remember_mark(store, key, got.stop)
    return got


async def first_unclaimed(store: MailStore, folder_id: int, uidvalidity: int | None = None) -> int | None:
    """The folder's mark: UIDs from it are recent for whoever looks (read-only sessions)."""
    def read(conn: Connection) -> int | None:
        return _read_mark(conn, folder_id)

    mark = await store._ro_small(read)
    if mark is not None:
        _remember_mark(store, (folder_id, uidvalidity), mark)
    return mark


async def first_unclaimed_below(store: MailStore, folder_id: int, uid_end: int,
                                uidvalidity: int | None = None) -> int | None:
    """``first_unclaimed`` for a session whose UIDNEXT is ``uid_end``: ``uid_end`` itself,
    without reading the database, when the mark is known to be there or beyond it (no
    message below ``uid_end`` is unclaimed then, which is all such a session asks)."""
    if _known_mark(store, (folder_id, uidvalidity)) >= uid_end:
        return uid_end
    return await first_unclaimed(store, folder_id, uidvalidity)


# The highest mark each folder is known to have had in this process (read, or set by a
# claim), by (folder id, UIDVALIDITY): a folder id may be reused after a deletion, its
# UIDVALIDITY is not. The mark only grows, so this is a lower bound of the mark in the
# database even when other processes move it, and "known >= uid_end" proves that no
# message below uid_end is left to claim.
def _known_mark(store: MailStore, key: tuple[int, int | None]) -> int:
    return store._recent_marks.get(key, 0) if key[1] is not None else 0


def _remember_mark(store: MailStore, key: tuple[int, int | None], mark: int) -> None:
    if key[1] is None:
        return
    marks = store._recent_marks
    if mark > marks.get(key, 0):
        if len(marks) >= _MAX_MARKS and key not in marks:
            marks.clear()  # a bound on memory; forgetting costs only reads
        marks[key] = mark


_MAX_MARKS = 100_000


async def count_unclaimed(store: MailStore, folder_id: int) -> int:
    """STATUS RECENT: the messages no session has been told of (one index range scan)."""
    def read(conn: Connection) -> int:
        return int(conn.execute(_UNCLAIMED, {"b_folder": folder_id}).scalar() or 0)

    return await store._ro(read)
