"""Background work of the store: the search index filled after delivery, and the garbage
collection of the blob store.

On SQLite every worker indexes the contents deliveries left pending, looking every half
second (``MailStore.keep_search_index``, ``congthu.store.indexer``); a batch is one
write transaction, so workers never index a content twice.

A message's bytes are blobs (``blobs.py``) shared by every copy of the message and kept
by reference counts of ``contents``; deleting mail (EXPUNGE, a purge) lowers the counts
but leaves the bytes. Every ``[blobs] gc_every_hours`` the contents no message refers to
and then the blobs no content refers to are removed (``ContentMethods.collect_garbage``),
once across every worker and node (``leases.housekeeping``). Three rules keep it safe:

- a blob goes only once no content row names it, whatever the row's count, and content
  rows are deleted only by the collection's own durable commit. An expunge is committed
  without waiting for the disk (``Database.run_write``, ``durable=False``): a power cut
  may undo it, bringing its messages back, so their blobs must still be there. That
  commit deletes the rows the expunge left at 0 (so it writes, and is fsynced), and the
  WAL (or PostgreSQL's) makes every commit it saw durable with it;
- a blob younger than ``[blobs] gc_grace_minutes`` is kept even when unreferenced, since
  a delivery on another node may have written it and not yet committed;
- it never runs while a backup runs, nor a backup while it runs: both hold the lease
  ``store.blobs`` (``leases.holding``). A backup snapshots the metadata and then copies
  the blobs it refers to; a collection in between would remove blobs of mail deleted in
  the meantime, which the snapshot still holds (``congthu.backup``).

``congthu blobs gc`` runs it by hand (``store/cli.py``).
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from congthu.cluster.leases import LeaseBusy, holding, housekeeping
from congthu.log import event

if TYPE_CHECKING:
    from congthu.app import App

BLOBS_LEASE = "store.blobs"  # held by a collection and by a backup, never both


async def collect(app: App, *, grace_minutes: int | None = None, wait: float = 0.0) -> int:
    """Remove unreferenced contents and blobs under the lease; the number of blobs
    removed. ``LeaseBusy`` when a backup (or another collection) held the lease for all of
    ``wait`` seconds."""
    grace = app.settings.blobs.gc_grace_minutes if grace_minutes is None else grace_minutes
    async with holding(app.db, BLOBS_LEASE, wait=wait):
        removed = await app.store.collect_garbage(grace_seconds=grace * 60.0)
    event("store.gc", removed=removed, grace_minutes=grace)
    return removed


async def _scheduled(app: App) -> None:
    try:
        await collect(app)
    except LeaseBusy:  # a backup runs: the next period will do
        event("store.gc_skipped", why="a backup holds the blob store")


def jobs(app: App) -> list[Coroutine[Any, Any, None]]:
    found = [app.store.keep_search_index()] if app.db.is_sqlite else []
    hours = app.settings.blobs.gc_every_hours
    if not hours:
        return found
    return [*found, housekeeping(app.db, "store.gc", hours * 3600.0, lambda: _scheduled(app),
                                 failed="store.gc_failed").forever()]
