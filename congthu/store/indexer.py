"""The search index filled after delivery (SQLite): pending contents go into the FTS5
trigram table ``contents_fts`` a batch at a time, off the deliveries' transactions.

Since migration store_0010 storing a content (delivery, APPEND, an import) only lists its
id in ``contents_fts_pending`` (a trigger); indexing its folded text in the same
transaction cost ~30 ms of CPU per MB on the single writer, a third of a 1 MB delivery.
Dovecot likewise indexes nothing at delivery (its fts plug-in indexes later, in batches).
Search treats a pending content as a candidate for every term (``congthu.store.search``),
so its answers are the same before and after the indexer runs; only the work of checking
the pending contents whole is added meanwhile. Since migration store_0011 what is indexed
is a text's first ``congthu.store.search.INDEXED_CHARS`` characters (a longer text is
checked whole by every search, like a pending one): a 1 MB text costs the index what a
64 KB one does. Since store_0012 only those characters are stored too (the rest is made
again from the message when a search needs it), so the index of a cut text is its
whole stored text.

``keep_search_index`` (the store's job, ``congthu.store.jobs``, in every worker) looks
every ``POLL_SECONDS`` whether anything is pending (a read of one row) and, if so, indexes
batches until nothing is: the oldest pending contents, at most ``INDEX_ROWS`` of them and
about ``INDEX_BYTES`` of messages (``contents.size``, read without the text: a bound on
how long a batch holds the writer, which the deliveries queued meanwhile wait for). The
poll is the debounce: deliveries arriving within it are indexed together, and FTS5 writes
one segment per transaction (fewer, larger segments: less CPU than one per content, see
docs/benchmarks.md). A batch is one write transaction (``run_write(durable=False)``: the
index can be rebuilt from the contents, and a batch lost in a power cut leaves its
contents pending, not lost): it takes the rows, indexes them and removes them from the
pending table at once, so two workers (or nodes) never index a content twice: the second
transaction, serialised behind the first, no longer finds them. A content deleted or
rewritten meanwhile is handled by the triggers (``congthu.migrations.trigram``).

PostgreSQL keeps its pg_trgm GIN index, updated by the writes themselves (its own pending
list): nothing to do here.
"""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import exists, select, text
from sqlalchemy.engine import Connection

from congthu.log import event
from congthu.store.base import StoreBase
from congthu.store.search import CONTENTS_FTS, PENDING, SEARCH_PREFIX
from congthu.store.tables import contents

__all__ = ["INDEX_BYTES", "INDEX_ROWS", "POLL_SECONDS", "IndexerMethods", "check_index", "index_batch",
           "rebuild_index"]

# Bounds of one batch: contents, and bytes of their messages (~20-45 ms of CPU per MB of
# text to index). Batching saves most on small messages (10 KB: 0.89 ms each alone, 0.26
# in batches of 256) and some on large ones (1 MB: ~4 ms each in fours, as FTS5 then
# writes and merges fewer segments); the byte bound keeps a batch's hold on the writer,
# which deliveries queued meanwhile wait for, near 100 ms (docs/benchmarks.md,
# 2026-12-06 night). Since store_0011 only a text's first INDEXED_CHARS characters are
# indexed (~3 ms for a 1 MB message instead of ~35-42), so for large messages the byte
# bound is now generous.
INDEX_ROWS = 256
INDEX_BYTES = 4 << 20
# How often each worker looks for pending contents (seconds).
POLL_SECONDS = 0.5
# After a failed batch (the database unavailable), the next try (seconds).
RETRY_SECONDS = 5.0

_ANY_PENDING = select(exists().select_from(PENDING))
_COUNT_PENDING = text(f"SELECT count(*) FROM {PENDING.name}")
_OLDEST = (select(PENDING.c.id, contents.c.size).select_from(PENDING.outerjoin(contents, contents.c.id == PENDING.c.id))
           .order_by(PENDING.c.id))
# The ids of a batch travel as one JSON array.
# What is indexed is the text's first INDEXED_CHARS characters, the generated column
# SEARCH_PREFIX (migration store_0011; congthu.store.search): what FTS5's 'rebuild' and
# 'integrity-check' read from the contents too.
_INDEX = text(f"INSERT INTO {CONTENTS_FTS}(rowid, {SEARCH_PREFIX}) SELECT id, {SEARCH_PREFIX} FROM contents "
              "WHERE id IN (SELECT value FROM json_each(:ids))")
_DONE = text(f"DELETE FROM {PENDING.name} WHERE id IN (SELECT value FROM json_each(:ids))")


def index_batch(conn: Connection, rows: int = INDEX_ROWS, max_bytes: int = INDEX_BYTES) -> tuple[int, bool]:
    """Index the oldest pending contents, at most ``rows`` of them and ``max_bytes`` of
    messages (but always one), and take them off the pending list: (how many, whether
    more are pending)."""
    picked = conn.execute(_OLDEST.limit(rows + 1)).all()
    ids: list[int] = []
    total = 0
    for content_id, size in picked[:rows]:
        size = int(size or 0)  # no content: an orphan (never made by the triggers), removed
        if ids and total + size > max_bytes:
            break
        ids.append(int(content_id))
        total += size
    if not ids:
        return 0, False
    listed = json.dumps(ids)
    conn.execute(_INDEX, {"ids": listed})
    conn.execute(_DONE, {"ids": listed})
    return len(ids), len(picked) > len(ids)


def rebuild_index(conn: Connection) -> None:
    """Build the index again from every content (FTS5 'rebuild'): then nothing is pending."""
    conn.execute(text(f"INSERT INTO {CONTENTS_FTS}({CONTENTS_FTS}) VALUES ('rebuild')"))
    conn.execute(PENDING.delete())


def check_index(conn: Connection) -> None:
    """Check (in a write transaction, changing nothing) that the index is sound and holds
    exactly the text of every content not pending: FTS5's 'integrity-check' against the
    content table, with the pending contents indexed in a savepoint rolled back after it.
    A fault raises ``sqlalchemy.exc.DatabaseError`` ("database disk image is malformed")."""
    savepoint = conn.begin_nested()
    try:
        while index_batch(conn, rows=10_000, max_bytes=1 << 62)[1]:
            pass
        conn.execute(text(f"INSERT INTO {CONTENTS_FTS}({CONTENTS_FTS}, rank) VALUES ('integrity-check', 1)"))
    finally:
        savepoint.rollback()


class IndexerMethods(StoreBase):
    async def index_search_batch(self, rows: int = INDEX_ROWS, max_bytes: int = INDEX_BYTES) -> tuple[int, bool]:
        """One batch of ``index_batch`` in its own write transaction; (0, False) on
        PostgreSQL."""
        if not self.db.is_sqlite:
            return 0, False
        # Not durable: the index is rebuilt from the contents; a lost batch stays pending.
        return await self._tx(index_batch, rows, max_bytes, durable=False)

    async def index_search_text(self, rows: int = INDEX_ROWS, max_bytes: int = INDEX_BYTES) -> int:
        """Index every pending content, a batch per transaction; how many were indexed."""
        done, more = await self.index_search_batch(rows, max_bytes)
        while more:
            count, more = await self.index_search_batch(rows, max_bytes)
            done += count
        return done

    async def search_index_pending(self) -> int:
        """How many contents wait to be indexed (0 on PostgreSQL)."""
        if not self.db.is_sqlite:
            return 0

        def read(conn: Connection) -> int:
            return int(conn.execute(_COUNT_PENDING).scalar() or 0)

        return await self._ro(read)

    async def rebuild_search_index(self) -> None:
        """Build the trigram index again from the contents (SQLite; PostgreSQL: nothing)."""
        if self.db.is_sqlite:
            await self._tx(rebuild_index, durable=False)

    async def check_search_index(self) -> None:
        """``check_index`` (SQLite; PostgreSQL: nothing)."""
        if self.db.is_sqlite:
            await self._tx(check_index, durable=False)

    async def keep_search_index(self, poll: float = POLL_SECONDS) -> None:
        """Index what is pending, now and every ``poll`` seconds, until cancelled (see
        the module docstring). Never ends on a failure: it is logged and tried again."""
        if not self.db.is_sqlite:
            return
        while True:
            try:
                if await self._ro_small(_any_pending):
                    await self.index_search_text()
            except Exception as exc:  # the database unavailable: the contents stay pending
                event("store.search_index_failed", error=str(exc))
                await asyncio.sleep(RETRY_SECONDS)
            await asyncio.sleep(poll)


def _any_pending(conn: Connection) -> bool:
    return bool(conn.execute(_ANY_PENDING).scalar())
