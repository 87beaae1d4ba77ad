"""Periodic jobs that run once per period across every worker process and every node.

Every worker of ``congthu serve`` (and every node on a shared PostgreSQL) runs each
package's ``jobs(app)``; a job that must not run twice at once or twice in a period (the
directory's publication, password reminders that are read and then marked, counter
pruning) is wrapped in a ``PeriodicJob``. Its row of ``job_leases`` holds:

- a lease: the random token of the run in progress and its expiry. A run is taken by
  one write transaction of conditional statements (``INSERT ... ON CONFLICT DO NOTHING``
  for a job never run, else ``UPDATE ... WHERE`` nobody holds it or the holder's lease
  ran out, and the period is over), so two workers or nodes never both win: on SQLite
  the writer holds the database's write lock from BEGIN IMMEDIATE, on PostgreSQL the
  loser waits on the row and finds the condition false. The holder renews the lease
  every third of it while it runs and ends it when done; if its process dies, the
  lease runs out and another takes the job over at its next check;
- ``last_run_at``, the start of the last run that did its work: the next run is due a
  period later, whoever runs it, across restarts. A run that did nothing (its function
  returned a false value: not due by its own measure) or failed leaves ``last_run_at``
  as it was, so the job is tried again at the next check.

The same row serves work that must not overlap other work, whatever its schedule:
``holding(db, name)`` holds the lease ``name`` for the time of a ``with`` block (the
blob store's garbage collection and a backup's copy of the blobs, ``congthu.store.jobs``).

Times are the nodes' own clocks in UTC, assumed to agree within seconds (NTP).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from congthu.cluster.tables import job_leases
from congthu.log import event
from congthu.store import utcnow

if TYPE_CHECKING:
    from congthu.db import Database

LEASE_SECONDS = 600.0  # a run's lease; renewed every third of it while the run goes on
CHECK_SECONDS = 300.0  # at most this long between two looks at a job's row

# This process's part of every holder token, for an administrator reading the table.
_NODE = f"{socket.gethostname()[:60]} {os.getpid()}"


def _aware(value: datetime | None) -> datetime | None:
    """SQLite gives the stored UTC time back without its zone."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# -- the transactions (synchronous Core, run by Database.run_write) ----------------------


def take(conn: Connection, name: str, holder: str, now: datetime, expires: datetime,
         due_before: datetime) -> tuple[bool, datetime | None]:
    """Take job ``name``'s run for ``holder`` if nobody holds it (or the lease ran out)
    and its last run began at or before ``due_before``: (taken, the last run's start)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    inserted = conn.execute(
        dialect.insert(job_leases).values(name=name, holder=holder, expires_at=expires, last_run_at=None)
        .on_conflict_do_nothing(index_elements=[job_leases.c.name])
        .returning(job_leases.c.name)
    ).first()
    if inserted is not None:
        return True, None
    taken = conn.execute(
        update(job_leases)
        .where(job_leases.c.name == name,
               or_(job_leases.c.holder.is_(None), job_leases.c.expires_at <= now),
               or_(job_leases.c.last_run_at.is_(None), job_leases.c.last_run_at <= due_before))
        .values(holder=holder, expires_at=expires)
        .returning(job_leases.c.last_run_at)
    ).first()
    if taken is not None:
        return True, _aware(taken.last_run_at)
    last = conn.execute(select(job_leases.c.last_run_at).where(job_leases.c.name == name)).scalar()
    return False, _aware(last)


def renew(conn: Connection, name: str, holder: str, expires: datetime) -> bool:
    """Extend ``holder``'s lease; False if it is no longer the holder."""
    renewed = conn.execute(
        update(job_leases).where(job_leases.c.name == name, job_leases.c.holder == holder)
        .values(expires_at=expires).returning(job_leases.c.name)
    ).first()
    return renewed is not None


def finish(conn: Connection, name: str, holder: str, ran_at: datetime | None) -> None:
    """End ``holder``'s run; ``ran_at``: when the run that did its work began (None: it did
    nothing, the period is not over)."""
    values: dict[str, Any] = {"holder": None, "expires_at": None}
    if ran_at is not None:
        values["last_run_at"] = ran_at
    conn.execute(update(job_leases).where(and_(job_leases.c.name == name, job_leases.c.holder == holder))
                 .values(**values))


# -- giving a lease back ------------------------------------------------------------------


async def _give_back(db: Database, keeper: asyncio.Task[Any], name: str, holder: str,
                     ran_at: datetime | None) -> None:
    """End a lease's run: stop its keeper, then ``finish`` (shielded, so a run cancelled
    by the server's stop still gives the lease back). Waiting for the keeper must not
    swallow a cancellation of the calling task: the server's stop, landing here, would
    otherwise be lost and a job's loop go back to sleep, holding the stop for good; it
    is raised again once the lease is back."""
    keeper.cancel()
    stopped = False
    try:
        await asyncio.wait([keeper])
    except asyncio.CancelledError:
        stopped = True
    with contextlib.suppress(Exception):
        await asyncio.shield(db.run_write(finish, name, holder, ran_at))
    if stopped:
        raise asyncio.CancelledError


# -- work that must not overlap ---------------------------------------------------------


class LeaseBusy(Exception):
    """Another process held the lease for the whole wait."""


@contextlib.asynccontextmanager
async def holding(db: Database, name: str, *, wait: float = 0.0, poll: float = 2.0,
                  lease: float = LEASE_SECONDS) -> AsyncIterator[None]:
    """Hold lease ``name`` (a row of ``job_leases``) while the block runs, renewed every
    third of ``lease``; wait up to ``wait`` seconds for another holder to let it go, else
    ``LeaseBusy``. Whether a period is over does not matter here, and ``last_run_at`` is
    left as it was."""
    holder = f"{_NODE} {secrets.token_hex(8)}"
    deadline = asyncio.get_running_loop().time() + wait
    far = datetime.max.replace(tzinfo=UTC)  # any last run is "before" this: always due
    while True:
        now = utcnow()
        taken, _last = await db.run_write(take, name, holder, now, now + timedelta(seconds=lease), far)
        if taken:
            break
        if asyncio.get_running_loop().time() >= deadline:
            raise LeaseBusy(name)
        await asyncio.sleep(poll)

    async def keep() -> None:
        while True:
            await asyncio.sleep(lease / 3)
            with contextlib.suppress(Exception):  # the database may be away a moment
                await db.run_write(renew, name, holder, utcnow() + timedelta(seconds=lease))

    keeper = asyncio.create_task(keep())
    try:
        yield
    finally:
        await _give_back(db, keeper, name, holder, None)


# -- a job -------------------------------------------------------------------------------


class PeriodicJob:
    """Run ``work()`` every ``every()`` seconds (0 or None: the schedule is off, look again
    later), once across every process and node sharing ``db``. ``work`` returns a true
    value when it did its work; false when it found nothing due (the period is not
    counted)."""

    def __init__(self, db: Database, name: str, every: Callable[[], float | None],
                 work: Callable[[], Awaitable[Any]], *, check: float = CHECK_SECONDS,
                 lease: float = LEASE_SECONDS, clock: Callable[[], datetime] = utcnow) -> None:
        self.db, self.name, self.every, self.work = db, name, every, work
        self.check, self.lease, self.clock = check, lease, clock

    async def run_once(self) -> tuple[bool, float]:
        """Run the job if it is due and nobody else runs it: (did it run, seconds until it
        is worth looking again)."""
        period = self.every() or 0.0
        if period <= 0:
            return False, self.check
        holder = f"{_NODE} {secrets.token_hex(8)}"
        now = self.clock()
        taken, last = await self.db.run_write(
            take, self.name, holder, now, now + timedelta(seconds=self.lease), now - timedelta(seconds=period))
        if not taken:
            wait = self.check if last is None else (last + timedelta(seconds=period) - now).total_seconds()
            return False, min(max(wait, 1.0), self.check)
        ran_at: datetime | None = None
        keeper = asyncio.create_task(self._keep(holder, asyncio.current_task()))
        try:
            if await self.work():
                ran_at = now
        except asyncio.CancelledError:
            if keeper.done() and keeper.result() is False:  # cancelled by _keep, not by the server
                task = asyncio.current_task()
                if task is not None:
                    task.uncancel()
                event("job.lease_lost", job=self.name)
                return False, self.check
            raise
        except Exception as exc:  # a failed run is tried again at the next check
            event("job.failed", job=self.name, error=str(exc)[:500])
        finally:
            await _give_back(self.db, keeper, self.name, holder, ran_at)
        return ran_at is not None, min(period if ran_at else self.check, self.check)

    async def _keep(self, holder: str, run: asyncio.Task[Any] | None) -> bool:
        """Renew the lease every third of it; if it was lost, cancel the run and return False."""
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                kept = await self.db.run_write(
                    renew, self.name, holder, self.clock() + timedelta(seconds=self.lease))
            except Exception:  # noqa: S112 - the database may be away: the lease has two more thirds
                continue
            if not kept:
                if run is not None:
                    run.cancel()
                return False

    async def forever(self) -> None:
        """The job's loop for ``congthu serve`` (see ``jobs(app)`` of the packages)."""
        while True:
            try:
                _ran, wait = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be away for a moment
                event("job.failed", job=self.name, error=str(exc)[:500])
                wait = self.check
            # A little jitter, so the workers of a node do not all ask at the same instant.
            await asyncio.sleep(wait + random.uniform(0, min(5.0, wait / 10)))  # noqa: S311 - not a secret


def housekeeping(db: Database, name: str, interval: float, work: Callable[[], Awaitable[Any]], *,
                 failed: str) -> PeriodicJob:
    """A housekeeping job (a purge, a report) that runs ``work()`` every ``interval``
    seconds, once across every process and node: a run that fails is logged as the
    event ``failed`` and counts as done, so it is tried again at the next interval rather
    than at every check (a bare ``PeriodicJob`` retries a failed run at the next check)."""

    async def run() -> bool:
        try:
            await work()
        except Exception as exc:  # noqa: BLE001 - retried at the next interval
            event(failed, error=str(exc)[:500])
        return True

    return PeriodicJob(db, name, lambda: interval, run)
