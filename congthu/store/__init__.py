"""The mail store: mailboxes, folders, messages, UIDs, flags, quotas and the change feed.

Metadata lives in SQL (``congthu.db``), bytes in the content-addressed blob store
(``blobs.py``). Every protocol (SMTP delivery, IMAP, POP3, the webmail) goes through
``MailStore``; none touches the tables directly, so the rules here (quotas, UID and
MODSEQ allocation, durability) hold on every path.

Durability: ``deliver`` and ``append`` write and fsync the blobs first, then commit the
metadata in one transaction (SQLite synchronous=FULL, PostgreSQL's commit). A crash before
the commit leaves only unreferenced blobs, which garbage collection removes; a message is
visible exactly when its commit is done, and that is when delivery is reported done.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Integer, and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from congthu import mime
from congthu.db import Database, DatabaseUnavailable
from congthu.store import flags as flagbits
from congthu.store.blobs import BlobStore, StorageFull
from congthu.store.changes import ChangeHub
from congthu.store.tables import contents, expunged, folders, mailboxes, messages
from congthu.text import nfc

__all__ = [
    "AlreadyExists", "ChangeHub", "Content", "DeliveryResult", "Folder", "FolderStatus",
    "MailStore", "Mailbox", "MessageMeta", "NotFound", "QuotaExceeded", "StorageFull",
    "SPECIAL_FOLDERS", "StoreError", "utcnow",
]

# Every mailbox is created with these folders (RFC 6154 special-use attributes).
SPECIAL_FOLDERS: list[tuple[str, str | None]] = [
    ("INBOX", None),
    ("Drafts", "\\Drafts"),
    ("Sent", "\\Sent"),
    ("Trash", "\\Trash"),
    ("Junk", "\\Junk"),
    ("Archive", "\\Archive"),
]

DELIMITER = "/"


def utcnow() -> datetime:
    return datetime.now(UTC)


class StoreError(Exception):
    """Base of the store's errors; the text is shown to the user."""


class NotFound(StoreError):
    pass


class AlreadyExists(StoreError):
    pass


class QuotaExceeded(StoreError):
    """The mailbox cannot take the message. ``permanent``: it could never fit (Điều 8.1)."""

    def __init__(self, address: str, used: int, limit: int, size: int) -> None:
        self.address, self.used, self.limit, self.size = address, used, limit, size
        self.permanent = size > limit
        super().__init__(
            f"Hộp thư {address} đã đầy / mailbox full ({used} + {size} > {limit} bytes)"
        )


@dataclass(frozen=True)
class Mailbox:
    id: int
    address: str
    display_name: str
    kind: str
    quota_bytes: int
    used_bytes: int
    status: str
    created_at: datetime
    last_access_at: datetime | None


@dataclass(frozen=True)
class Folder:
    id: int
    mailbox_id: int
    name: str
    special_use: str | None
    uidvalidity: int
    uidnext: int
    highestmodseq: int
    subscribed: bool


@dataclass(frozen=True)
class FolderStatus:
    messages: int
    unseen: int
    uidnext: int
    uidvalidity: int
    highestmodseq: int
    size: int
    deleted: int


@dataclass(frozen=True)
class MessageMeta:
    uid: int
    flags: int
    keywords: tuple[str, ...]
    size: int
    internal_date: datetime
    modseq: int
    content_id: int

    @property
    def flag_names(self) -> list[str]:
        return flagbits.to_names(self.flags) + list(self.keywords)


@dataclass(frozen=True)
class Content:
    id: int
    sha256: str
    size: int
    segments: list[tuple[str, int]]
    structure: dict[str, Any]
    subject: str
    from_addr: str
    to_addr: str
    cc_addr: str
    sent_date: datetime | None
    message_id: str


@dataclass(frozen=True)
class DeliveryResult:
    mailbox_id: int
    uid: int | None = None
    error: StoreError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _aware(value: datetime | None) -> datetime | None:
    # SQLite gives naive datetimes back; everything in the store is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _mailbox(row: Any) -> Mailbox:
    return Mailbox(
        id=row.id, address=row.address, display_name=row.display_name, kind=row.kind,
        quota_bytes=row.quota_bytes, used_bytes=row.used_bytes, status=row.status,
        created_at=_aware(row.created_at) or utcnow(), last_access_at=_aware(row.last_access_at),
    )


def _folder(row: Any) -> Folder:
    return Folder(
        id=row.id, mailbox_id=row.mailbox_id, name=row.name, special_use=row.special_use,
        uidvalidity=row.uidvalidity, uidnext=row.uidnext, highestmodseq=row.highestmodseq,
        subscribed=row.subscribed,
    )


def _meta(row: Any) -> MessageMeta:
    return MessageMeta(
        uid=row.uid, flags=row.flags,
        keywords=tuple(row.keywords.split()) if row.keywords else (),
        size=row.size, internal_date=_aware(row.internal_date) or utcnow(),
        modseq=row.modseq, content_id=row.content_id,
    )


_META_COLUMNS = (
    messages.c.uid, messages.c.flags, messages.c.keywords, messages.c.size,
    messages.c.internal_date, messages.c.modseq, messages.c.content_id,
)


def normalise_address(address: str) -> str:
    return nfc(address.strip()).lower()


def normalise_folder_name(name: str) -> str:
    """NFC, and INBOX in any case is INBOX (RFC 9051 section 5.1)."""
    name = nfc(name).strip(DELIMITER)
    if name.upper() == "INBOX":
        return "INBOX"
    if name.upper().startswith("INBOX" + DELIMITER):
        return "INBOX" + name[5:]
    return name


@dataclass
class _Delivery:
    """A delivery whose blobs are on disk, waiting for the group commit."""

    sha: str
    size: int
    analysis: mime.Analysis
    segments: list[tuple[str, int]]
    mailbox_ids: list[int]
    folder: str
    flags: int
    keywords: str
    when: datetime
    future: asyncio.Future[tuple[list[DeliveryResult], list[tuple[int, int]]]]


def _split(raw: bytes, ranges: Sequence[tuple[int, int]]) -> list[bytes | memoryview]:
    """Cut the message at the given large-body ranges, so those become blobs of their own."""
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


class MailStore:
    def __init__(self, db: Database, blobs: BlobStore, hub: ChangeHub | None = None) -> None:
        self.db = db
        self.blobs = blobs
        self.hub = hub or ChangeHub()
        self._uidvalidity_last = 0
        self._pending: list[_Delivery] = []
        self._committer: asyncio.Task[None] | None = None

    @classmethod
    def open_data_dir(cls, data_dir: Path, db: Database) -> MailStore:
        return cls(db, BlobStore(data_dir / "blobs"))

    # -- transactions -------------------------------------------------------------------

    def _write(self) -> Any:
        return _Guard(self.db.writer.begin())

    def _read(self) -> Any:
        return _Guard(self.db.reader.connect())

    # -- mailboxes ----------------------------------------------------------------------

    async def create_mailbox(
        self, address: str, display_name: str = "", kind: str = "personal",
        quota_bytes: int = 500 * 1024 * 1024,
    ) -> Mailbox:
        """Create a mailbox with the special folders (Inbox, Drafts, Sent, Trash, Junk, Archive)."""
        address = normalise_address(address)
        now = utcnow()
        try:
            async with self._write() as conn:
                result = await conn.execute(
                    insert(mailboxes).values(
                        address=address, display_name=nfc(display_name), kind=kind,
                        quota_bytes=quota_bytes, used_bytes=0, status="active",
                        created_at=now, quota_warned=False,
                    )
                )
                mailbox_id = result.inserted_primary_key[0]
                for name, special in SPECIAL_FOLDERS:
                    await self._insert_folder(conn, mailbox_id, name, special)
        except IntegrityError:
            raise AlreadyExists(f"Địa chỉ đã tồn tại / address already exists: {address}") from None
        mailbox = await self.get_mailbox_by_id(mailbox_id)
        assert mailbox is not None
        return mailbox

    async def _insert_folder(
        self, conn: AsyncConnection, mailbox_id: int, name: str, special: str | None
    ) -> int:
        result = await conn.execute(
            insert(folders).values(
                mailbox_id=mailbox_id, name=name, special_use=special,
                uidvalidity=self._new_uidvalidity(), uidnext=1, highestmodseq=1, subscribed=True,
            )
        )
        return int(result.inserted_primary_key[0])

    def _new_uidvalidity(self) -> int:
        # RFC 9051 section 2.3.1.1: UIDVALIDITY must grow when a name is reused;
        # seconds since the epoch, strictly increasing within this process.
        value = max(int(time.time()), self._uidvalidity_last + 1)
        self._uidvalidity_last = value
        return value

    async def get_mailbox(self, address: str) -> Mailbox | None:
        async with self._read() as conn:
            row = (await conn.execute(
                select(mailboxes).where(mailboxes.c.address == normalise_address(address))
            )).first()
        return _mailbox(row) if row else None

    async def get_mailbox_by_id(self, mailbox_id: int) -> Mailbox | None:
        async with self._read() as conn:
            row = (await conn.execute(select(mailboxes).where(mailboxes.c.id == mailbox_id))).first()
        return _mailbox(row) if row else None

    async def list_mailboxes(self) -> list[Mailbox]:
        async with self._read() as conn:
            rows = (await conn.execute(select(mailboxes).order_by(mailboxes.c.address))).all()
        return [_mailbox(r) for r in rows]

    async def update_mailbox(self, mailbox_id: int, **values: Any) -> None:
        """Change address, display_name, kind, quota_bytes or status."""
        allowed = {"address", "display_name", "kind", "quota_bytes", "status"}
        if not set(values) <= allowed:
            raise ValueError(f"cannot update {set(values) - allowed}")
        if "address" in values:
            values["address"] = normalise_address(values["address"])
        try:
            async with self._write() as conn:
                await conn.execute(update(mailboxes).where(mailboxes.c.id == mailbox_id).values(**values))
        except IntegrityError:
            raise AlreadyExists(f"Địa chỉ đã tồn tại / address already exists: {values.get('address')}") from None

    async def touch(self, mailbox_id: int, when: datetime | None = None) -> None:
        """Record an access (a login on any protocol), for the six-month rule (Điều 4.4)."""
        async with self._write() as conn:
            await conn.execute(
                update(mailboxes).where(mailboxes.c.id == mailbox_id)
                .values(last_access_at=when or utcnow())
            )

    async def quota(self, mailbox_id: int) -> tuple[int, int]:
        """(used bytes, limit bytes)."""
        mailbox = await self.get_mailbox_by_id(mailbox_id)
        if mailbox is None:
            raise NotFound(f"mailbox {mailbox_id}")
        return mailbox.used_bytes, mailbox.quota_bytes

    async def set_quota_warned(self, mailbox_id: int, warned: bool) -> bool:
        """Set the warned mark; True if it changed (so a warning is sent once per crossing)."""
        async with self._write() as conn:
            result = await conn.execute(
                update(mailboxes)
                .where(and_(mailboxes.c.id == mailbox_id, mailboxes.c.quota_warned != warned))
                .values(quota_warned=warned)
            )
        return bool(result.rowcount)

    # -- folders ------------------------------------------------------------------------

    async def list_folders(self, mailbox_id: int) -> list[Folder]:
        async with self._read() as conn:
            rows = (await conn.execute(
                select(folders).where(folders.c.mailbox_id == mailbox_id).order_by(folders.c.name)
            )).all()
        return [_folder(r) for r in rows]

    async def get_folder(self, mailbox_id: int, name: str) -> Folder | None:
        async with self._read() as conn:
            row = (await conn.execute(
                select(folders).where(
                    and_(folders.c.mailbox_id == mailbox_id,
                         folders.c.name == normalise_folder_name(name))
                )
            )).first()
        return _folder(row) if row else None

    async def get_folder_by_id(self, folder_id: int) -> Folder | None:
        async with self._read() as conn:
            row = (await conn.execute(select(folders).where(folders.c.id == folder_id))).first()
        return _folder(row) if row else None

    async def create_folder(self, mailbox_id: int, name: str, special_use: str | None = None) -> Folder:
        """Create a folder, and its missing parents (RFC 9051 section 6.3.4)."""
        name = normalise_folder_name(name)
        if not name or any(not part for part in name.split(DELIMITER)):
            raise StoreError(f"Tên thư mục không hợp lệ / invalid folder name: {name!r}")
        parts = name.split(DELIMITER)
        try:
            async with self._write() as conn:
                existing = set((await conn.execute(
                    select(folders.c.name).where(folders.c.mailbox_id == mailbox_id)
                )).scalars())
                if name in existing:
                    raise AlreadyExists(f"Thư mục đã tồn tại / folder exists: {name}")
                for i in range(1, len(parts)):
                    parent = DELIMITER.join(parts[:i])
                    if parent not in existing:
                        await self._insert_folder(conn, mailbox_id, parent, None)
                folder_id = await self._insert_folder(conn, mailbox_id, name, special_use)
        except IntegrityError:
            raise AlreadyExists(f"Thư mục đã tồn tại / folder exists: {name}") from None
        folder = await self.get_folder_by_id(folder_id)
        assert folder is not None
        return folder

    async def delete_folder(self, mailbox_id: int, name: str) -> None:
        """Delete a folder and its messages (RFC 9051 section 6.3.5); INBOX cannot be deleted."""
        name = normalise_folder_name(name)
        if name == "INBOX":
            raise StoreError("Không thể xóa INBOX / INBOX cannot be deleted")
        async with self._write() as conn:
            row = (await conn.execute(
                select(folders.c.id).where(and_(folders.c.mailbox_id == mailbox_id, folders.c.name == name))
            )).first()
            if row is None:
                raise NotFound(f"Không có thư mục / no such folder: {name}")
            folder_id = row.id
            rows = (await conn.execute(
                select(messages.c.content_id, messages.c.size).where(messages.c.folder_id == folder_id)
            )).all()
            await conn.execute(delete(messages).where(messages.c.folder_id == folder_id))
            await conn.execute(delete(expunged).where(expunged.c.folder_id == folder_id))
            await conn.execute(delete(folders).where(folders.c.id == folder_id))
            await self._release(conn, mailbox_id, rows)
        self.hub.publish_local(folder_id, 0)

    async def rename_folder(self, mailbox_id: int, old: str, new: str) -> None:
        """Rename a folder and its children (RFC 9051 section 6.3.6).

        Renaming INBOX moves its messages to the new folder and leaves INBOX empty.
        """
        old, new = normalise_folder_name(old), normalise_folder_name(new)
        if not new or new == "INBOX":
            raise StoreError(f"Tên thư mục không hợp lệ / invalid folder name: {new!r}")
        if old == "INBOX":
            target = await self.create_folder(mailbox_id, new)
            inbox = await self.get_folder(mailbox_id, "INBOX")
            assert inbox is not None
            uids = [m.uid for m in await self.folder_index(inbox.id)]
            if uids:
                await self.move(inbox.id, uids, target.id)
            return
        async with self._write() as conn:
            names = {r.name: r.id for r in (await conn.execute(
                select(folders.c.name, folders.c.id).where(folders.c.mailbox_id == mailbox_id)
            )).all()}
            if old not in names:
                raise NotFound(f"Không có thư mục / no such folder: {old}")
            if new in names:
                raise AlreadyExists(f"Thư mục đã tồn tại / folder exists: {new}")
            parts = new.split(DELIMITER)
            for i in range(1, len(parts)):
                parent = DELIMITER.join(parts[:i])
                if parent not in names and parent != old:
                    await self._insert_folder(conn, mailbox_id, parent, None)
            for name, folder_id in names.items():
                if name == old or name.startswith(old + DELIMITER):
                    # A renamed folder gets a new UIDVALIDITY (RFC 9051 section 2.3.1.1).
                    await conn.execute(
                        update(folders).where(folders.c.id == folder_id)
                        .values(name=new + name[len(old):], uidvalidity=self._new_uidvalidity())
                    )

    async def set_subscribed(self, mailbox_id: int, name: str, subscribed: bool) -> None:
        async with self._write() as conn:
            result = await conn.execute(
                update(folders).where(and_(folders.c.mailbox_id == mailbox_id,
                                           folders.c.name == normalise_folder_name(name)))
                .values(subscribed=subscribed)
            )
        if not result.rowcount:
            raise NotFound(f"Không có thư mục / no such folder: {name}")

    async def folder_status(self, folder_id: int) -> FolderStatus:
        async with self._read() as conn:
            folder = (await conn.execute(select(folders).where(folders.c.id == folder_id))).first()
            if folder is None:
                raise NotFound(f"folder {folder_id}")
            counts = (await conn.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(messages.c.size), 0),
                    func.coalesce(func.sum((messages.c.flags.op("&")(flagbits.SEEN) == 0).cast(Integer)), 0),
                    func.coalesce(func.sum((messages.c.flags.op("&")(flagbits.DELETED) != 0).cast(Integer)), 0),
                ).where(messages.c.folder_id == folder_id)
            )).one()
        return FolderStatus(
            messages=counts[0], size=int(counts[1]), unseen=int(counts[2]), deleted=int(counts[3]),
            uidnext=folder.uidnext, uidvalidity=folder.uidvalidity, highestmodseq=folder.highestmodseq,
        )

    # -- messages -----------------------------------------------------------------------

    async def _store_content(self, raw: bytes, analysis: mime.Analysis | None) -> tuple[str, mime.Analysis, list[tuple[str, int]]]:
        """Analyse and write the blobs of a message (in a thread: hashing and fsync block)."""

        def work() -> tuple[str, mime.Analysis, list[tuple[str, int]]]:
            result = analysis or mime.analyse(raw)
            segments = [(self.blobs.put(piece), len(piece)) for piece in _split(raw, result.split_ranges)]
            return hashlib.sha256(raw).hexdigest(), result, segments

        return await asyncio.to_thread(work)

    async def _content_row(
        self, conn: AsyncConnection, sha: str, raw_size: int, analysis: mime.Analysis,
        segments: list[tuple[str, int]], references: int,
    ) -> int:
        row = (await conn.execute(select(contents.c.id).where(contents.c.sha256 == sha))).first()
        if row is not None:
            await conn.execute(
                update(contents).where(contents.c.id == row.id)
                .values(refcount=contents.c.refcount + references)
            )
            return int(row.id)
        result = await conn.execute(
            insert(contents).values(
                sha256=sha, size=raw_size, segments=json.dumps(segments),
                structure=analysis.structure_json, subject=analysis.subject,
                from_addr=analysis.from_addr, to_addr=analysis.to_addr, cc_addr=analysis.cc_addr,
                sent_date=analysis.sent_date, message_id=analysis.message_id,
                search_text=analysis.search_text, refcount=references, created_at=utcnow(),
            )
        )
        return int(result.inserted_primary_key[0])

    async def _next_uid_and_modseq(self, conn: AsyncConnection, folder_id: int, count: int = 1) -> tuple[int, int]:
        """Reserve ``count`` UIDs and one modseq in a folder; returns (first uid, modseq)."""
        row = (await conn.execute(
            update(folders).where(folders.c.id == folder_id)
            .values(uidnext=folders.c.uidnext + count, highestmodseq=folders.c.highestmodseq + 1)
            .returning(folders.c.uidnext, folders.c.highestmodseq)
        )).one()
        return row.uidnext - count, row.highestmodseq

    async def _bump_modseq(self, conn: AsyncConnection, folder_id: int) -> int:
        row = (await conn.execute(
            update(folders).where(folders.c.id == folder_id)
            .values(highestmodseq=folders.c.highestmodseq + 1)
            .returning(folders.c.highestmodseq)
        )).one()
        return int(row.highestmodseq)

    async def _charge(self, conn: AsyncConnection, mailbox_id: int, size: int) -> None:
        """Add size to the mailbox's usage, or raise QuotaExceeded (Điều 8.1)."""
        result = await conn.execute(
            update(mailboxes)
            .where(and_(mailboxes.c.id == mailbox_id,
                        mailboxes.c.used_bytes + size <= mailboxes.c.quota_bytes))
            .values(used_bytes=mailboxes.c.used_bytes + size)
        )
        if not result.rowcount:
            row = (await conn.execute(select(mailboxes).where(mailboxes.c.id == mailbox_id))).first()
            if row is None:
                raise NotFound(f"mailbox {mailbox_id}")
            raise QuotaExceeded(row.address, row.used_bytes, row.quota_bytes, size)

    async def _release(self, conn: AsyncConnection, mailbox_id: int, rows: Iterable[Any]) -> None:
        """Give back the quota and content references of removed messages."""
        total = 0
        per_content: dict[int, int] = {}
        for row in rows:
            total += row.size
            per_content[row.content_id] = per_content.get(row.content_id, 0) + 1
        if total:
            await conn.execute(
                update(mailboxes).where(mailboxes.c.id == mailbox_id)
                .values(used_bytes=func.max(mailboxes.c.used_bytes - total, 0)
                        if self.db.is_sqlite else func.greatest(mailboxes.c.used_bytes - total, 0))
            )
        for content_id, count in per_content.items():
            await conn.execute(
                update(contents).where(contents.c.id == content_id)
                .values(refcount=contents.c.refcount - count)
            )

    async def deliver(
        self, raw: bytes, mailbox_ids: Sequence[int], *, folder: str = "INBOX",
        flags: int = 0, keywords: Sequence[str] = (), internal_date: datetime | None = None,
        analysis: mime.Analysis | None = None,
    ) -> list[DeliveryResult]:
        """Deliver one message to several mailboxes' ``folder`` (INBOX by default).

        The bytes are stored once. Each recipient succeeds or fails on its own (quota,
        missing mailbox); the call returns when the successful ones are durable.
        """
        sha, analysis, segments = await self._store_content(raw, analysis)
        job = _Delivery(
            sha=sha, size=len(raw), analysis=analysis, segments=segments,
            mailbox_ids=list(mailbox_ids), folder=normalise_folder_name(folder), flags=flags,
            keywords=" ".join(keywords), when=internal_date or utcnow(),
            future=asyncio.get_running_loop().create_future(),
        )
        self._pending.append(job)
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_deliveries())
        results, notify = await job.future
        for folder_id, modseq in notify:
            await self.hub.publish(folder_id, modseq)
        return results

    async def _commit_deliveries(self) -> None:
        """Group commit: the deliveries waiting now share one transaction and one fsync.

        Concurrent SMTP sessions each wait for durability; committing them together
        turns N fsyncs into one (BASELINES.md). If the shared transaction fails, each
        delivery is tried alone so that each gets its own answer.
        """
        while self._pending:
            batch, self._pending = self._pending[:200], self._pending[200:]
            try:
                async with self._write() as conn:
                    outcomes = [await self._deliver_in(conn, job) for job in batch]
            except Exception:
                for job in batch:
                    try:
                        async with self._write() as conn:
                            outcome = await self._deliver_in(conn, job)
                    except Exception as exc:
                        if not job.future.done():
                            job.future.set_exception(exc)
                    else:
                        if not job.future.done():
                            job.future.set_result(outcome)
                continue
            for job, outcome in zip(batch, outcomes, strict=True):
                if not job.future.done():
                    job.future.set_result(outcome)

    async def _deliver_in(
        self, conn: AsyncConnection, job: _Delivery
    ) -> tuple[list[DeliveryResult], list[tuple[int, int]]]:
        results: list[DeliveryResult] = []
        notify: list[tuple[int, int]] = []
        accepted: list[tuple[int, int]] = []  # (mailbox_id, folder_id)
        for mailbox_id in job.mailbox_ids:
            folder_row = (await conn.execute(
                select(folders.c.id).where(and_(folders.c.mailbox_id == mailbox_id,
                                                folders.c.name == job.folder))
            )).first()
            if folder_row is None:
                results.append(DeliveryResult(
                    mailbox_id, error=NotFound(f"no folder {job.folder} in mailbox {mailbox_id}")))
                continue
            try:
                await self._charge(conn, mailbox_id, job.size)
            except StoreError as exc:
                results.append(DeliveryResult(mailbox_id, error=exc))
                continue
            accepted.append((mailbox_id, folder_row.id))
        if accepted:
            content_id = await self._content_row(
                conn, job.sha, job.size, job.analysis, job.segments, len(accepted))
            for mailbox_id, folder_id in accepted:
                uid, modseq = await self._next_uid_and_modseq(conn, folder_id)
                await conn.execute(insert(messages).values(
                    folder_id=folder_id, uid=uid, content_id=content_id, flags=job.flags,
                    keywords=job.keywords, internal_date=job.when, size=job.size, modseq=modseq,
                ))
                results.append(DeliveryResult(mailbox_id, uid=uid))
                notify.append((folder_id, modseq))
        return results, notify

    async def append(
        self, folder_id: int, raw: bytes, *, flags: int = 0, keywords: Sequence[str] = (),
        internal_date: datetime | None = None,
    ) -> int:
        """Add a message to a folder (IMAP APPEND, saving to Sent); returns its UID."""
        folder = await self.get_folder_by_id(folder_id)
        if folder is None:
            raise NotFound(f"folder {folder_id}")
        sha, analysis, segments = await self._store_content(raw, None)
        async with self._write() as conn:
            await self._charge(conn, folder.mailbox_id, len(raw))
            content_id = await self._content_row(conn, sha, len(raw), analysis, segments, 1)
            uid, modseq = await self._next_uid_and_modseq(conn, folder_id)
            await conn.execute(insert(messages).values(
                folder_id=folder_id, uid=uid, content_id=content_id, flags=flags,
                keywords=" ".join(keywords), internal_date=internal_date or utcnow(),
                size=len(raw), modseq=modseq,
            ))
        await self.hub.publish(folder_id, modseq)
        return uid

    async def folder_index(self, folder_id: int) -> list[MessageMeta]:
        """Every message of a folder in UID order: what a SELECT needs."""
        async with self._read() as conn:
            rows = (await conn.execute(
                select(*_META_COLUMNS).where(messages.c.folder_id == folder_id).order_by(messages.c.uid)
            )).all()
        return [_meta(r) for r in rows]

    async def get_messages(self, folder_id: int, uids: Sequence[int]) -> list[MessageMeta]:
        """The messages of a folder with these UIDs (those that still exist), in UID order:
        what an IMAP FETCH of a few messages needs without loading the folder."""
        if not uids:
            return []
        found: list[MessageMeta] = []
        wanted = sorted(set(uids))
        async with self._read() as conn:
            for i in range(0, len(wanted), 500):  # bounded IN lists
                rows = (await conn.execute(
                    select(*_META_COLUMNS).where(and_(messages.c.folder_id == folder_id,
                                                      messages.c.uid.in_(wanted[i:i + 500])))
                    .order_by(messages.c.uid)
                )).all()
                found.extend(_meta(r) for r in rows)
        return found

    async def get_contents(self, content_ids: Sequence[int]) -> dict[int, Content]:
        """Several contents at once (IMAP SEARCH and SORT on header fields)."""
        out: dict[int, Content] = {}
        wanted = sorted(set(content_ids))
        async with self._read() as conn:
            for i in range(0, len(wanted), 500):
                rows = (await conn.execute(
                    select(contents).where(contents.c.id.in_(wanted[i:i + 500]))
                )).all()
                for row in rows:
                    out[row.id] = Content(
                        id=row.id, sha256=row.sha256, size=row.size,
                        segments=[(d, n) for d, n in json.loads(row.segments)],
                        structure=json.loads(row.structure), subject=row.subject,
                        from_addr=row.from_addr, to_addr=row.to_addr, cc_addr=row.cc_addr,
                        sent_date=_aware(row.sent_date), message_id=row.message_id,
                    )
        return out

    async def changes_since(self, folder_id: int, modseq: int) -> tuple[list[MessageMeta], list[int], int]:
        """Messages changed or added after ``modseq``, UIDs expunged after it, and the
        folder's highest modseq (RFC 7162)."""
        async with self._read() as conn:
            highest = (await conn.execute(
                select(folders.c.highestmodseq).where(folders.c.id == folder_id)
            )).scalar()
            if highest is None:
                raise NotFound(f"folder {folder_id}")
            changed = (await conn.execute(
                select(*_META_COLUMNS)
                .where(and_(messages.c.folder_id == folder_id, messages.c.modseq > modseq))
                .order_by(messages.c.uid)
            )).all()
            gone = (await conn.execute(
                select(expunged.c.uid)
                .where(and_(expunged.c.folder_id == folder_id, expunged.c.modseq > modseq))
                .order_by(expunged.c.uid)
            )).scalars().all()
        return [_meta(r) for r in changed], list(gone), int(highest)

    async def store_flags(
        self, folder_id: int, uids: Sequence[int], mode: str, flags: int,
        keywords: Sequence[str] = (), unchanged_since: int | None = None,
    ) -> tuple[list[MessageMeta], list[int]]:
        """Change flags (IMAP STORE). ``mode``: "set", "add" or "remove".

        Returns the messages whose flags changed (with their new modseq) and, with
        ``unchanged_since`` (RFC 7162 section 3.1.3), the UIDs refused because they were
        modified after it.
        """
        if mode not in ("set", "add", "remove"):
            raise ValueError(mode)
        changed: list[MessageMeta] = []
        refused: list[int] = []
        async with self._write() as conn:
            rows = (await conn.execute(
                select(*_META_COLUMNS).where(and_(messages.c.folder_id == folder_id,
                                                  messages.c.uid.in_(list(uids))))
            )).all() if uids else []
            updates: list[tuple[int, int, str]] = []
            for row in rows:
                if unchanged_since is not None and row.modseq > unchanged_since:
                    refused.append(row.uid)
                    continue
                old_kw = row.keywords.split() if row.keywords else []
                if mode == "set":
                    new_flags, new_kw = flags, list(dict.fromkeys(keywords))
                elif mode == "add":
                    new_flags = row.flags | flags
                    new_kw = old_kw + [k for k in keywords if k not in old_kw]
                else:
                    new_flags = row.flags & ~flags
                    new_kw = [k for k in old_kw if k not in keywords]
                if new_flags != row.flags or new_kw != old_kw:
                    updates.append((row.uid, new_flags, " ".join(new_kw)))
            if updates:
                modseq = await self._bump_modseq(conn, folder_id)
                for uid, new_flags, new_kw in updates:
                    await conn.execute(
                        update(messages).where(and_(messages.c.folder_id == folder_id, messages.c.uid == uid))
                        .values(flags=new_flags, keywords=new_kw, modseq=modseq)
                    )
                by_uid = {r.uid: r for r in rows}
                for uid, new_flags, new_kw in updates:
                    old = _meta(by_uid[uid])
                    changed.append(MessageMeta(
                        uid=uid, flags=new_flags, keywords=tuple(new_kw.split()), size=old.size,
                        internal_date=old.internal_date, modseq=modseq, content_id=old.content_id,
                    ))
        if changed:
            await self.hub.publish(folder_id, changed[0].modseq)
        return changed, refused

    async def expunge(self, folder_id: int, uids: Sequence[int] | None = None) -> list[int]:
        """Remove messages marked \\Deleted (only those in ``uids`` if given: UID EXPUNGE)."""
        async with self._write() as conn:
            condition = and_(messages.c.folder_id == folder_id,
                             messages.c.flags.op("&")(flagbits.DELETED) != 0)
            if uids is not None:
                condition = and_(condition, messages.c.uid.in_(list(uids)))
            removed, modseq = await self._remove(conn, folder_id, condition)
        if removed:
            await self.hub.publish(folder_id, modseq)
        return removed

    async def _remove(self, conn: AsyncConnection, folder_id: int, condition: Any) -> tuple[list[int], int]:
        """Delete the matching messages, record them as expunged; (UIDs, modseq)."""
        rows = (await conn.execute(
            select(messages.c.uid, messages.c.size, messages.c.content_id).where(condition)
            .order_by(messages.c.uid)
        )).all()
        if not rows:
            return [], 0
        modseq = await self._bump_modseq(conn, folder_id)
        uids = [r.uid for r in rows]
        await conn.execute(delete(messages).where(condition))
        await conn.execute(insert(expunged), [
            {"folder_id": folder_id, "uid": uid, "modseq": modseq} for uid in uids
        ])
        mailbox_id = (await conn.execute(
            select(folders.c.mailbox_id).where(folders.c.id == folder_id)
        )).scalar_one()
        await self._release(conn, mailbox_id, rows)
        return uids, modseq

    async def copy(self, src_folder_id: int, uids: Sequence[int], dst_folder_id: int) -> list[tuple[int, int]]:
        """Copy messages (RFC 9051 section 6.4.7); returns (source UID, new UID) pairs
        for COPYUID (RFC 4315). The content is shared, the quota is charged in full."""
        return await self._copy(src_folder_id, uids, dst_folder_id, move=False)

    async def move(self, src_folder_id: int, uids: Sequence[int], dst_folder_id: int) -> list[tuple[int, int]]:
        """Move messages (RFC 6851): copy, then expunge from the source, atomically."""
        return await self._copy(src_folder_id, uids, dst_folder_id, move=True)

    async def _copy(self, src: int, uids: Sequence[int], dst: int, *, move: bool) -> list[tuple[int, int]]:
        pairs: list[tuple[int, int]] = []
        async with self._write() as conn:
            rows = (await conn.execute(
                select(messages).where(and_(messages.c.folder_id == src, messages.c.uid.in_(list(uids))))
                .order_by(messages.c.uid)
            )).all() if uids else []
            if not rows:
                return []
            src_mailbox, dst_mailbox = [
                (await conn.execute(select(folders.c.mailbox_id).where(folders.c.id == f))).scalar_one()
                for f in (src, dst)
            ]
            total = sum(r.size for r in rows)
            if not (move and src_mailbox == dst_mailbox):
                await self._charge(conn, dst_mailbox, total)
            first_uid, modseq = await self._next_uid_and_modseq(conn, dst, len(rows))
            for offset, row in enumerate(rows):
                new_uid = first_uid + offset
                await conn.execute(insert(messages).values(
                    folder_id=dst, uid=new_uid, content_id=row.content_id, flags=row.flags,
                    keywords=row.keywords, internal_date=row.internal_date, size=row.size, modseq=modseq,
                ))
                await conn.execute(update(contents).where(contents.c.id == row.content_id)
                                   .values(refcount=contents.c.refcount + 1))
                pairs.append((row.uid, new_uid))
            if move:
                condition = and_(messages.c.folder_id == src, messages.c.uid.in_([r.uid for r in rows]))
                if src_mailbox == dst_mailbox:
                    # Same mailbox: the usage does not change; _remove gives it back below.
                    await conn.execute(update(mailboxes).where(mailboxes.c.id == dst_mailbox)
                                       .values(used_bytes=mailboxes.c.used_bytes + total))
                _uids, src_modseq = await self._remove(conn, src, condition)
        await self.hub.publish(dst, modseq)
        if move:
            await self.hub.publish(src, src_modseq)
        return pairs

    async def get_content(self, content_id: int) -> Content:
        async with self._read() as conn:
            row = (await conn.execute(select(contents).where(contents.c.id == content_id))).first()
        if row is None:
            raise NotFound(f"content {content_id}")
        return Content(
            id=row.id, sha256=row.sha256, size=row.size,
            segments=[(d, n) for d, n in json.loads(row.segments)],
            structure=json.loads(row.structure), subject=row.subject, from_addr=row.from_addr,
            to_addr=row.to_addr, cc_addr=row.cc_addr, sent_date=_aware(row.sent_date),
            message_id=row.message_id,
        )

    async def read_message(self, content_id: int) -> bytes:
        """The message's bytes exactly as received (Điều 7.3-7.5: never altered)."""
        content = await self.get_content(content_id)
        return await asyncio.to_thread(self.blobs.read, content.segments)

    async def search_text(self, folder_id: int, folded_terms: Sequence[str]) -> list[int]:
        """UIDs whose folded text contains every term (see congthu.text.fold)."""
        condition = messages.c.folder_id == folder_id
        for term in folded_terms:
            escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            condition = and_(condition, contents.c.search_text.like(f"%{escaped}%", escape="\\"))
        async with self._read() as conn:
            rows = (await conn.execute(
                select(messages.c.uid).join(contents, contents.c.id == messages.c.content_id)
                .where(condition).order_by(messages.c.uid)
            )).scalars().all()
        return list(rows)

    async def referenced_blobs(self) -> set[str]:
        async with self._read() as conn:
            rows = (await conn.execute(select(contents.c.segments).where(contents.c.refcount > 0))).scalars()
            found = {digest for segs in rows for digest, _n in json.loads(segs)}
            # Other packages' columns that hold a blob digest (the SMTP queue) are marked
            # Column(..., info={"blob": True}); their blobs are referenced too.
            from congthu.db import import_all_tables, metadata

            import_all_tables()
            for table in metadata.tables.values():
                for column in table.columns:
                    if column.info.get("blob"):
                        found.update(d for d in (await conn.execute(select(column).distinct())).scalars() if d)
            return found

    async def collect_garbage(self, grace_seconds: float = 3600) -> int:
        """Drop contents no message refers to, then their unreferenced blobs."""
        async with self._write() as conn:
            await conn.execute(delete(contents).where(contents.c.refcount <= 0))
        referenced = await self.referenced_blobs()
        return await asyncio.to_thread(self.blobs.collect_garbage, referenced, grace_seconds)


class _Guard:
    """Turns a database that is locked, gone or unreachable into DatabaseUnavailable."""

    def __init__(self, context: Any) -> None:
        self._context = context

    async def __aenter__(self) -> AsyncConnection:
        try:
            return await self._context.__aenter__()
        except (OperationalError, OSError) as exc:
            raise DatabaseUnavailable(f"Cơ sở dữ liệu không sẵn sàng / database unavailable: {exc}") from exc

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self._context.__aexit__(*exc_info)
        except OperationalError as exc:
            raise DatabaseUnavailable(f"Cơ sở dữ liệu không sẵn sàng / database unavailable: {exc}") from exc
