"""The change feed: an open session learns that a folder changed.

A notification carries only the folder id and its new highest modseq; the session asks
the store for what changed since the modseq it knows (``MailStore.changes_since``), so a
lost or merged notification never loses a change. In one process the hub wakes waiting
sessions directly; with PostgreSQL it also relays through LISTEN/NOTIFY to other nodes;
with SQLite through ``LocalFeed``, datagrams between the processes of one data directory
(the workers of ``congthu serve``, and any command that changes mail).

The change log: the store's writers in this process also hand the hub what each of their
commits did to a watched folder (``record``: the messages changed or added, with their
flags, keywords and modseq after it, and the UIDs expunged). A session that learns of a
change asks the hub first (``changes_since``) and the database only when the hub cannot
answer, so twenty sessions of a busy folder do not each read the database after every
change of another (Dovecot keeps such a log in its index files). The answer is exact or
absent: every change takes the folder's next modseq (one more than the last), so the
hub answers only when it holds every modseq from the session's to the newest it was told
of; a change it was not given (another process or node, a delivery, a folder deleted)
leaves a hole, and for that window the session reads the database as before. This holds
across processes because the modseqs are the database's: every process's commits take
the next modseq of the folder under the database's write lock, so a change made by
another worker is a missing number in this process's log, never a number it holds.

Between the processes of a SQLite data directory a writer's entries travel before any
later commit can be seen: the write function leaves its entry as a note (``relay``, in
the transaction) and the writer thread sends it to the other processes once the commit
is done and while it still holds the writer lock (``committed_held``, from
``Database.on_commit_held``). The next commit of any process is made after that lock
passes, so its process has the entry in its socket's queue before it learns of its own
commit, and its sessions find no hole where another worker's change is (sent from the
event loop after the commit, the entry was often overtaken by the other worker's own
next commit, and every session behind it read the database).

The account feed rides the same transports: "the state a login of this account is
decided on changed" (``account_changed``, called by the owners' functions that change
it: a mailbox's status or address, a password, a second factor, a lock), so that every
process and node drops what it keeps of it (``accounts/states.py``). It is told in this
process and sent to the other processes of a SQLite data directory once the
transaction has committed and before its ``run_write`` returns (``Database.on_commit``),
so a change acts at once everywhere; on PostgreSQL a NOTIFY in the transaction itself
carries it to every node (PostgreSQL delivers it at the commit, never for a rollback).
The mail rules send their keys the same way (``mailrules/kept.py``: a saved rule drops
what every process kept of that mailbox's rules).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from congthu.db import after_commit
from congthu.store.model import MessageMeta

log = logging.getLogger("congthu.store.changes")

CHANNEL = "congthu_changes"
# A note of the account feed: this prefix and the key as a JSON string (any text fits a
# NOTIFY payload and a datagram line that way); a folder's notification starts with a
# digit or "-". The key ALL_ACCOUNTS drops everything (a lost feed).
ACCOUNT_NOTE = "A"
# A note of a log entry to send to the other processes (``ChangeHub.relay``): the
# datagram line itself (``_encode_entry``), which starts with this; one only kept in
# this process is named by KEEP_NOTE, the folder and the modseq.
ENTRY_NOTE = "E"
KEEP_NOTE = "K"
# Entries of write functions not told committed yet (``ChangeHub.relay``), at most: those
# of functions rolled back are never taken, and go when there are this many.
HELD_MAX = 1024
ALL_ACCOUNTS = "*"


def mailbox_key(mailbox_id: int) -> str:
    """The account-feed key of a mailbox's row and credentials."""
    return f"m{int(mailbox_id)}"


def account_changed(conn: Connection, key: str) -> None:
    """Announce, once the transaction of ``conn`` commits, that the state a login is
    decided on changed for ``key`` (``mailbox_key``, or a key of the accounts' own:
    ``accounts/states.py``), to every process and node (the module's docstring)."""
    note = ACCOUNT_NOTE + json.dumps(key)
    after_commit(conn, note)
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_notify(CHANNEL, note)))


def _account_key(note: str) -> str:
    key = json.loads(note[len(ACCOUNT_NOTE):])
    if not isinstance(key, str):
        raise ValueError(note)
    return key


class Subscription:
    """What the hub tells of one folder's changes (``notify``), until ``close``. Slotted:
    a server keeps one or two per open session (thousands of IDLE connections)."""

    __slots__ = ("folder_id", "hub")

    def __init__(self, hub: ChangeHub, folder_id: int) -> None:
        self.hub, self.folder_id = hub, folder_id

    def notify(self, modseq: int) -> None:
        raise NotImplementedError

    def close(self) -> None:
        watches = self.hub._watches[self.folder_id]
        watches.discard(self)
        if not watches:
            self.hub._logs.pop(self.folder_id, None)  # nobody left to ask


class ChangeFlag:
    """A watch's "the folder changed since it was last looked at", with what an
    ``asyncio.Event`` offers (``is_set``, ``set``, ``clear``, ``wait``) but without the
    queue of waiters an Event allocates at once (760 bytes, for each selected IMAP
    session, which mostly never waits on it: IDLE is woken by the watch's ``waker``);
    a waiter's future is made only when someone waits."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        if self._set:
            return
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        """Return once the flag is set (at once if it is)."""
        if self._set:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        return True


class FolderWatch(Subscription):
    """A session's subscription to one folder: ``await watch.wait()`` until it changes.
    ``waker``, when set, is also called at each change (IMAP IDLE waits on one future
    for the folder, the client and the server's stop, without a task per source)."""

    __slots__ = ("event", "gone", "modseq", "waker")

    def __init__(self, hub: ChangeHub, folder_id: int, event: asyncio.Event | None = None) -> None:
        super().__init__(hub, folder_id)
        # Shared by several watches when given (the webmail's stream waits on all the
        # folders of a mailbox at once and reads each watch's modseq).
        self.event: asyncio.Event | ChangeFlag = event or ChangeFlag()
        # The highest modseq told; and whether the folder was told gone (modseq 0:
        # ``FolderMethods.delete``), which only a read of the database confirms: the
        # IMAP session takes it (and clears it) with the event, before that read.
        self.modseq = 0
        self.gone = False
        self.waker: Callable[[], None] | None = None

    def notify(self, modseq: int) -> None:
        if modseq <= 0:
            self.gone = True
        self.modseq = max(self.modseq, modseq)
        self.event.set()
        if self.waker is not None:
            self.waker()

    async def wait(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """True if the folder changed (since the last wait), False on timeout."""
        try:
            await asyncio.wait_for(self.event.wait(), timeout)
        except TimeoutError:
            return False
        self.event.clear()
        return True


class MailboxGuard(Subscription):
    """An open session of a mailbox (IMAP, POP3, SMTP): ``end`` is called when the mailbox is
    revoked or disabled (``ChangeHub.end_sessions``, Điều 4.5), whichever process or node
    did it. It rides the folder feed under the negative of the mailbox id (no folder has
    one), so it crosses processes and nodes as folder changes do. It keeps no event:
    ``end`` is all it does (one less ``asyncio.Event`` per open session)."""

    __slots__ = ("end",)

    def __init__(self, hub: ChangeHub, mailbox_id: int, end: Callable[[], None]) -> None:
        super().__init__(hub, -mailbox_id)
        self.end = end

    def notify(self, modseq: int) -> None:
        self.end()


# Entries kept per watched folder: a session further behind reads the database. An
# entry of more than ENTRY_MAX messages is not kept (memory stays bounded). The log is
# cut back to LOG_ENTRIES, its newest, once it is LOG_SLACK over (one sort then, rather
# than a look for the lowest among 512 at every change).
LOG_ENTRIES = 512
LOG_SLACK = 64
ENTRY_MAX = 1000
# The most modseqs one read of the database fills in the log (``ChangeHub.fill``).
FILL_MAX = 128
# Seconds ``ChangeHub.changes_awaited`` waits for another worker's entries of a hole
# (imaptest with two workers on a busy machine, load 15-27: half came within 1 ms, 9 in
# 10 within 20 ms, all within 100 ms).
ENTRY_WAIT = 0.02

# One commit's changes to a folder: (messages changed or added, UIDs expunged).
_Entry = tuple[tuple["MessageMeta", ...], tuple[int, ...]]


def _trim(log: dict[int, _Entry]) -> None:
    """Keep the newest LOG_ENTRIES entries of a folder's log (the oldest go, so what
    is left has no hole that was not there)."""
    for at in sorted(log)[:len(log) - LOG_ENTRIES]:
        del log[at]


class ChangeHub:
    def __init__(self, local_feed: Path | None = None) -> None:
        """``local_feed``: the directory of the ``LocalFeed`` of this data directory (SQLite):
        commits are announced there to the other processes, which ``listen_local`` hears."""
        self._watches: dict[int, set[Subscription]] = defaultdict(set)
        self._pg_conn: Any = None
        self._local = LocalFeed(local_feed, self) if local_feed is not None else None
        # folder id -> {modseq: entry}, for the folders some session watches.
        self._logs: dict[int, dict[int, _Entry]] = {}
        # Told the keys of the account feed (``on_accounts_changed``).
        self._account_listeners: list[Callable[[list[str]], None]] = []
        # note -> (folder id, modseq, entry) of ``relay``: put by the writer thread, taken
        # (kept in the log) by ``committed`` once the transaction has committed.
        self._held: dict[str, tuple[int, int, _Entry]] = {}
        # folder id -> futures of ``changes_awaited`` woken by the next entry kept.
        self._arrivals: dict[int, list[asyncio.Future[None]]] = {}

    @property
    def listening(self) -> bool:
        """Does this process hear the changes of the other processes and nodes
        (``listen_local``, ``listen_postgres``)? Only then may it keep what they change."""
        return self._pg_conn is not None or (self._local is not None and self._local.sock is not None)

    def on_accounts_changed(self, listener: Callable[[list[str]], None]) -> None:
        """Call ``listener(keys)`` (on the event loop) for every change of the account
        feed, this process's and the others'."""
        self._account_listeners.append(listener)

    def accounts_changed(self, keys: list[str]) -> None:
        for listener in self._account_listeners:
            listener(keys)

    def committed(self, notes: set[str]) -> None:
        """``Database.on_commit``: a commit of this process left these notes. Its log
        entries (``relay``) are kept now, before its caller goes on to ``record`` them: a
        session that reads the folder's row meanwhile finds no hole where they are. Account
        changes are told here at once and sent to the other processes of the data
        directory now (SQLite; on PostgreSQL the NOTIFY went with the transaction)."""
        for note in notes:
            if note.startswith((ENTRY_NOTE, KEEP_NOTE)) and (held := self._held.pop(note, None)) is not None:
                self.keep(*held)
        lines = [note for note in notes if note.startswith(ACCOUNT_NOTE)]
        if not lines:
            return
        self.accounts_changed([_account_key(note) for note in lines])
        if self._local is not None:
            self._local.send_notes(lines)

    def watch(self, folder_id: int, event: asyncio.Event | None = None) -> FolderWatch:
        """Subscribe to a folder's changes; ``event``, if given, is set by this watch
        (and by any other watch given the same event)."""
        w = FolderWatch(self, folder_id, event)
        self._watches[folder_id].add(w)
        return w

    def guard(self, mailbox_id: int, end: Callable[[], None]) -> MailboxGuard:
        """Call ``end`` (from the event loop) if the mailbox's sessions are ended;
        ``close()`` the guard when the session ends."""
        g = MailboxGuard(self, mailbox_id, end)
        self._watches[g.folder_id].add(g)
        return g

    async def end_sessions(self, mailbox_id: int) -> None:
        """End every open session of a mailbox, in every process and node (its status
        was changed from active: Điều 4.4, 4.5)."""
        await self.publish(-mailbox_id, 0)

    @contextlib.contextmanager
    def watching(self, folder_id: int) -> Iterator[FolderWatch]:
        w = self.watch(folder_id)
        try:
            yield w
        finally:
            w.close()

    def record(self, folder_id: int, modseq: int, changed: Iterable[MessageMeta] = (),
               gone: Iterable[int] = ()) -> None:
        """What a commit of this process did to a folder at ``modseq``: all of it (every
        message it changed or added, as it is after the commit, and every UID it
        expunged). Call before publishing ``modseq``. Kept only while a session watches
        the folder (one that starts watching later reads the database up to its start);
        sent to the other processes of the data directory with the notification
        (``LocalFeed``), so that their sessions need not read the database either. (A
        write function that calls ``relay`` in its transaction does not call this.)"""
        relay = self._local is not None and self._local.has_listeners()
        if not relay and not self._watches.get(folder_id):
            return
        entry = (tuple(changed), tuple(gone))
        if len(entry[0]) + len(entry[1]) > ENTRY_MAX:
            return  # a whole folder changed at once: a hole, those who need it read the database
        if relay:
            assert self._local is not None
            self._local.send_entry(folder_id, modseq, entry)
        self.keep(folder_id, modseq, entry)

    def relay(self, conn: Connection, folder_id: int, modseq: int, changed: Iterable[MessageMeta] = (),
              gone: Iterable[int] = ()) -> None:
        """In a write function (``Database.run_write``), on the writer thread: what its
        transaction does to a folder at ``modseq``, in place of ``record`` after the
        commit: kept in this process's log as soon as the commit is told (``committed``,
        while a session watches the folder then, as ``record`` keeps it) and sent to the
        other processes of the data directory as soon as the transaction commits, before
        the writer lock passes to another (``committed_held``; the module's docstring).
        Not sent on PostgreSQL (its nodes read the database), nor when no other process
        listens."""
        send = self._local is not None and self._local.has_listeners()
        entry = (tuple(changed), tuple(gone))
        if len(entry[0]) + len(entry[1]) > ENTRY_MAX:
            return
        note = f"{KEEP_NOTE}{folder_id}:{modseq}"
        if send:
            line = _encode_entry((folder_id, modseq, entry)).decode()
            if len(line) < DATAGRAM_MAX:
                note = line
        if len(self._held) >= HELD_MAX:
            self._held.clear()  # rolled back ones, mostly (a hole for the others: read)
        self._held[note] = (folder_id, modseq, entry)
        after_commit(conn, note)

    def committed_held(self, notes: list[str]) -> None:
        """``Database.on_commit_held``: on the writer thread, right after a commit and while
        it holds the writer lock, the notes its functions left. The log entries among them
        go to the other processes now (``LocalFeed.send_held``; best effort, as every
        entry: one a listener does not get is a hole, read from the database)."""
        if self._local is None:
            return
        lines = [note.encode() for note in notes if note.startswith(ENTRY_NOTE)]
        if lines:
            self._local.send_held(lines)

    def keep(self, folder_id: int, modseq: int, entry: _Entry) -> None:
        """Put one commit's changes (this process's or another's) in the folder's log,
        if a session watches it."""
        if not self._watches.get(folder_id):
            return
        log = self._logs.setdefault(folder_id, {})
        log[modseq] = entry
        if len(log) > LOG_ENTRIES + LOG_SLACK:
            _trim(log)
        self._arrived(folder_id)

    def _arrived(self, folder_id: int) -> None:
        """Wake the ``changes_awaited`` of this folder: its log has new entries."""
        for waiter in self._arrivals.pop(folder_id, ()):
            _wake(waiter)

    def fill(self, folder_id: int, since: int, changed: Iterable[MessageMeta],
             gone: Iterable[tuple[int, int]], highest: int) -> None:
        """Fill the folder's log, where it has holes, from a read of the database
        (``MailStore.changes_since``): ``changed``, the messages with a modseq above
        ``since`` as they are in one snapshot whose highest modseq is ``highest``, and
        ``gone``, the (UID, modseq) of each expunge above ``since`` in it. Without it, a
        change of another process or node whose entry has not come (or never comes: a
        delivery, another node) sends every session of this process that is behind it
        to the database, one read each; with it the first one reads and the others
        take the answer from the log.

        Each missing modseq from ``since + 1`` to ``highest`` gets the messages whose
        modseq in the snapshot is that one and the UIDs expunged at it. A message
        changed again later in the window is only in its later entry, which is enough:
        the log is then whole from ``since`` to at least ``highest``, so every walk of
        ``changes_since`` that passes its first change passes its last one too (a walk
        stops only at a hole, and ends at ``highest`` or beyond). Entries already
        there (this process's exact commits, or another process's) are kept."""
        if highest <= since or highest - since > FILL_MAX or not self._watches.get(folder_id):
            return  # (a session further behind reads, as at any hole)
        log = self._logs.setdefault(folder_id, {})
        fresh: dict[int, tuple[list[MessageMeta], list[int]]] = {
            at: ([], []) for at in range(since + 1, highest + 1) if at not in log}
        if not fresh:
            return
        count = 0
        for meta in changed:
            slot = fresh.get(meta.modseq)
            if slot is not None:
                slot[0].append(meta)
                count += 1
        for uid, at in gone:
            slot = fresh.get(at)
            if slot is not None:
                slot[1].append(uid)
                count += 1
        if count > ENTRY_MAX:
            return  # a folder rewritten wholesale: not worth the memory, sessions read
        for at, (metas, uids) in fresh.items():
            log[at] = (tuple(metas), tuple(uids))
        if len(log) > LOG_ENTRIES + LOG_SLACK:
            _trim(log)
        self._arrived(folder_id)

    def changes_since(self, folder_id: int, modseq: int,
                      upto: int) -> tuple[list[MessageMeta], list[int], int] | None:
        """As ``MailStore.changes_since(folder_id, modseq)`` (messages changed or added
        after ``modseq`` in UID order, UIDs expunged after it, the highest modseq), from
        the log, if it holds every change from ``modseq`` up to at least ``upto``; else
        None (ask the database)."""
        log = self._logs.get(folder_id)
        if log is None or upto <= modseq:
            return None
        at = modseq + 1
        while at in log:
            at += 1
        if at <= upto and self._local is not None and self._local.sock is not None:
            # A hole: the entry of another worker's commit may be in the feed's queue,
            # not read yet (it was sent before any later commit, but this process may
            # learn of that later commit first: its own, or a folder row read just now).
            self._local.drain()
            log = self._logs.get(folder_id)
            if log is None:
                return None
        changed: dict[int, MessageMeta] = {}
        gone: set[int] = set()
        at = modseq + 1
        while (entry := log.get(at)) is not None:
            for meta in entry[0]:
                changed[meta.uid] = meta
            for uid in entry[1]:
                changed.pop(uid, None)
                gone.add(uid)
            at += 1
        if at <= upto:
            return None  # a hole: a change this process did not make (or no longer keeps)
        return [changed[uid] for uid in sorted(changed)], sorted(gone), at - 1

    async def changes_awaited(self, folder_id: int, modseq: int,
                              upto: int) -> tuple[list[MessageMeta], list[int], int] | None:
        """``changes_since``, waiting up to ENTRY_WAIT seconds for the entries of a hole
        when other processes of the data directory send theirs (``LocalFeed``): a
        commit of another worker can be seen (in a folder row read, or as the modseq
        before this process's own next commit) before its entry, sent by that worker's
        writer thread right after the commit, has been read here. Those entries come
        within milliseconds, and waiting for them costs no CPU where reading the
        database costs a read and the making of every message changed since ``modseq``.
        A hole whose entry never comes (a change with no entry, a dropped datagram)
        is read from the database after the wait, as before."""
        found = self.changes_since(folder_id, modseq, upto)
        if found is not None or upto <= modseq or self._local is None or self._local.sock is None \
                or not self._watches.get(folder_id):
            return found
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ENTRY_WAIT
        while (left := deadline - loop.time()) > 0:
            waiter: asyncio.Future[None] = loop.create_future()
            self._arrivals.setdefault(folder_id, []).append(waiter)
            timer = loop.call_later(left, _wake, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                waiters = self._arrivals.get(folder_id)
                if waiters is not None and waiter in waiters:
                    waiters.remove(waiter)
                    if not waiters:
                        del self._arrivals[folder_id]
            found = self.changes_since(folder_id, modseq, upto)
            if found is not None:
                return found
        return None

    def publish_local(self, folder_id: int, modseq: int) -> None:
        for w in list(self._watches.get(folder_id, ())):
            w.notify(modseq)

    async def publish(self, folder_id: int, modseq: int) -> None:
        self.publish_local(folder_id, modseq)
        if self._local is not None:
            self._local.send(folder_id, modseq)
        if self._pg_conn is not None:
            try:
                await self._pg_conn.execute(f"NOTIFY {CHANNEL}, '{int(folder_id)}:{int(modseq)}'")
            except Exception as exc:  # other nodes catch up at their next poll
                log.warning("NOTIFY failed: %s", exc)

    async def listen_postgres(self, url: str) -> None:
        """Relay changes between processes through PostgreSQL LISTEN/NOTIFY."""
        import asyncpg

        dsn = url.replace("postgresql+asyncpg://", "postgresql://")
        self._pg_conn = await asyncpg.connect(dsn)

        def on_notify(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            if payload.startswith(ACCOUNT_NOTE):
                with contextlib.suppress(ValueError):
                    self.accounts_changed([_account_key(payload)])
                return
            folder, _, modseq = payload.partition(":")
            with contextlib.suppress(ValueError):
                self.publish_local(int(folder), int(modseq))

        await self._pg_conn.add_listener(CHANNEL, on_notify)

        def lost(_conn: Any) -> None:
            # Nothing more is heard: what was kept of the other nodes' changes goes.
            self._pg_conn = None
            self.accounts_changed([ALL_ACCOUNTS])

        self._pg_conn.add_termination_listener(lost)

    async def listen_local(self) -> None:
        """Hear the commits of the other processes of this data directory (SQLite)."""
        if self._local is not None:
            self._local.listen()

    async def close(self) -> None:
        if self._local is not None:
            self._local.close()
        if self._pg_conn is not None:
            await self._pg_conn.close()
            self._pg_conn = None


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


# Entry datagrams kept to be sent again (``LocalFeed.send_held``), at most; beyond, the
# oldest go (holes, read from the database).
LATE_MAX = 256
# Largest datagram sent: about 3,000 (folder, modseq) pairs.
DATAGRAM_MAX = 60_000
RETRY_SECONDS = 0.005  # a listener's queue was full: send again this soon
SOCKET_SUFFIX = ".sock"
_UNIX_PATH_MAX = 100  # sun_path is 108 bytes; longer paths go through /proc/self/fd


def _datagrams(lines: list[bytes]) -> Iterator[tuple[bytes, int]]:
    """The lines packed into datagrams of at most DATAGRAM_MAX (a longer line goes alone):
    each datagram with the number of lines it carries."""
    at = 0
    while at < len(lines):
        size, end = 0, at
        while end < len(lines) and size + len(lines[end]) + 1 <= DATAGRAM_MAX:
            size += len(lines[end]) + 1
            end += 1
        end = max(end, at + 1)
        yield b"\n".join(lines[at:end]), end - at
        at = end


def _encode_entry(item: tuple[int, int, _Entry]) -> bytes:
    folder_id, modseq, (changed, gone) = item
    metas = [[m.uid, m.flags, list(m.keywords), m.size, m.internal_date.isoformat(), m.modseq, m.content_id]
             for m in changed]
    # ASCII (json's default), so that the line is also a note of ``after_commit``.
    return ENTRY_NOTE.encode() + json.dumps([folder_id, modseq, metas, list(gone)], separators=(",", ":")).encode()


def _decode_entry(data: bytes) -> tuple[int, int, _Entry]:
    # The lines come only from this data directory's processes (``run/feed`` is the
    # server user's alone) as ``_encode_entry`` wrote them: JSON's numbers and strings
    # are taken as they come, not converted again (each worker decodes every entry of
    # the other's commits: a quarter of this function's time went to those conversions).
    folder_id, modseq, metas, gone = json.loads(data)
    when = datetime.fromisoformat
    changed = tuple([MessageMeta(uid, flags, tuple(keywords), size, when(date), meta_modseq, content_id)
                     for uid, flags, keywords, size, date, meta_modseq, content_id in metas])
    return folder_id, modseq, (changed, tuple(gone))


class LocalFeed:
    """The change feed between the processes of one data directory, for SQLite (the
    workers of ``congthu serve``; a command that delivers or changes mail), as LISTEN/
    NOTIFY is for PostgreSQL.

    Each listening process binds a Unix datagram socket ``<pid>.<random>.sock`` in
    ``directory`` (``run/feed`` in the data directory, mode 0700: only the server's own
    user can write to it). A process that commits sends ``folder:modseq`` lines to every
    other socket there: the publications of one turn of the event loop go together,
    one datagram per listener, the highest modseq per folder (a notification only says
    "look again from your modseq", so merging them loses nothing). A listener's full
    queue is tried again in ``RETRY_SECONDS``; a socket whose process is gone
    (ECONNREFUSED) is removed. The list of listeners is read again only when the
    directory changes (one ``stat`` per datagram sent).
    """

    def __init__(self, directory: Path, hub: ChangeHub) -> None:
        self.directory = directory
        self.hub = hub  # what arrives goes to its log (keep) and its watches (publish_local)
        self._entries: list[tuple[int, int, _Entry]] = []  # log entries to send, in order
        self.sock: socket.socket | None = None
        self.name = ""
        self._dir_fd: int | None = None
        self._addresses: dict[str, str] = {}  # listener -> its address (``_address``)
        self._peers: list[str] = []
        self._peers_mtime = -1
        self._pending: dict[int, int] = {}
        self._backlog: dict[str, dict[int, int]] = {}  # listener -> what it has not got yet
        self._flush_handle: asyncio.Handle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._out: socket.socket | None = None  # sends, in a process that does not listen
        self._closing = False
        self._notes: dict[str, list[bytes]] = {}  # listener -> account-feed lines not sent yet
        # The writer thread reads the list of listeners too (``send_held``).
        self._peers_lock = threading.Lock()
        self._held_out: socket.socket | None = None  # the writer thread's own sending socket
        # (listener, datagram) of entries ``send_held`` found a full queue for: sent again
        # by the loop (``_flush``). A deque: the writer thread appends, the loop pops.
        self._late: deque[tuple[str, bytes]] = deque(maxlen=LATE_MAX)

    def _address(self, name: str) -> str:
        """A listener's socket address, made once (every datagram sent needs it)."""
        address = self._addresses.get(name)
        if address is None:
            address = str(self.directory / name)
            if len(os.fsencode(address)) > _UNIX_PATH_MAX:
                if self._dir_fd is None:
                    self._dir_fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
                address = f"/proc/self/fd/{self._dir_fd}/{name}"
            self._addresses[name] = address
        return address

    def listen(self) -> None:
        """Bind this process's socket and hand what arrives to ``deliver``."""
        if self.sock is not None:
            return
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.name = f"{os.getpid()}.{secrets.token_hex(3)}{SOCKET_SUFFIX}"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind(self._address(self.name))
        self.sock = sock
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._readable)
        # Sockets left by killed processes (a worker restarted after SIGKILL) go now; an
        # empty datagram is ignored by a live listener.
        for peer in self._listeners():
            self._send_to(peer, {})
        self._peers_mtime = -1

    def drain(self) -> None:
        """Take in now what the other processes sent (as the loop would at its next
        turn): before a session reads the database for a hole in the log."""
        if self.sock is not None:
            self._readable()

    def _readable(self) -> None:
        assert self.sock is not None
        while True:
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("change feed receive failed: %s", exc)
                return
            accounts: list[str] = []
            for line in data.split(b"\n"):
                if line.startswith(ACCOUNT_NOTE.encode()):
                    with contextlib.suppress(ValueError, UnicodeDecodeError):
                        accounts.append(_account_key(line.decode()))
                    continue
                if line.startswith(b"E"):
                    with contextlib.suppress(ValueError, TypeError, IndexError):
                        self.hub.keep(*_decode_entry(line[1:]))
                    continue
                folder, _, modseq = line.partition(b":")
                with contextlib.suppress(ValueError):
                    self.hub.publish_local(int(folder), int(modseq))
            if accounts:
                self.hub.accounts_changed(accounts)

    def send_notes(self, lines: list[str]) -> None:
        """Send account-feed lines to every other listening process now, not at the end
        of the loop turn: the commit's caller goes on only after they are in the
        listeners' queues, so the change acts at once there. A full queue is tried again
        in ``RETRY_SECONDS`` (never dropped: a listener would keep a stale state)."""
        encoded = [line.encode() for line in lines]
        for peer in self._listeners():
            self._notes.setdefault(peer, []).extend(encoded)
            if self._send_notes_to(peer):
                del self._notes[peer]
        if self._notes and self._flush_handle is None and not self._closing:
            self._loop = self._loop or asyncio.get_running_loop()
            self._flush_handle = self._loop.call_later(RETRY_SECONDS, self._flush)

    def _send_notes_to(self, peer: str) -> bool:
        """Send ``peer`` its pending account-feed lines: True if done (or the peer is
        gone), False to retry."""
        lines = self._notes.get(peer, [])
        sent = 0
        try:
            for datagram, count in _datagrams(lines):
                self._outgoing().sendto(datagram, socket.MSG_DONTWAIT, self._address(peer))
                sent += count
            return True
        except OSError as exc:
            return self._send_failed(peer, exc)
        finally:
            del lines[:sent]

    def has_listeners(self) -> bool:
        """Does another process listen (worth sending log entries to)? A listening
        process answers from the list its last send read, without a ``stat`` per commit:
        each loop turn that sends notifications reads it again (``_flush``), and an entry
        is best effort (a listener just come misses at most one turn's: holes, which its
        sessions read from the database)."""
        if self.sock is not None and self._peers_mtime != -1:
            return bool(self._peers)
        return bool(self._listeners())

    def send_entry(self, folder_id: int, modseq: int, entry: _Entry) -> None:
        """Send a commit's log entry with the next notifications (best effort: one a full
        queue refuses is sent again, ``_send_lines_from``; one a listener does not get
        all the same is a hole in its log, read from the database)."""
        self._entries.append((folder_id, modseq, entry))
        if self._flush_handle is None:
            self._loop = self._loop or asyncio.get_running_loop()
            self._flush_handle = self._loop.call_soon(self._flush)

    def send(self, folder_id: int, modseq: int) -> None:
        """Announce a commit to the other processes (at the end of this loop turn)."""
        if self._pending.get(folder_id, -1) < modseq:
            self._pending[folder_id] = modseq
        if self._flush_handle is None:
            self._loop = self._loop or asyncio.get_running_loop()
            self._flush_handle = self._loop.call_soon(self._flush)

    def send_held(self, lines: list[bytes]) -> None:
        """On the writer thread (``ChangeHub.committed_held``): log entry lines to every
        other listening process at once, from a socket of the thread's own. Where a
        listener's queue is full (the kernel queues only ``net.unix.max_dgram_qlen``
        datagrams, 10 by default: a worker whose loop is busy for a few rounds of the
        other's writes) they are handed to the loop to send again (``_flush``) rather
        than dropped, which left a hole that every session of that worker read from the
        database; the listener waits for them (``ChangeHub.changes_awaited``). The list of
        listeners is the one ``has_listeners`` answers from."""
        if self._closing:
            return
        with self._peers_lock:
            peers = self._peers if self.sock is not None and self._peers_mtime != -1 else self._read_listeners()
        if not peers:
            return
        if self._held_out is None:
            self._held_out = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        late = False
        for peer in peers:
            late = self._send_lines_from(self._held_out, peer, lines) or late
        if late and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nothing to send to
                self._loop.call_soon_threadsafe(self._flush_soon)

    def _flush_soon(self) -> None:
        if self._flush_handle is None and self._loop is not None and not self._closing:
            self._flush_handle = self._loop.call_soon(self._flush)

    def _listeners(self) -> list[str]:
        with self._peers_lock:
            return self._read_listeners()

    def _read_listeners(self) -> list[str]:
        try:
            mtime = os.stat(self.directory).st_mtime_ns
        except FileNotFoundError:
            return []
        if mtime != self._peers_mtime:
            self._peers_mtime = mtime
            self._addresses = {}  # those of listeners gone go too
            self._peers = sorted(entry.name for entry in os.scandir(self.directory)
                                 if entry.name.endswith(SOCKET_SUFFIX) and entry.name != self.name)
        return self._peers

    def _flush(self) -> None:
        self._flush_handle = None
        self._send_late()
        pending, self._pending = self._pending, {}
        entries, self._entries = self._entries, []
        if entries and (peers := self._listeners()):
            lines = [line for line in map(_encode_entry, entries) if len(line) < DATAGRAM_MAX]
            for peer in peers:
                # Before the notifications, so the log holds them when sessions wake.
                self._send_lines(peer, lines)
        if pending:
            for peer in self._listeners():
                known = self._backlog.get(peer)
                if known is not None:
                    for folder_id, modseq in pending.items():
                        if known.get(folder_id, -1) < modseq:
                            known[folder_id] = modseq
                else:
                    self._backlog[peer] = dict(pending)
        for peer in list(self._backlog):
            if self._send_to(peer, self._backlog[peer]):
                del self._backlog[peer]
        for peer in list(self._notes):
            if self._send_notes_to(peer):
                del self._notes[peer]
        if (self._backlog or self._notes or self._late) and self._loop is not None and not self._closing:
            self._flush_handle = self._loop.call_later(RETRY_SECONDS, self._flush)

    def _send_late(self) -> None:
        """Send again the entries ``send_held`` found a full queue for, each listener's in
        order; those whose queue is still full wait for the next try."""
        again: list[tuple[str, bytes]] = []
        full: set[str] = set()
        for _ in range(len(self._late)):
            peer, datagram = self._late.popleft()
            if peer in full:
                again.append((peer, datagram))
                continue
            try:
                self._outgoing().sendto(datagram, socket.MSG_DONTWAIT, self._address(peer))
            except (BlockingIOError, InterruptedError):
                full.add(peer)
                again.append((peer, datagram))
            except OSError:
                pass  # gone: ``_send_to`` removes it
        self._late.extendleft(reversed(again))

    def _send_lines(self, peer: str, lines: list[bytes]) -> None:
        """Log entry lines in datagrams of at most DATAGRAM_MAX, from the loop; what a
        full queue refuses is sent again (``_send_lines_from``)."""
        self._send_lines_from(self._outgoing(), peer, lines)

    def _send_lines_from(self, sock: socket.socket, peer: str, lines: list[bytes]) -> bool:
        """Log entry lines to a listener from ``sock`` (the loop's or the writer thread's)
        in datagrams of at most DATAGRAM_MAX. From the first a full queue refuses, the
        datagrams wait in ``_late`` for ``_flush`` to send again, in order (True then),
        rather than being dropped; to a listener gone, the rest are dropped (``_send_to``
        removes it)."""
        late = False
        for datagram, _count in _datagrams(lines):
            if not late:
                try:
                    sock.sendto(datagram, socket.MSG_DONTWAIT, self._address(peer))
                    continue
                except (BlockingIOError, InterruptedError):
                    late = True
                except OSError:
                    return False
            self._late.append((peer, datagram))
        return late

    def _send_to(self, peer: str, changes: dict[int, int]) -> bool:
        """Send ``changes`` to ``peer``: True if done (or the peer is gone), False to retry."""
        lines = [f"{f}:{m}".encode() for f, m in changes.items()]
        at = 0
        try:
            if not lines:  # a probe: is anyone there?
                self._outgoing().sendto(b"", socket.MSG_DONTWAIT, self._address(peer))
            for datagram, count in _datagrams(lines):
                self._outgoing().sendto(datagram, socket.MSG_DONTWAIT, self._address(peer))
                for line in lines[at:at + count]:  # sent: not to be sent again
                    changes.pop(int(line.partition(b":")[0]), None)
                at += count
            return True
        except OSError as exc:
            return self._send_failed(peer, exc)

    def _send_failed(self, peer: str, exc: OSError) -> bool:
        """After a failed send to ``peer``: False to retry (its queue is full), True when
        there is nothing more to do (it is gone, or the error is not one to wait out)."""
        if isinstance(exc, BlockingIOError | InterruptedError):
            return False
        if isinstance(exc, ConnectionRefusedError | FileNotFoundError):
            # Its process is gone (killed): remove what it left behind.
            with contextlib.suppress(OSError):
                os.unlink(self.directory / peer)
            return True
        log.warning("change feed send to %s failed: %s", peer, exc)
        return True

    def _outgoing(self) -> socket.socket:
        """The socket datagrams are sent from: the listening one, or one for sending only."""
        if self.sock is not None:
            return self.sock
        self._out = self._out or socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        return self._out

    def close(self) -> None:
        self._closing = True
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
            self._flush()  # what is pending goes out now, once
        if self._out is not None:
            self._out.close()
            self._out = None
        if self._held_out is not None:
            self._held_out.close()
            self._held_out = None
        if self.sock is not None:
            if self._loop is not None and not self._loop.is_closed():
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None
            with contextlib.suppress(OSError):
                os.unlink(self.directory / self.name)
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None
            self._addresses = {}  # some named it
