"""The group commit's writer thread (SQLite, ``Database._write_rounds``): one thread for
the Database's life that goes from one round to the next by itself, without the event
loop (waking a thread from the loop was the cost, not the hand-over), woken only when it
waits for work; ended by ``dispose``, and kept out by ``migrate``'s write slot."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection

from congthu.db import Database, migrate

# Generous: how long a test waits for something that should happen at once (on a busy
# machine); the tests assert what happens, never how fast.
PATIENCE = 30.0


def _insert(conn: Connection, value: str) -> int:
    conn.execute(text("INSERT INTO scratch (value) VALUES (:v)"), {"v": value})
    return threading.get_ident()


def _writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("congthu-db-write")]


async def test_the_next_round_runs_while_the_event_loop_is_held(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}")
    try:
        await db.run_write(lambda conn: conn.execute(text("CREATE TABLE scratch (value TEXT)")))
        started, release, second_ran = threading.Event(), threading.Event(), threading.Event()

        def first(conn: Connection) -> int:
            started.set()
            release.wait(PATIENCE)
            return _insert(conn, "a")

        def second(conn: Connection) -> int:
            second_ran.set()
            return _insert(conn, "b")

        one = asyncio.ensure_future(db.run_write(first))
        await asyncio.to_thread(started.wait, PATIENCE)  # the first round is under way
        two = asyncio.ensure_future(db.run_write(second))
        await asyncio.sleep(0)  # queued behind it
        assert db._write_queue and not second_ran.is_set()
        release.set()
        # The event loop is held here, on purpose: the writer thread must take the next
        # round by itself (a loop task handing it each round would never get to run).
        assert second_ran.wait(PATIENCE)
        assert await one == await two  # one thread ran both rounds
    finally:
        await db.dispose()


async def test_one_thread_for_every_round_until_dispose(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}")
    before = set(_writer_threads())
    await db.run_write(lambda conn: conn.execute(text("CREATE TABLE scratch (value TEXT)")))
    idents = {await db.run_write(_insert, "x")}
    for _round in range(3):  # several rounds, some of them with several functions
        idents.update(await asyncio.gather(*(db.run_write(_insert, str(i), durable=i % 2 == 0)
                                             for i in range(5))))
    assert len(idents) == 1
    mine = [t for t in _writer_threads() if t not in before]
    assert [t.ident for t in mine] == list(idents)
    await db.dispose()
    assert not mine[0].is_alive()  # dispose ends it, after what was queued
    assert not [t for t in _writer_threads() if t not in before]


async def test_migrate_holds_the_writer_thread_off(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}")
    try:
        await db.run_write(lambda conn: conn.execute(text("CREATE TABLE scratch (value TEXT)")))
        db._write_slot.acquire()  # as migrate holds it while it upgrades
        try:
            write = asyncio.ensure_future(db.run_write(_insert, "a"))
            while db._write_queue:
                await asyncio.sleep(0)  # the thread took it and waits for the slot
            await asyncio.sleep(0.05)
            assert not write.done()
            # migrate waits for the slot too, in a thread: the loop goes on meanwhile.
            upgrade = asyncio.ensure_future(migrate(db))
            await asyncio.sleep(0.05)
            assert not upgrade.done() and not write.done()
        finally:
            db._write_slot.release()
        await asyncio.wait_for(asyncio.gather(write, upgrade), PATIENCE)
        count = await db.run_read(lambda conn: conn.execute(text("SELECT count(*) FROM scratch")).scalar())
        assert count == 1
    finally:
        await db.dispose()
