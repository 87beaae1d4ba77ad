"""``Database.run_write`` on PostgreSQL: a transaction PostgreSQL chose as a deadlock's
victim (SQLSTATE 40P01) or could not serialise (40001) was rolled back whole, and is run
again, so that its caller gets its result and not "deadlock detected" (found by
``bench/scale.py``: imaptest's APPEND, STORE and EXPUNGE on one INBOX through one node on
PostgreSQL failed with NO [SERVERBUG] several times a second)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from congthu.app import App
from congthu.store import flags
from tests.conftest import make_data_dir


async def test_a_deadlock_victim_is_run_again(tmp_path: Path, postgres: Any) -> None:
    data = await make_data_dir(tmp_path / "data", database={"url": postgres.create_database()})
    app = await App.open(data)
    try:
        def create(conn: Connection) -> None:
            conn.execute(text("CREATE TABLE deadlock_test (id integer PRIMARY KEY, v integer NOT NULL)"))
            conn.execute(text("INSERT INTO deadlock_test VALUES (1, 0), (2, 0)"))

        await app.db.run_write(create)
        runs: list[str] = []

        def crosswise(conn: Connection, first: int, second: int, name: str) -> str:
            # Each locks one row, waits until the other has locked the other, then wants it.
            runs.append(name)
            conn.execute(text("UPDATE deadlock_test SET v = v + 1 WHERE id = :id"), {"id": first})
            conn.execute(text("SELECT pg_sleep(0.5)"))
            conn.execute(text("UPDATE deadlock_test SET v = v + 1 WHERE id = :id"), {"id": second})
            return name

        done = await asyncio.gather(app.db.run_write(crosswise, 1, 2, "a"), app.db.run_write(crosswise, 2, 1, "b"))
        assert done == ["a", "b"]
        assert len(runs) == 3  # the victim ran twice

        def values(conn: Connection) -> list[int]:
            return list(conn.execute(text("SELECT v FROM deadlock_test ORDER BY id")).scalars())

        assert await app.db.run_read(values) == [2, 2]  # each committed once
    finally:
        await app.close()


async def test_append_store_and_expunge_on_one_folder_do_not_deadlock(tmp_path: Path, postgres: Any) -> None:
    """APPEND locks the mailbox row (quota) then the folder row (UIDs); EXPUNGE must take
    them in the same order (it took the folder first: imaptest on one INBOX deadlocked
    several times a second). PostgreSQL counts the deadlocks it broke."""
    url = postgres.create_database()
    data = await make_data_dir(tmp_path / "data", database={"url": url})
    app = await App.open(data)
    try:
        mailbox = await app.store.create_mailbox("ntbinh@soctrang.gov.vn", "Bình", quota_bytes=10**9)
        folder = await app.store.get_folder(mailbox.id, "INBOX")
        assert folder is not None
        raw = b"From: a@soctrang.gov.vn\r\nSubject: x\r\n\r\nNoi dung.\r\n"

        async def appender() -> None:
            for _ in range(25):
                await app.store.append(folder.id, raw)

        async def expunger() -> None:
            for _ in range(25):
                await app.store.store_flags(folder.id, list(range(1, 200)), "add", flags.DELETED)
                await app.store.expunge(folder.id)

        await asyncio.gather(appender(), appender(), expunger(), expunger())
    finally:
        await app.close()  # its backends exit, flushing their statistics

    def deadlocks(conn: Connection) -> int:
        return int(conn.execute(text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"))
                   .scalar_one())

    app = await App.open(data)
    try:
        assert await app.db.run_read(deadlocks) == 0
    finally:
        await app.close()
