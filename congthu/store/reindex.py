"""Indexing again the contents stored by earlier versions (``congthu store reindex``).

What delivery computes once from a message (``congthu.mime.analyse``) has grown: the
search text now holds every header and every decoded text part (IMAP SEARCH TEXT/BODY),
the address keys hold group names (TO/FROM/CC), the sent date is kept in UTC (SORT
DATE; SQLite kept the wall time of the field's own zone before), and the PREVIEW text
(RFC 8970) is kept. A content stored before all that (``contents.preview`` is NULL:
every content older than store_0006) is analysed again from its bytes and those columns
are rewritten; its bytes, structure offsets and references are not touched.

Why a command and not a data migration: a migration runs inside the server's start, in
one transaction; analysing 100,000 messages takes minutes and would hold the start and
the database's writer that long. The command instead:

* walks the contents in id order, ``batch`` rows at a time (keyset, never OFFSET), and
  commits each batch in its own short write transaction, so deliveries go on between
  batches (it may run while the server runs);
* holds one message's bytes at a time in memory, and analyses it in a worker thread;
* is resumable and idempotent: a content done has its preview set (to "" when it has
  no text), so a run stopped anywhere (Ctrl-C, crash) and started again goes on with
  what is left, and a second run finds nothing to do;
* rewrites ``search_text`` only when it changed (kept to its indexed prefix, with
  ``search_cut``, as delivery keeps it: ``congthu.store.search.stored_text``), and the
  structure only when none was stored; on SQLite a content whose text changed is taken out of the trigram index and
  listed as pending by the update trigger (migration store_0010), and the run ends by
  indexing what is pending (``congthu.store.indexer``; the server's indexer does the
  same while it runs), so the command leaves the index whole even with no server;
* skips a content whose bytes cannot be read (a missing blob: ``congthu check`` says
  which), counts it and lists its id; it is tried again by the next run.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.engine import Connection

from congthu import mime
from congthu.store.base import StoreBase
from congthu.store.listing import sort_keys
from congthu.store.search import stored_text
from congthu.store.tables import contents, messages

__all__ = ["ReindexMethods", "Reindexed", "REINDEX_BATCH"]

# Contents analysed and written per transaction.
REINDEX_BATCH = 200
# The columns rewritten from a new analysis (each an Analysis attribute of that name);
# ``search_text`` only when it changed, ``structure`` only when none was stored.
_COLUMNS = ("sent_date", "subject_key", "from_key", "to_key", "cc_key", "preview")


@dataclass
class Reindexed:
    """What a run of ``MailStore.reindex`` did (so far, when given to ``progress``)."""

    done: int = 0
    # Contents whose search text changed (the others got their preview and dates only).
    text_changed: int = 0
    # Ids of the contents whose bytes could not be read (at most the first 100).
    failed: list[int] = field(default_factory=list)
    failed_count: int = 0
    last_id: int = 0
    # Contents put into the search index at the end (SQLite: those pending).
    indexed: int = 0


_NEEDED = and_(contents.c.preview.is_(None), contents.c.refcount > 0)


def _pending(conn: Connection, after: int, batch: int) -> list[Any]:
    return list(conn.execute(
        select(contents.c.id, contents.c.segments, contents.c.search_text, contents.c.search_cut,
               contents.c.structure)
        .where(and_(_NEEDED, contents.c.id > after)).order_by(contents.c.id).limit(batch)))


# The messages of a content take its new keys (congthu.store.listing.sort_keys).
_WRITE_SORT_KEYS = (update(messages).where(messages.c.content_id == bindparam("b_id"))
                    .values(sort_subject=bindparam("b_sort_subject"), sort_from=bindparam("b_sort_from")))


def _write_batch(conn: Connection, work: tuple[tuple[Any, list[dict[str, Any]]], ...]) -> None:
    for statement, params in work:
        if params:
            conn.execute(statement, params)


class ReindexMethods(StoreBase):
    if TYPE_CHECKING:  # from IndexerMethods
        async def index_search_text(self, rows: int = ..., max_bytes: int = ...) -> int: ...

    async def reindex_pending(self) -> int:
        """How many contents a reindex would analyse again."""
        def read(conn: Connection) -> int:
            return int(conn.execute(select(func.count()).select_from(contents).where(_NEEDED)).scalar() or 0)

        return await self._ro(read)

    async def reindex(self, batch: int = REINDEX_BATCH,
                      progress: Callable[[Reindexed], None] | None = None) -> Reindexed:
        """Analyse again every content stored before previews were kept (see the module
        docstring); ``progress`` is called after each batch."""
        if batch < 1:
            raise ValueError("batch must be at least 1")
        result = Reindexed()
        write = (update(contents).where(and_(contents.c.id == bindparam("b_id"), contents.c.preview.is_(None)))
                 .values({name: bindparam(f"b_{name}") for name in _COLUMNS}))
        write_text = write.values(search_text=bindparam("b_search_text"), search_cut=bindparam("b_search_cut"))
        write_structure = write_text.values(structure=bindparam("b_structure"))
        while True:
            rows = await self._ro(_pending, result.last_id, batch)
            if not rows:
                result.indexed = await self.index_search_text()
                return result
            analysed = await asyncio.to_thread(self._analyse_rows, rows)
            plain: list[dict[str, Any]] = []
            with_text: list[dict[str, Any]] = []
            with_structure: list[dict[str, Any]] = []
            sort_rows: list[dict[str, Any]] = []
            for row, found in zip(rows, analysed, strict=True):
                if found is None:
                    result.failed_count += 1
                    if len(result.failed) < 100:
                        result.failed.append(int(row.id))
                    continue
                values = {f"b_{name}": getattr(found, name) for name in _COLUMNS}
                values["b_id"] = row.id
                subject_key, from_key = sort_keys(found.subject, found.from_key)
                sort_rows.append({"b_id": row.id, "b_sort_subject": subject_key, "b_sort_from": from_key})
                text, cut = stored_text(found.search_text, found.search_cut)
                changed = text != row.search_text or cut != bool(row.search_cut)
                result.text_changed += changed
                if changed or not row.structure or row.structure == "{}":
                    values["b_search_text"], values["b_search_cut"] = text, cut
                if not row.structure or row.structure == "{}":
                    values["b_structure"] = found.structure_json
                    with_structure.append(values)
                elif changed:
                    with_text.append(values)
                else:
                    plain.append(values)

            await self._tx(_write_batch, ((write, plain), (write_text, with_text),
                                          (write_structure, with_structure), (_WRITE_SORT_KEYS, sort_rows)))
            result.done += len(plain) + len(with_text) + len(with_structure)
            result.last_id = int(rows[-1].id)
            if progress is not None:
                progress(result)

    def _analyse_rows(self, rows: list[Any]) -> list[mime.Analysis | None]:
        """The new analysis of each row's message (None when its bytes cannot be read);
        one message's bytes in memory at a time. Runs in a worker thread."""
        out: list[mime.Analysis | None] = []
        for row in rows:
            try:
                raw = self.blobs.read([(d, n) for d, n in json.loads(row.segments)])
            except (OSError, ValueError):
                out.append(None)
                continue
            out.append(mime.analyse(raw))
        return out
