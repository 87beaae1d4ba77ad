"""A folder's messages one page at a time, with what a list shows of each (``ListingMethods``):
the webmail's message list (flat or grouped by conversation), search results and new-mail
rows, and the unread counts of a mailbox's folders.

A page reads only the page: its UIDs come from one ordered walk with ``LIMIT``/``OFFSET``
on an index of the folder, covering, so the cost is the page plus the index entries
skipped: by arrival date or size on the indexes of migration store_0007, by subject or
sender on those of store_0008, by UID on the table's own (folder_id, uid) key. Then the
page's rows and their contents' decoded subject and sender are read by key. Ties are
broken by arrival date and UID, so pages never overlap or skip.

Subject and sender orders use keys copied onto each message row when it is written
(``sort_keys``: the base subject of RFC 5256 section 2.1 folded, as IMAP SORT SUBJECT
compares, so "Re: Họp" sorts with "Họp"; the first sender's folded address field), so
that no order has to join the contents table and sort the folder (320-600 ms for
100,000 messages before store_0008; 0.2-10 ms with it, ``bench/web.py``). Only the first
80 characters are kept: subjects equal that far are ordered by date.

Conversations (``thread_page``): the folder's messages grouped by that base subject (RFC
5256 ORDEREDSUBJECT's grouping; an empty subject is a conversation of its own), newest
conversation first. A page walks the date index from the newest message and keeps the
messages that are the newest of their conversation (one probe of the subject index each),
so the first pages cost a few milliseconds whatever the folder's size; page n costs the
messages walked to reach it.

Unread counts read only the unseen messages' entries of the expression index
``ix_messages_folder_unseen`` (folder_id, flags & 1): the expression is written with
literals, as the index's, so that both engines use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, exists, func, literal_column, or_, select
from sqlalchemy.engine import Connection

from congthu.db import metadata
from congthu.mime.subjects import base_subject
from congthu.store.base import StoreBase
from congthu.store.model import MessageMeta
from congthu.store.rows import aware, chunks, to_meta
from congthu.store.statements import META_COLUMNS
from congthu.store.tables import contents, folders, messages

__all__ = ["LISTING_ORDERS", "SORT_KEY_CHARS", "Listed", "ListingMethods", "Thread", "sort_keys"]

# The unread counts' expression index (store_0007, made by hand): autogenerate leaves it.
metadata.info.setdefault("unmanaged_indexes", set()).add("ix_messages_folder_unseen")

SORT_KEY_CHARS = 80

# The orders a page can be read in, by name: the sort keys, in the order of their index.
LISTING_ORDERS: dict[str, tuple[Any, ...]] = {
    "arrival": (messages.c.internal_date, messages.c.uid), "size": (messages.c.size, messages.c.uid),
    "uid": (messages.c.uid,),
    "subject": (messages.c.sort_subject, messages.c.internal_date, messages.c.uid),
    "from": (messages.c.sort_from, messages.c.internal_date, messages.c.uid),
}
_UNSEEN: Any = messages.c.flags.op("&")(literal_column("1")) == literal_column("0")


@dataclass(frozen=True)
class Listed:
    """One row of a message list: the message's metadata and the decoded fields shown."""

    folder_id: int
    meta: MessageMeta
    subject: str
    from_addr: str
    sent_date: datetime | None
    message_id: str


def sort_keys(subject: str, from_key: str) -> tuple[str, str]:
    """(sort_subject, sort_from) of a message row, from its content's decoded subject and
    folded sender (``contents.from_key``): what every writer of a message row stores."""
    return base_subject(subject or "")[:SORT_KEY_CHARS], (from_key or "")[:SORT_KEY_CHARS]


def _page_uids(order: str, descending: bool) -> Any:
    keys = LISTING_ORDERS[order]
    ordering = [k.desc() for k in keys] if descending else [k.asc() for k in keys]
    return (select(messages.c.uid).where(messages.c.folder_id == bindparam("b_folder"))
            .order_by(*ordering).limit(bindparam("b_limit")).offset(bindparam("b_offset")))


# Built once (building a statement costs more than running it, see statements.py).
_PAGES = {(order, descending): _page_uids(order, descending) for order in LISTING_ORDERS for descending in (True, False)}


_NEWER = messages.alias("newer")
# The newest message of each conversation, newest first (see the module docstring): a
# message with an empty base subject is a conversation of its own.
_THREAD_HEADS = (
    select(messages.c.uid, messages.c.sort_subject)
    .where(and_(messages.c.folder_id == bindparam("b_folder"), or_(
        messages.c.sort_subject == "",
        ~exists().where(and_(
            _NEWER.c.folder_id == messages.c.folder_id, _NEWER.c.sort_subject == messages.c.sort_subject,
            or_(_NEWER.c.internal_date > messages.c.internal_date,
                and_(_NEWER.c.internal_date == messages.c.internal_date, _NEWER.c.uid > messages.c.uid)))))))
    .order_by(messages.c.internal_date.desc(), messages.c.uid.desc())
    .limit(bindparam("b_limit")).offset(bindparam("b_offset"))
)
_THREAD_COUNTS = (
    select(messages.c.sort_subject, func.count(), func.sum(case((_UNSEEN, 1), else_=0)))
    .where(and_(messages.c.folder_id == bindparam("b_folder"),
                messages.c.sort_subject.in_(bindparam("b_keys", expanding=True))))
    .group_by(messages.c.sort_subject)
)
MAX_THREAD = 500  # messages of one conversation listed


@dataclass(frozen=True)
class Thread:
    """A conversation of a list page: its newest message, how many messages it has and
    how many of them are unread, and its key (the base subject; "" alone)."""

    newest: Listed
    count: int
    unseen: int
    key: str


_ROWS = (
    select(*META_COLUMNS, contents.c.subject, contents.c.from_addr, contents.c.sent_date, contents.c.message_id)
    .select_from(messages.join(contents, contents.c.id == messages.c.content_id))
)


def _listed(folder_id: int, rows: Sequence[Any]) -> list[Listed]:
    return [Listed(folder_id, to_meta(row), row.subject, row.from_addr, aware(row.sent_date), row.message_id)
            for row in rows]


def read_listed(conn: Connection, folder_id: int, uids: Sequence[int]) -> dict[int, Listed]:
    """The folder's messages with these UIDs (those that exist) as list rows, by UID."""
    found: dict[int, Listed] = {}
    for chunk in chunks(sorted(set(uids))):
        rows = conn.execute(_ROWS.where(and_(messages.c.folder_id == folder_id, messages.c.uid.in_(chunk)))).all()
        found.update((item.meta.uid, item) for item in _listed(folder_id, rows))
    return found


class ListingMethods(StoreBase):
    async def list_page(self, folder_id: int, order: str = "arrival", *, descending: bool = True,
                        offset: int = 0, limit: int = 50) -> list[Listed]:
        """A page of the folder's messages in ``order`` (a key of ``LISTING_ORDERS``),
        ``limit`` of them from ``offset``."""
        if order not in LISTING_ORDERS:
            raise ValueError(f"not a listing order: {order!r}")
        statement = _PAGES[order, descending]

        def read(conn: Connection) -> list[Listed]:
            uids = list(conn.execute(statement, {"b_folder": folder_id, "b_limit": max(0, limit),
                                                 "b_offset": max(0, offset)}).scalars())
            found = read_listed(conn, folder_id, uids)
            return [found[uid] for uid in uids if uid in found]

        return await self._ro(read)

    async def thread_page(self, folder_id: int, *, offset: int = 0, limit: int = 50) -> list[Thread]:
        """A page of the folder's conversations, newest first (``limit`` from ``offset``)."""
        def read(conn: Connection) -> list[Thread]:
            heads = conn.execute(_THREAD_HEADS, {"b_folder": folder_id, "b_limit": max(0, limit),
                                                 "b_offset": max(0, offset)}).all()
            keys = sorted({key for _uid, key in heads if key})
            counts = {key: (int(n), int(unseen or 0)) for key, n, unseen in conn.execute(
                _THREAD_COUNTS, {"b_folder": folder_id, "b_keys": keys})} if keys else {}
            found = read_listed(conn, folder_id, [uid for uid, _key in heads])
            out = []
            for uid, key in heads:
                item = found.get(uid)
                if item is None:
                    continue
                alone = (1, 0 if item.meta.flags & 1 else 1)
                count, unseen = counts.get(key, alone) if key else alone
                out.append(Thread(item, count, unseen, key))
            return out

        return await self._ro(read)

    async def thread_count(self, folder_id: int) -> int:
        """How many conversations ``thread_page`` pages through: the folder's distinct
        non-empty base subjects, plus each message with an empty one (a conversation of
        its own). Both counts read the subject index (folder_id, sort_subject, ...)."""
        def read(conn: Connection) -> int:
            named = conn.execute(select(func.count(func.distinct(messages.c.sort_subject))).where(
                and_(messages.c.folder_id == folder_id, messages.c.sort_subject != ""))).scalar()
            alone = conn.execute(select(func.count()).select_from(messages).where(
                and_(messages.c.folder_id == folder_id, messages.c.sort_subject == ""))).scalar()
            return int(named or 0) + int(alone or 0)

        return await self._ro(read)

    async def thread_of(self, folder_id: int, uid: int) -> list[Listed]:
        """The messages of the folder in the conversation of message ``uid`` (same base
        subject), oldest first, at most ``MAX_THREAD``; [] if there is no such message."""
        def read(conn: Connection) -> list[Listed]:
            key = conn.execute(select(messages.c.sort_subject).where(
                and_(messages.c.folder_id == folder_id, messages.c.uid == uid))).scalar()
            if key is None:
                return []
            uids = [uid] if not key else list(conn.execute(
                select(messages.c.uid).where(and_(messages.c.folder_id == folder_id, messages.c.sort_subject == key))
                .order_by(messages.c.internal_date, messages.c.uid).limit(MAX_THREAD)).scalars())
            found = read_listed(conn, folder_id, uids)
            return [found[u] for u in uids if u in found]

        return await self._ro(read)

    async def list_messages(self, folder_id: int, uids: Sequence[int]) -> list[Listed]:
        """The folder's messages with these UIDs as list rows, in the order given
        (those that no longer exist left out): a page of search results, new mail."""
        def read(conn: Connection) -> list[Listed]:
            found = read_listed(conn, folder_id, uids)
            return [found[uid] for uid in uids if uid in found]

        if len(uids) <= 200:
            return await self._ro_small(read)  # by key: a page
        return await self._ro(read)

    async def message_count(self, folder_id: int) -> int:
        """How many messages the folder holds (on its (folder_id, uid) key)."""
        def read(conn: Connection) -> int:
            return int(conn.execute(select(func.count()).select_from(messages)
                                    .where(messages.c.folder_id == folder_id)).scalar() or 0)

        return await self._ro(read)

    async def unseen_counts(self, mailbox_id: int) -> dict[int, int]:
        """Folder id -> messages without ``\\Seen``, for the mailbox's folders that have any."""
        statement = (select(messages.c.folder_id, func.count())
                     .where(and_(messages.c.folder_id.in_(select(folders.c.id).where(folders.c.mailbox_id == mailbox_id)),
                                 _UNSEEN))
                     .group_by(messages.c.folder_id))

        def read(conn: Connection) -> dict[int, int]:
            return {int(folder_id): int(count) for folder_id, count in conn.execute(statement)}

        return await self._ro(read)
