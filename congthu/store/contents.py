"""Message contents (``ContentMethods``): a content's row (its blobs, MIME structure and
decoded headers), a message's bytes exactly as received, and garbage collection of the
contents and blobs nothing refers to any more."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, delete, select, update
from sqlalchemy.engine import Connection

from congthu.db import import_all_tables, metadata
from congthu.store.base import StoreBase
from congthu.store.model import Content, NotFound
from congthu.store.rows import chunks, to_content
from congthu.store.statements import CONTENT_BY_ID, CONTENTS_BY_IDS
from congthu.store.tables import contents

# Contents read at once on the event loop (``_ro_small``), at most.
_SMALL = 200


class ContentMethods(StoreBase):
    async def get_content(self, content_id: int) -> Content:
        def read(conn: Connection) -> Any:
            return conn.execute(CONTENT_BY_ID, {"b_content": content_id}).first()

        row = await self._ro_small(read)
        if row is None:
            raise NotFound(f"content {content_id}")
        return to_content(row)

    async def get_contents(self, content_ids: Sequence[int]) -> dict[int, Content]:
        """Several contents at once (IMAP SEARCH and SORT on header fields)."""
        wanted = sorted(set(content_ids))

        def read(conn: Connection) -> dict[int, Content]:
            out: dict[int, Content] = {}
            for chunk in chunks(wanted):
                for row in conn.execute(CONTENTS_BY_IDS, {"b_contents": chunk}):
                    out[row.id] = to_content(row)
            return out

        # By primary key, and IMAP FETCH asks for at most a batch (200) at a time; a
        # SEARCH or SORT of a whole folder goes to a reader thread.
        if len(wanted) <= _SMALL:
            return await self._ro_small(read)
        return await self._ro(read)

    async def set_previews(self, previews: dict[int, str]) -> None:
        """Keep the RFC 8970 PREVIEW texts made from the bytes of contents stored before
        previews were made at delivery (content id -> text); a content that has one
        keeps it."""
        if not previews:
            return
        statement = (update(contents)
                     .where(and_(contents.c.id == bindparam("b_id"), contents.c.preview.is_(None)))
                     .values(preview=bindparam("b_preview")))

        def tx(conn: Connection) -> None:
            conn.execute(statement, [{"b_id": cid, "b_preview": text} for cid, text in previews.items()])

        await self._tx(tx)

    async def read_message(self, content_id: int) -> bytes:
        """The message's bytes exactly as received (Điều 7.3-7.5: never altered)."""
        content = await self.get_content(content_id)
        return await asyncio.to_thread(self.blobs.read, content.segments)

    async def referenced_blobs(self) -> set[str]:
        # Other packages' columns that hold a blob digest (the SMTP queue) are marked
        # Column(..., info={"blob": True}); their blobs are referenced too.
        import_all_tables()
        marked = [column for table in metadata.tables.values() for column in table.columns
                  if column.info.get("blob")]

        def read(conn: Connection) -> set[str]:
            # Every content row, whatever its count: a count that fell to 0 may be an
            # expunge not yet on disk (durable=False, messages.py), which a power cut
            # would undo. A row is gone only after collect_garbage's durable DELETE,
            # whose fsync makes every commit it saw durable first (WAL order).
            rows = conn.execute(select(contents.c.segments)).scalars()
            found = {digest for segs in rows for digest, _n in json.loads(segs)}
            for column in marked:
                found.update(d for d in conn.execute(select(column).distinct()).scalars() if d)
            return found

        return await self._ro(read)

    async def collect_garbage(self, grace_seconds: float = 3600) -> int:
        """Drop contents no message refers to, then their unreferenced blobs."""
        def tx(conn: Connection) -> None:
            conn.execute(delete(contents).where(contents.c.refcount <= 0))

        await self._tx(tx)
        referenced = await self.referenced_blobs()
        return await asyncio.to_thread(self.blobs.collect_garbage, referenced, grace_seconds)
