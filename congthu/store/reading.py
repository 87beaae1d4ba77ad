"""What a session reads of a folder's messages (``ReadingMethods``): the whole index
(IMAP SELECT, POP3), chosen messages (FETCH), their save dates (RFC 8514), what changed
since a MODSEQ (IDLE, NOOP, QRESYNC), and the searches, whose SQL
``congthu.store.search`` builds."""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from itertools import islice
from operator import lt
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.engine import Connection

from congthu.store import search
from congthu.store.base import StoreBase
from congthu.store.model import Content, MessageMeta, NotFound, StoreError
from congthu.store.rows import Compiled, aware, chunks, driver_rows, metas_from_driver, to_content
from congthu.store.statements import (
    CHANGED,
    CHANGED_FEW,
    CONTENTS_READ,
    FLAG_COLUMNS,
    FOLDER_HIGHEST,
    FOLDER_STATE,
    INDEX,
    METAS_BY_UIDS,
    METAS_RANGE,
    VANISHED_SINCE,
)
from congthu.store.tables import contents, expunged, messages

# RFC 8514 SAVEDATE: when the message was put in its folder; for messages stored before
# the store kept it (store_0006), their internal date.
_SAVED = func.coalesce(messages.c.saved_at, messages.c.internal_date)

# Messages read by key on the event loop (``_ro_small``) by ``get_messages``, at most.
_SMALL_READ = 100

# The few expunges after a modseq, as CHANGED_FEW (statements.py) reads the changes:
# ``changes_since`` reads both on the event loop and goes to a reader thread only when
# there are more (a session a few changes behind, which is every session of a busy
# folder after another process's change).
_VANISHED_FEW = Compiled(
    select(expunged.c.uid, expunged.c.modseq)
    .where(and_(expunged.c.folder_id == bindparam("b_folder"), expunged.c.modseq > bindparam("b_modseq")))
    .order_by(expunged.c.modseq).limit(bindparam("b_limit")).offset(bindparam("b_offset")))


# The SHA-256 of contents by id (``get_messages_and_contents``' ``held``).
_CONTENT_SHAS = Compiled(select(contents.c.id, contents.c.sha256)
                         .where(contents.c.id.in_(bindparam("b_contents", expanding=True))))


def dense(wanted: Sequence[int]) -> tuple[int, int] | None:
    """(lowest, highest) of sorted UIDs close enough together to be read as one range
    of the (folder, uid) index and filtered, rather than as an IN list (which SQLAlchemy
    compiles again for every length)."""
    if wanted and wanted[-1] - wanted[0] <= 4 * len(wanted) + 64:
        return wanted[0], wanted[-1]
    return None


def metas_of(conn: Connection, folder_id: int, uids: Sequence[int]) -> list[MessageMeta]:
    """The messages of a folder with these UIDs that exist, in UID order."""
    wanted = sorted(set(uids))
    span = dense(wanted)
    if span is not None:
        keep = set(wanted)
        found = metas_from_driver(METAS_RANGE.rows(conn, b_folder=folder_id, b_low=span[0], b_high=span[1]))
        return [m for m in found if m.uid in keep]
    return [meta for chunk in chunks(wanted)
            for meta in metas_from_driver(METAS_BY_UIDS.rows(conn, b_folder=folder_id, b_uids=chunk))]


def contents_of(conn: Connection, content_ids: Sequence[int]) -> dict[int, Content]:
    """The contents with these ids (those that exist), by id."""
    return {row[0]: to_content(row) for chunk in chunks(sorted(set(content_ids)))
            for row in CONTENTS_READ.typed(conn, b_contents=chunk)}


class FlagIndex(NamedTuple):
    """A folder's flags in columns (``ReadingMethods.flag_index``): message i is
    ``uids[i]``, ``flags[i]``, ``modseqs[i]``; ``keywords`` lists (uid, keywords) of the
    messages that have any, keywords separated by spaces."""

    uidvalidity: int
    uidnext: int
    highestmodseq: int
    uids: Sequence[int]
    flags: Sequence[int]
    modseqs: Sequence[int]
    keywords: list[tuple[int, str]]


def read_flag_index(conn: Connection, folder_id: int) -> FlagIndex | None:
    """``ReadingMethods.flag_index`` inside a transaction."""
    state = conn.execute(FOLDER_STATE, {"b_folder": folder_id}).first()
    if state is None:
        return None
    row = conn.execute(FLAG_COLUMNS[conn.dialect.name], {"b_folder": folder_id}).one()
    uids = array("I", map(int, row[0].split(","))) if row[0] else array("I")
    flags = list(map(int, row[1].split(","))) if row[1] else []
    modseqs = array("Q", map(int, row[2].split(","))) if row[2] else array("Q")
    # SQLite's group_concat follows the subquery's order (version 3.44 would say
    # so in the aggregate): checked, in C, since sequence numbers depend on it.
    if not all(map(lt, uids, islice(uids, 1, None))):
        raise StoreError(f"folder {folder_id}: UIDs not in order")
    keywords = [(int(uid), kw) for uid, _, kw in (line.partition(" ") for line in row[3].split("\n"))] \
        if row[3] else []
    return FlagIndex(int(state[0]), int(state[1]), int(state[2]), uids, flags, modseqs, keywords)


class ReadingMethods(StoreBase):
    async def folder_index(self, folder_id: int) -> list[MessageMeta]:
        """Every message of a folder in UID order: what a SELECT needs."""
        def read(conn: Connection) -> list[MessageMeta]:
            return metas_from_driver(INDEX.rows(conn, b_folder=folder_id))

        return await self._ro(read)

    async def flag_index(self, folder_id: int) -> FlagIndex | None:
        """The folder's UIDVALIDITY, UIDNEXT and highest modseq, and the UID, system
        flags, modseq and keywords of every message in UID order, from one snapshot:
        what an IMAP SELECT keeps in memory (``congthu.imap.indexes``); None if the
        folder does not exist. The columns come as one text each, aggregated by the
        database (``FLAG_COLUMNS``) and split in C: a row per message through the driver
        and SQLAlchemy costs three times as much (100,000 messages: ~100 ms against
        ~370 ms of CPU)."""
        return await self._ro(read_flag_index, folder_id)

    async def folder_flags(self, folder_id: int) -> list[tuple[int, int, str, int]]:
        """(uid, flags, keywords, modseq) of every message in UID order: ``flag_index``
        as rows (an empty list for a folder that does not exist)."""
        state = await self.flag_index(folder_id)
        if state is None:
            return []
        keywords = dict(state.keywords)
        return [(uid, flags, keywords.get(uid, ""), modseq)
                for uid, flags, modseq in zip(state.uids, state.flags, state.modseqs, strict=True)]

    async def get_messages(self, folder_id: int, uids: Sequence[int]) -> list[MessageMeta]:
        """The messages of a folder with these UIDs (those that still exist), in UID order:
        what an IMAP FETCH of a few messages needs without loading the folder."""
        if not uids:
            return []
        wanted = sorted(set(uids))

        def read(conn: Connection) -> list[MessageMeta]:
            return metas_of(conn, folder_id, wanted)

        if len(wanted) <= _SMALL_READ:
            # Rows by key (the folder, uid index), as a FETCH of a client's screenful
            # asks: on the event loop, without a thread hop (``_ro_small``).
            return await self._ro_small(read)
        return await self._ro(read)

    async def get_messages_and_contents(
        self, folder_id: int, uids: Sequence[int], content_ids: Sequence[int] = (),
        held: Callable[[int], Content | None] | None = None,
    ) -> tuple[list[MessageMeta], dict[int, Content]]:
        """``get_messages`` and, in the same read, the contents of the messages found and
        those of ``content_ids``: an IMAP FETCH of messages not fetched lately (new
        ones) needs both, and one read on the event loop costs half of two.

        ``held(content_id)``: a content the caller has in memory (or None). A content row
        still of that id and SHA-256 is not read whole (its structure decoded again) but
        answered with the held one: a content id may name another content once its own
        was collected, so the SHA-256 is what proves it. (IMAP FETCH keeps contents by id,
        and imaptest APPENDs the same messages again and again: a new message has, more
        often than not, the content of one fetched lately.)"""
        wanted = sorted(set(uids))
        if len(wanted) > _SMALL_READ:
            metas = await self.get_messages(folder_id, wanted)
            more = {m.content_id for m in metas}.union(content_ids)
            return metas, (await self._ro(contents_of, sorted(more)) if more else {})

        def read(conn: Connection) -> tuple[list[MessageMeta], dict[int, Content]]:
            metas = metas_of(conn, folder_id, wanted) if wanted else []
            more = {m.content_id for m in metas}.union(content_ids)
            if not more:
                return metas, {}
            found: dict[int, Content] = {}
            if held is not None:
                kept = {cid: content for cid in more if (content := held(cid)) is not None}
                if kept:
                    for cid, sha in _CONTENT_SHAS.rows(conn, b_contents=sorted(kept)):
                        if kept[cid].sha256 == sha:
                            found[cid] = kept[cid]
                    more -= found.keys()
            if more:
                found.update(contents_of(conn, sorted(more)))
            return metas, found

        return await self._ro_small(read)

    async def save_dates(self, folder_id: int, uids: Sequence[int]) -> dict[int, datetime]:
        """UID -> when the message was saved in this folder (RFC 8514 SAVEDATE: by
        delivery, APPEND, COPY or MOVE), in UTC, for those of these UIDs that exist."""
        wanted = sorted(set(uids))

        def read(conn: Connection) -> dict[int, datetime]:
            out: dict[int, datetime] = {}
            for chunk in chunks(wanted):
                for uid, when in conn.execute(select(messages.c.uid, _SAVED.label("saved")).where(
                        and_(messages.c.folder_id == folder_id, messages.c.uid.in_(chunk)))):
                    if isinstance(when, str):  # SQLite gives COALESCE's value as text
                        when = datetime.fromisoformat(when)
                    out[int(uid)] = aware(when) or when
            return out

        if not wanted:
            return {}
        return await self._ro(read)

    async def search_saved(self, folder_id: int, *, since: datetime | None = None,
                           before: datetime | None = None) -> list[int]:
        """UIDs of the messages saved in the folder ``since <= saved < before`` (aware
        datetimes, each when given), in UID order: SEARCH SAVEDSINCE, SAVEDON,
        SAVEDBEFORE (RFC 8514 section 4)."""
        condition = messages.c.folder_id == folder_id
        if since is not None:
            condition = and_(condition, since.astimezone(UTC) <= _SAVED)
        if before is not None:
            condition = and_(condition, before.astimezone(UTC) > _SAVED)
        query = select(messages.c.uid).where(condition).order_by(messages.c.uid)

        def read(conn: Connection) -> list[int]:
            return [int(u) for u in conn.execute(query).scalars()]

        return await self._ro(read)

    async def changes_since(self, folder_id: int, modseq: int) -> tuple[list[MessageMeta], list[int], int]:
        """Messages changed or added after ``modseq``, UIDs expunged after it, and the
        folder's highest modseq (RFC 7162). A few changes (at most ``_SMALL_READ`` rows
        of each kind) are read on the event loop (``_ro_small``), more on a reader
        thread; either way the hub's log is filled from the answer (``ChangeHub.fill``)."""
        Changes = tuple[list[MessageMeta], list[tuple[int, int]], int]

        def highest_of(conn: Connection) -> int:
            state = FOLDER_HIGHEST.first(conn, b_folder=folder_id)
            if state is None:
                raise NotFound(f"folder {folder_id}")
            return int(state[0])

        def few(conn: Connection) -> Changes | None:
            highest = highest_of(conn)
            if highest <= modseq:  # nothing changed: skip the two range scans
                return [], [], highest
            if highest - modseq > _SMALL_READ:
                return None  # more commits than a small read takes rows: not worth a try
            rows = CHANGED_FEW.rows(conn, b_folder=folder_id, b_modseq=modseq, b_limit=_SMALL_READ + 1, b_offset=0)
            if len(rows) > _SMALL_READ:
                return None
            gone = _VANISHED_FEW.rows(conn, b_folder=folder_id, b_modseq=modseq, b_limit=_SMALL_READ + 1, b_offset=0)
            if len(gone) > _SMALL_READ:
                return None
            changed = sorted(metas_from_driver(rows), key=lambda meta: meta.uid)
            return changed, sorted((int(uid), int(at)) for uid, at in gone), highest

        def read(conn: Connection) -> Changes:
            highest = highest_of(conn)
            if highest <= modseq:
                return [], [], highest
            changed = metas_from_driver(CHANGED.rows(conn, b_folder=folder_id, b_modseq=modseq))
            gone = [(int(uid), int(at)) for uid, at in VANISHED_SINCE.rows(conn, b_folder=folder_id, b_modseq=modseq)]
            return changed, gone, highest

        found = await self._ro_small(few)
        changed, gone, highest = found if found is not None else await self._ro(read)
        # What was read is the folder's changes up to ``highest`` from one snapshot: the
        # hub's log takes it where it has holes (changes of another process or node
        # whose entry has not come), so the other sessions of this process that are
        # behind read nothing (``ChangeHub.fill``).
        self.hub.fill(folder_id, modseq, changed, gone, highest)
        return changed, [uid for uid, _at in gone], highest

    # -- search -------------------------------------------------------------------------

    async def search_text(self, folder_id: int, folded_terms: Sequence[str], *, body_only: bool = False) -> list[int]:
        """UIDs whose folded text (with ``body_only``, its body section) contains every
        term (see congthu.text.fold), in UID order, through the trigram index
        (``congthu.store.search``); the contents whose stored text was cut and does not
        decide are checked against their whole text (``search.check_cut``)."""
        def read(conn: Connection) -> tuple[list[int], list[Any]]:
            query = search.text_query(self.db.is_sqlite, folder_id, folded_terms,
                                      candidates=self._text_candidates(conn, folder_id, folded_terms),
                                      body_only=body_only)
            return ([r[0] for r in driver_rows(conn, query)],
                    list(search.CUT_ROWS[self.db.is_sqlite].rows(conn, b_folder=folder_id)))

        hits, cut = await self._ro(read)
        return await search.check_cut(self.blobs, hits, cut, folded_terms, body_only=body_only)

    async def search_field(self, folder_id: int, field: str, folded_terms: Sequence[str]) -> list[int]:
        """UIDs whose folded header ``field`` ("subject", "from", "to" or "cc": the decoded
        subject, or the display names and addresses of the address field) contains every
        term (see congthu.text.fold), in UID order; checked in SQL on the field's folded
        column, the trigram index narrowing the rows (``congthu.store.search``)."""
        if field not in search.FIELDS:
            raise ValueError(f"not a searchable field: {field!r}")

        def read(conn: Connection) -> list[int]:
            query = search.field_query(self.db.is_sqlite, folder_id, field, folded_terms,
                                       candidates=self._text_candidates(conn, folder_id, folded_terms))
            return [r[0] for r in driver_rows(conn, query)]

        return await self._ro(read)

    def _text_candidates(self, conn: Connection, folder_id: int, folded_terms: Sequence[str]) -> list[int] | None:
        """SQLite: the ids of the contents the trigram index finds for the terms, or None
        to walk the folder instead: when no term is long enough for a trigram, or when the
        index finds more contents than half the messages the folder has ever held
        (walking it is then cheaper).
        PostgreSQL's planner makes that choice itself (None)."""
        grams = search.trigrams(folded_terms)
        if not self.db.is_sqlite or not grams:
            return None
        # Looking a candidate up costs about twice what walking past a message does.
        cap = int(conn.execute(search.folder_bound(folder_id)).scalar() or 0) // 2
        found = [r[0] for r in driver_rows(conn, search.candidates(search.fts_match(grams), cap + 1))]
        return found if len(found) <= cap else None

    async def search_metadata(self, folder_id: int, *, larger: int | None = None, smaller: int | None = None,
                              since: datetime | None = None, before: datetime | None = None) -> list[int]:
        """UIDs of the folder's messages by size and arrival time (IMAP SEARCH LARGER,
        SMALLER, SINCE, BEFORE, ON), in UID order: ``size > larger``, ``size < smaller``,
        ``since <= internal_date < before`` (aware datetimes), each when given."""
        def utc(value: datetime | None) -> datetime | None:
            # SQLite keeps the UTC wall time without a zone: compare in UTC.
            return value.astimezone(UTC) if value is not None else None

        query = search.metadata_query(folder_id, larger=larger, smaller=smaller, since=utc(since), before=utc(before))

        def read(conn: Connection) -> list[int]:
            return list(conn.execute(query).scalars())

        return await self._ro(read)
