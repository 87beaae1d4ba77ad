"""A folder's messages one page at a time, with what a list shows of each (``ListingMethods``):
the webmail's message list, search results and new-mail rows, and the unread counts of a
mailbox's folders.

A page reads only the page: its UIDs come from one ordered walk with ``LIMIT``/``OFFSET``
(by arrival date or size on the indexes of migration store_0007, covering, so the cost is
the page plus the index entries skipped; by UID on the table's own (folder_id, uid) key),
then the page's rows and their contents' decoded subject and sender by key. Sorting by
sender or subject sorts the folder's rows joined to their contents (no index can serve an
order on another table's column): tens of milliseconds for 100,000 messages, see
``bench/web.py``. Ties are broken by UID, so pages never overlap or skip.

Unread counts read only the unseen messages' entries of the expression index
``ix_messages_folder_unseen`` (folder_id, flags & 1): the expression is written with
literals, as the index's, so that both engines use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, literal_column, select
from sqlalchemy.engine import Connection

from congthu.db import metadata
from congthu.store.base import StoreBase
from congthu.store.model import MessageMeta
from congthu.store.rows import aware, chunks, to_meta
from congthu.store.statements import META_COLUMNS
from congthu.store.tables import contents, folders, messages

__all__ = ["LISTING_ORDERS", "Listed", "ListingMethods"]

# The unread counts' expression index (store_0007, made by hand): autogenerate leaves it.
metadata.info.setdefault("unmanaged_indexes", set()).add("ix_messages_folder_unseen")

# The orders a page can be read in, by name: the sort key (ties broken by UID).
LISTING_ORDERS: dict[str, Any] = {
    "arrival": messages.c.internal_date, "size": messages.c.size, "uid": messages.c.uid,
    "subject": contents.c.subject_key, "from": contents.c.from_key,
}
_ON_MESSAGES = ("arrival", "size", "uid")
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


def _page_uids(order: str, descending: bool) -> Any:
    key = LISTING_ORDERS[order]
    keys = [key, messages.c.uid] if order != "uid" else [key]
    ordering = [k.desc() for k in keys] if descending else [k.asc() for k in keys]
    base = select(messages.c.uid)
    if order not in _ON_MESSAGES:
        base = base.select_from(messages.join(contents, contents.c.id == messages.c.content_id))
    return (base.where(messages.c.folder_id == bindparam("b_folder"))
            .order_by(*ordering).limit(bindparam("b_limit")).offset(bindparam("b_offset")))


# Built once (building a statement costs more than running it, see statements.py).
_PAGES = {(order, descending): _page_uids(order, descending) for order in LISTING_ORDERS for descending in (True, False)}


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
