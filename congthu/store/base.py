"""What every part of ``MailStore`` shares: the database, the blob store, the change hub,
the store's in-process state, and the two ways to run SQL (``_tx`` and ``_ro``).

``StoreBase`` is the root of the concern mixins (``mailboxes.py``, ``folders.py``, ...);
``MailStore`` (``mailstore.py``) joins them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError

from congthu.db import Before, Database, DatabaseUnavailable
from congthu.store.blobs import BlobStore, StorageFull
from congthu.store.changes import ChangeHub
from congthu.store.model import StoreError
from congthu.store.pending import Delivery

T = TypeVar("T")


class StaleFolder(Exception):
    """A cached folder id no longer names that folder (deleted or renamed meanwhile)."""


# Errors a transaction function raises on purpose: they reach the caller as they are.
_WRITE_PASSES = (StoreError, StorageFull, StaleFolder)
_READ_PASSES = (StoreError,)


class StoreBase:
    def __init__(self, db: Database, blobs: BlobStore, hub: ChangeHub | None = None) -> None:
        self.db = db
        self.blobs = blobs
        self.hub = hub or ChangeHub()
        self._uidvalidity_last = 0
        self._uidvalidity_lock = threading.Lock()
        # Deliveries queued in this turn of the event loop, and the batches being
        # committed (delivery.py).
        self._pending: list[Delivery] = []
        self._committing: set[asyncio.Task[None]] = set()
        # (mailbox id, folder name) -> folder id, for delivery. Checked in the same
        # statement that reserves the UIDs, so a stale entry is never used.
        self._folder_ids: dict[tuple[int, str], int] = {}
        # (folder id, UIDVALIDITY) -> a lower bound of the folder's \Recent mark (recent.py).
        self._recent_marks: dict[tuple[int, int | None], int] = {}
        # The claims of \Recent under way, by the same key (done when resolved).
        self._recent_claims: dict[tuple[int, int | None], asyncio.Future[None]] = {}

    # -- transactions -------------------------------------------------------------------
    #
    # Each public method runs its SQL as one synchronous function in one transaction
    # (Database.run_write / run_read): on SQLite the whole function runs in a worker
    # thread on a pysqlite connection, one thread hop per transaction; on PostgreSQL the
    # same Core statements run on asyncpg through run_sync.

    async def _tx(self, fn: Callable[..., T], *args: Any, durable: bool = True,
                  before: Before | None = None) -> T:
        """Run ``fn(conn, *args)`` in one write transaction; ``durable=False``: answered
        before its commit is on disk, for writes a power cut may undo without losing a
        message (flags, expunges: the rule is ``Database.run_write``'s); ``before``:
        blocking work done first (``Database.run_write``)."""
        return await _run(self.db.run_write(fn, *args, durable=durable, before=before), _WRITE_PASSES)

    async def _ro(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` in one read transaction (one snapshot)."""
        return await _run(self.db.run_read(fn, *args), _READ_PASSES)

    async def _ro_small(self, fn: Callable[..., T], *args: Any) -> T:
        """``_ro`` for a read of a few rows found by key: on SQLite it runs at once on the
        event loop's thread (``Database.run_small_read``). Never for one that may walk a
        folder."""
        return await _run(self.db.run_small_read(fn, *args), _READ_PASSES)


async def _run(transaction: Awaitable[T], passes: tuple[type[BaseException], ...]) -> T:
    """Await a transaction; a database that is locked, gone or unreachable becomes
    ``DatabaseUnavailable`` (the server answers "try again later")."""
    try:
        return await transaction
    except passes:
        raise
    except (OperationalError, OSError) as exc:
        raise _unavailable(exc) from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise _unavailable(exc) from exc
        raise


def _unavailable(exc: BaseException) -> DatabaseUnavailable:
    return DatabaseUnavailable(f"Cơ sở dữ liệu không sẵn sàng / database unavailable: {exc}")
