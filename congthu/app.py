"""The application object: configuration, database, store and services of one data directory.

Every entry point (the server, each CLI command, the tests) opens an ``App`` on a data
directory and passes it to what it runs, so nothing reaches for global state.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from congthu import config
from congthu.accounts import Accounts
from congthu.db import Database, database_url, migrate
from congthu.imap.caches import ImapCaches
from congthu.reports.counters import ReportCounters
from congthu.smtp.runtime import SMTPRuntime
from congthu.store import MailStore
from congthu.store.blob_backends import open_blob_store
from congthu.store.changes import ChangeHub
from congthu.tls import TLSContexts


def default_data_dir(cli_value: str | None = None) -> Path:
    """--data, else $CONGTHU_DATA, else ./data."""
    return Path(cli_value or os.environ.get("CONGTHU_DATA") or "data").resolve()


class App:
    def __init__(self, data_dir: Path, settings: config.Settings, db: Database) -> None:
        self.data_dir = data_dir
        self.settings = settings
        self.db = db
        # SQLite: commits are announced to the other processes of this data directory
        # (the workers of `congthu serve`) through run/feed (ChangeHub, LocalFeed).
        self.hub = ChangeHub(data_dir / "run" / "feed" if db.is_sqlite else None)
        # What committed writes announce (the account feed: store/changes.account_changed).
        db.on_commit = self.hub.committed
        # And the log entries, sent to the other processes under the writer lock.
        db.on_commit_held = self.hub.committed_held
        self.store = MailStore(db, open_blob_store(settings.blobs, data_dir), self.hub)
        self.accounts = Accounts(self.store, settings)
        self.tls = TLSContexts(self.path(settings.tls.cert), self.path(settings.tls.key))
        self.smtp = SMTPRuntime(settings)  # the SMTP package's caches, resolvers, queue runner
        self.imap = ImapCaches()  # what the IMAP sessions of this App share (imap/caches.py)
        self.draining = False  # set when the server stops: /healthz answers 503 (congthu/server.py)
        self._background: set[asyncio.Task[Any]] = set()
        # The reports' counters (Điều 9.13): the doors add to them, a background task
        # writes them every few seconds, close() writes the rest (congthu/reports/counters.py).
        self.reports = ReportCounters(db, clock=lambda: self.accounts.clock(), local_domains=settings.local_domains,
                                      spawn=self.spawn)
        self.accounts.on_login = self.reports.login

    @classmethod
    async def open(cls, data_dir: Path, *, upgrade: bool = True) -> App:
        """Load the config (ConfigError if invalid), connect and bring the schema up to date."""
        settings = config.load(data_dir)
        db = Database(database_url(settings.database.url, data_dir), settings.database.busy_timeout,
                      sqlite_mmap_mib=settings.database.sqlite_mmap_mib)
        if upgrade:
            try:
                await migrate(db)
            except BaseException:
                # Its connections' threads must end before the event loop does (a database
                # that cannot be opened is a user's mistake, answered without a traceback).
                with contextlib.suppress(Exception):
                    await db.dispose()
                await _let_failed_connections_end()
                raise
        return cls(data_dir, settings, db)

    def path(self, relative: str) -> Path:
        """A path from the config, relative to the data directory."""
        return self.data_dir / relative

    def spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``work`` beside the request that asked for it: best-effort side work that no
        client should wait for (teaching rspamd after a move to Junk). The App holds the
        task until it ends and cancels what is left when it closes."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        await self.reports.close()
        self.smtp.close()
        self.store.blobs.close()
        self.accounts.close()
        await self.hub.close()
        await self.db.dispose()


async def _let_failed_connections_end() -> None:
    """Wait (briefly) for aiosqlite's worker threads to finish. A connection that failed to
    open is stopped by aiosqlite without waiting: its thread then reports to the event
    loop, and if the loop has closed meanwhile (the command ends at once with its error)
    the thread prints a traceback. Joined from another thread, so the loop stays alive
    to take their reports."""
    deadline = time.monotonic() + 1.0  # seconds, for all of them
    for thread in threading.enumerate():
        if "_connection_worker_thread" in thread.name and thread.is_alive():
            await asyncio.to_thread(thread.join, max(0.0, deadline - time.monotonic()))
