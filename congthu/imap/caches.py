"""What the IMAP sessions of one App share, kept per App (never between two Apps of one
process: folder ids of two databases name different folders).

- ``metas`` and ``known``: what never changes of the messages fetched lately (their
  metadata row, also kept for the new messages a session learns of: ``Session.sync``;
  their content with its loaded structure, its header section of at most
  8 KiB and the FETCH items made from it), by (folder id, UIDVALIDITY, UID), which
  never names another message of the same database (a UID is not reused; a recreated
  or renamed folder has a new UIDVALIDITY).
  Bounded (``CACHE_MAX`` each), least recently used first out (``cmd_fetch``).
- ``by_content``: the same content entries of ``known`` by content id, each checked
  against the SHA-256 of the content row (an id of a content collected may name
  another one later; the row is then read for its SHA-256 only, ``held_content``): a
  new message whose bytes a message fetched lately had already
  (imaptest APPENDs the same mbox over and over; a circular sent to many mailboxes)
  takes that entry, its structure loaded and its items made, instead of a new one.
- ``folders``: the index of each folder selected lately (UIDs, flags, modseqs), which
  a SELECT copies and brings up to date instead of reading the folder
  (``indexes.FolderIndexes``).
- ``folder_ids``: the folder id a (mailbox id, folder name) had when a session of this
  App selected it lately, so that SELECT can watch the folder before it reads its row
  and read it once (``cmd_select``); only a hint: the row read by that id must still
  have that mailbox and name, else the name is looked up again. Bounded
  (``FOLDER_IDS_MAX``, oldest first out).
- ``changes_since``: lookups of a folder's changes in flight, shared by the sessions
  that wait on the same folder at the same modseq: when a message arrives, a hundred
  IDLE clients of one mailbox cost one query.

The App holds its one instance (``app.imap``); the listeners take it once and hand it to
each session (no lookup per command).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from congthu.imap.indexes import FolderIndexes

if TYPE_CHECKING:
    from congthu.store import Content, MailStore

__all__ = ["CACHE_MAX", "FOLDER_IDS_MAX", "ImapCaches"]

CACHE_MAX = 1024
FOLDER_IDS_MAX = 10_000
# (folder id, UIDVALIDITY, UID)
MessageKey = tuple[int, int, int]


class ImapCaches:
    __slots__ = ("metas", "known", "by_content", "folders", "folder_ids", "_inflight")

    def __init__(self) -> None:
        self.metas: OrderedDict[MessageKey, Any] = OrderedDict()
        self.known: OrderedDict[MessageKey, Any] = OrderedDict()
        self.by_content: OrderedDict[int, Any] = OrderedDict()
        self.folders = FolderIndexes()
        # (mailbox id, folder name) -> folder id, a hint (see the module docstring).
        self.folder_ids: dict[tuple[int, str], int] = {}
        self._inflight: dict[tuple[int, int], asyncio.Future[Any]] = {}

    @staticmethod
    def remember(cache: OrderedDict[Any, Any], key: Any, value: Any) -> None:
        cache[key] = value
        if len(cache) > CACHE_MAX:
            cache.popitem(last=False)

    def held_content(self, content_id: int) -> Content | None:
        """The content of ``by_content`` under this id, or None."""
        known = self.by_content.get(content_id)
        return known.content if known is not None else None

    def remember_folder_id(self, mailbox_id: int, name: str, folder_id: int) -> None:
        ids = self.folder_ids
        ids.pop((mailbox_id, name), None)
        ids[(mailbox_id, name)] = folder_id
        if len(ids) > FOLDER_IDS_MAX:
            del ids[next(iter(ids))]

    async def changes_since(self, store: MailStore, folder_id: int, modseq: int) -> Any:
        """``store.changes_since``, one lookup for every session asking the same."""
        key = (folder_id, modseq)
        future = self._inflight.get(key)
        if future is None:
            future = asyncio.ensure_future(store.changes_since(folder_id, modseq))
            self._inflight[key] = future
            future.add_done_callback(lambda _f: self._inflight.pop(key, None))
        return await asyncio.shield(future)
