"""The change feed: an open session learns that a folder changed.

A notification carries only the folder id and its new highest modseq; the session asks
the store for what changed since the modseq it knows (``MailStore.changes_since``), so a
lost or merged notification never loses a change. In one process the hub wakes waiting
sessions directly; with PostgreSQL it also relays through LISTEN/NOTIFY to other nodes.

The change log: the store's writers in this process also hand the hub what each of their
commits did to a watched folder (``record``: the messages changed or added, with their
flags, keywords and modseq after it, and the UIDs expunged). A session that learns of a
change asks the hub first (``changes_since``) and the database only when the hub cannot
answer, so twenty sessions of a busy folder do not each read the database after every
change of another (Dovecot keeps such a log in its index files). The answer is exact or
absent: every change takes the folder's next modseq (one more than the last), so the
hub answers only when it holds every modseq from the session's to the newest it was told
of; a change it was not given (another process or node, a delivery, a folder deleted)
leaves a hole, and for that window the session reads the database as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from congthu.store.model import MessageMeta

log = logging.getLogger("congthu.store.changes")

CHANNEL = "congthu_changes"


class FolderWatch:
    """A session's subscription to one folder: ``await watch.wait()`` until it changes."""

    def __init__(self, hub: ChangeHub, folder_id: int) -> None:
        self.hub, self.folder_id = hub, folder_id
        self.event = asyncio.Event()
        self.modseq = 0

    def notify(self, modseq: int) -> None:
        self.modseq = max(self.modseq, modseq)
        self.event.set()

    async def wait(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """True if the folder changed (since the last wait), False on timeout."""
        try:
            await asyncio.wait_for(self.event.wait(), timeout)
        except TimeoutError:
            return False
        self.event.clear()
        return True

    def close(self) -> None:
        watches = self.hub._watches[self.folder_id]
        watches.discard(self)
        if not watches:
            self.hub._logs.pop(self.folder_id, None)  # nobody left to ask


# Entries kept per watched folder: a session further behind reads the database. An
# entry of more than ENTRY_MAX messages is not kept (memory stays bounded).
LOG_ENTRIES = 512
ENTRY_MAX = 1000

# One commit's changes to a folder: (messages changed or added, UIDs expunged).
_Entry = tuple[tuple["MessageMeta", ...], tuple[int, ...]]


class ChangeHub:
    def __init__(self) -> None:
        self._watches: dict[int, set[FolderWatch]] = defaultdict(set)
        self._pg_conn: Any = None
        # folder id -> {modseq: entry}, for the folders some session watches.
        self._logs: dict[int, dict[int, _Entry]] = {}

    def watch(self, folder_id: int) -> FolderWatch:
        w = FolderWatch(self, folder_id)
        self._watches[folder_id].add(w)
        return w

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
        the folder (one that starts watching later reads the database up to its start)."""
        if not self._watches.get(folder_id):
            return
        entry = (tuple(changed), tuple(gone))
        if len(entry[0]) + len(entry[1]) > ENTRY_MAX:
            return  # a whole folder changed at once: a hole, those who need it read the database
        log = self._logs.setdefault(folder_id, {})
        log[modseq] = entry
        while len(log) > LOG_ENTRIES:
            del log[min(log)]

    def changes_since(self, folder_id: int, modseq: int,
                      upto: int) -> tuple[list[MessageMeta], list[int], int] | None:
        """As ``MailStore.changes_since(folder_id, modseq)`` (messages changed or added
        after ``modseq`` in UID order, UIDs expunged after it, the highest modseq), from
        the log, if it holds every change from ``modseq`` up to at least ``upto``; else
        None (ask the database)."""
        log = self._logs.get(folder_id)
        if log is None or upto <= modseq:
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

    def publish_local(self, folder_id: int, modseq: int) -> None:
        for w in list(self._watches.get(folder_id, ())):
            w.notify(modseq)

    async def publish(self, folder_id: int, modseq: int) -> None:
        self.publish_local(folder_id, modseq)
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
            folder, _, modseq = payload.partition(":")
            with contextlib.suppress(ValueError):
                self.publish_local(int(folder), int(modseq))

        await self._pg_conn.add_listener(CHANNEL, on_notify)

    async def close(self) -> None:
        if self._pg_conn is not None:
            await self._pg_conn.close()
            self._pg_conn = None
