"""The selected mailbox as one session sees it: its index in memory.

SELECT takes UIDs, flags and modseqs of every message from the copy the App's sessions
share (``indexes.FolderIndexes``: a memory copy, brought up to date from the change log
or the database; the folder is read whole only when no session of the App selected it
lately); after that FETCH FLAGS, SEARCH on flags, sequence-number mapping and most of STORE are
answered from here without the database. Changes by others come through the change feed
(``app.hub``): from the hub's log of this process's changes when it holds them all, else
from ``store.changes_since``; they are applied only at the points where the
session may tell the client (RFC 9051 section 7.4.1), so that message sequence numbers
stay what the client believes until it is told otherwise.

Per message this costs 4 bytes of UID, 1 byte of flags and 8 of modseq (``array``);
keywords, rare, live in a dict.

\\Recent (RFC 3501 sections 2.3.2 and 7.3.2; not in IMAP4rev2): the UIDs this session
was the first to be told of are kept as a few UID ranges (``recent``), usually one, a
suffix of the folder, since each claim takes the UIDs up to the session's UIDNEXT
(``congthu.store.recent``). They may be more than one when another session claimed
messages between two of ours. \\Recent is a session flag: FETCH FLAGS and STORE
responses show it (``flag_names``), SEARCH RECENT/NEW/OLD use it, nothing stores it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from congthu.db import DatabaseUnavailable
from congthu.imap.errors import bad
from congthu.imap.indexes import FlagState, FolderIndexes, MessageIndex, Spawn
from congthu.imap.namespace import Target
from congthu.imap.response import flag_list
from congthu.imap.sequence import SeqSet
from congthu.store import Folder, MailStore, StoreError
from congthu.store import flags as flagbits
from congthu.store import recent as recent_store
from congthu.store.changes import ChangeHub, FolderWatch

__all__ = ["FLAG_TEXT", "Selected"]

# b"FLAGS (...)" of each combination of system flags (the byte) and \Recent (RECENT_KEY),
# made once (``Selected.flags_item``); with keywords too, under (that key, keywords),
# while fewer than FLAG_TEXT_MAX are kept (clients make keywords up).
FLAG_TEXT: dict[int | tuple[int, tuple[str, ...]], bytes] = {}
RECENT_KEY = 0x100
FLAG_TEXT_MAX = 4096


class Selected(MessageIndex):
    __slots__ = ("target", "folder_id", "readonly", "uidvalidity", "watch", "pending_expunge", "condstore",
                 "recent", "recent_known", "announced", "new_keywords", "unsent_flags")

    def __init__(self, target: Target, folder: Folder, readonly: bool, watch: FolderWatch) -> None:
        super().__init__()
        self.target = target
        self.folder_id = folder.id
        self.readonly = readonly
        self.uidvalidity = folder.uidvalidity
        self.uidnext = folder.uidnext
        # The highest modseq whose changes this session has taken in.
        self.modseq = folder.highestmodseq
        self.watch = watch
        # UIDs expunged by others, not yet announced (RFC 9051 section 7.4.1).
        self.pending_expunge: set[int] = set()
        # UIDs whose new flags are taken in but not told yet (NOTIFY without FlagChange).
        self.unsent_flags: set[int] = set()
        self.condstore = False
        # \Recent: half-open UID ranges [start, end) this session was first to see, and
        # the UID below which every message has been decided on (recent or not).
        self.recent: list[tuple[int, int]] = []
        self.recent_known = 1
        # Keywords the client was told of by FLAGS (lower case -> as shown), and whether
        # a message now has one it was not (RFC 9051 section 7.3.5: FLAGS must come
        # first). Never shrinks while the folder is selected: a later FLAGS without a
        # keyword that, in the client's view, messages still carry (their FETCH comes
        # after it) would leave those dangling, and Dovecot keeps every keyword too.
        self.announced: dict[str, str] = {}
        self.new_keywords = False

    async def load(self, app_indexes: FolderIndexes, store: MailStore, hub: ChangeHub, folder: Folder,
                   spawn: Spawn | None = None, *, read_after_watch: bool = False) -> None:
        """Take the folder's index from the copy the App's sessions share
        (``indexes.FolderIndexes``), as of a modseq read after ``watch`` began; ``spawn``
        (``App.spawn``) writes the folder's snapshot in the background when due;
        ``read_after_watch``: ``folder`` was read after ``watch`` began."""
        await app_indexes.current(store, hub, folder, self, spawn, read_after_watch=read_after_watch)
        self.announced = {k.lower(): k for k in self.all_keywords()}

    def append(self, m: FlagState) -> None:
        super().append(m)
        if m.keywords:
            self._note_keywords(self.keywords[m.uid])

    def flag_names(self, i: int) -> list[str]:
        uid = self.uids[i]
        names = flagbits.to_names(self.flags[i])
        if self.recent and self.is_recent(uid):
            names.append("\\Recent")
        kw = self.keywords.get(uid)
        return names + list(kw) if kw else names

    def flags_item(self, i: int) -> bytes:
        """The FLAGS item of message i (b"FLAGS (...)", RFC 9051 section 7.5.2)."""
        uid = self.uids[i]
        bits = self.flags[i]
        if self.recent and self.is_recent(uid):
            bits |= RECENT_KEY
        kw = self.keywords.get(uid)
        key = bits if kw is None else (bits, kw)
        text = FLAG_TEXT.get(key)
        if text is None:
            names = flagbits.to_names(bits & 0xFF) + (["\\Recent"] if bits & RECENT_KEY else []) + list(kw or ())
            text = b"FLAGS " + flag_list(names)
            if len(FLAG_TEXT) < FLAG_TEXT_MAX:
                FLAG_TEXT[key] = text
        return text

    # -- \Recent (RFC 3501 section 2.3.2) --------------------------------------------------

    async def take_recent(self, store: MailStore) -> None:
        """Decide on the messages below UIDNEXT not yet decided on: a read-write session
        claims them (only one session can), a read-only one takes as recent those no
        one has claimed, without claiming them (RFC 3501 section 6.3.2). Called after
        SELECT and after each batch of new messages: one read of the folder's mark, and
        one small write only when there is something to claim."""
        end = self.uidnext
        if end <= self.recent_known:
            return
        try:
            if self.readonly:
                mark = await recent_store.first_unclaimed_below(store, self.folder_id, end, self.uidvalidity)
                got = range(mark if mark is not None else end, end)
            else:
                got = await recent_store.claim(store, self.folder_id, end, self.uidvalidity)
        except (DatabaseUnavailable, StoreError):
            # RFC 3501 section 2.3.2: if it cannot be determined whether this session is
            # the first to be told of a message, that message should be taken as recent.
            got = range(self.recent_known, end)
        self.take_claimed(got)
        self.recent_known = end

    def take_claimed(self, got: range) -> None:
        """UIDs this session claimed (``take_recent``, or the transaction of its own
        APPEND to this folder: ``recent.claim_in``), recent here whenever it learns of
        them; those below ``recent_known`` were decided on already."""
        start = max(got.start, self.recent_known)
        if start < got.stop:
            if self.recent and self.recent[-1][1] == start:
                self.recent[-1] = (self.recent[-1][0], got.stop)
            else:
                self.recent.append((start, got.stop))

    def is_recent(self, uid: int) -> bool:
        # A loop, not any() over a generator: asked for each FLAGS item, of a list of
        # one range or a few (``_recent_slices``), where the generator's set-up costs more.
        for start, end in self.recent:  # noqa: SIM110 (see above)
            if start <= uid < end:
                return True
        return False

    def _recent_slices(self) -> list[tuple[int, int]]:
        """Index ranges [i, j) of the recent messages in ``uids``.

        A UID range none of whose messages is left is dropped from ``recent``: its UIDs
        are below the UIDNEXT of its claim, so the index held all of its messages then
        and can never gain one of them again (new messages have higher UIDs). Where
        sessions claim by turns and expunge as they go (imaptest's mix), the ranges
        would otherwise pile up, and every FETCH FLAGS and RECENT walk them all."""
        uids = self.uids
        slices: list[tuple[int, int]] = []
        kept: list[tuple[int, int]] = []
        for start, end in self.recent:
            i = bisect_left(uids, start)
            j = bisect_left(uids, end, i)
            if i < j:
                slices.append((i, j))
                kept.append((start, end))
        if len(kept) != len(self.recent):
            self.recent = kept
        return slices

    def recent_count(self) -> int:
        """The RECENT response (RFC 3501 section 7.3.2): an expunged message no longer counts."""
        return sum(j - i for i, j in self._recent_slices())

    def recent_indexes(self) -> Iterator[int]:
        """Indexes (sequence number - 1) of the messages with \\Recent, in order."""
        for i, j in self._recent_slices():
            yield from range(i, j)

    def set_flags(self, i: int, bits: int, keywords: tuple[str, ...], modseq: int) -> bool:
        """Record a message's flags; True if they differ from what the client knew."""
        uid = self.uids[i]
        changed = self.flags[i] != (bits & 0xFF) or self.keywords.get(uid, ()) != keywords
        self.flags[i] = bits & 0xFF
        if keywords:
            self.keywords[uid] = keywords
            self._note_keywords(keywords)
        else:
            self.keywords.pop(uid, None)
        if self.modseqs[i] != modseq:
            self.modseqs[i] = modseq
            changed = changed or self.condstore
        return changed

    def _note_keywords(self, keywords: tuple[str, ...]) -> None:
        if not self.new_keywords and any(k.lower() not in self.announced for k in keywords):
            self.new_keywords = True

    def indexes(self, seqset: SeqSet, *, uid: bool, saved: list[int], search: bool = False) -> list[int]:
        """Indexes into this index that a sequence set (or UID set) picks; "$" is the
        saved search result ``saved`` (RFC 5182). A sequence number beyond the mailbox
        is a BAD (RFC 9051 section 9, seq-number), but in a SEARCH key (``search``),
        where it matches nothing: the key describes messages, and a client's view may
        be behind (Dovecot answers OK too)."""
        if seqset.saved:
            wanted = set(saved)
            return [i for i, u in enumerate(self.uids) if u in wanted]
        if uid:
            return seqset.indexes(self.uids)
        star = any(None in r for r in seqset.ranges)
        if seqset.max_number() > len(self) and not star and not search:
            raise bad(f"Số thứ tự thư không hợp lệ / invalid message sequence number (only {len(self)} messages)")
        return seqset.indexes(range(1, len(self) + 1))
