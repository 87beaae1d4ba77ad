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
- a folder never seen in this App, or so far behind that reading it again is cheaper,
  is loaded in one read transaction (``MailStore.indexed_state``): from the folder's
  snapshot in the database (``congthu.store.snapshots``: the index packed in one row as
  of a modseq) and the rows changed and expunged after that modseq, or, without a usable
  snapshot, from all its rows (its highest modseq and its rows, one snapshot).

The snapshot is written from a kept index in the background (``spawn``, never on the
SELECT's path, ``save_delay`` seconds later) when a folder of ``snapshot_min`` messages
or more was read whole, and when the changes taken in since the last one written pass
``save_after``: a worker's first SELECT of a big folder then reads one blob and a few
rows (100,000 messages: ~100 ms of CPU read whole against ~15 ms). A caught-up index
whose size is not the folder's count of messages is not used (the folder is read whole
instead).

Each kept index watches its folder (``ChangeHub.watch``), so the hub keeps the log of the
folder's changes in this process and those relayed from the other workers (``LocalFeed``)
while it is kept. The kept indexes are bounded (``MESSAGES_MAX`` messages in all, the
least recently selected dropped first). Loads and catch-ups of one folder are done one at
a time: twenty sessions selecting a cold folder at once read it once.
"""

from __future__ import annotations

import asyncio
import logging
from array import array
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from congthu.log import event
from congthu.store import flags as flagbits

if TYPE_CHECKING:
    from congthu.store import Folder, MailStore
    from congthu.store.changes import ChangeHub, FolderWatch
    from congthu.store.reading import FlagIndex

log = logging.getLogger("congthu.imap.indexes")

__all__ = ["MESSAGES_MAX", "SAVE_DELAY", "SNAPSHOT_MIN", "FlagState", "FolderIndexes", "MessageIndex", "Spawn",
           "save_after"]

# Messages kept in all the shared indexes of one App (about 13 bytes each).
MESSAGES_MAX = 2_000_000
# Folders of fewer messages get no snapshot in the database: read whole, they cost less
# than a millisecond or two.
SNAPSHOT_MIN = 2000

# Seconds a snapshot's writing waits, so that the SELECT that made it due and the
# client's first commands after it are answered first.
SAVE_DELAY = 1.0

# Runs a coroutine beside the SELECT that asked for it (``App.spawn``).
Spawn = Callable[[Coroutine[Any, Any, Any]], Any]
# Expunged at once beyond this many, the arrays are rebuilt rather than cut one by one.
_REBUILD_AT = 32
# 1 for a byte of flags without \Seen: bytes.translate and find give the first unseen.
_UNSEEN = bytes(0 if b & flagbits.SEEN else 1 for b in range(256))
_DELETED = bytes(1 if b & flagbits.DELETED else 0 for b in range(256))

# (folder id, UIDVALIDITY)
FolderKey = tuple[int, int]


class FlagState(Protocol):
    """What the index holds of a message (a ``MessageMeta``, or a snapshot's catch-up
    row: ``store.snapshots.FlagChange``)."""

    @property
    def uid(self) -> int: ...
    @property
    def flags(self) -> int: ...
    @property
    def keywords(self) -> tuple[str, ...]: ...
    @property
    def modseq(self) -> int: ...


def save_after(messages: int) -> int:
    """Changes (messages changed, added or expunged) taken into a kept index of
    ``messages`` messages since its snapshot was written, beyond which it is written
    again: a first SELECT elsewhere then catches up over at most about this many rows."""
    return max(256, messages // 100)


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
        self.uids = uids if isinstance(uids, array) and uids.typecode == "I" else array("I", uids)
        self.modseqs = modseqs if isinstance(modseqs, array) and modseqs.typecode == "Q" else array("Q", modseqs)
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

    def append(self, m: FlagState) -> None:
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
        for i in found:
            self.keywords.pop(self.uids[i], None)
        # The runs between removed messages, copied as slices (memory copies, not a
        # Python loop over the folder).
        starts = [0, *(i + 1 for i in found)]
        ends = [*found, len(self.uids)]
        runs = [(a, b) for a, b in zip(starts, ends, strict=True) if a < b]
        uids, flags, modseqs = array("I"), bytearray(), array("Q")
        for a, b in runs:
            uids += self.uids[a:b]
            flags += self.flags[a:b]
            modseqs += self.modseqs[a:b]
        self.uids, self.flags, self.modseqs = uids, flags, modseqs

    def count_flags(self) -> tuple[int, int]:
        """(messages without \\Seen, messages with \\Deleted): STATUS UNSEEN and DELETED."""
        return self.flags.translate(_UNSEEN).count(1), self.flags.translate(_DELETED).count(1)

    def deleted_uids(self) -> Iterator[int]:
        """UIDs of the messages with \\Deleted, in order (found by one pass in C)."""
        marks = self.flags.translate(_DELETED)
        i = marks.find(1)
        while i >= 0:
            yield self.uids[i]
            i = marks.find(1, i + 1)

    def first_unseen(self) -> int | None:
        """The index of the first message without \\Seen (RFC 3501 section 7.1, UNSEEN)."""
        i = self.flags.translate(_UNSEEN).find(1)
        return i if i >= 0 else None

    def keyword_lines(self) -> list[tuple[int, str]]:
        """(uid, keywords separated by spaces) of the messages that have any, by UID."""
        return [(uid, " ".join(self.keywords[uid])) for uid in sorted(self.keywords)]

    def all_keywords(self) -> list[str]:
        """The keywords of the folder's messages, each once, in the order first met."""
        seen: dict[str, None] = {}
        for kws in self.keywords.values():
            for k in kws:
                seen[k] = None
        return list(seen)

    def take_in(self, changed: Iterable[FlagState], gone: Iterable[int], highest: int) -> None:
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
    __slots__ = ("index", "watch", "lock", "saved", "unsaved", "saving")

    def __init__(self, index: MessageIndex, watch: FolderWatch) -> None:
        self.index = index
        self.watch = watch
        self.lock = asyncio.Lock()
        # The index's snapshot in the database: whether there is one (as far as this App
        # knows), the changes taken in since, and whether one is being written.
        self.saved = False
        self.unsaved = 0
        self.saving = False


class FolderIndexes:
    """The folder indexes the IMAP sessions of one App share (see the module docstring)."""

    __slots__ = ("_kept", "_loading", "_size", "snapshot_min", "save_after", "save_delay")

    def __init__(self, snapshot_min: int = SNAPSHOT_MIN, save_after: Callable[[int], int] = save_after,
                 save_delay: float = SAVE_DELAY) -> None:
        self._kept: OrderedDict[FolderKey, _Kept] = OrderedDict()
        self._loading: dict[FolderKey, asyncio.Lock] = {}
        self._size = 0
        # Folders of fewer messages get no snapshot; one is written again after
        # ``save_after(messages)`` changes, ``save_delay`` seconds after it became due.
        self.snapshot_min = snapshot_min
        self.save_after = save_after
        self.save_delay = save_delay

    def __len__(self) -> int:
        return len(self._kept)

    async def current(self, store: MailStore, hub: ChangeHub, folder: Folder, into: MessageIndex,
                      spawn: Spawn | None = None, *, read_after_watch: bool = False) -> None:
        """Copy into ``into`` the folder's index as of a modseq read now (at least): the
        caller watches the folder already, so what is committed later wakes it.
        ``spawn`` runs the writing of the folder's snapshot, when due, in the background
        (without it none is written). ``read_after_watch``: ``folder`` is a row the
        caller read after its watch began, as fresh as the one read here would be, so
        it is not read again."""
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
                    self._save_if_due(store, key, kept, spawn)
                    return
        self._kept.move_to_end(key)
        async with kept.lock:
            fresh = folder if read_after_watch else await store.get_folder_by_id(folder.id)
            if fresh is None or fresh.uidvalidity != folder.uidvalidity:
                self._drop(key)
                into.modseq = folder.highestmodseq
                return
            if not await self._catch_up(store, hub, kept, fresh):
                # Far behind (a modseq is one commit, which may touch many messages):
                # reading the folder again costs less than its changes.
                self._drop(key)
                reloaded = await self._load(store, hub, key)
                if reloaded is None:
                    into.modseq = folder.highestmodseq
                    return
                reloaded.index.copy_into(into)
                self._save_if_due(store, key, reloaded, spawn)
                return
            kept.index.copy_into(into)
        self._save_if_due(store, key, kept, spawn)

    def keeps(self, folder: Folder) -> bool:
        """Whether the index of ``folder`` is kept (a session of this App selected it lately)."""
        return (folder.id, folder.uidvalidity) in self._kept

    async def caught_up(self, store: MailStore, hub: ChangeHub, folder: Folder) -> MessageIndex | None:
        """For STATUS: the kept index of ``folder`` brought up to ``folder`` (its row as
        read just now: at least its modseq) as ``current`` does, or None when the folder
        is not kept or is far behind (the caller reads the database then). Read only,
        never changed by the caller; valid until the next await."""
        key = (folder.id, folder.uidvalidity)
        kept = self._kept.get(key)
        if kept is None:
            return None
        async with kept.lock:
            if self._kept.get(key) is not kept or not await self._catch_up(store, hub, kept, folder):
                return None
            return kept.index

    async def _catch_up(self, store: MailStore, hub: ChangeHub, kept: _Kept, fresh: Folder) -> bool:
        """Bring a kept index up to ``fresh`` (its folder's row, read after the index's
        watch began): from the hub's log, else from the database; False (nothing done)
        when it is so far behind that reading the folder again costs less. Under
        ``kept.lock``."""
        index = kept.index
        if fresh.highestmodseq > index.modseq:
            before = index.modseq
            logged = await hub.changes_awaited(fresh.id, before, fresh.highestmodseq)
            if logged is None and fresh.highestmodseq - before > len(index) // 4 + 64:
                return False
            changed, gone, highest = logged if logged is not None else \
                await store.changes_since(fresh.id, before)
            self._size -= len(index)
            index.take_in(changed, gone, highest)
            self._size += len(index)
            kept.unsaved += len(changed) + len(gone)
        index.uidnext = max(index.uidnext, fresh.uidnext)
        return True

    async def _load(self, store: MailStore, hub: ChangeHub, key: FolderKey) -> _Kept | None:
        folder_id, uidvalidity = key
        watch = hub.watch(folder_id)  # before the read: the hub keeps the log from now on
        try:
            index, saved, unsaved = await self._read(store, folder_id, uidvalidity)
        except BaseException:
            watch.close()
            raise
        if index is None:
            watch.close()
            return None
        kept = self._kept[key] = _Kept(index, watch)
        kept.saved, kept.unsaved = saved, unsaved
        self._size += len(index)
        while self._size > MESSAGES_MAX and len(self._kept) > 1:
            self._drop(next(iter(self._kept)))
        return kept

    @staticmethod
    async def _read(store: MailStore, folder_id: int,
                    uidvalidity: int) -> tuple[MessageIndex | None, bool, int]:
        """The folder's index (None if the folder is gone or was recreated), whether it
        came from a snapshot, and the changes taken in since that snapshot."""
        state = await store.indexed_state(folder_id)
        if state is None or state.base.uidvalidity != uidvalidity:
            return None, False, 0
        index = _filled(state.base)
        if not state.from_snapshot:
            return index, False, 0
        index.take_in(state.changed, state.gone, state.highestmodseq)
        index.uidnext = max(index.uidnext, state.uidnext)
        if len(index) == state.messages:
            return index, True, len(state.changed) + len(state.gone)
        # Not the folder: a removal not in ``expunged`` (never so today). Read it whole.
        event("imap.snapshot_mismatch", folder=folder_id, snapshot_modseq=state.base.highestmodseq,
              caught_up=len(index), messages=state.messages)
        whole = await store.flag_index(folder_id)
        if whole is None or whole.uidvalidity != uidvalidity:
            return None, False, 0
        return _filled(whole), False, 0

    def _save_if_due(self, store: MailStore, key: FolderKey, kept: _Kept, spawn: Spawn | None) -> None:
        """Write the kept index's snapshot in the background if it has none or has taken
        in ``save_after`` changes since (one write at a time per folder)."""
        index = kept.index
        if spawn is None or kept.saving or len(index) < self.snapshot_min:
            return
        if kept.saved and kept.unsaved <= self.save_after(len(index)):
            return
        copy = MessageIndex()
        index.copy_into(copy)  # the kept one moves on while the copy is packed
        kept.saving = True
        spawn(self._save(store, key, kept, copy, kept.unsaved))

    async def _save(self, store: MailStore, key: FolderKey, kept: _Kept, copy: MessageIndex, unsaved: int) -> None:
        try:
            await asyncio.sleep(self.save_delay)
            await store.save_snapshot(key[0], key[1], copy.modseq, copy.uids, copy.flags, copy.modseqs,
                                      copy.keyword_lines())
        except Exception as exc:  # the folder is read whole next time, as without snapshots
            log.warning("folder %s: snapshot not written: %s", key[0], exc)
        else:
            kept.saved = True
            kept.unsaved -= unsaved
        finally:
            kept.saving = False

    def _drop(self, key: FolderKey) -> None:
        kept = self._kept.pop(key, None)
        if kept is not None:
            self._size -= len(kept.index)
            kept.watch.close()

    def close(self) -> None:
        """Stop watching every kept folder (the App closes)."""
        for key in list(self._kept):
            self._drop(key)


def _filled(state: FlagIndex) -> MessageIndex:
    index = MessageIndex()
    index.modseq, index.uidnext = state.highestmodseq, state.uidnext
    index.fill(state.uids, state.flags, state.modseqs, state.keywords)
    return index
