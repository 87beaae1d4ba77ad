"""The writer thread's transactions on SQLite (``db._begin``): BEGIN IMMEDIATE and COMMIT
go straight to pysqlite, so a write function whose statements all run on the driver (a
delivery's, ``rows.Compiled``) makes no SQLAlchemy transaction; one that runs Core
statements joins the transaction begun on the driver and is committed through Core. Each
commits or rolls back as before, alone or in a batch's savepoints."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Connection

from congthu.db import Database


def _driver(conn: Connection) -> sqlite3.Connection:
    driver = conn.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    return driver


def _on_driver(conn: Connection, value: str) -> tuple[bool, bool]:
    """An INSERT on the driver alone: (the driver is in a transaction, Core is)."""
    driver = _driver(conn)
    driver.execute("INSERT INTO scratch (value) VALUES (?)", (value,))
    return driver.in_transaction, conn.in_transaction()


def _mixed(conn: Connection, value: str) -> bool:
    _driver(conn).execute("INSERT INTO scratch (value) VALUES (?)", (value + "-driver",))
    conn.execute(text("INSERT INTO scratch (value) VALUES (:v)"), {"v": value + "-core"})
    return conn.in_transaction()


def _failing(conn: Connection, value: str) -> None:
    _driver(conn).execute("INSERT INTO scratch (value) VALUES (?)", (value,))
    conn.execute(text("INSERT INTO scratch (value) VALUES (:v)"), {"v": value + "-core"})
    raise ValueError(value)


async def _values(path: Path) -> list[str]:
    """The committed rows, read by another connection (another Database)."""
    other = Database(f"sqlite+aiosqlite:///{path}")
    try:
        return sorted(await other.run_read(
            lambda conn: [r[0] for r in conn.execute(text("SELECT value FROM scratch"))]))
    finally:
        await other.dispose()


@contextlib.asynccontextmanager
async def _scratch(tmp_path: Path) -> AsyncIterator[tuple[Database, Path]]:
    """A database with one table, ``scratch``, and its file."""
    path = tmp_path / "meta.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await db.run_write(lambda conn: conn.execute(text("CREATE TABLE scratch (value TEXT)")))
        yield db, path
    finally:
        await db.dispose()


async def test_driver_statements_commit_without_a_core_transaction(tmp_path: Path) -> None:
    async with _scratch(tmp_path) as (db, path):
        # Begun on the driver (BEGIN IMMEDIATE), not by SQLAlchemy.
        assert await db.run_write(_on_driver, "a") == (True, False)
        assert await _values(path) == ["a"]


async def test_core_statements_join_the_driver_transaction(tmp_path: Path) -> None:
    async with _scratch(tmp_path) as (db, path):
        commits: list[int] = []
        assert db._sync_writer is not None
        event.listen(db._sync_writer, "commit", lambda _conn: commits.append(1))
        assert await db.run_write(_mixed, "b") is True
        assert commits == [1]  # committed through Core: its "commit" event
        assert await _values(path) == ["b-core", "b-driver"]
        # The next transaction begins afresh (nothing left open on the driver).
        assert await db.run_write(_on_driver, "c") == (True, False)
        assert await _values(path) == ["b-core", "b-driver", "c"]


async def test_a_failing_function_rolls_back_alone_and_in_a_batch(tmp_path: Path) -> None:
    async with _scratch(tmp_path) as (db, path):
        with pytest.raises(ValueError):
            await db.run_write(_failing, "alone")
        assert await _values(path) == []
        # A batch (queued together: one round), the middle one failing: rolled back to
        # its savepoint, the others committed.
        results = await asyncio.gather(db.run_write(_on_driver, "d"), db.run_write(_failing, "e"),
                                       db.run_write(_mixed, "f"), return_exceptions=True)
        assert results[0] == (True, False)
        assert isinstance(results[1], ValueError)
        assert results[2] is True
        assert await _values(path) == ["d", "f-core", "f-driver"]
        assert await db.run_write(_on_driver, "g") == (True, False)
        assert await _values(path) == ["d", "f-core", "f-driver", "g"]


async def test_begin_immediate_waits_for_another_writer(tmp_path: Path) -> None:
    """BEGIN IMMEDIATE on the driver still takes SQLite's write lock: a write waits while
    another connection holds it, and goes on once it is released."""
    async with _scratch(tmp_path) as (db, path):
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("INSERT INTO scratch (value) VALUES ('other')")
            write = asyncio.ensure_future(db.run_write(_on_driver, "h"))
            for _ in range(20):
                await asyncio.sleep(0.01)
            assert not write.done()  # waiting for the lock (busy_timeout)
            other.execute("COMMIT")
        finally:
            other.close()
        assert await write == (True, False)
        assert await _values(path) == ["h", "other"]
