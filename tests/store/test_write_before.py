"""``Database.run_write``'s ``before``: blocking work a write's transaction depends on (an
APPEND's blob fsyncs), done first. On SQLite the writer thread does it as the round
begins, outside the lock that keeps the other processes' writers out, in one call for all
the writes of the round that share it; the round's non-durable writes do not wait for it;
a before that fails fails its writes, which then never run. On PostgreSQL it runs in a
thread before the transaction."""

from __future__ import annotations

import asyncio
import fcntl
import os
import threading
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from congthu.app import App
from congthu.store.tables import folders


async def _mailbox(app: App, name: str) -> int:
    return (await app.store.create_mailbox(f"{name}@soctrang.gov.vn")).id


def _adder(box: int, done: list[str] | None) -> Any:
    """A write function that adds folder ``name``, after checking that the before it was
    queued with (``done``) has run, if given."""

    def add(conn: Connection, name: str) -> str:
        assert done is None or name in done, f"{name}: written before its before ran"
        conn.execute(insert(folders).values(mailbox_id=box, name=name, uidvalidity=1, uidnext=1,
                                            highestmodseq=1, subscribed=True))
        return name

    return add


async def _names(app: App, box: int) -> set[str]:
    """The folders the tests added (names of two letters at most, not INBOX, Sent...)."""
    def read(conn: Connection) -> set[str]:
        names = conn.execute(select(folders.c.name).where(folders.c.mailbox_id == box)).scalars()
        return {name for name in names if len(name) <= 2}

    return await app.db.run_read(read)


async def test_a_failed_before_fails_its_writes_and_no_other(any_app: App) -> None:
    box = await _mailbox(any_app, "truoc")
    done: list[str] = []

    def fine(items: list[str]) -> None:
        done.extend(items)

    def broken(items: list[str]) -> None:
        raise OSError(5, f"fsync failed for {items}")

    add = _adder(box, None)  # so that a write run despite its failed before commits
    results = await asyncio.gather(
        any_app.db.run_write(add, "A", before=(fine, ["A"])),
        any_app.db.run_write(add, "B", before=(broken, ["B"])),
        any_app.db.run_write(add, "C", before=(fine, ["C"])),
        any_app.db.run_write(add, "D", before=(broken, ["D"])),
        return_exceptions=True)
    assert results[0] == "A" and results[2] == "C"
    assert isinstance(results[1], OSError) and isinstance(results[3], OSError)
    assert sorted(done) == ["A", "C"]
    assert await _names(any_app, box) == {"A", "C"}


async def test_the_befores_of_a_round_are_one_call_on_the_writer_thread(app: App) -> None:
    box = await _mailbox(app, "mot")
    done: list[str] = []
    calls: list[tuple[str, list[str]]] = []

    def flush(items: list[str]) -> None:
        calls.append((threading.current_thread().name, list(items)))
        done.extend(items)

    add = _adder(box, done)
    names = ["E1", "E2", "E3", "E4"]
    # Queued together (the round begins once the loop is free): one round, one call.
    assert await asyncio.gather(*(app.db.run_write(add, name, before=(flush, [name])) for name in names)) == names
    [(thread, items)] = calls
    assert thread.startswith("congthu-db-write") and items == names
    assert await _names(app, box) == set(names)


async def test_a_before_runs_outside_the_writer_lock_and_lazy_writes_do_not_wait(app: App) -> None:
    """A before held on the writer thread: meanwhile the writer lock is free (another
    process could commit) and the non-durable write queued with it is answered; the
    durable write waits for its before."""
    box = await _mailbox(app, "ngoai")
    done: list[str] = []
    inside, release = threading.Event(), threading.Event()

    def slow(items: list[str]) -> None:
        inside.set()
        release.wait(60)  # bounded, so that a failing run does not hang the suite
        done.extend(items)

    add = _adder(box, done)
    done.append("L")  # the lazy write has no before
    durable = asyncio.create_task(app.db.run_write(add, "F", before=(slow, ["F"])))
    lazy = asyncio.create_task(app.db.run_write(add, "L", durable=False))
    try:
        finished, _pending = await asyncio.wait({lazy}, timeout=30)
        assert lazy in finished, "the non-durable write waited for the before"
        assert lazy.result() == "L"
        assert await asyncio.to_thread(inside.wait, 30)
        lock = app.db._writer_lock
        assert lock is not None
        fd = os.open(lock.path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if the writer held it
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        assert not durable.done()
    finally:
        release.set()
    assert await durable == "F"
    assert await _names(app, box) == {"F", "L"}


async def test_an_append_cancelled_while_queued_leaves_no_temporary_file(app: App) -> None:
    """An APPEND cancelled while its write waits in the queue (its blob staged, not yet
    flushed) removes its temporary file and adds nothing."""
    box = await app.store.create_mailbox("huy@soctrang.gov.vn")
    inbox = await app.store.get_folder(box.id, "INBOX")
    assert inbox is not None
    inside, release = threading.Event(), threading.Event()

    def hold(_conn: Connection) -> None:
        inside.set()
        release.wait(60)  # bounded, so that a failing run does not hang the suite

    holding = asyncio.create_task(app.db.run_write(hold))
    try:
        assert await asyncio.to_thread(inside.wait, 30)  # the writer is busy: the APPEND queues
        append = asyncio.create_task(app.store.append(inbox.id, b"Subject: huy\r\n\r\nhuy\r\n"))
        for _ in range(1000):
            if app.db._write_queue:
                break
            await asyncio.sleep(0)
        assert app.db._write_queue and list(app.store.blobs.tmp.iterdir())  # type: ignore[attr-defined]
        append.cancel()
        with pytest.raises(asyncio.CancelledError):
            await append
    finally:
        release.set()
    await holding
    assert list(app.store.blobs.tmp.iterdir()) == []  # type: ignore[attr-defined]
    assert await app.store.folder_index(inbox.id) == []
