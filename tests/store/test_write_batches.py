"""Concurrent write transactions committed together (``Database.run_write``), the change
hub's log of this process's changes (``ChangeHub.changes_since``), and the IMAP \\Recent
claims that need no database when another session of the process has just claimed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from congthu.app import App
from congthu.store import flags, recent
from congthu.store.tables import folders


def message(number: int) -> bytes:
    return f"From: a@soctrang.gov.vn\r\nSubject: Thư {number}\r\n\r\nNội dung {number}\r\n".encode()


async def test_a_failing_write_in_a_batch_fails_alone(any_app: App) -> None:
    """Twenty writes at once: the one that breaks a constraint gets its error, the others
    are committed and each sees what the one before it wrote."""
    store = any_app.store
    box = await store.create_mailbox("lo@soctrang.gov.vn")
    inbox = await store.get_folder(box.id, "INBOX")
    assert inbox is not None

    def rename(conn: Connection, number: int) -> int:
        # Folder names are unique per mailbox: number 7 takes the name INBOX, and fails.
        name = "INBOX" if number == 7 else f"Thư mục {number}"
        conn.execute(insert(folders).values(mailbox_id=box.id, name=name, uidvalidity=number,
                                            uidnext=1, highestmodseq=1, subscribed=True))
        return len(conn.execute(select(folders.c.id).where(folders.c.mailbox_id == box.id)).all())

    results = await asyncio.gather(*(any_app.db.run_write(rename, n) for n in range(20)),
                                   return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    assert len(failed) == 1 and isinstance(results[7], IntegrityError)
    names = {f.name for f in await store.list_folders(box.id)}
    assert {f"Thư mục {n}" for n in range(20) if n != 7} <= names
    if any_app.db.is_sqlite:
        # One writer: the writes ran one after the other (batched or not), each seeing
        # the folders of those before it. (PostgreSQL runs them side by side.)
        counts = [r for r in results if isinstance(r, int)]
        assert len(set(counts)) == 19


async def test_a_cancelled_write_either_never_runs_or_finishes(any_app: App) -> None:
    store = any_app.store
    box = await store.create_mailbox("huy@soctrang.gov.vn")

    def add(conn: Connection, name: str) -> None:
        conn.execute(insert(folders).values(mailbox_id=box.id, name=name, uidvalidity=1, uidnext=1,
                                            highestmodseq=1, subscribed=True))

    tasks = [asyncio.create_task(any_app.db.run_write(add, f"F{n}")) for n in range(10)]
    await asyncio.sleep(0)
    tasks[9].cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    names = {f.name for f in await store.list_folders(box.id)}
    for n, outcome in enumerate(done):
        if isinstance(outcome, asyncio.CancelledError):
            continue  # cancelled: it ran whole or not at all, never half
        assert outcome is None and f"F{n}" in names
    assert isinstance(done[9], asyncio.CancelledError) or "F9" in names


async def _both(app: App, folder_id: int, since: int, upto: int) -> tuple[Any, Any]:
    logged = app.hub.changes_since(folder_id, since, upto)
    from_db = await app.store.changes_since(folder_id, since)
    return logged, from_db


async def test_change_log_answers_as_the_database_does(any_app: App) -> None:
    """Appends, flag changes, expunges, copies and moves of a watched folder: the hub's
    log gives what the database gives, from any modseq it holds every change since."""
    store, hub = any_app.store, any_app.hub
    box = await store.create_mailbox("nhatky@soctrang.gov.vn")
    inbox = await store.get_folder(box.id, "INBOX")
    archive = await store.get_folder(box.id, "Archive")
    assert inbox is not None and archive is not None
    start = inbox.highestmodseq
    with hub.watching(inbox.id) as watch, hub.watching(archive.id):
        uids = [await store.append(inbox.id, message(i), flags=flags.SEEN if i % 2 else 0) for i in range(6)]
        await store.store_flags(inbox.id, uids[:4], "add", flags.FLAGGED, ["$Label1"])
        await store.store_flags(inbox.id, uids[1:3], "remove", flags.SEEN, ["$Label1"])
        await store.store_flags(inbox.id, [uids[0], uids[5]], "add", flags.DELETED)
        await store.expunge(inbox.id)
        await store.copy(inbox.id, uids[1:3], archive.id)
        await store.move(inbox.id, [uids[3]], archive.id)
        for since in range(start, watch.modseq + 1):
            logged, from_db = await _both(any_app, inbox.id, since, watch.modseq)
            if since == watch.modseq:
                assert logged is None  # nothing newer than what the session has: ask as before
                continue
            assert logged is not None, since
            changed, gone, highest = logged
            db_changed, db_gone, db_highest = from_db
            assert highest == db_highest and gone == db_gone
            assert [(m.uid, m.flags, m.keywords, m.modseq, m.size, m.content_id) for m in changed] == \
                   [(m.uid, m.flags, m.keywords, m.modseq, m.size, m.content_id) for m in db_changed]
        archive_now = await store.get_folder(box.id, "Archive")
        assert archive_now is not None
        logged, from_db = await _both(any_app, archive.id, archive.highestmodseq, archive_now.highestmodseq)
        assert logged is not None
        assert [(m.uid, m.flags, m.keywords) for m in logged[0]] == [(m.uid, m.flags, m.keywords) for m in from_db[0]]


async def test_change_log_has_a_hole_for_what_it_was_not_told(any_app: App) -> None:
    """A delivery (not recorded) leaves a hole: the log answers only past it."""
    store, hub = any_app.store, any_app.hub
    box = await store.create_mailbox("lo2@soctrang.gov.vn")
    inbox = await store.get_folder(box.id, "INBOX")
    assert inbox is not None
    with hub.watching(inbox.id) as watch:
        await store.append(inbox.id, message(1))
        after_append = watch.modseq
        [result] = await store.deliver(message(2), [box.id])
        assert result.ok
        after_delivery = watch.modseq
        await store.append(inbox.id, message(3))
        assert hub.changes_since(inbox.id, inbox.highestmodseq, watch.modseq) is None
        assert hub.changes_since(inbox.id, after_append, watch.modseq) is None
        logged = hub.changes_since(inbox.id, after_delivery, watch.modseq)
        assert logged is not None and [m.uid for m in logged[0]] == [3]
    # Nobody watches any more: nothing is kept.
    assert hub.changes_since(inbox.id, after_delivery, watch.modseq) is None


@pytest.mark.parametrize("readonly", [False, True])
async def test_recent_claims_of_one_process(any_app: App, readonly: bool) -> None:
    """Of several sessions claiming at once exactly one gets the new messages, and the
    mark this process remembers is never past the one in the database."""
    store = any_app.store
    box = await store.create_mailbox(f"moi{int(readonly)}@soctrang.gov.vn")
    inbox = await store.get_folder(box.id, "INBOX")
    assert inbox is not None
    for i in range(3):
        await store.append(inbox.id, message(i))
    end = 4
    if readonly:
        marks = await asyncio.gather(*(recent.first_unclaimed_below(store, inbox.id, end, inbox.uidvalidity)
                                       for _ in range(5)))
        assert marks == [1] * 5  # nobody claimed: all three are recent for whoever looks
    claims = await asyncio.gather(*(recent.claim(store, inbox.id, end, inbox.uidvalidity) for _ in range(8)))
    assert sorted(len(c) for c in claims) == [0] * 7 + [3]
    assert await recent.first_unclaimed(store, inbox.id) == end
    # Known past the end: no read at all, and the same answers.
    assert await recent.claim(store, inbox.id, end, inbox.uidvalidity) == range(0)
    assert await recent.first_unclaimed_below(store, inbox.id, end, inbox.uidvalidity) == end
    await store.append(inbox.id, message(9))
    assert await recent.claim(store, inbox.id, end + 1, inbox.uidvalidity) == range(end, end + 1)


def _commit_setting(conn: Connection) -> str:
    """How this transaction's commit is made durable: SQLite's ``synchronous`` level,
    PostgreSQL's ``synchronous_commit``."""
    if conn.dialect.name == "sqlite":
        return {1: "normal", 2: "full"}[conn.exec_driver_sql("PRAGMA synchronous").scalar()]
    return str(conn.exec_driver_sql("SHOW synchronous_commit").scalar())


async def test_flag_changes_do_not_wait_for_the_disk(any_app: App) -> None:
    """Dovecot's mail_fsync=optimized: a write run with ``durable=False`` (a flag change)
    commits without waiting for the disk; every other write still does, and on SQLite
    the lazy writes queued with durable ones are committed in a batch of their own."""
    db = any_app.db
    durable, lazy = ("full", "normal") if db.is_sqlite else ("on", "off")
    assert await db.run_write(_commit_setting) == durable
    assert await db.run_write(_commit_setting, durable=False) == lazy
    assert await db.run_write(_commit_setting) == durable
    together = await asyncio.gather(db.run_write(_commit_setting, durable=False), db.run_write(_commit_setting),
                                    db.run_write(_commit_setting, durable=False))
    assert together == [lazy, durable, lazy]
    store = any_app.store
    box = await store.create_mailbox("co@soctrang.gov.vn")
    inbox = await store.get_folder(box.id, "INBOX")
    assert inbox is not None
    uid = await store.append(inbox.id, message(1))
    if db.is_sqlite:
        # A STORE committed in one batch with a lazy write: the batch stays lazy, so the
        # STORE did not ask for the disk either.
        changed, probe = await asyncio.gather(store.store_flags(inbox.id, [uid], "add", flags.SEEN),
                                              db.run_write(_commit_setting, durable=False))
        assert [m.uid for m in changed[0]] == [uid] and probe == lazy
    else:
        await store.store_flags(inbox.id, [uid], "add", flags.SEEN)
    [meta] = await store.folder_index(inbox.id)
    assert meta.flags & flags.SEEN
    if db.is_sqlite:
        # A \\Recent claim does not ask for the disk either (RFC 3501 section 2.3.2: a
        # claim lost to a power cut leaves the messages \\Recent for the next session).
        got, probe = await asyncio.gather(recent.claim(store, inbox.id, uid + 1),
                                          db.run_write(_commit_setting, durable=False))
        assert got == range(1, uid + 1) and probe == lazy
    assert await db.run_write(_commit_setting) == durable
