"""The group commit across processes (SQLite): a round whose writer thread waited for
another process's writer lock takes, once it holds it, the write functions queued
meanwhile, so they commit with it instead of waiting for a round and the lock again."""

from __future__ import annotations

import asyncio
import fcntl
import os
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Connection

from congthu.db import Database


def _insert(conn: Connection, value: str) -> str:
    conn.execute(text("INSERT INTO scratch (value) VALUES (:v)"), {"v": value})
    return value


async def test_writes_queued_while_waiting_for_the_lock_join_the_round(tmp_path: Path) -> None:
    path = tmp_path / "meta.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await db.run_write(lambda conn: conn.execute(text("CREATE TABLE scratch (value TEXT)")))
        commits: list[int] = []
        assert db._sync_writer is not None
        event.listen(db._sync_writer, "commit", lambda _conn: commits.append(1))
        # Another process's writer holds the lock (a flock of its own open file).
        other = os.open(f"{path}-writer", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(other, fcntl.LOCK_EX)
            first = asyncio.ensure_future(db.run_write(_insert, "a"))
            await asyncio.sleep(0)  # queued, and the round's task started
            while db._write_queue:
                await asyncio.sleep(0)  # the round has taken it: its thread waits for the lock
            assert not first.done()
            later = [asyncio.ensure_future(db.run_write(_insert, v, durable=v != "c")) for v in "bcde"]
            while len(db._write_queue) < 4:
                await asyncio.sleep(0)
        finally:
            fcntl.flock(other, fcntl.LOCK_UN)
            os.close(other)
        assert await asyncio.gather(first, *later) == list("abcde")
        # One round: its non-durable batch ("c") and its durable one, two commits; the
        # writes queued while it waited did not wait for a round of their own.
        assert len(commits) == 2, commits
        rows = await db.run_read(lambda conn: [r[0] for r in conn.execute(text("SELECT value FROM scratch"))])
        assert sorted(rows) == list("abcde")
    finally:
        await db.dispose()

