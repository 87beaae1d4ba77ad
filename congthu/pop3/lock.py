"""The maildrop lock: one POP3 session per mailbox, across every process and node that
shares the database.

RFC 1939 section 8: once a client has logged in, the server locks the maildrop, so that
a second session gets ``-ERR [IN-USE]`` (RFC 2449 section 8.1.1, RFC 3206) instead of
a numbering that deletions in the first session would upset.

The lock is a row of ``pop3_locks`` with the holder's random token and an expiry (a
lease). The holding session renews the lease while it lives (``MaildropLock.keep``) and
deletes the row when it ends, however it ends. If its process or node dies, the row
stays until the lease runs out, and then the next session takes it over: a crashed
node never locks a maildrop for good. The lease is ``POP3Settings.lock_lease``, twice
``pop3.idle_timeout`` (at least 20 minutes), renewed every third of it.

Taking the lock is one write transaction of conditional statements, so two nodes can
never both win: ``INSERT ... ON CONFLICT DO NOTHING`` when no row exists, else
``UPDATE ... WHERE expires_at <= now``. On SQLite the writer holds the database's write
lock from BEGIN IMMEDIATE; on PostgreSQL the loser waits on the row (or the primary key)
and then finds the condition false. Times are the nodes' own clocks in UTC; they are
assumed to agree within seconds (NTP), small against a lease of twenty minutes.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError

from congthu.db import Database, DatabaseUnavailable
from congthu.pop3.tables import pop3_locks
from congthu.store import utcnow

T = TypeVar("T")

# This process's part of every owner token, for an administrator reading the table.
_NODE = f"{socket.gethostname()[:60]} {os.getpid()}"


class MaildropLocks:
    """Takes maildrop locks for the POP3 sessions of this process."""

    def __init__(self, db: Database, lease: float, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.lease = lease
        # The time in UTC; tests move it forward to let a lease run out.
        self.clock = clock

    async def acquire(self, mailbox_id: int) -> MaildropLock | None:
        """The lock of this mailbox's maildrop, or None if another live session holds it."""
        owner = f"{_NODE} {secrets.token_hex(8)}"
        now = self.clock()
        won = await self._write(_acquire, mailbox_id, owner, now, now + timedelta(seconds=self.lease))
        return MaildropLock(self, mailbox_id, owner) if won else None

    async def holder(self, mailbox_id: int) -> str | None:
        """The owner token of the live lock on this maildrop, if any."""
        def read(conn: Connection) -> str | None:
            row = conn.execute(select(pop3_locks.c.owner, pop3_locks.c.expires_at)
                               .where(pop3_locks.c.mailbox_id == mailbox_id)).first()
            if row is None or _aware(row.expires_at) <= self.clock():
                return None
            return str(row.owner)
        return await self._call(self.db.run_small_read, read)  # one row by key

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._call(self.db.run_write, fn, *args)

    async def _call(self, run: Callable[..., Any], fn: Callable[..., T], *args: Any) -> T:
        try:
            return await run(fn, *args)  # type: ignore[no-any-return]
        except (OperationalError, OSError) as exc:
            raise DatabaseUnavailable(f"Cơ sở dữ liệu không sẵn sàng / database unavailable: {exc}") from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise DatabaseUnavailable(f"Cơ sở dữ liệu không sẵn sàng / database unavailable: {exc}") from exc
            raise


@dataclass
class MaildropLock:
    """A lock held by one session: renew it while the session lives, release it at the end."""

    locks: MaildropLocks
    mailbox_id: int
    owner: str

    async def renew(self) -> bool:
        """Extend the lease; False if the lock is no longer ours (it ran out and another
        session took it over)."""
        expires = self.locks.clock() + timedelta(seconds=self.locks.lease)
        return await self.locks._write(_renew, self.mailbox_id, self.owner, expires)

    async def release(self) -> None:
        """Give the maildrop back (only if still ours)."""
        await self.locks._write(_release, self.mailbox_id, self.owner)

    async def keep(self) -> None:
        """Renew the lease every third of it; return once the lock is lost. A database
        that does not answer is tried again at the next turn (the lease has two more)."""
        while True:
            await asyncio.sleep(self.locks.lease / 3)
            try:
                if not await self.renew():
                    return
            except DatabaseUnavailable:
                continue


# -- the transactions (synchronous Core, run by Database.run_write) ----------------------


def _insert(conn: Connection) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(pop3_locks)


def _acquire(conn: Connection, mailbox_id: int, owner: str, now: datetime, expires: datetime) -> bool:
    values = {"owner": owner, "acquired_at": now, "expires_at": expires}
    inserted = conn.execute(
        _insert(conn).values(mailbox_id=mailbox_id, **values)
        .on_conflict_do_nothing(index_elements=[pop3_locks.c.mailbox_id])
        .returning(pop3_locks.c.owner)
    ).first()
    if inserted is not None:
        return True
    # A row exists: take it over only if its lease has run out (its holder died).
    taken = conn.execute(
        update(pop3_locks)
        .where(pop3_locks.c.mailbox_id == mailbox_id, pop3_locks.c.expires_at <= now)
        .values(**values)
        .returning(pop3_locks.c.owner)
    ).first()
    return taken is not None


def _renew(conn: Connection, mailbox_id: int, owner: str, expires: datetime) -> bool:
    renewed = conn.execute(
        update(pop3_locks)
        .where(pop3_locks.c.mailbox_id == mailbox_id, pop3_locks.c.owner == owner)
        .values(expires_at=expires)
        .returning(pop3_locks.c.owner)
    ).first()
    return renewed is not None


def _release(conn: Connection, mailbox_id: int, owner: str) -> None:
    conn.execute(delete(pop3_locks).where(pop3_locks.c.mailbox_id == mailbox_id,
                                          pop3_locks.c.owner == owner))


def _aware(value: datetime) -> datetime:
    """SQLite gives the stored UTC time back without its zone."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
