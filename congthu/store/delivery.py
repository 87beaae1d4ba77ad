"""New messages into folders: ``deliver`` (SMTP, with group commit) and ``append``
(IMAP APPEND, saving to Sent), and what both do first: analyse the message, cut it into
blobs and find or make its content row (``DeliveryMethods``).

Durability: the blobs are written and fsynced first, then the metadata is committed in
one transaction (SQLite synchronous=FULL, PostgreSQL's commit). A crash before the commit
leaves only unreferenced blobs, which garbage collection removes; a message is visible
exactly when its commit is done, and that is when delivery is reported done.

Speed: the deliveries queued in one turn of the event loop make one batch
(``_commit_batch``): their blobs are fsynced together, then their metadata is written
with one statement per kind of row, not per message. On SQLite the batches then share
the group commit of ``Database.run_write`` (one transaction and one fsync for all the
batches queued while the writer was busy, in the order they came); on PostgreSQL each
is a transaction of its own, beside the others. On local disk the writer thread does a
batch's blob fsyncs just before its transaction (``run_write``'s ``before``, as for an
APPEND), not a thread of their own: waking another thread and the loop again cost a
10 KB delivery more CPU than the fsyncs themselves (issue 13).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import ModuleType

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import Executable

from congthu import mime
from congthu.db import Before
from congthu.store import accounting
from congthu.store.base import StaleFolder, StoreBase
from congthu.store.blobs import Staged
from congthu.store.blobs_disk import DiskBlobStore
from congthu.store.listing import sort_keys
from congthu.store.model import (
    DeliveryResult,
    MessageMeta,
    NotFound,
    StoreError,
    normalise_folder_name,
    utcnow,
)
from congthu.store.pending import Delivery, Outcome, StoredMessage
from congthu.store.rows import Compiled
from congthu.store.search import stored_text
from congthu.store.statements import FOLDER_ID, INSERT_MESSAGE_WRITE, RESERVE_CHECKED_WRITE
from congthu.store.tables import contents

# A message up to this size, analysed already, is hashed and written to its temporary
# blob file on the event loop when the blobs are on local disk (some 30 us): a hop to a
# worker thread and back would cost three times that.
INLINE_PREPARE = 32 * 1024

def split_at_bodies(raw: bytes, ranges: Sequence[tuple[int, int]]) -> list[bytes | memoryview]:
    """Cut the message at the given large-body ranges, so those become blobs of their own
    (the journal cuts what it keeps the same way, so an attachment is on disk once)."""
    view = memoryview(raw)
    pieces: list[bytes | memoryview] = []
    pos = 0
    for start, end in ranges:
        if start > pos:
            pieces.append(view[pos:start])
        pieces.append(view[start:end])
        pos = end
    if pos < len(raw) or not pieces:
        pieces.append(view[pos:])
    return pieces


def message_sha(raw: bytes, segments: Sequence[tuple[str, int]]) -> str:
    """The SHA-256 of the whole message: a message kept in one blob (most are: only large
    bodies are cut out) is named by that SHA-256 already (``BlobStore.stage``), so it is
    not hashed twice (for 1 MB, 0.8 ms of CPU here)."""
    if len(segments) == 1 and segments[0][1] == len(raw):
        return segments[0][0]
    return hashlib.sha256(raw).hexdigest()


def _upsert_contents(dialect: ModuleType) -> Executable:
    """INSERT of content rows that, for a SHA-256 stored already, adds the new references
    to that row's count instead; either way it returns each row's id (SQLite 3.35+ and
    PostgreSQL: ``ON CONFLICT ... DO UPDATE ... RETURNING``)."""
    statement = dialect.insert(contents)
    return statement.on_conflict_do_update(
        index_elements=[contents.c.sha256],
        set_={"refcount": contents.c.refcount + statement.excluded.refcount},
    ).returning(contents.c.sha256, contents.c.id)


# One statement per dialect, built once (statements.py says why); on SQLite run straight
# on the driver (``Compiled``), with these columns, every row's keys.
UPSERT_CONTENTS = {"sqlite": _upsert_contents(sqlite), "postgresql": _upsert_contents(postgresql)}
CONTENT_INSERT_COLUMNS = (
    "sha256", "size", "segments", "structure", "subject", "from_addr", "to_addr", "cc_addr", "sent_date",
    "message_id", "search_text", "search_cut", "subject_key", "from_key", "to_key", "cc_key", "preview",
    "refcount", "created_at",
)
UPSERT_CONTENTS_WRITE = {name: Compiled(statement, columns=CONTENT_INSERT_COLUMNS)
                         for name, statement in UPSERT_CONTENTS.items()}


def _content_ids(conn: Connection, wanted: dict[str, tuple[StoredMessage, int]]) -> dict[str, int]:
    """The content row of each message (sha256 -> (message, references) -> id),
    adding the references to its count; rows are made for new contents.

    One statement for all of them (``UPSERT_CONTENTS``) instead of a look-up, an update,
    an insert and a second look-up: after each statement the writer thread waits for
    the interpreter lock, which the busy event loop holds (in the server a simple
    statement took 0.5 ms on the writer thread, against 20-40 us alone), and the
    database is locked for writes all the while."""
    shas = sorted(wanted)  # the rows locked in one order (see ``_deliver_rows``)
    now = utcnow()
    rows = []
    for sha in shas:
        job, references = wanted[sha]
        a = job.analysis
        text, cut = stored_text(a.search_text, a.search_cut)  # the indexed prefix only (store_0012)
        rows.append({
            "sha256": sha, "size": job.size, "segments": json.dumps(job.segments),
            "structure": a.structure_json, "subject": a.subject, "from_addr": a.from_addr,
            "to_addr": a.to_addr, "cc_addr": a.cc_addr, "sent_date": a.sent_date,
            "message_id": a.message_id, "search_text": text, "search_cut": cut,
            "subject_key": a.subject_key, "from_key": a.from_key, "to_key": a.to_key, "cc_key": a.cc_key,
            "preview": a.preview,
            "refcount": references, "created_at": now,
        })
    statement = UPSERT_CONTENTS_WRITE[conn.dialect.name]
    return {sha: cid for sha, cid in statement.insert_returning(conn, rows)}


class DeliveryMethods(StoreBase):
    def _prepare(self, raw: bytes, analysis: mime.Analysis | None) -> tuple[
        str, mime.Analysis, list[tuple[str, int]], list[Staged]
    ]:
        """Analyse a message and stage its blobs (blocking: hashing and writing)."""
        result = analysis or mime.analyse(raw)
        segments: list[tuple[str, int]] = []
        staged: list[Staged] = []
        try:
            for piece in split_at_bodies(raw, result.split_ranges):
                digest, item = self.blobs.stage(piece)
                segments.append((digest, len(piece)))
                if item is not None:
                    staged.append(item)
        except BaseException:
            self.blobs.discard(staged)
            raise
        return message_sha(raw, segments), result, segments, staged

    async def deliver(
        self, raw: bytes, mailbox_ids: Sequence[int], *, folder: str = "INBOX",
        flags: int = 0, keywords: Sequence[str] = (), internal_date: datetime | None = None,
        analysis: mime.Analysis | None = None,
    ) -> list[DeliveryResult]:
        """Deliver one message to several mailboxes' ``folder`` (INBOX by default).

        The bytes are stored once. Each recipient succeeds or fails on its own (quota,
        missing mailbox); the call returns when the successful ones are durable.
        """
        if analysis is not None and len(raw) <= INLINE_PREPARE and isinstance(self.blobs, DiskBlobStore):
            sha, analysed, segments, staged = self._prepare(raw, analysis)
        else:  # S3 asks the object store whether the blob exists: never on the loop
            sha, analysed, segments, staged = await asyncio.to_thread(self._prepare, raw, analysis)
        job = Delivery(
            sha=sha, size=len(raw), analysis=analysed, segments=segments, staged=staged,
            mailbox_ids=list(mailbox_ids), folder=normalise_folder_name(folder), flags=flags,
            keywords=" ".join(keywords), when=_utc(internal_date),
            future=asyncio.get_running_loop().create_future(),
        )
        self._pending.append(job)
        if len(self._pending) == 1:  # the first of this turn of the loop
            asyncio.get_running_loop().call_soon(self._send_batch)
        results, notify = await job.future
        for folder_id, modseq in notify:
            await self.hub.publish(folder_id, modseq)
        return results

    def _send_batch(self) -> None:
        """Commit the deliveries queued in this turn of the event loop as one batch."""
        batch, self._pending = self._pending, []
        task = asyncio.ensure_future(self._commit_batch(batch))
        self._committing.add(task)  # kept until done (the loop keeps weak references)
        task.add_done_callback(self._committing.discard)

    async def _commit_batch(self, batch: list[Delivery]) -> None:
        """Make a batch's blobs durable, commit its metadata and answer its deliveries.
        If the shared transaction fails, each delivery is tried alone, so that each gets
        its own answer; if the flush fails, they all fail with it."""
        staged = [item for job in batch for item in job.staged]
        flushed = not staged

        def flush(items: list[Staged]) -> None:
            nonlocal flushed
            self.blobs.flush(items)
            flushed = True

        before: Before | None = None
        if staged and isinstance(self.blobs, DiskBlobStore) and all(job.size <= INLINE_PREPARE for job in batch):
            before = (flush, staged)
        elif staged:  # large messages' fsyncs (S3: PUTs) would hold up the writer thread
            try:
                await asyncio.to_thread(flush, staged)
            except Exception as exc:
                self._fail(batch, exc)
                return
        try:
            outcomes = await self._deliver_batch(batch, before)
        except Exception as exc:
            if not flushed:  # rows must never refer to blobs that are not durable
                self._fail(batch, exc)
                return
            for job in batch:
                try:
                    [outcome] = await self._deliver_batch([job], None)
                except Exception as alone:
                    if not job.future.done():
                        job.future.set_exception(alone)
                else:
                    if not job.future.done():
                        job.future.set_result(outcome)
            return
        for job, outcome in zip(batch, outcomes, strict=True):
            if not job.future.done():
                job.future.set_result(outcome)

    def _fail(self, batch: list[Delivery], exc: Exception) -> None:
        """Answer a batch whose blobs could not be made durable with the error."""
        self.blobs.discard(item for job in batch for item in job.staged)
        for job in batch:
            if not job.future.done():
                job.future.set_exception(exc)

    async def _deliver_batch(self, batch: list[Delivery], before: Before | None) -> list[Outcome]:
        try:
            return await self._tx(self._deliver_rows, batch, True, before=before)
        except StaleFolder:
            # A folder was renamed or deleted since its id was cached: look them up again
            # (its blobs are durable by now: nothing to flush).
            self._folder_ids.clear()
            return await self._tx(self._deliver_rows, batch, False)

    def _deliver_rows(self, conn: Connection, batch: list[Delivery], cached: bool) -> list[Outcome]:
        """The metadata of a batch of deliveries, in one transaction: quota charged per
        mailbox (per recipient when the mailbox cannot take all of them), one content row
        per message, one UID/MODSEQ reservation per folder, the message rows in one
        statement.

        Rows are locked in one order on PostgreSQL, as every writer of the store does
        (``messages.py``): the mailboxes (quota) in id order across the whole batch, the
        contents in SHA-256 order, the folders in id order. Two batches (of two workers or
        nodes) to the same mailboxes in other orders, or a batch and a MOVE, would
        otherwise each hold a row the other waits for."""
        results: list[list[DeliveryResult]] = [[] for _ in batch]
        notify: list[list[tuple[int, int]]] = [[] for _ in batch]
        candidates: list[tuple[int, int, int, int]] = []  # (job index, position, mailbox id, folder id)
        refused: dict[tuple[int, int], DeliveryResult] = {}  # (job index, position) -> why
        for j, job in enumerate(batch):
            for position, mailbox_id in enumerate(job.mailbox_ids):
                folder_id = self._folder_ids.get((mailbox_id, job.folder)) if cached else None
                if folder_id is None:
                    folder_id = conn.execute(
                        FOLDER_ID, {"b_mailbox": mailbox_id, "b_name": job.folder}).scalar()
                    if folder_id is None:
                        refused[(j, position)] = DeliveryResult(
                            mailbox_id, error=NotFound(f"no folder {job.folder} in mailbox {mailbox_id}"))
                        continue
                    self._folder_ids[(mailbox_id, job.folder)] = folder_id
                candidates.append((j, position, mailbox_id, folder_id))
        # Quota (Điều 8.1): one statement per mailbox for all its deliveries of the batch
        # (the group commit's batch mostly holds several messages to one busy mailbox);
        # only when their sum does not fit is each charged on its own, in the batch's
        # order, so each is refused or taken exactly as it would be alone.
        per_mailbox: dict[int, list[tuple[int, int]]] = {}  # mailbox id -> [(job index, position)]
        for j, position, mailbox_id, _folder in sorted(candidates, key=lambda c: (c[2], c[0], c[1])):
            per_mailbox.setdefault(mailbox_id, []).append((j, position))
        for mailbox_id, taking in per_mailbox.items():
            total = sum(batch[j].size for j, _p in taking)
            if len(taking) > 1 and accounting.try_charge(conn, mailbox_id, total):
                continue
            for j, position in taking:
                try:
                    accounting.charge(conn, mailbox_id, batch[j].size)
                except StoreError as exc:
                    refused[(j, position)] = DeliveryResult(mailbox_id, error=exc)
        for (j, _position), result in sorted(refused.items()):
            results[j].append(result)
        # In the batch's order: the UIDs of one folder follow the order messages came in.
        accepted = [(j, mailbox_id, folder_id) for j, position, mailbox_id, folder_id in candidates
                    if (j, position) not in refused]
        if accepted:
            wanted: dict[str, tuple[StoredMessage, int]] = {}
            per_folder: dict[int, tuple[int, str, int]] = {}  # folder id -> (mailbox, name, count)
            for j, mailbox_id, folder_id in accepted:
                job = batch[j]
                wanted[job.sha] = (wanted[job.sha][0], wanted[job.sha][1] + 1) if job.sha in wanted else (job, 1)
                _m, _n, count = per_folder.get(folder_id, (mailbox_id, job.folder, 0))
                per_folder[folder_id] = (mailbox_id, job.folder, count + 1)
            content_ids = _content_ids(conn, wanted)
            next_uid: dict[int, int] = {}
            modseqs: dict[int, int] = {}
            for folder_id, (mailbox_id, name, count) in sorted(per_folder.items()):
                # The reservation checks that the folder still has this mailbox and name.
                row = RESERVE_CHECKED_WRITE.first(
                    conn, b_folder=folder_id, b_mailbox=mailbox_id, b_name=name, b_count=count)
                if row is None:
                    raise StaleFolder(folder_id)
                next_uid[folder_id] = int(row[0]) - count  # uidnext, highestmodseq
                modseqs[folder_id] = int(row[1])
            rows = []
            saved_at = utcnow()  # RFC 8514 SAVEDATE of every message of the batch
            for j, mailbox_id, folder_id in accepted:
                job = batch[j]
                uid = next_uid[folder_id]
                next_uid[folder_id] = uid + 1
                sort_subject, sort_from = sort_keys(job.analysis.subject, job.analysis.from_key)
                rows.append({
                    "folder_id": folder_id, "uid": uid, "content_id": content_ids[job.sha],
                    "flags": job.flags, "keywords": job.keywords, "internal_date": job.when,
                    "size": job.size, "modseq": modseqs[folder_id], "saved_at": saved_at,
                    "sort_subject": sort_subject, "sort_from": sort_from,
                })
                results[j].append(DeliveryResult(mailbox_id, uid=uid))
                notify[j].append((folder_id, modseqs[folder_id]))
            INSERT_MESSAGE_WRITE.insert_many(conn, rows)
        return list(zip(results, notify, strict=True))

    async def append(
        self, folder_id: int, raw: bytes, *, flags: int = 0, keywords: Sequence[str] = (),
        internal_date: datetime | None = None, also: Callable[[Connection, int], object] | None = None,
    ) -> int:
        """Add a message to a folder (IMAP APPEND, saving to Sent); returns its UID.
        NotFound if the folder does not exist (found in the transaction: no read before).
        ``also(conn, uid)`` runs in the same transaction, after the message is inserted
        (IMAP: the appending session's \\Recent claim, ``recent.claim_in``); it may run
        more than once, as any write function (``Database.run_write``)."""

        def write_blobs() -> tuple[str, mime.Analysis, list[tuple[str, int]]]:
            sha, analysis, segments, staged = self._prepare(raw, None)
            self.blobs.flush(staged)
            return sha, analysis, segments

        before: Before | None = None
        if len(raw) <= INLINE_PREPARE and isinstance(self.blobs, DiskBlobStore):
            # A small message is analysed and staged on the loop, as a delivery's is: on a
            # thread it held the interpreter lock all the same, and only the fsyncs wait.
            # They are done by the writer thread before the transaction, beside those of
            # the other APPENDs of its round (``Database.run_write``'s ``before``).
            sha, analysis, segments, staged = self._prepare(raw, None)
            before = (self.blobs.flush, staged)
        else:  # a large message's fsyncs (S3: its PUTs) would hold up the writer thread
            sha, analysis, segments = await asyncio.to_thread(write_blobs)
        message = StoredMessage(sha=sha, size=len(raw), analysis=analysis, segments=segments)
        keyword_text, when = " ".join(keywords), _utc(internal_date)

        def tx(conn: Connection) -> MessageMeta:
            accounting.charge_folder(conn, folder_id, len(raw))
            content_id = _content_ids(conn, {sha: (message, 1)})[sha]
            uid, modseq = accounting.reserve_uids(conn, folder_id)
            sort_subject, sort_from = sort_keys(analysis.subject, analysis.from_key)
            # Straight on SQLite's driver, as a delivery's rows (statements.py, rows.Compiled).
            INSERT_MESSAGE_WRITE.insert_many(conn, [{
                "folder_id": folder_id, "uid": uid, "content_id": content_id, "flags": flags,
                "keywords": keyword_text, "internal_date": when, "size": len(raw), "modseq": modseq,
                "saved_at": utcnow(),  # RFC 8514 SAVEDATE
                "sort_subject": sort_subject, "sort_from": sort_from,
            }])
            meta = MessageMeta(uid=uid, flags=flags, keywords=tuple(keyword_text.split()), size=len(raw),
                               internal_date=when, modseq=modseq, content_id=content_id)
            self.hub.relay(conn, folder_id, modseq, [meta])  # to the other workers at the commit
            if also is not None:
                also(conn, uid)
            return meta

        try:
            meta = await self._tx(tx, before=before)
        except BaseException:
            if before is not None:  # not flushed (a flushed blob has no temporary file left)
                self.blobs.discard(before[1])
            raise
        await self.hub.publish(folder_id, meta.modseq)
        return meta.uid


def _utc(when: datetime | None) -> datetime:
    """The internal date as stored: in UTC (SQLite keeps only the wall time of a
    datetime, so one in another zone would come back hours off); now if none."""
    if when is None:
        return utcnow()
    return when.astimezone(UTC) if when.tzinfo is not None else when.replace(tzinfo=UTC)
