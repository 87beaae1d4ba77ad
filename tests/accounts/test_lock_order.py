"""Every writer of the guessing counters (``login_throttle``) takes the audit writer's lock
first (PostgreSQL), so two of them never wait for each other crosswise.

A failed login takes the audit lock, then updates the counters' rows (``_failed``); a
successful one deleted the account's counter row first and took the audit lock only when
it appended its record. A success and a failure of one account at once then each held
what the other wanted: PostgreSQL broke the deadlock, and under the audit test's load the
same login lost five times running and its caller got "deadlock detected". The reset and
the unlock of a password did the same. Here the test holds the audit lock itself: a
writer that takes it first waits for it before touching any counter row, so the row stays
free (``FOR UPDATE NOWAIT`` takes it); one that touches the row first holds its lock
while it waits."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from congthu.accounts import lockout
from congthu.app import App
from congthu.audit.trail import _PG_LOCK
from tests.conftest import make_data_dir

ADDRESS = "ntbinh@soctrang.gov.vn"
PASSWORD = "Song@Hau7River"


async def _waiting_for_the_audit_lock(peer: asyncpg.Connection) -> bool:
    found = await peer.fetchval(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = $1",
        _PG_LOCK & 0xFFFFFFFF)
    return bool(found)


async def _counter_row_is_free(peer: asyncpg.Connection, kind: str, key: str) -> bool:
    async with peer.transaction():
        try:
            await peer.fetch("SELECT id FROM login_throttle WHERE kind = $1 AND key = $2 FOR UPDATE NOWAIT",
                             kind, key)
        except asyncpg.LockNotAvailableError:
            return False
    return True


@pytest.mark.parametrize("writer", ["login", "reset", "unlock"])
async def test_a_counters_writer_waits_for_the_audit_lock_before_the_rows(
        tmp_path: Path, postgres: Any, writer: str) -> None:
    url = postgres.create_database()
    app = await App.open(await make_data_dir(tmp_path / "data", database={"url": url}))
    peer = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        mailbox = await app.store.create_mailbox(ADDRESS, "Nguyễn Thanh Bình")
        await app.accounts.set_password(mailbox.id, PASSWORD, must_change=False)
        refused = await app.accounts.authenticate(ADDRESS, "Sai#MatKhau1", protocol="imap", client_ip="192.0.2.1")
        assert not refused.ok  # the account's counter row exists now
        writes: dict[str, Callable[[], Awaitable[Any]]] = {
            "login": lambda: app.accounts.authenticate(ADDRESS, PASSWORD, protocol="imap", client_ip="192.0.2.2"),
            "reset": lambda: app.accounts.reset_password(mailbox.id, actor="admin@soctrang.gov.vn"),
            "unlock": lambda: app.accounts.unlock(ADDRESS, actor="admin@soctrang.gov.vn"),
        }
        await peer.execute("SELECT pg_advisory_lock($1)", _PG_LOCK)
        task = asyncio.ensure_future(writes[writer]())
        try:
            for _ in range(500):
                if await _waiting_for_the_audit_lock(peer):
                    break
                await asyncio.sleep(0.01)
            else:
                pytest.fail("the writer never waited for the audit lock")
            assert await _counter_row_is_free(peer, lockout.ACCOUNT, ADDRESS)
        finally:
            await peer.execute("SELECT pg_advisory_unlock($1)", _PG_LOCK)
        await task
        assert await peer.fetchval("SELECT count(*) FROM login_throttle WHERE kind = 'account' AND key = $1",
                                   ADDRESS) == 0  # and it did clear the counter
    finally:
        await peer.close()
        await app.close()
