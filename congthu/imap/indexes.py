"""A folder's index (UIDs, system flags, keywords, modseqs of its messages) and the copy
of it the IMAP sessions of one App share, so that SELECT does not read the whole folder.

``MessageIndex`` is the index itself, in compact arrays (4 bytes of UID, 1 byte of system
flags, 8 bytes of modseq per message; keywords, rare, in a dict), with what a session
and the shared copy both do to it. ``selected.Selected`` (one session's view of its
selected folder, moved only when the client may be told, RFC 9051 section 7.4.1) is one.

``FolderIndexes`` (``app.imap.folders``) keeps, per folder (by folder id and UIDVALIDITY,
which never name another folder of the same database), the index as of a modseq of the
folder, and hands a SELECT a copy of it brought up to date (``current``):

- the folder's highest modseq is read first (one row by key), after the session began
  watching the folder, so nothing committed before that read is missed and anything
  committed after it wakes the session;
- if the kept index is at that modseq, it is copied (a memory copy of its arrays: about
  1 ms for 100,000 messages); otherwise what changed since its modseq is taken from the
  change hub's log of this process (``ChangeHub.changes_since``: every change has its
  own modseq, so the log answers only when it holds them all) or, across a hole (a
  change by another worker or node, a delivery), from the database
  (``MailStore.changes_since``: the rows with a higher modseq and the ``expunged`` rows,
  the same look-up QRESYNC uses, exact whatever process made the change);
- a folder never seen, or so far behind that reading it again is cheaper, is read whole
  in one transaction (``MailStore.flag_index``: its highest modseq and its rows, one
  snapshot).

Each kept index watches its folder (``ChangeHub.watch``), so the hub keeps the log of the
folder's changes in this process and those relayed from the other workers (``LocalFeed``)
while it is kept. The kept indexes are bounded (``MESSAGES_MAX`` messages in all, the
least recently selected dropped first). Loads and catch-ups of one folder are done one at
a time: twenty sessions selecting a cold folder at once read it once.
"""

from __future__ import annotations

import asyncio
from array import array
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING

from congthu.store import MessageMeta
from congthu.store import flags as flagbits

if TYPE_CHECKING:
    from congthu.store import Folder, MailStore
    from congthu.store.changes import ChangeHub, FolderWatch

__all__ = ["MESSAGES_MAX", "FolderIndexes", "MessageIndex"]

# Messages kept in all the shared indexes of one App (about 13 bytes each).
MESSAGES_MAX = 2_000_000
# Expunged at once beyond this many, the arrays are rebuilt rather than cut one by one.
_REBUILD_AT = 32
# 1 for a byte of flags without \Seen: bytes.translate and find give the first unseen.
_UNSEEN = bytes(0 if b & flagbits.SEEN else 1 for b in range(256))

# (folder id, UIDVALIDITY)
FolderKey = tuple[int, int]


class MessageIndex:
    """The UIDs (ascending), system flags, keywords and modseqs of a folder's messages
    as of ``modseq``, message i at index i (sequence number i + 1)."""

    __slots__ = ("uids", "flags", "modseqs", "keywords", "modseq", "uidnext")

    def __init__(self) -> None:
        self.uids = array("I")
        self.flags = bytearray()
        self.modseqs = array("Q")
        self.keywords: dict[int, tuple[str, ...]] = {}
        self.modseq = 0
        self.uidnext = 1

    def __len__(self) -> int:
        return len(self.uids)

    def fill(self, uids: Iterable[int], flags: Iterable[int], modseqs: Iterable[int],
             keywords: Iterable[tuple[int, str]]) -> None:
        """Set the index from columns in UID order (``MailStore.flag_index``)."""
        self.uids = array("I", uids)
        self.modseqs = array("Q", modseqs)
        try:
            self.flags = bytearray(flags)
        except ValueError:  # a bit beyond the system flags' byte (none is stored today)
            self.flags = bytearray(f & 0xFF for f in flags)
        self.keywords = {uid: tuple(kw.split()) for uid, kw in keywords}
        if self.uids and self.uids[-1] >= self.uidnext:
            self.uidnext = self.uids[-1] + 1

    def copy_into(self, other: MessageIndex) -> None:
        """Give ``other`` a copy of this index (memory copies of the arrays)."""
        other.uids = self.uids[:]
        other.flags = self.flags[:]
        other.modseqs = self.modseqs[:]
        other.keywords = dict(self.keywords)
        other.modseq = self.modseq
        other.uidnext = max(other.uidnext, self.uidnext)

    def index_of(self, uid: int) -> int | None:
        i = bisect_left(self.uids, uid)
        return i if i < len(self.uids) and self.uids[i] == uid else None

    def append(self, m: MessageMeta) -> None:
        self.uids.append(m.uid)
        self.flags.append(m.flags & 0xFF)
        self.modseqs.append(m.modseq)
        if m.keywords:
            self.keywords[m.uid] = tuple(m.keywords)
        if m.uid >= self.uidnext:
            self.uidnext = m.uid + 1

    def remove_at(self, i: int) -> None:
        uid = self.uids[i]
        del self.uids[i]
        del self.flags[i]
        del self.modseqs[i]
        self.keywords.pop(uid, None)

    def remove_uids(self, gone: Iterable[int]) -> None:
        """Remove these UIDs (those present); many at once by rebuilding the arrays."""
        found = sorted({i for u in gone if (i := self.index_of(u)) is not None})
        if len(found) <= _REBUILD_AT:
            for i in reversed(found):
                self.remove_at(i)
            return
        drop = set(found)
        keep = [i for i in range(len(self.uids)) if i not in drop]
        for i in found:
            self.keywords.pop(self.uids[i], None)
        self.uids = array("I", (self.uids[i] for i in keep))
        self.flags = bytearray(self.flags[i] for i in keep)
        self.modseqs = array("Q", (self.modseqs[i] for i in keep))

    def first_unseen(self) -> int | None:
        """The index of the first message without \\Seen (RFC 3501 section 7.1, UNSEEN)."""
        i = self.flags.translate(_UNSEEN).find(1)
        return i if i >= 0 else None

    def all_keywords(self) -> list[str]:
        """The keywords of the folder's messages, each once, in the order first met."""
        seen: dict[str, None] = {}
        for kws in self.keywords.values():
            for k in kws:
                seen[k] = None
        return list(seen)

    def take_in(self, changed: Iterable[MessageMeta], gone: Iterable[int], highest: int) -> None:
        """Apply what changed since ``modseq`` (``changes_since``'s answer, which may
        repeat changes already taken in: applying one again changes nothing)."""
        self.remove_uids(gone)
        for meta in changed:
            i = self.index_of(meta.uid)
            if i is not None:
                self.flags[i] = meta.flags & 0xFF
                self.modseqs[i] = meta.modseq
                if meta.keywords:
                    self.keywords[meta.uid] = tuple(meta.keywords)
                else:
                    self.keywords.pop(meta.uid, None)
            elif not self.uids or meta.uid > self.uids[-1]:
                self.append(meta)
        self.modseq = max(self.modseq, highest)


class _Kept:
    __slots__ = ("index", "watch", "lock")

    def __init__(self, index: MessageIndex, watch: FolderWatch) -> None:
        self.index = index
        self.watch = watch
        self.lock = asyncio.Lock()


class FolderIndexes:
    """The folder indexes the IMAP sessions of one App share (see the module docstring)."""

    __slots__ = ("_kept", "_loading", "_size")

    def __init__(self) -> None:
        self._kept: OrderedDict[FolderKey, _Kept] = OrderedDict()
        self._loading: dict[FolderKey, asyncio.Lock] = {}
        self._size = 0

    def __len__(self) -> int:
        return len(self._kept)

    async def current(self, store: MailStore, hub: ChangeHub, folder: Folder, into: MessageIndex) -> None:
        """Copy into ``into`` the folder's index as of a modseq read now (at least): the
        caller watches the folder already, so what is committed later wakes it."""
        key = (folder.id, folder.uidvalidity)
        kept = self._kept.get(key)
        if kept is None:
            lock = self._loading.setdefault(key, asyncio.Lock())
            async with lock:
                kept = self._kept.get(key)
                if kept is None:
                    try:
                        kept = await self._load(store, hub, key)
                    finally:
                        self._loading.pop(key, None)
                    if kept is None:  # the folder is gone, or was recreated
                        into.modseq = folder.highestmodseq
                        return
                    kept.index.copy_into(into)
                    return
        self._kept.move_to_end(key)
        async with kept.lock:
            fresh = await store.get_folder_by_id(folder.id)
            if fresh is None or fresh.uidvalidity != folder.uidvalidity:
                self._drop(key)
                into.modseq = folder.highestmodseq
                return
            index = kept.index
            if fresh.highestmodseq > index.modseq:
                before = index.modseq
                logged = hub.changes_since(folder.id, before, fresh.highestmodseq)
                if logged is None and fresh.highestmodseq - before > len(index) // 4 + 64:
                    # Far behind (a modseq is one commit, which may touch many messages):
                    # reading the folder again costs less than its changes.
                    self._drop(key)
                    reloaded = await self._load(store, hub, key)
                    if reloaded is None:
                        into.modseq = folder.highestmodseq
                        return
                    reloaded.index.copy_into(into)
                    return
                changed, gone, highest = logged if logged is not None else \
                    await store.changes_since(folder.id, before)
                self._size -= len(index)
                index.take_in(changed, gone, highest)
                self._size += len(index)
            index.uidnext = max(index.uidnext, fresh.uidnext)
            index.copy_into(into)

    async def _load(self, store: MailStore, hub: ChangeHub, key: FolderKey) -> _Kept | None:
        folder_id, uidvalidity = key
        watch = hub.watch(folder_id)  # before the read: the hub keeps the log from now on
        try:
            state = await store.flag_index(folder_id)
        except BaseException:
            watch.close()
            raise
        if state is None or state.uidvalidity != uidvalidity:
            watch.close()
            return None
        index = MessageIndex()
        index.modseq, index.uidnext = state.highestmodseq, state.uidnext
        index.fill(state.uids, state.flags, state.modseqs, state.keywords)
        kept = self._kept[key] = _Kept(index, watch)
        self._size += len(index)
        while self._size > MESSAGES_MAX and len(self._kept) > 1:
            self._drop(next(iter(self._kept)))
        return kept

    def _drop(self, key: FolderKey) -> None:
        kept = self._kept.pop(key, None)
        if kept is not None:
            self._size -= len(kept.index)
            kept.watch.close()

    def close(self) -> None:
        """Stop watching every kept folder (the App closes)."""
        for key in list(self._kept):
            self._drop(key)
