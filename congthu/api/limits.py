"""The API's rate limits, shared by every worker process of ``congthu serve`` and every
node of a cluster (``api.calls_per_minute`` per token, ``api.refused_per_minute`` of calls
without a valid token per client address): with ``server.workers`` 2, a client spread
over both workers gets the limit once, not twice.

Each limit is a token bucket kept in the database (``api_rate_buckets``, one row per key:
"token:12", "address:127.0.0.1"), of capacity the limit and refilled at the limit's rate,
like the login throttle of ``congthu.accounts.lockout`` is kept in ``login_throttle`` so
that every process sees it. A worker does not write the row for every call: it takes a
*lease* of calls from the shared bucket (one write) and spends it locally, then takes
another. A lease starts at one call and doubles while the worker uses its leases up
within ``LEASE_SECONDS``, up to a twentieth of the limit (30 calls at 600 a minute: one
write per 30 calls of a busy client); a lease not used up in ``LEASE_SECONDS`` is dropped
and the next one halves. So:

* no call is ever made beyond the limit: each spends a call taken from the shared bucket;
* what a worker may strand is at most one lease for ``LEASE_SECONDS`` (a client refused
  a little early on another worker, never a client let through too often);
* a refused key is remembered by the worker until a call could be there again, so a
  flood of refused calls costs no write at all.

The keys' local leases are per App (``Service.limiter``), at most ``size`` keys.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from congthu.api.tables import api_rate_buckets
from congthu.log import event

if TYPE_CHECKING:
    from congthu.db import Database

# A lease not used up within this many seconds is dropped (its calls are lost, never
# given twice).
LEASE_SECONDS = 5.0
# The largest lease: this fraction of the limit (what one worker may strand).
LEASE_SHARE = 20
# A bucket idle this long is full again: its row is deleted (checked once a minute).
IDLE_SECONDS = 120.0
PRUNE_EVERY = 60.0


def claim(conn: Connection, key: str, want: int, per_minute: int, now: float, prune: bool) -> tuple[int, float]:
    """Take up to ``want`` calls from the shared bucket ``key`` at ``now`` (seconds since
    the epoch): (calls granted, seconds until one call is there again if none was)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    if prune:
        conn.execute(delete(api_rate_buckets).where(api_rate_buckets.c.at < now - IDLE_SECONDS))
    conn.execute(dialect.insert(api_rate_buckets).values(key=key, level=float(per_minute), at=now)
                 .on_conflict_do_nothing(index_elements=[api_rate_buckets.c.key]))
    query = select(api_rate_buckets.c.level, api_rate_buckets.c.at).where(api_rate_buckets.c.key == key)
    if dialect is postgresql:  # SQLite's writer is one at a time already (BEGIN IMMEDIATE)
        query = query.with_for_update()
    row = conn.execute(query).one()
    rate = per_minute / 60.0
    # A clock behind the last writer's (another node) refills nothing rather than drains.
    level = min(float(per_minute), row.level + max(0.0, now - row.at) * rate)
    granted = max(0, min(want, int(level)))
    level -= granted
    conn.execute(update(api_rate_buckets).where(api_rate_buckets.c.key == key)
                 .values(level=level, at=max(now, row.at)))
    return granted, 0.0 if granted else (1.0 - level) / rate


@dataclass
class Lease:
    """What this worker holds of one key's bucket."""

    permits: int = 0  # calls taken from the shared bucket, not yet made
    expires: float = 0.0  # monotonic: the permits are dropped after it
    blocked_until: float = 0.0  # monotonic: refused here without asking the database
    size: int = 1  # the next lease's size


class SharedLimiter:
    """Token buckets by key, shared through the database, spent in leases (see above)."""

    def __init__(self, db: Database, size: int = 10_000) -> None:
        self.db = db
        self.size = size
        self.leases: OrderedDict[str, Lease] = OrderedDict()
        self.pruned_at = time.monotonic()

    async def take(self, key: str, per_minute: int) -> float:
        """0 if a call may go now (and it is counted), else the seconds until one may.
        Raises ``DatabaseUnavailable`` if a lease was needed and the database is busy."""
        per_minute = max(1, per_minute)
        now = time.monotonic()
        lease = self.leases.pop(key, None) or Lease()
        self.leases[key] = lease
        while len(self.leases) > self.size:
            self.leases.popitem(last=False)
        if lease.blocked_until > now:
            return lease.blocked_until - now
        if lease.permits > 0 and lease.expires > now:
            lease.permits -= 1
            return 0.0
        largest = max(1, per_minute // LEASE_SHARE)
        if lease.permits > 0:  # the last lease ran out unused: ask for less
            lease.size = max(1, lease.size // 2)
        elif lease.expires > now:  # used up in time: ask for more
            lease.size = min(largest, lease.size * 2)
        lease.size = min(largest, lease.size)
        lease.permits = 0
        prune = now - self.pruned_at >= PRUNE_EVERY
        if prune:
            self.pruned_at = now
        granted, wait = await self.db.run_write(claim, key, lease.size, per_minute, time.time(), prune)
        if not granted:
            lease.blocked_until = time.monotonic() + wait
            # Once per refused period and worker (the calls refused meanwhile are not logged).
            event("api.rate_limited", key=key, wait=round(wait, 1))
            return wait
        # Other calls of this key on this worker may have taken leases meanwhile: add up.
        lease.permits += granted - 1
        lease.expires = time.monotonic() + LEASE_SECONDS
        return 0.0
