"""The small reads by key through ``rows.Compiled`` (on SQLite straight on the pysqlite
driver, on PostgreSQL Core) give the records Core's own rows give, on both engines: a
differential test over a real database holding varied rows (NULLs, Vietnamese names,
dates stored with and without a time zone, IN lists of every length); and
``Database.run_small_read`` still falls back to a reader thread when SQLite is busy."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, text, update
from sqlalchemy.exc import OperationalError

from congthu.app import App
from congthu.db import Database, metadata
from congthu.store import flags
from congthu.store.model import Content, Folder, Mailbox, MessageMeta
from congthu.store.reading import contents_of, metas_of
from congthu.store.rows import Compiled, aware, metas_from_driver, to_content, to_folder, to_mailbox
from congthu.store.statements import (
    CONTENTS_READ,
    FOLDER_BY_ID,
    FOLDER_BY_NAME,
    FOLDERS_OF,
    MAILBOX_BY_ADDRESS,
    MAILBOX_BY_ID,
    METAS_BY_UIDS,
    METAS_RANGE,
    QUOTA,
)
from congthu.store.tables import contents, folders, mailboxes, messages
from tests.store.test_store import MESSAGE

ICT = timezone(timedelta(hours=7))


# -- the reference: Core's rows, read by column name ------------------------------------

def by_name_mailbox(row: Any) -> Mailbox:
    return Mailbox(id=row.id, address=row.address, display_name=row.display_name, kind=row.kind,
                   quota_bytes=row.quota_bytes, used_bytes=row.used_bytes, status=row.status,
                   created_at=aware(row.created_at), last_access_at=aware(row.last_access_at),  # type: ignore[arg-type]
                   quota_warned=bool(row.quota_warned))


def by_name_folder(row: Any) -> Folder:
    return Folder(id=row.id, mailbox_id=row.mailbox_id, name=row.name, special_use=row.special_use,
                  uidvalidity=row.uidvalidity, uidnext=row.uidnext, highestmodseq=row.highestmodseq,
                  subscribed=bool(row.subscribed), mailboxid=row.mailboxid)


def by_name_meta(row: Any) -> MessageMeta:
    return MessageMeta(uid=row.uid, flags=row.flags, keywords=tuple(row.keywords.split()),
                       size=row.size, internal_date=aware(row.internal_date),  # type: ignore[arg-type]
                       modseq=row.modseq, content_id=row.content_id)


def by_name_content(row: Any) -> Content:
    return Content(id=row.id, sha256=row.sha256, size=row.size,
                   segments=[tuple(s) for s in json.loads(row.segments)],  # type: ignore[misc]
                   structure=json.loads(row.structure), subject=row.subject, from_addr=row.from_addr,
                   to_addr=row.to_addr, cc_addr=row.cc_addr, sent_date=aware(row.sent_date),
                   message_id=row.message_id, preview=row.preview)


def core(conn: Connection, compiled: Compiled, convert: Callable[[Any], Any], **params: Any) -> list[Any]:
    return [convert(row) for row in conn.execute(compiled.statement, params)]


async def read_core(db: Database, compiled: Compiled, convert: Callable[[Any], Any], **params: Any) -> list[Any]:
    return await db.run_read(lambda conn: core(conn, compiled, convert, **params))


def each(convert: Callable[[Any], Any]) -> Callable[[Any], list[Any]]:
    return lambda rows: [convert(row) for row in rows]


# -- the data ---------------------------------------------------------------------------

def message(subject: str, date: str | None) -> bytes:
    head = (f"From: =?utf-8?q?Tr=E1=BA=A7n_Th=E1=BB=8B_Hoa?= <tthoa@soctrang.gov.vn>\r\n"
            f"To: ntbinh@soctrang.gov.vn\r\nSubject: {subject}\r\nMessage-ID: <{subject}@soctrang.gov.vn>\r\n")
    if date is not None:
        head += f"Date: {date}\r\n"
    return (head + "\r\nNội dung thử nghiệm.\r\n").encode()


async def varied(app: App) -> dict[str, Any]:
    """Two mailboxes, nested folders with Vietnamese names, messages whose dates are kept
    with and without a zone, NULLs where the columns allow them."""
    store = app.store
    binh = await store.create_mailbox("ntbinh@soctrang.gov.vn", "Nguyễn Thanh Bình", quota_bytes=10**9)
    hoa = await store.create_mailbox("tthoa@soctrang.gov.vn", "", quota_bytes=5 * 10**8)
    await store.create_folder(binh.id, "Dự án/Đường Hùng Vương 2026")
    await store.create_folder(binh.id, "Công văn đến")
    await store.set_subscribed(binh.id, "Công văn đến", False)
    inbox = await store.get_folder(binh.id, "INBOX")
    assert inbox is not None
    await store.deliver(MESSAGE, [binh.id])
    await store.deliver(message("Báo cáo", "Tue, 1 Dec 2026 23:30:00 +0700"), [binh.id])
    await store.deliver(message("Không ngày", None), [binh.id], flags=flags.SEEN | flags.FLAGGED,
                        keywords=["Dự_án", "$Important"])
    await store.deliver(message("Giờ UTC", "Wed, 2 Dec 2026 01:00:00 +0000"), [binh.id],
                        internal_date=datetime(2026, 12, 2, 8, 0, tzinfo=ICT))
    for i in range(5):
        await store.deliver(message(f"Thư {i}", "Thu, 3 Dec 2026 09:00:00 +0700"), [binh.id])
    await store.store_flags(inbox.id, [6], "add", flags.DELETED)
    await store.expunge(inbox.id)  # a gap at UID 6

    def tx(conn: Connection) -> None:
        # The dates Core writes with and without a zone, and NULLs.
        conn.execute(update(mailboxes).where(mailboxes.c.id == binh.id)
                     .values(last_access_at=datetime(2026, 12, 6, 21, 15, 7, 123456, tzinfo=ICT), quota_warned=True))
        conn.execute(update(mailboxes).where(mailboxes.c.id == hoa.id).values(last_access_at=None))
        conn.execute(update(folders).where(folders.c.name == "Công văn đến").values(mailboxid="F-cong-van"))
        conn.execute(update(messages).where(messages.c.uid == 2)
                     .values(internal_date=datetime(2026, 12, 1, 23, 30)))  # naive
        conn.execute(update(contents).where(contents.c.subject == "Giờ UTC").values(preview=None))
        if conn.dialect.name == "sqlite":
            # Text as another writer may have kept it: an offset, a "T", no seconds' fraction.
            conn.execute(text("UPDATE messages SET internal_date = '2026-12-03 09:00:00+07:00' WHERE uid = 5"))
            conn.execute(text("UPDATE messages SET internal_date = '2026-12-03T02:00:00.5' WHERE uid = 7"))
            conn.execute(text("UPDATE contents SET sent_date = '2026-12-03 09:00:00+07:00' "
                              "WHERE subject = 'Thư 1'"))
        else:
            conn.execute(update(messages).where(messages.c.uid == 5)
                         .values(internal_date=datetime(2026, 12, 3, 9, 0, tzinfo=ICT)))

    await app.db.run_write(tx)
    return {"binh": binh.id, "hoa": hoa.id, "inbox": inbox.id}


# -- the tests --------------------------------------------------------------------------

async def test_compiled_reads_give_cores_records(any_app: App) -> None:
    ids = await varied(any_app)
    binh, hoa, inbox = ids["binh"], ids["hoa"], ids["inbox"]
    all_folders = await read_core(any_app.db, FOLDERS_OF, by_name_folder, b_mailbox=binh)
    names = [f.name for f in all_folders]
    assert "Dự án/Đường Hùng Vương 2026" in names and "Dự án" in names
    assert [f.subscribed for f in all_folders if f.name == "Công văn đến"] == [False]
    content_ids = await any_app.db.run_read(
        lambda conn: [r[0] for r in conn.execute(contents.select().order_by(contents.c.id))])
    assert len(content_ids) == 9

    def compare(conn: Connection) -> int:
        checked = 0

        def same(compiled: Compiled, ours: Callable[[Any], list[Any]], reference: Callable[[Any], Any],
                 **params: Any) -> None:
            # The store's records from the compiled read, Core's rows read by name.
            nonlocal checked
            got = ours(compiled.typed(conn, **params))
            assert got == core(conn, compiled, reference, **params), (compiled.statement, params)
            checked += 1

        for mailbox_id in (binh, hoa, hoa + 1000):
            same(MAILBOX_BY_ID, each(to_mailbox), by_name_mailbox, b_mailbox=mailbox_id)
            same(QUOTA, each(tuple), lambda r: (r.used_bytes, r.quota_bytes), b_mailbox=mailbox_id)
            same(FOLDERS_OF, each(to_folder), by_name_folder, b_mailbox=mailbox_id)
        for address in ("ntbinh@soctrang.gov.vn", "tthoa@soctrang.gov.vn", "khong@soctrang.gov.vn"):
            same(MAILBOX_BY_ADDRESS, each(to_mailbox), by_name_mailbox, b_address=address)
        for folder in all_folders:
            same(FOLDER_BY_ID, each(to_folder), by_name_folder, b_folder=folder.id)
            same(FOLDER_BY_NAME, each(to_folder), by_name_folder, b_mailbox=binh, b_name=folder.name)
        same(FOLDER_BY_NAME, each(to_folder), by_name_folder, b_mailbox=binh, b_name="Không có")
        # IN lists of every length (the forms are compiled per power of two, padded).
        for uids in ([], [1], [6], [1, 2], [2, 3, 4], [1, 3, 5, 7, 9], [1, 2, 3, 4, 5, 7, 8, 9, 10, 99], [4, 4, 4]):
            same(METAS_BY_UIDS, metas_from_driver, by_name_meta, b_folder=inbox, b_uids=uids)
            assert metas_from_driver(METAS_BY_UIDS.rows(conn, b_folder=inbox, b_uids=uids)) == \
                core(conn, METAS_BY_UIDS, by_name_meta, b_folder=inbox, b_uids=uids)
        for low, high in ((1, 10), (2, 2), (6, 6), (7, 100)):
            assert metas_from_driver(METAS_RANGE.rows(conn, b_folder=inbox, b_low=low, b_high=high)) == \
                core(conn, METAS_RANGE, by_name_meta, b_folder=inbox, b_low=low, b_high=high)
        for wanted in ([], content_ids[:1], content_ids[:3], content_ids, [content_ids[2], 10**6], content_ids[1:2] * 3):
            same(CONTENTS_READ, each(to_content), by_name_content, b_contents=wanted)
        return checked

    # On the loop's own connection, on a reader thread, and inside a write transaction.
    assert await any_app.db.run_small_read(compare) == 45
    assert await any_app.db.run_read(compare) == 45
    assert await any_app.db.run_write(compare) == 45

    # What the store's methods give (their reads go through the compiled statements).
    store = any_app.store
    expected_mailbox = await read_core(any_app.db, MAILBOX_BY_ID, by_name_mailbox, b_mailbox=binh)
    assert [await store.get_mailbox_by_id(binh)] == expected_mailbox
    assert await store.get_mailbox("NTBinh@soctrang.gov.vn") == expected_mailbox[0]
    assert expected_mailbox[0].quota_warned is True and expected_mailbox[0].display_name == "Nguyễn Thanh Bình"
    hoa_box = await store.get_mailbox_by_id(hoa)
    assert hoa_box is not None and hoa_box.last_access_at is None and hoa_box.display_name == ""
    assert await store.get_mailbox_by_id(hoa + 1000) is None
    assert await store.quota(binh) == (expected_mailbox[0].used_bytes, 10**9)
    assert await store.list_folders(binh) == all_folders
    for folder in all_folders:
        assert await store.get_folder_by_id(folder.id) == folder
        assert await store.get_folder(binh, folder.name) == folder
    expected = await read_core(any_app.db, METAS_BY_UIDS, by_name_meta, b_folder=inbox, b_uids=list(range(1, 11)))
    assert [m.uid for m in expected] == [1, 2, 3, 4, 5, 7, 8, 9]
    assert await store.get_messages(inbox, range(1, 11)) == expected
    assert await store.get_messages(inbox, [1, 8, 500]) == [expected[0], expected[-2]]  # sparse: the IN list
    assert await any_app.db.run_read(metas_of, inbox, [9, 1, 500, 1]) == [expected[0], expected[-1]]
    metas, found = await store.get_messages_and_contents(inbox, [3, 4, 6], [content_ids[0]])
    assert metas == expected[2:4]
    want = await read_core(any_app.db, CONTENTS_READ, by_name_content,
                                     b_contents=sorted({m.content_id for m in metas} | {content_ids[0]}))
    assert found == {c.id: c for c in want} == await any_app.db.run_read(contents_of, list(found))
    # What changed since a modseq (the folder's highest, the messages changed, the UIDs gone).
    from congthu.store.statements import CHANGED, VANISHED
    folder_now = await store.get_folder_by_id(inbox)
    assert folder_now is not None
    for since in (0, 3, folder_now.highestmodseq - 1, folder_now.highestmodseq):
        changed = await read_core(any_app.db, CHANGED, by_name_meta, b_folder=inbox, b_modseq=since)
        gone = await any_app.db.run_read(
            lambda conn, since=since: list(conn.execute(VANISHED, {"b_folder": inbox, "b_modseq": since}).scalars()))
        assert await store.changes_since(inbox, since) == (changed, gone, folder_now.highestmodseq)
    assert (await store.changes_since(inbox, 0))[1] == [6]
    undated = next(c for c in want if c.subject == "Không ngày")
    assert undated.sent_date is None and undated.structure and undated.segments
    dated = [m.internal_date for m in expected]
    assert all(d.tzinfo is not None for d in dated)
    if any_app.db.is_sqlite:
        # The offset kept in the text is read as Core reads it (an aware date, +07:00).
        assert expected[4].internal_date == datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
        assert expected[4].internal_date.utcoffset() == timedelta(hours=7)
        assert expected[5].internal_date == datetime(2026, 12, 3, 2, 0, 0, 500000, tzinfo=UTC)


def _schema(path: Path) -> str:
    """A SQLite file with the tables, and one mailbox and folder; its URL."""
    url = f"sqlite+aiosqlite:///{path}"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        metadata.create_all(conn, tables=[mailboxes, folders, metadata.tables["subscriptions"]])
        conn.execute(mailboxes.insert().values(id=1, address="ntbinh@soctrang.gov.vn", display_name="Bình",
                                               quota_bytes=100, created_at=datetime(2026, 12, 7, tzinfo=UTC)))
        conn.execute(folders.insert().values(id=1, mailbox_id=1, name="INBOX", uidvalidity=7, uidnext=1,
                                             highestmodseq=1, subscribed=True))
    engine.dispose()
    return url


def _folder(conn: Connection) -> Folder | None:
    row = FOLDER_BY_ID.first(conn, b_folder=1)
    return to_folder(row) if row is not None else None


class _Lock:
    """Another process's hold on the file: SQLite's exclusive locking mode, which keeps
    even WAL readers out (SQLITE_BUSY) until it is given back."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        self.conn.execute("BEGIN EXCLUSIVE")
        self.conn.execute("COMMIT")  # in exclusive mode the lock stays after the commit

    def release(self) -> None:
        self.conn.execute("PRAGMA locking_mode=NORMAL")
        self.conn.execute("SELECT count(*) FROM folders").fetchone()  # gives the lock back
        self.conn.close()


async def test_a_busy_database_sends_the_small_read_to_a_reader_thread(tmp_path: Path) -> None:
    url = _schema(tmp_path / "meta.db")
    db = Database(url, busy_timeout=30)
    threaded: list[str] = []
    run_read = db.run_read

    async def counted(fn: Callable[..., Any], *args: Any) -> Any:
        threaded.append(fn.__name__)
        return await run_read(fn, *args)

    db.run_read = counted  # type: ignore[method-assign]
    try:
        lock = _Lock(tmp_path / "meta.db")
        # The loop's read finds the file locked (it does not wait): a reader thread
        # waits for it (busy_timeout), and has it once the lock is given back.
        with pytest.raises(sqlite3.OperationalError):
            sqlite3.connect(tmp_path / "meta.db", timeout=0).execute("SELECT 1 FROM folders").fetchone()
        releaser = threading.Timer(0.3, lock.release)
        releaser.start()
        folder = await db.run_small_read(_folder)
        releaser.join()
        assert folder is not None and folder.name == "INBOX" and folder.uidvalidity == 7
        assert threaded == ["_folder"]
        # Free again: on the loop, on a connection of its own that works.
        assert await db.run_small_read(_folder) == folder
        assert await db.run_small_read(_folder) == folder
        assert threaded == ["_folder"]
    finally:
        await db.dispose()


async def test_a_failed_small_read_leaves_the_connection_usable(tmp_path: Path) -> None:
    """A read that fails on the loop (an OperationalError: here a table that is not there)
    goes to the threaded path, which reports the failure; the loop's connection is left
    out of any transaction, so the next read there works."""
    url = _schema(tmp_path / "meta.db")
    db = Database(url)
    threaded: list[str] = []
    run_read = db.run_read

    async def counted(fn: Callable[..., Any], *args: Any) -> Any:
        threaded.append(fn.__name__)
        return await run_read(fn, *args)

    def missing(conn: Connection) -> Any:
        _folder(conn)  # the transaction is under way when the failure comes
        return Compiled(contents.select()).typed(conn)

    def core_missing(conn: Connection) -> Any:
        _folder(conn)
        return conn.execute(contents.select()).all()

    db.run_read = counted  # type: ignore[method-assign]
    try:
        first = await db.run_small_read(_folder)
        assert first is not None
        for fn in (missing, core_missing, missing):
            with pytest.raises(OperationalError, match="no such table"):
                await db.run_small_read(fn)
            assert await db.run_small_read(_folder) == first
        assert threaded == ["missing", "core_missing", "missing"]
        # A failure that is not the database's reaches the caller at once.
        with pytest.raises(ZeroDivisionError):
            await db.run_small_read(lambda conn: _folder(conn) and 1 / 0)
        assert await db.run_small_read(_folder) == first
        assert len(threaded) == 3
        # Each read is its own snapshot: a write committed between two reads is seen.
        await db.run_write(lambda conn: conn.execute(update(folders).values(uidnext=42)))
        again = await db.run_small_read(_folder)
        assert again is not None and again.uidnext == 42
    finally:
        await db.dispose()


def test_expanding_forms_are_few() -> None:
    """An IN list is compiled for lengths rounded up to a power of two."""
    from sqlalchemy.dialects.sqlite import pysqlite

    compiled = Compiled(METAS_BY_UIDS.statement)
    dialect = pysqlite.dialect()
    for n in range(1, 70):
        form, args = compiled._form(dialect, {"b_folder": 3, "b_uids": list(range(100, 100 + n))})
        assert args[0] == 3 and sorted(set(args[1:])) == list(range(100, 100 + n))
        assert form.sql.count("?") == len(args) == 1 + (1 << (n - 1).bit_length())
    assert sorted(size for _dialect, size in compiled._forms) == [1, 2, 4, 8, 16, 32, 64, 128]



async def test_compiled_grant_reads_give_cores_rows(any_app: App) -> None:
    """The delegation's reads before every LIST and delegated command (its grants by
    grantee, one grant, the owners and folders by ids), compiled, give Core's rows and
    the same ``Access`` records: ends with and without a zone, NULL, past."""
    from congthu import delegation
    from congthu.delegation import access

    store = any_app.store
    an = (await store.create_mailbox("nvan@soctrang.gov.vn", "Nguyễn Văn An", quota_bytes=10**9)).id
    owners = [(await store.create_mailbox(f"vanthu{i}@soctrang.gov.vn", f"Văn thư {i}", quota_bytes=10**9)).id
              for i in range(4)]
    secret = await store.create_folder(owners[0], "Mật/Hồ sơ")
    now = datetime.now(UTC)
    ends: list[datetime | None] = [None, now + timedelta(days=3), (now + timedelta(days=9)).astimezone(ICT),
                                   now - timedelta(days=1)]
    for owner, end in zip(owners, ends, strict=True):
        await delegation.grant(any_app, owner, an, "lrs", granted_by="admin", expires_at=end)
    await delegation.grant(any_app, owners[0], an, "lr", folder_id=secret.id, granted_by="admin")

    def naive(conn: Connection) -> None:
        # An end kept without a zone (as SQLite keeps every date).
        conn.execute(update(access.delegations).where(access.delegations.c.owner_mailbox_id == owners[1])
                     .values(expires_at=(now + timedelta(days=3)).replace(tzinfo=None)))

    await any_app.db.run_write(naive)

    def compare(conn: Connection) -> int:
        checked = 0
        grant_row = lambda r: (*r[:-1], aware(r[-1]))  # noqa: E731
        for compiled, params in [
            (access._WHOLE_TO, {"b_grantee": an}),
            (access._WHOLE_TO, {"b_grantee": owners[0]}),
            (access._FOLDERS_TO, {"b_grantee": an}),
            *[(access._WHOLE_TO_FROM, {"b_grantee": an, "b_owner": o}) for o in owners],
            *[(access._WHOLE_GRANT, {"b_grantee": an, "b_owner": o}) for o in owners],
            (access._FOLDER_GRANT, {"b_grantee": an, "b_folder": secret.id}),
            (access._FOLDER_GRANT, {"b_grantee": an, "b_folder": secret.id + 100}),
        ]:
            got = [tuple(r) for r in compiled.typed(conn, **params)]
            assert [grant_row(r) for r in got] == core(conn, compiled, grant_row, **params)
            assert all(isinstance(r[-1], datetime) or r[-1] is None for r in got)
            checked += 1
        from congthu.store import lookup
        for ids in ([], [an], owners, [*owners, an, 10**6], [owners[2]] * 3):
            got_boxes = lookup.mailboxes_by_ids(conn, ids)
            assert got_boxes == {r.id: by_name_mailbox(r) for r in conn.execute(
                lookup._MAILBOXES_BY_IDS.statement, {"b_ids": ids})}
            checked += 1
        folder_ids = [f.id for f in lookup.folders_by_ids(conn, range(1, 100)).values()]
        assert secret.id in folder_ids
        for fids in ([], [secret.id], folder_ids, [secret.id, 10**6]):
            assert lookup.folders_by_ids(conn, fids) == {r.id: by_name_folder(r) for r in conn.execute(
                lookup._FOLDERS_BY_IDS.statement, {"b_ids": fids})}
            checked += 1
        return checked

    assert await any_app.db.run_small_read(compare) == 22
    assert await any_app.db.run_read(compare) == 22

    found = await delegation.accesses_of(any_app, an)
    assert [a.owner_address for a in found] == [f"vanthu{i}@soctrang.gov.vn" for i in range(3)]  # the 4th ended
    assert found[0].folders == {secret.id: "lr"} and found[0].mailbox == "lrs"
    assert await delegation.rights_of(any_app, owners[0], an, secret.id) == "lr"
    assert await delegation.rights_of(any_app, owners[1], an) == "lrs"
    assert await delegation.rights_of(any_app, owners[3], an) == ""
    assert (await delegation.access_of(any_app, owners[2], an)).mailbox == "lrs"
