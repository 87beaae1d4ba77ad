"""The writes of a delivery through ``rows.Compiled`` (on SQLite straight on the pysqlite
driver, on PostgreSQL Core) and the writer thread's kept connection (``db._Writer``):

* the content upsert of a batch (``Compiled.insert_returning``, multi-row statements of
  power-of-two sizes) gives every message its row's id and adds the references of a
  content stored already to its count, its values read back as Core reads them;
* a statement's own parameters (the 1 of "highestmodseq + 1") reach the driver;
* the writer thread keeps one connection from batch to batch (no pool checkout per
  batch), still switches ``synchronous`` for non-durable writes, and a write that fails
  is rolled back, the next one going on as before."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.engine import Connection

from congthu import mime
from congthu.app import App
from congthu.db import Database
from congthu.store import accounting
from congthu.store.delivery import _content_ids
from congthu.store.pending import StoredMessage
from congthu.store.rows import to_content
from congthu.store.statements import CONTENT_COLUMNS
from congthu.store.tables import contents


def _message(number: int) -> bytes:
    return (f"From: Nguyễn Văn {number} <a{number}@soctrang.gov.vn>\r\nTo: b@soctrang.gov.vn\r\n"
            f"Subject: Công văn số {number}\r\nDate: Mon, 7 Dec 2026 08:{number % 60:02d}:00 +0700\r\n"
            f"Message-ID: <{number}@soctrang.gov.vn>\r\n\r\nNội dung {number}\r\n").encode()


def _stored(raw: bytes, sha: str) -> StoredMessage:
    return StoredMessage(sha=sha, size=len(raw), analysis=mime.analyse(raw), segments=[(sha, len(raw))])


async def test_a_batch_of_contents_gets_every_id_and_its_count(any_app: App) -> None:
    db = any_app.db
    raws = {f"{n:064x}": _message(n) for n in range(1, 16)}
    # Two contents stored before the batch, with one reference each.
    before = dict(list(raws.items())[:2])
    first = await db.run_write(_content_ids, {sha: (_stored(raw, sha), 1) for sha, raw in before.items()})
    # The batch: 13 new contents (statements of 8, 4 and 1 rows on SQLite), and the two
    # stored ones again, one of them by three deliveries.
    wanted = {sha: (_stored(raw, sha), 3 if sha in before and sha.endswith("1") else 1) for sha, raw in raws.items()}
    ids = await db.run_write(_content_ids, wanted)
    assert sorted(ids) == sorted(raws)
    assert len(set(ids.values())) == len(raws)
    assert all(ids[sha] == first[sha] for sha in before)

    def read(conn: Connection) -> dict[str, tuple[int, Any]]:
        rows = conn.execute(select(contents.c.refcount, *CONTENT_COLUMNS)).all()
        return {row.sha256: (row.refcount, to_content(row[1:])) for row in rows}

    stored = await db.run_read(read)
    for sha, raw in raws.items():
        refcount, content = stored[sha]
        assert content.id == ids[sha]
        assert refcount == (1 if sha in before else 0) + wanted[sha][1], sha
        analysis = mime.analyse(raw)
        assert content.subject == analysis.subject
        assert content.message_id == analysis.message_id
        assert content.segments == [(sha, len(raw))]
        # A date through the dialect's processing of its parameter, read back by Core.
        assert content.sent_date == analysis.sent_date
        assert content.sent_date is not None and content.sent_date.tzinfo is not None


async def test_a_reservation_raises_the_modseq_by_one(any_app: App) -> None:
    store = any_app.store
    mailbox = await store.create_mailbox("dem@soctrang.gov.vn", quota_bytes=10**6)
    inbox = await store.get_folder(mailbox.id, "INBOX")
    assert inbox is not None
    first = await any_app.db.run_write(accounting.reserve_uids, inbox.id, 3)
    second = await any_app.db.run_write(accounting.reserve_uids, inbox.id, 1)
    assert first == (inbox.uidnext, inbox.highestmodseq + 1)
    assert second == (inbox.uidnext + 3, inbox.highestmodseq + 2)
    # Charged while it fits, refused (nothing changed) when it does not.
    assert await any_app.db.run_write(accounting.try_charge, mailbox.id, 10**6 - 10)
    assert not await any_app.db.run_write(accounting.try_charge, mailbox.id, 11)
    assert (await store.quota(mailbox.id))[0] == 10**6 - 10


async def test_the_writer_keeps_its_connection_between_batches(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}")
    try:
        await db.run_write(lambda conn: conn.execute(text("CREATE TABLE scratch (value TEXT)")))
        assert db._sync_writer is not None
        checkouts: list[int] = []
        event.listen(db._sync_writer.pool, "checkout", lambda *_args: checkouts.append(1))

        def insert(conn: Connection, value: str) -> int:
            conn.execute(text("INSERT INTO scratch (value) VALUES (:v)"), {"v": value})
            # 2 is FULL (a durable commit), 1 NORMAL.
            return int(conn.exec_driver_sql("PRAGMA synchronous").scalar_one())

        def fail(conn: Connection) -> None:
            conn.execute(text("INSERT INTO scratch (value) VALUES ('lost')"))
            raise LookupError("rolled back")

        levels = []
        for value, durable in (("a", True), ("b", False), ("c", True)):
            levels.append(await db.run_write(insert, value, durable=durable))
        assert levels == [2, 1, 2]
        assert checkouts == []  # one connection, kept: no checkout per batch
        with pytest.raises(LookupError):
            await db.run_write(fail)
        # Batches of several functions, one of them failing in its savepoint.
        results = await asyncio.gather(db.run_write(insert, "d"), db.run_write(fail), db.run_write(insert, "e"),
                                       return_exceptions=True)
        assert results[0] == 2 and isinstance(results[1], LookupError) and results[2] == 2
        await db.run_write(insert, "f")
        rows = await db.run_read(lambda conn: [r[0] for r in conn.execute(text("SELECT value FROM scratch"))])
        assert sorted(rows) == list("abcdef")
        assert db._writer is not None and db._writer.conn is not None
    finally:
        await db.dispose()
    assert db._writer is None


def test_dates_of_a_batch_keep_their_instant() -> None:
    # The parameter processing Compiled applies is the dialect's: a date in another zone
    # is stored as SQLAlchemy's SQLite DateTime stores it (what the reads expect).
    from sqlalchemy.dialects import sqlite

    from congthu.store.statements import INSERT_MESSAGE_WRITE, MESSAGE_INSERT_COLUMNS

    when = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)
    row = dict.fromkeys(MESSAGE_INSERT_COLUMNS, 0) | {"internal_date": when, "saved_at": None}
    form, args = INSERT_MESSAGE_WRITE._form(sqlite.dialect(), row)
    assert args[MESSAGE_INSERT_COLUMNS.index("internal_date")] == "2026-12-07 08:30:00.000000"
    assert form.sql.startswith("INSERT INTO messages (folder_id, uid, content_id,")
