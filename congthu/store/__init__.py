"""The mail store: mailboxes, folders, messages, UIDs, flags, quotas and the change feed.

Metadata lives in SQL (``congthu.db``), bytes in the content-addressed blob store
(``blobs.py``). Every protocol (SMTP delivery, IMAP, POP3, the webmail) goes through
``MailStore``; none touches the tables directly, so the rules here (quotas, UID and
MODSEQ allocation, durability) hold on every path.

Durability: ``deliver`` and ``append`` write and fsync the blobs first, then commit the
metadata in one transaction (SQLite synchronous=FULL, PostgreSQL's commit). A crash before
the commit leaves only unreferenced blobs, which garbage collection removes; a message is
visible exactly when its commit is done, and that is when delivery is reported done.

Speed: concurrent deliveries are committed together (``_commit_deliveries``): their blobs
are fsynced together, then their metadata is written in one transaction with one
statement per kind of row, not per message. Every method runs its SQL as one function in
one transaction (``Database.run_write`` / ``run_read``): on SQLite that is one hop to a
worker thread per transaction instead of one per statement.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Integer, and_, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from congthu import mime
from congthu.db import Database, DatabaseUnavailable
from congthu.store import flags as flagbits
from congthu.store import search
from congthu.store.blobs import BlobStore, Staged, StorageFull
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

T = TypeVar("T")


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

class _Compiled:
    """A SELECT compiled once per dialect and run through ``exec_driver_sql``: its rows
    come back as the driver gives them, without SQLAlchemy's per-row processing. For the
    queries that return a whole folder (a SELECT of 100,000 messages)."""

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._by_dialect: dict[str, tuple[str, Sequence[str] | None]] = {}

    def rows(self, conn: Connection, **params: Any) -> Sequence[Any]:
        compiled = self._by_dialect.get(conn.dialect.name)
        if compiled is None:
            form = self.statement.compile(dialect=conn.dialect)
            compiled = self._by_dialect[conn.dialect.name] = (str(form), form.positiontup)
        sql, names = compiled
        args: Any = tuple(params[n] for n in names) if names is not None else params
        return conn.exec_driver_sql(sql, args).all()


_fromisoformat = datetime.fromisoformat


def _metas_raw(rows: Iterable[Any]) -> list[MessageMeta]:
    """MessageMeta from driver rows of _META_COLUMNS (SQLite gives dates as text)."""
    out: list[MessageMeta] = []
    append = out.append
    for uid, flags, keywords, size, when, modseq, content_id in rows:
        if when.__class__ is str:
            when = _fromisoformat(when)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        append(MessageMeta(uid, flags, tuple(keywords.split()) if keywords else (), size, when,
                           modseq, content_id))
    return out


# The statements of the busy paths, built once with bound parameters: building a Core
# statement costs several times more than running it (SQLAlchemy then reuses the
# compiled form from its cache). Parameter names start with "b_" so they never clash
# with column names.
_P = bindparam
_FOLDER_ID = select(folders.c.id).where(
    and_(folders.c.mailbox_id == _P("b_mailbox"), folders.c.name == _P("b_name")))
_FOLDER_BY_ID = select(folders).where(folders.c.id == _P("b_folder"))
_FOLDER_BY_NAME = select(folders).where(
    and_(folders.c.mailbox_id == _P("b_mailbox"), folders.c.name == _P("b_name")))
_FOLDER_MAILBOX = select(folders.c.mailbox_id).where(folders.c.id == _P("b_folder"))
_FOLDER_HIGHEST = select(folders.c.highestmodseq).where(folders.c.id == _P("b_folder"))
_CHARGE = (
    update(mailboxes)
    .where(and_(mailboxes.c.id == _P("b_mailbox"),
                mailboxes.c.used_bytes + _P("b_size") <= mailboxes.c.quota_bytes))
    .values(used_bytes=mailboxes.c.used_bytes + _P("b_size"))
)
_MAILBOX_BY_ID = select(mailboxes).where(mailboxes.c.id == _P("b_mailbox"))
_TOUCH = update(mailboxes).where(mailboxes.c.id == _P("b_mailbox")).values(last_access_at=_P("b_when"))
_CONTENT_IDS = select(contents.c.sha256, contents.c.id).where(
    contents.c.sha256.in_(_P("b_shas", expanding=True)))
_CONTENT_BY_ID = select(contents).where(contents.c.id == _P("b_content"))
_CONTENTS_BY_IDS = select(contents).where(contents.c.id.in_(_P("b_contents", expanding=True)))
_ADD_REFS = (update(contents).where(contents.c.id == _P("b_id"))
             .values(refcount=contents.c.refcount + _P("b_n")))
_INSERT_CONTENT = insert(contents)
_INSERT_MESSAGE = insert(messages)
_INSERT_EXPUNGED = insert(expunged)
# Reserve UIDs and a modseq; with the mailbox and name, it also checks a cached folder id.
_RESERVE_CHECKED = (
    update(folders)
    .where(and_(folders.c.id == _P("b_folder"), folders.c.mailbox_id == _P("b_mailbox"),
                folders.c.name == _P("b_name")))
    .values(uidnext=folders.c.uidnext + _P("b_count"), highestmodseq=folders.c.highestmodseq + 1)
    .returning(folders.c.uidnext, folders.c.highestmodseq)
)
_RESERVE = (
    update(folders).where(folders.c.id == _P("b_folder"))
    .values(uidnext=folders.c.uidnext + _P("b_count"), highestmodseq=folders.c.highestmodseq + 1)
    .returning(folders.c.uidnext, folders.c.highestmodseq)
)
_BUMP = (update(folders).where(folders.c.id == _P("b_folder"))
         .values(highestmodseq=folders.c.highestmodseq + 1).returning(folders.c.highestmodseq))
_INDEX = _Compiled(
    select(*_META_COLUMNS).where(messages.c.folder_id == _P("b_folder")).order_by(messages.c.uid))
_FLAGS_INDEX = _Compiled(
    select(messages.c.uid, messages.c.flags, messages.c.keywords, messages.c.modseq)
    .where(messages.c.folder_id == _P("b_folder")).order_by(messages.c.uid))
_METAS_BY_UIDS = (
    select(*_META_COLUMNS)
    .where(and_(messages.c.folder_id == _P("b_folder"), messages.c.uid.in_(_P("b_uids", expanding=True))))
    .order_by(messages.c.uid)
)
_CHANGED = _Compiled(
    select(*_META_COLUMNS)
    .where(and_(messages.c.folder_id == _P("b_folder"), messages.c.modseq > _P("b_modseq")))
    .order_by(messages.c.uid)
)
_VANISHED = (
    select(expunged.c.uid)
    .where(and_(expunged.c.folder_id == _P("b_folder"), expunged.c.modseq > _P("b_modseq")))
    .order_by(expunged.c.uid)
)
_SET_FLAGS = (
    update(messages).where(and_(messages.c.folder_id == _P("b_folder"), messages.c.uid == _P("b_uid")))
    .values(flags=_P("b_flags"), keywords=_P("b_keywords"), modseq=_P("b_modseq"))
)
_STATUS = select(
    func.count(),
    func.coalesce(func.sum(messages.c.size), 0),
    func.coalesce(func.sum((messages.c.flags.op("&")(flagbits.SEEN) == 0).cast(Integer)), 0),
    func.coalesce(func.sum((messages.c.flags.op("&")(flagbits.DELETED) != 0).cast(Integer)), 0),
).where(messages.c.folder_id == _P("b_folder"))


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
class _Message:
    """A message's bytes as stored: what its content row records."""

    sha: str
    size: int
    analysis: mime.Analysis
    segments: list[tuple[str, int]]


@dataclass
class _Delivery(_Message):
    """A delivery whose blobs are staged, waiting for the group commit."""

    staged: list[Staged]  # blobs written but not yet durable (BlobStore.flush)
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


class _StaleFolder(Exception):
    """A cached folder id no longer names that folder (deleted or renamed meanwhile)."""


_BATCH = 500  # deliveries in one group commit, at most


class MailStore:
    def __init__(self, db: Database, blobs: BlobStore, hub: ChangeHub | None = None) -> None:
        self.db = db
        self.blobs = blobs
        self.hub = hub or ChangeHub()
        self._uidvalidity_last = 0
        self._pending: list[_Delivery] = []
        self._committer: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Future[None] | None = None
        # (mailbox id, folder name) -> folder id, for delivery. Checked in the same
        # statement that reserves the UIDs, so a stale entry is never used.
        self._folder_ids: dict[tuple[int, str], int] = {}

    @classmethod
    def open_data_dir(cls, data_dir: Path, db: Database) -> MailStore:
        return cls(db, BlobStore(data_dir / "blobs"))

    # -- transactions -------------------------------------------------------------------
    #
    # Each public method runs its SQL as one synchronous function in one transaction
    # (Database.run_write / run_read): on SQLite the whole function runs in a worker
    # thread on a pysqlite connection, one thread hop per transaction; on PostgreSQL the
    # same Core statements run on asyncpg through run_sync.

    async def _tx(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` in one write transaction."""
        try:
            return await self.db.run_write(fn, *args)
        except (StoreError, StorageFull, _StaleFolder):
            raise
        except (OperationalError, OSError) as exc:
            raise _unavailable(exc) from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise _unavailable(exc) from exc
            raise

    async def _ro(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` in one read transaction (one snapshot)."""
        try:
            return await self.db.run_read(fn, *args)
        except StoreError:
            raise
        except (OperationalError, OSError) as exc:
            raise _unavailable(exc) from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise _unavailable(exc) from exc
            raise

    # -- mailboxes ----------------------------------------------------------------------

    async def create_mailbox(
        self, address: str, display_name: str = "", kind: str = "personal",
        quota_bytes: int = 500 * 1024 * 1024,
    ) -> Mailbox:
        """Create a mailbox with the special folders (Inbox, Drafts, Sent, Trash, Junk, Archive)."""
        address = normalise_address(address)
        now = utcnow()

        def tx(conn: Connection) -> Mailbox:
            result = conn.execute(
                insert(mailboxes).values(
                    address=address, display_name=nfc(display_name), kind=kind,
                    quota_bytes=quota_bytes, used_bytes=0, status="active",
                    created_at=now, quota_warned=False,
                )
            )
            mailbox_id = int(result.inserted_primary_key[0])  # type: ignore[index]
            conn.execute(insert(folders), [
                self._folder_values(mailbox_id, name, special) for name, special in SPECIAL_FOLDERS
            ])
            return _mailbox(conn.execute(_MAILBOX_BY_ID, {"b_mailbox": mailbox_id}).one())

        try:
            return await self._tx(tx)
        except IntegrityError:
            raise AlreadyExists(f"Địa chỉ đã tồn tại / address already exists: {address}") from None

    def _folder_values(self, mailbox_id: int, name: str, special: str | None) -> dict[str, Any]:
        return {"mailbox_id": mailbox_id, "name": name, "special_use": special,
                "uidvalidity": self._new_uidvalidity(), "uidnext": 1, "highestmodseq": 1,
                "subscribed": True}

    def _insert_folder(self, conn: Connection, mailbox_id: int, name: str, special: str | None) -> int:
        result = conn.execute(insert(folders).values(**self._folder_values(mailbox_id, name, special)))
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def _new_uidvalidity(self) -> int:
        # RFC 9051 section 2.3.1.1: UIDVALIDITY must grow when a name is reused;
        # seconds since the epoch, strictly increasing within this process.
        value = max(int(time.time()), self._uidvalidity_last + 1)
        self._uidvalidity_last = value
        return value

    async def get_mailbox(self, address: str) -> Mailbox | None:
        address = normalise_address(address)

        def read(conn: Connection) -> Mailbox | None:
            row = conn.execute(select(mailboxes).where(mailboxes.c.address == address)).first()
            return _mailbox(row) if row else None

        return await self._ro(read)

    async def get_mailbox_by_id(self, mailbox_id: int) -> Mailbox | None:
        def read(conn: Connection) -> Mailbox | None:
            row = conn.execute(_MAILBOX_BY_ID, {"b_mailbox": mailbox_id}).first()
            return _mailbox(row) if row else None

        return await self._ro(read)

    async def list_mailboxes(self) -> list[Mailbox]:
        def read(conn: Connection) -> list[Mailbox]:
            return [_mailbox(r) for r in conn.execute(select(mailboxes).order_by(mailboxes.c.address))]

        return await self._ro(read)

    async def update_mailbox(self, mailbox_id: int, **values: Any) -> None:
        """Change address, display_name, kind, quota_bytes or status."""
        allowed = {"address", "display_name", "kind", "quota_bytes", "status"}
        if not set(values) <= allowed:
            raise ValueError(f"cannot update {set(values) - allowed}")
        if "address" in values:
            values["address"] = normalise_address(values["address"])

        def tx(conn: Connection) -> None:
            conn.execute(update(mailboxes).where(mailboxes.c.id == mailbox_id).values(**values))

        try:
            await self._tx(tx)
        except IntegrityError:
            raise AlreadyExists(f"Địa chỉ đã tồn tại / address already exists: {values.get('address')}") from None

    async def touch(self, mailbox_id: int, when: datetime | None = None) -> None:
        """Record an access (a login on any protocol), for the six-month rule (Điều 4.4)."""
        value = when or utcnow()

        def tx(conn: Connection) -> None:
            conn.execute(_TOUCH, {"b_mailbox": mailbox_id, "b_when": value})

        await self._tx(tx)

    async def quota(self, mailbox_id: int) -> tuple[int, int]:
        """(used bytes, limit bytes)."""
        def read(conn: Connection) -> Any:
            return conn.execute(
                select(mailboxes.c.used_bytes, mailboxes.c.quota_bytes).where(mailboxes.c.id == mailbox_id)
            ).first()

        row = await self._ro(read)
        if row is None:
            raise NotFound(f"mailbox {mailbox_id}")
        return int(row.used_bytes), int(row.quota_bytes)

    async def set_quota_warned(self, mailbox_id: int, warned: bool) -> bool:
        """Set the warned mark; True if it changed (so a warning is sent once per crossing)."""
        def tx(conn: Connection) -> bool:
            result = conn.execute(
                update(mailboxes)
                .where(and_(mailboxes.c.id == mailbox_id, mailboxes.c.quota_warned != warned))
                .values(quota_warned=warned)
            )
            return bool(result.rowcount)

        return await self._tx(tx)

    # -- folders ------------------------------------------------------------------------

    async def list_folders(self, mailbox_id: int) -> list[Folder]:
        def read(conn: Connection) -> list[Folder]:
            return [_folder(r) for r in conn.execute(
                select(folders).where(folders.c.mailbox_id == mailbox_id).order_by(folders.c.name)
            )]

        return await self._ro(read)

    async def get_folder(self, mailbox_id: int, name: str) -> Folder | None:
        name = normalise_folder_name(name)

        def read(conn: Connection) -> Folder | None:
            row = conn.execute(_FOLDER_BY_NAME, {"b_mailbox": mailbox_id, "b_name": name}).first()
            return _folder(row) if row else None

        return await self._ro(read)

    async def get_folder_by_id(self, folder_id: int) -> Folder | None:
        def read(conn: Connection) -> Folder | None:
            row = conn.execute(_FOLDER_BY_ID, {"b_folder": folder_id}).first()
            return _folder(row) if row else None

        return await self._ro(read)

    async def create_folder(self, mailbox_id: int, name: str, special_use: str | None = None) -> Folder:
        """Create a folder, and its missing parents (RFC 9051 section 6.3.4)."""
        name = normalise_folder_name(name)
        if not name or any(not part for part in name.split(DELIMITER)):
            raise StoreError(f"Tên thư mục không hợp lệ / invalid folder name: {name!r}")
        parts = name.split(DELIMITER)

        def tx(conn: Connection) -> Folder:
            existing = set(conn.execute(
                select(folders.c.name).where(folders.c.mailbox_id == mailbox_id)
            ).scalars())
            if name in existing:
                raise AlreadyExists(f"Thư mục đã tồn tại / folder exists: {name}")
            for i in range(1, len(parts)):
                parent = DELIMITER.join(parts[:i])
                if parent not in existing:
                    self._insert_folder(conn, mailbox_id, parent, None)
            folder_id = self._insert_folder(conn, mailbox_id, name, special_use)
            return _folder(conn.execute(select(folders).where(folders.c.id == folder_id)).one())

        try:
            return await self._tx(tx)
        except IntegrityError:
            raise AlreadyExists(f"Thư mục đã tồn tại / folder exists: {name}") from None

    async def delete_folder(self, mailbox_id: int, name: str) -> None:
        """Delete a folder and its messages (RFC 9051 section 6.3.5); INBOX cannot be deleted."""
        name = normalise_folder_name(name)
        if name == "INBOX":
            raise StoreError("Không thể xóa INBOX / INBOX cannot be deleted")

        def tx(conn: Connection) -> int:
            row = conn.execute(
                select(folders.c.id).where(and_(folders.c.mailbox_id == mailbox_id, folders.c.name == name))
            ).first()
            if row is None:
                raise NotFound(f"Không có thư mục / no such folder: {name}")
            folder_id = int(row.id)
            rows = conn.execute(
                select(messages.c.content_id, messages.c.size).where(messages.c.folder_id == folder_id)
            ).all()
            conn.execute(delete(messages).where(messages.c.folder_id == folder_id))
            conn.execute(delete(expunged).where(expunged.c.folder_id == folder_id))
            conn.execute(delete(folders).where(folders.c.id == folder_id))
            self._release(conn, mailbox_id, rows)
            self._folder_ids.pop((mailbox_id, name), None)
            return folder_id

        folder_id = await self._tx(tx)
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

        def tx(conn: Connection) -> None:
            names = {r.name: r.id for r in conn.execute(
                select(folders.c.name, folders.c.id).where(folders.c.mailbox_id == mailbox_id)
            )}
            if old not in names:
                raise NotFound(f"Không có thư mục / no such folder: {old}")
            if new in names:
                raise AlreadyExists(f"Thư mục đã tồn tại / folder exists: {new}")
            parts = new.split(DELIMITER)
            for i in range(1, len(parts)):
                parent = DELIMITER.join(parts[:i])
                if parent not in names and parent != old:
                    self._insert_folder(conn, mailbox_id, parent, None)
            for name, folder_id in names.items():
                if name == old or name.startswith(old + DELIMITER):
                    # A renamed folder gets a new UIDVALIDITY (RFC 9051 section 2.3.1.1).
                    conn.execute(
                        update(folders).where(folders.c.id == folder_id)
                        .values(name=new + name[len(old):], uidvalidity=self._new_uidvalidity())
                    )
                    self._folder_ids.pop((mailbox_id, name), None)

        await self._tx(tx)

    async def set_subscribed(self, mailbox_id: int, name: str, subscribed: bool) -> None:
        folder_name = normalise_folder_name(name)

        def tx(conn: Connection) -> int:
            return int(conn.execute(
                update(folders).where(and_(folders.c.mailbox_id == mailbox_id, folders.c.name == folder_name))
                .values(subscribed=subscribed)
            ).rowcount)

        if not await self._tx(tx):
            raise NotFound(f"Không có thư mục / no such folder: {name}")

    async def folder_status(self, folder_id: int) -> FolderStatus:
        def read(conn: Connection) -> FolderStatus:
            folder = conn.execute(_FOLDER_BY_ID, {"b_folder": folder_id}).first()
            if folder is None:
                raise NotFound(f"folder {folder_id}")
            counts = conn.execute(_STATUS, {"b_folder": folder_id}).one()
            return FolderStatus(
                messages=counts[0], size=int(counts[1]), unseen=int(counts[2]), deleted=int(counts[3]),
                uidnext=folder.uidnext, uidvalidity=folder.uidvalidity, highestmodseq=folder.highestmodseq,
            )

        return await self._ro(read)

    # -- messages: writing --------------------------------------------------------------

    def _prepare(self, raw: bytes, analysis: mime.Analysis | None) -> tuple[
        str, mime.Analysis, list[tuple[str, int]], list[Staged]
    ]:
        """Analyse a message and stage its blobs (blocking: hashing and writing)."""
        result = analysis or mime.analyse(raw)
        segments: list[tuple[str, int]] = []
        staged: list[Staged] = []
        try:
            for piece in _split(raw, result.split_ranges):
                digest, item = self.blobs.stage(piece)
                segments.append((digest, len(piece)))
                if item is not None:
                    staged.append(item)
        except BaseException:
            self.blobs.discard(staged)
            raise
        return hashlib.sha256(raw).hexdigest(), result, segments, staged

    def _content_ids(self, conn: Connection, wanted: dict[str, tuple[_Message, int]]) -> dict[str, int]:
        """The content row of each message (sha256 -> (message, references) -> id),
        adding the references to its count; rows are made for new contents."""
        shas = list(wanted)
        found: dict[str, int] = {sha: cid for sha, cid in conn.execute(_CONTENT_IDS, {"b_shas": shas})}
        if found:
            conn.execute(_ADD_REFS, [{"b_id": found[sha], "b_n": wanted[sha][1]} for sha in shas if sha in found])
        new = [sha for sha in shas if sha not in found]
        if new:
            now = utcnow()
            rows = []
            for sha in new:
                job, references = wanted[sha]
                a = job.analysis
                rows.append({
                    "sha256": sha, "size": job.size, "segments": json.dumps(job.segments),
                    "structure": a.structure_json, "subject": a.subject, "from_addr": a.from_addr,
                    "to_addr": a.to_addr, "cc_addr": a.cc_addr, "sent_date": a.sent_date,
                    "message_id": a.message_id, "search_text": a.search_text,
                    "refcount": references, "created_at": now,
                })
            conn.execute(_INSERT_CONTENT, rows)
            found.update((sha, cid) for sha, cid in conn.execute(_CONTENT_IDS, {"b_shas": new}))
        return found

    @staticmethod
    def _next_uid_and_modseq(conn: Connection, folder_id: int, count: int = 1) -> tuple[int, int]:
        """Reserve ``count`` UIDs and one modseq in a folder; returns (first uid, modseq)."""
        row = conn.execute(_RESERVE, {"b_folder": folder_id, "b_count": count}).first()
        if row is None:
            raise NotFound(f"folder {folder_id}")
        return int(row.uidnext) - count, int(row.highestmodseq)

    @staticmethod
    def _bump_modseq(conn: Connection, folder_id: int) -> int:
        row = conn.execute(_BUMP, {"b_folder": folder_id}).one()
        return int(row.highestmodseq)

    @staticmethod
    def _charge(conn: Connection, mailbox_id: int, size: int) -> None:
        """Add size to the mailbox's usage, or raise QuotaExceeded (Điều 8.1)."""
        result = conn.execute(_CHARGE, {"b_mailbox": mailbox_id, "b_size": size})
        if not result.rowcount:
            row = conn.execute(select(mailboxes).where(mailboxes.c.id == mailbox_id)).first()
            if row is None:
                raise NotFound(f"mailbox {mailbox_id}")
            raise QuotaExceeded(row.address, row.used_bytes, row.quota_bytes, size)

    def _release(self, conn: Connection, mailbox_id: int, rows: Iterable[Any]) -> None:
        """Give back the quota and content references of removed messages."""
        total = 0
        per_content: dict[int, int] = {}
        for row in rows:
            total += row.size
            per_content[row.content_id] = per_content.get(row.content_id, 0) + 1
        if total:
            conn.execute(
                update(mailboxes).where(mailboxes.c.id == mailbox_id)
                .values(used_bytes=func.max(mailboxes.c.used_bytes - total, 0)
                        if self.db.is_sqlite else func.greatest(mailboxes.c.used_bytes - total, 0))
            )
        if per_content:
            conn.execute(_ADD_REFS, [{"b_id": cid, "b_n": -n} for cid, n in per_content.items()])

    async def deliver(
        self, raw: bytes, mailbox_ids: Sequence[int], *, folder: str = "INBOX",
        flags: int = 0, keywords: Sequence[str] = (), internal_date: datetime | None = None,
        analysis: mime.Analysis | None = None,
    ) -> list[DeliveryResult]:
        """Deliver one message to several mailboxes' ``folder`` (INBOX by default).

        The bytes are stored once. Each recipient succeeds or fails on its own (quota,
        missing mailbox); the call returns when the successful ones are durable.
        """
        sha, analysed, segments, staged = await asyncio.to_thread(self._prepare, raw, analysis)
        job = _Delivery(
            sha=sha, size=len(raw), analysis=analysed, segments=segments, staged=staged,
            mailbox_ids=list(mailbox_ids), folder=normalise_folder_name(folder), flags=flags,
            keywords=" ".join(keywords), when=internal_date or utcnow(),
            future=asyncio.get_running_loop().create_future(),
        )
        self._pending.append(job)
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_deliveries())
        elif self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)
        results, notify = await job.future
        for folder_id, modseq in notify:
            await self.hub.publish(folder_id, modseq)
        return results

    async def _commit_deliveries(self) -> None:
        """Group commit: the deliveries waiting now share one blob flush, one transaction
        and one fsync of the database.

        Concurrent SMTP sessions each wait for durability; committing them together
        turns N fsyncs into one (BASELINES.md). A batch's blobs are made durable first,
        then its metadata is committed, and only then are its deliveries answered. The
        two stages overlap: the next batch's blobs are flushed while this batch's
        transaction commits. If a shared transaction fails, each delivery is tried alone
        so that each gets its own answer.
        """
        committing: asyncio.Task[None] | None = None
        while True:
            if not self._pending:
                if committing is None:
                    return
                # Wait for the commit, or for new deliveries whose blobs can be flushed
                # meanwhile (deliver() wakes us).
                self._wakeup = asyncio.get_running_loop().create_future()
                await asyncio.wait([committing, self._wakeup], return_when=asyncio.FIRST_COMPLETED)
                self._wakeup = None
                if committing.done():
                    committing = None
                continue
            batch, self._pending = self._pending[:_BATCH], self._pending[_BATCH:]
            staged = [item for job in batch for item in job.staged]
            if staged:
                try:
                    await asyncio.to_thread(self.blobs.flush, staged)
                except Exception as exc:
                    self.blobs.discard(staged)
                    for job in batch:
                        if not job.future.done():
                            job.future.set_exception(exc)
                    continue
            if committing is not None:
                await committing
            committing = asyncio.create_task(self._commit_batch(batch))

    async def _commit_batch(self, batch: list[_Delivery]) -> None:
        """Commit a batch whose blobs are durable and answer its deliveries."""
        try:
            outcomes = await self._deliver_batch(batch)
        except Exception:
            for job in batch:
                try:
                    [outcome] = await self._deliver_batch([job])
                except Exception as exc:
                    if not job.future.done():
                        job.future.set_exception(exc)
                else:
                    if not job.future.done():
                        job.future.set_result(outcome)
            return
        for job, outcome in zip(batch, outcomes, strict=True):
            if not job.future.done():
                job.future.set_result(outcome)

    async def _deliver_batch(self, batch: list[_Delivery]) -> list[_Outcome]:
        try:
            return await self._tx(self._deliver_rows, batch, True)
        except _StaleFolder:
            # A folder was renamed or deleted since its id was cached: look them up again.
            self._folder_ids.clear()
            return await self._tx(self._deliver_rows, batch, False)

    def _deliver_rows(self, conn: Connection, batch: list[_Delivery], cached: bool) -> list[_Outcome]:
        """The metadata of a batch of deliveries, in one transaction: quota charged per
        recipient in order, one content row per message, one UID/MODSEQ reservation per
        folder, the message rows in one statement."""
        results: list[list[DeliveryResult]] = [[] for _ in batch]
        notify: list[list[tuple[int, int]]] = [[] for _ in batch]
        accepted: list[tuple[int, int, int]] = []  # (job index, mailbox id, folder id)
        for j, job in enumerate(batch):
            for mailbox_id in job.mailbox_ids:
                folder_id = self._folder_ids.get((mailbox_id, job.folder)) if cached else None
                if folder_id is None:
                    folder_id = conn.execute(
                        _FOLDER_ID, {"b_mailbox": mailbox_id, "b_name": job.folder}).scalar()
                    if folder_id is None:
                        results[j].append(DeliveryResult(
                            mailbox_id, error=NotFound(f"no folder {job.folder} in mailbox {mailbox_id}")))
                        continue
                    self._folder_ids[(mailbox_id, job.folder)] = folder_id
                try:
                    self._charge(conn, mailbox_id, job.size)
                except StoreError as exc:
                    results[j].append(DeliveryResult(mailbox_id, error=exc))
                    continue
                accepted.append((j, mailbox_id, folder_id))
        if accepted:
            wanted: dict[str, tuple[_Message, int]] = {}
            per_folder: dict[int, tuple[int, str, int]] = {}  # folder id -> (mailbox, name, count)
            for j, mailbox_id, folder_id in accepted:
                job = batch[j]
                wanted[job.sha] = (wanted[job.sha][0], wanted[job.sha][1] + 1) if job.sha in wanted else (job, 1)
                _m, _n, count = per_folder.get(folder_id, (mailbox_id, job.folder, 0))
                per_folder[folder_id] = (mailbox_id, job.folder, count + 1)
            content_ids = self._content_ids(conn, wanted)
            next_uid: dict[int, int] = {}
            modseqs: dict[int, int] = {}
            for folder_id, (mailbox_id, name, count) in per_folder.items():
                # The reservation checks that the folder still has this mailbox and name.
                row = conn.execute(_RESERVE_CHECKED, {
                    "b_folder": folder_id, "b_mailbox": mailbox_id, "b_name": name, "b_count": count,
                }).first()
                if row is None:
                    raise _StaleFolder(folder_id)
                next_uid[folder_id] = int(row.uidnext) - count
                modseqs[folder_id] = int(row.highestmodseq)
            rows = []
            for j, mailbox_id, folder_id in accepted:
                job = batch[j]
                uid = next_uid[folder_id]
                next_uid[folder_id] = uid + 1
                rows.append({
                    "folder_id": folder_id, "uid": uid, "content_id": content_ids[job.sha],
                    "flags": job.flags, "keywords": job.keywords, "internal_date": job.when,
                    "size": job.size, "modseq": modseqs[folder_id],
                })
                results[j].append(DeliveryResult(mailbox_id, uid=uid))
                notify[j].append((folder_id, modseqs[folder_id]))
            conn.execute(_INSERT_MESSAGE, rows)
        return list(zip(results, notify, strict=True))

    async def append(
        self, folder_id: int, raw: bytes, *, flags: int = 0, keywords: Sequence[str] = (),
        internal_date: datetime | None = None,
    ) -> int:
        """Add a message to a folder (IMAP APPEND, saving to Sent); returns its UID."""
        folder = await self.get_folder_by_id(folder_id)
        if folder is None:
            raise NotFound(f"folder {folder_id}")

        def write_blobs() -> tuple[str, mime.Analysis, list[tuple[str, int]]]:
            sha, analysis, segments, staged = self._prepare(raw, None)
            self.blobs.flush(staged)
            return sha, analysis, segments

        sha, analysis, segments = await asyncio.to_thread(write_blobs)
        message = _Message(sha=sha, size=len(raw), analysis=analysis, segments=segments)
        keyword_text, when = " ".join(keywords), internal_date or utcnow()

        def tx(conn: Connection) -> tuple[int, int]:
            self._charge(conn, folder.mailbox_id, len(raw))
            content_id = self._content_ids(conn, {sha: (message, 1)})[sha]
            uid, modseq = self._next_uid_and_modseq(conn, folder_id)
            conn.execute(insert(messages).values(
                folder_id=folder_id, uid=uid, content_id=content_id, flags=flags,
                keywords=keyword_text, internal_date=when, size=len(raw), modseq=modseq,
            ))
            return uid, modseq

        uid, modseq = await self._tx(tx)
        await self.hub.publish(folder_id, modseq)
        return uid

    # -- messages: reading --------------------------------------------------------------

    async def folder_index(self, folder_id: int) -> list[MessageMeta]:
        """Every message of a folder in UID order: what a SELECT needs."""
        def read(conn: Connection) -> list[MessageMeta]:
            return _metas_raw(_INDEX.rows(conn, b_folder=folder_id))

        return await self._ro(read)

    async def folder_flags(self, folder_id: int) -> list[tuple[int, int, str, int]]:
        """(uid, flags, keywords, modseq) of every message in UID order: what an IMAP
        SELECT keeps in memory, without the cost of dates and sizes."""
        def read(conn: Connection) -> list[tuple[int, int, str, int]]:
            return [(r[0], r[1], r[2], r[3]) for r in _FLAGS_INDEX.rows(conn, b_folder=folder_id)]

        return await self._ro(read)

    async def get_messages(self, folder_id: int, uids: Sequence[int]) -> list[MessageMeta]:
        """The messages of a folder with these UIDs (those that still exist), in UID order:
        what an IMAP FETCH of a few messages needs without loading the folder."""
        if not uids:
            return []
        wanted = sorted(set(uids))

        def read(conn: Connection) -> list[MessageMeta]:
            found: list[MessageMeta] = []
            for chunk in _chunks(wanted):
                found.extend(_metas(conn.execute(_METAS_BY_UIDS, {"b_folder": folder_id, "b_uids": chunk})))
            return found

        return await self._ro(read)

    async def get_contents(self, content_ids: Sequence[int]) -> dict[int, Content]:
        """Several contents at once (IMAP SEARCH and SORT on header fields)."""
        wanted = sorted(set(content_ids))

        def read(conn: Connection) -> dict[int, Content]:
            out: dict[int, Content] = {}
            for chunk in _chunks(wanted):
                for row in conn.execute(_CONTENTS_BY_IDS, {"b_contents": chunk}):
                    out[row.id] = _content(row)
            return out

        return await self._ro(read)

    async def changes_since(self, folder_id: int, modseq: int) -> tuple[list[MessageMeta], list[int], int]:
        """Messages changed or added after ``modseq``, UIDs expunged after it, and the
        folder's highest modseq (RFC 7162)."""
        def read(conn: Connection) -> tuple[list[MessageMeta], list[int], int]:
            highest = conn.execute(_FOLDER_HIGHEST, {"b_folder": folder_id}).scalar()
            if highest is None:
                raise NotFound(f"folder {folder_id}")
            if highest <= modseq:  # nothing changed: skip the two range scans
                return [], [], int(highest)
            params = {"b_folder": folder_id, "b_modseq": modseq}
            changed = _metas_raw(_CHANGED.rows(conn, **params))
            gone = list(conn.execute(_VANISHED, params).scalars())
            return changed, gone, int(highest)

        return await self._ro(read)

    # -- messages: changing -------------------------------------------------------------

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
        wanted = list(uids)

        def tx(conn: Connection) -> tuple[list[MessageMeta], list[int]]:
            changed: list[MessageMeta] = []
            refused: list[int] = []
            rows = [row for chunk in _chunks(wanted)
                    for row in conn.execute(_METAS_BY_UIDS, {"b_folder": folder_id, "b_uids": chunk})]
            updates: list[tuple[Any, int, str]] = []
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
                    updates.append((row, new_flags, " ".join(new_kw)))
            if updates:
                modseq = self._bump_modseq(conn, folder_id)
                conn.execute(_SET_FLAGS, [
                    {"b_folder": folder_id, "b_uid": row.uid, "b_flags": bits, "b_keywords": text,
                     "b_modseq": modseq} for row, bits, text in updates
                ])
                for row, bits, text in updates:
                    old = _meta(row)
                    changed.append(MessageMeta(
                        uid=old.uid, flags=bits, keywords=tuple(text.split()), size=old.size,
                        internal_date=old.internal_date, modseq=modseq, content_id=old.content_id,
                    ))
            return changed, refused

        changed, refused = await self._tx(tx) if wanted else ([], [])
        if changed:
            await self.hub.publish(folder_id, changed[0].modseq)
        return changed, refused

    async def expunge(self, folder_id: int, uids: Sequence[int] | None = None) -> list[int]:
        """Remove messages marked \\Deleted (only those in ``uids`` if given: UID EXPUNGE)."""
        wanted = None if uids is None else sorted(set(uids))

        def tx(conn: Connection) -> tuple[list[int], int]:
            deleted = and_(messages.c.folder_id == folder_id,
                           messages.c.flags.op("&")(flagbits.DELETED) != 0)
            columns = (messages.c.uid, messages.c.size, messages.c.content_id)
            if wanted is None:
                rows = conn.execute(select(*columns).where(deleted).order_by(messages.c.uid)).all()
            else:
                rows = [row for chunk in _chunks(wanted) for row in conn.execute(
                    select(*columns).where(and_(deleted, messages.c.uid.in_(chunk))).order_by(messages.c.uid)
                )]
            return self._remove(conn, folder_id, rows)

        removed, modseq = await self._tx(tx) if wanted is None or wanted else ([], 0)
        if removed:
            await self.hub.publish(folder_id, modseq)
        return removed

    def _remove(self, conn: Connection, folder_id: int, rows: Sequence[Any]) -> tuple[list[int], int]:
        """Delete these messages (uid, size, content_id) of a folder and record them as
        expunged; (UIDs, modseq)."""
        if not rows:
            return [], 0
        modseq = self._bump_modseq(conn, folder_id)
        uids = [r.uid for r in rows]
        for chunk in _chunks(uids):
            conn.execute(delete(messages).where(and_(messages.c.folder_id == folder_id,
                                                     messages.c.uid.in_(chunk))))
        conn.execute(_INSERT_EXPUNGED, [{"folder_id": folder_id, "uid": uid, "modseq": modseq} for uid in uids])
        mailbox_id = conn.execute(_FOLDER_MAILBOX, {"b_folder": folder_id}).scalar_one()
        self._release(conn, mailbox_id, rows)
        return uids, modseq

    async def copy(self, src_folder_id: int, uids: Sequence[int], dst_folder_id: int) -> list[tuple[int, int]]:
        """Copy messages (RFC 9051 section 6.4.7); returns (source UID, new UID) pairs
        for COPYUID (RFC 4315). The content is shared, the quota is charged in full."""
        return await self._copy(src_folder_id, uids, dst_folder_id, move=False)

    async def move(self, src_folder_id: int, uids: Sequence[int], dst_folder_id: int) -> list[tuple[int, int]]:
        """Move messages (RFC 6851): copy, then expunge from the source, atomically."""
        return await self._copy(src_folder_id, uids, dst_folder_id, move=True)

    async def _copy(self, src: int, uids: Sequence[int], dst: int, *, move: bool) -> list[tuple[int, int]]:
        wanted = sorted(set(uids))

        def tx(conn: Connection) -> tuple[list[tuple[int, int]], int, int]:
            rows = [row for chunk in _chunks(wanted) for row in conn.execute(
                select(messages).where(and_(messages.c.folder_id == src, messages.c.uid.in_(chunk)))
                .order_by(messages.c.uid)
            )]
            if not rows:
                return [], 0, 0
            src_mailbox, dst_mailbox = [
                conn.execute(_FOLDER_MAILBOX, {"b_folder": f}).scalar_one()
                for f in (src, dst)
            ]
            total = sum(r.size for r in rows)
            if not (move and src_mailbox == dst_mailbox):
                self._charge(conn, dst_mailbox, total)
            first_uid, modseq = self._next_uid_and_modseq(conn, dst, len(rows))
            pairs = [(row.uid, first_uid + offset) for offset, row in enumerate(rows)]
            conn.execute(_INSERT_MESSAGE, [
                {"folder_id": dst, "uid": new_uid, "content_id": row.content_id, "flags": row.flags,
                 "keywords": row.keywords, "internal_date": row.internal_date, "size": row.size,
                 "modseq": modseq}
                for row, (_old, new_uid) in zip(rows, pairs, strict=True)
            ])
            per_content: dict[int, int] = {}
            for row in rows:
                per_content[row.content_id] = per_content.get(row.content_id, 0) + 1
            conn.execute(_ADD_REFS, [{"b_id": cid, "b_n": n} for cid, n in per_content.items()])
            src_modseq = 0
            if move:
                if src_mailbox == dst_mailbox:
                    # Same mailbox: the usage does not change; _remove gives it back below.
                    conn.execute(update(mailboxes).where(mailboxes.c.id == dst_mailbox)
                                 .values(used_bytes=mailboxes.c.used_bytes + total))
                _uids, src_modseq = self._remove(conn, src, rows)
            return pairs, modseq, src_modseq

        if not wanted:
            return []
        pairs, modseq, src_modseq = await self._tx(tx)
        if not pairs:
            return []
        await self.hub.publish(dst, modseq)
        if move:
            await self.hub.publish(src, src_modseq)
        return pairs

    async def get_content(self, content_id: int) -> Content:
        def read(conn: Connection) -> Any:
            return conn.execute(_CONTENT_BY_ID, {"b_content": content_id}).first()

        row = await self._ro(read)
        if row is None:
            raise NotFound(f"content {content_id}")
        return _content(row)

    async def read_message(self, content_id: int) -> bytes:
        """The message's bytes exactly as received (Điều 7.3-7.5: never altered)."""
        content = await self.get_content(content_id)
        return await asyncio.to_thread(self.blobs.read, content.segments)

    async def search_text(self, folder_id: int, folded_terms: Sequence[str]) -> list[int]:
        """UIDs whose folded text contains every term (see congthu.text.fold), in UID
        order, through the trigram index (``congthu.store.search``)."""
        def read(conn: Connection) -> list[int]:
            query = search.text_query(self.db.is_sqlite, folder_id, folded_terms,
                                      candidates=self._text_candidates(conn, folder_id, folded_terms))
            return [r[0] for r in _driver_rows(conn, query)]

        return await self._ro(read)

    async def search_text_fields(self, folder_id: int, folded_terms: Sequence[str]) -> list[tuple[int, str, str, str, str]]:
        """Like ``search_text``, with each match's (uid, subject, from, to, cc), so a
        search on one header field can check that field without loading contents."""
        def read(conn: Connection) -> list[tuple[int, str, str, str, str]]:
            query = search.text_query(
                self.db.is_sqlite, folder_id, folded_terms, messages.c.uid, contents.c.subject,
                contents.c.from_addr, contents.c.to_addr, contents.c.cc_addr,
                candidates=self._text_candidates(conn, folder_id, folded_terms))
            return [(r[0], r[1], r[2], r[3], r[4]) for r in _driver_rows(conn, query)]

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
        found = [r[0] for r in _driver_rows(conn, search.candidates(search.fts_match(grams), cap + 1))]
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

    async def referenced_blobs(self) -> set[str]:
        # Other packages' columns that hold a blob digest (the SMTP queue) are marked
        # Column(..., info={"blob": True}); their blobs are referenced too.
        from congthu.db import import_all_tables, metadata

        import_all_tables()
        marked = [column for table in metadata.tables.values() for column in table.columns
                  if column.info.get("blob")]

        def read(conn: Connection) -> set[str]:
            rows = conn.execute(select(contents.c.segments).where(contents.c.refcount > 0)).scalars()
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


_Outcome = tuple[list[DeliveryResult], list[tuple[int, int]]]


def _chunks(values: Sequence[int], size: int = 500) -> Iterator[Sequence[int]]:
    """Bounded IN lists (SQLite allows 32,766 parameters a statement)."""
    for i in range(0, len(values), size):
        yield values[i:i + size]


def _content(row: Any) -> Content:
    return Content(
        id=row.id, sha256=row.sha256, size=row.size,
        segments=[(d, n) for d, n in json.loads(row.segments)],
        structure=json.loads(row.structure), subject=row.subject, from_addr=row.from_addr,
        to_addr=row.to_addr, cc_addr=row.cc_addr, sent_date=_aware(row.sent_date),
        message_id=row.message_id,
    )


def _driver_rows(conn: Connection, statement: Any) -> Sequence[Any]:
    """Rows of a statement built per call, as the driver gives them (no per-row
    processing by SQLAlchemy: a search may return a whole folder)."""
    form = statement.compile(dialect=conn.dialect)
    names = form.positiontup
    args: Any = tuple(form.params[n] for n in names) if names is not None else form.params
    return conn.exec_driver_sql(str(form), args).all()


def _metas(rows: Iterable[Any]) -> list[MessageMeta]:
    return [_meta(r) for r in rows]


def _unavailable(exc: BaseException) -> DatabaseUnavailable:
    return DatabaseUnavailable(f"Cơ sở dữ liệu không sẵn sàng / database unavailable: {exc}")
