"""The change feed: an open session learns that a folder changed.

A notification carries only the folder id and its new highest modseq; the session asks
the store for what changed since the modseq it knows (``MailStore.changes_since``), so a
lost or merged notification never loses a change. In one process the hub wakes waiting
sessions directly; with PostgreSQL it also relays through LISTEN/NOTIFY to other nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

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
        self.hub._watches[self.folder_id].discard(self)


class ChangeHub:
    def __init__(self) -> None:
        self._watches: dict[int, set[FolderWatch]] = defaultdict(set)
        self._pg_conn: Any = None

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
