"""Password guessing: failure counters, growing delays and temporary locks (Điều 9.9-9.10).

Three counters, kept in ``login_throttle`` so that every process of a cluster sees them:

- per client address and account (``pair``; an IPv6 address counts by its /64): after
  ``login.address_delay_after`` failures each further failure of that account from that
  address waits ``delay_base_seconds * 2**k`` (at most ``max_delay_seconds``) before the
  answer; after ``address_lock_after`` failures that account is locked from that address
  for ``lock_minutes``. Applications behind one address (an application server, a NAT)
  bind for all their users: one misconfigured application, or one user's stale
  password, locks only that account from there, never every account behind it;
- per client address, over every account (spraying one password across many accounts):
  delayed after ``address_all_accounts_delay_after`` failures and locked after
  ``address_all_accounts_lock_after`` (higher thresholds), then nobody logs in from it.
  This counter leaks (``fail(leaking=True)``): ``address_all_accounts_lock_after``
  failures drain away per ``lock_minutes``, so the failures of the many people behind
  an application server, spread over a day, never add up to a lock; a burst does;
- per account, counting only failures from addresses (and pairs) that are not locked:
  after ``account_lock_after`` failures the account is locked for ``lock_minutes``.

Per-address throttling comes first, so one guessing machine locks itself out long before
it can lock the account: its owner keeps logging in from elsewhere. Only guessing from
many addresses locks the account. A counter restarts when ``lock_minutes`` pass without a
failure. The same wrong password tried again (a phone with a stale password) counts once.
An administrator lifts locks with ``congthu user unlock`` (an account: its own counter
and its pairs; an address: its own counter and its pairs).

Each checked failure is audited (``login.failed``); attempts refused by a lock are
audited the first time and then once a minute with their count (``login.locked``).

The delay is awaited inside ``Accounts.authenticate`` (so no door can forget it) and also
returned in ``AuthResult.delay``; tests shorten it with the settings.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.engine import Connection

from congthu.accounts.tables import login_throttle
from congthu.config import LoginSettings
from congthu.net import address_unit
from congthu.store.changes import account_changed

ADDRESS = "address"
ACCOUNT = "account"
PAIR = "pair"
# The longest key the table holds (login_throttle.key).
MAX_KEY = 320


@dataclass(frozen=True)
class Counter:
    failures: int = 0
    locked_until: datetime | None = None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now


def address_key(client_ip: str) -> str:
    """The throttling key of a client address: the unit connection caps count it by
    (``net.address_unit``: IPv4 as is, IPv6 by its /64 prefix)."""
    if not client_ip:
        return "-"
    unit = address_unit(client_ip)
    return client_ip[:100] if unit is None else unit


def is_loopback(client_ip: str) -> bool:
    try:
        return ipaddress.ip_address(client_ip.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def lock_key(kind: str, key: str) -> str:
    """The account-feed key of a counter's lock (``accounts/states.py`` keeps which
    counters are not locked; a new lock is announced by ``fail``)."""
    return f"l{kind} {key}"


def pair_key(address: str, account: str) -> str:
    """The key of the (client address, account) counter: "ADDRESS ACCOUNT" (an address
    key has no space); an account too long for the column is kept as its digest."""
    key = f"{address} {account}"
    return key if len(key) <= MAX_KEY else f"{address} {_digest(account)}"


def _digest(account: str) -> str:
    return "#" + hashlib.sha256(account.encode("utf-8", "surrogatepass")).hexdigest()


def fingerprint(username: str, password: str) -> str:
    return hashlib.sha256(f"{username}\0{password}".encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def delay_for(failures: int, settings: LoginSettings, after: int | None = None) -> float:
    """Seconds to wait before answering the next failure of a counter that delays after
    ``after`` failures (``address_delay_after`` if None)."""
    over = failures - (settings.address_delay_after if after is None else after)
    if over < 0:
        return 0.0
    return float(min(settings.max_delay_seconds, settings.delay_base_seconds * (2 ** min(over, 30))))


def _counter(row: Any, now: datetime, settings: LoginSettings) -> Counter:
    if row is None:
        return Counter()
    locked_until = _aware(row.locked_until)
    last = _aware(row.last_failure_at)
    assert last is not None
    if (locked_until is None or locked_until <= now) and now - last > timedelta(minutes=settings.lock_minutes):
        return Counter()  # quiet for a whole window: start again
    return Counter(row.failures, locked_until)


_ALL = select(login_throttle).where(or_(
    and_(login_throttle.c.kind == ADDRESS, login_throttle.c.key == bindparam("b_address")),
    and_(login_throttle.c.kind == PAIR, login_throttle.c.key == bindparam("b_pair")),
    and_(login_throttle.c.kind == ACCOUNT, login_throttle.c.key == bindparam("b_account")),
))


@dataclass(frozen=True)
class Counters:
    """The three counters that decide a login: the client address over every account,
    the (address, account) pair, the account from every address."""

    address: Counter
    pair: Counter
    account: Counter

    def lock(self, now: datetime) -> tuple[str, Counter] | None:
        """(kind, counter) of the lock that refuses a login now, if any: the address
        first, then the pair, then the account."""
        for kind, counter in ((ADDRESS, self.address), (PAIR, self.pair), (ACCOUNT, self.account)):
            if counter.locked(now):
                return kind, counter
        return None


def read_counters(conn: Connection, address: str, account: str, now: datetime,
                  settings: LoginSettings) -> Counters:
    """The counters of a client address, of that address with an account, and of the
    account, in one query (a synchronous read: ``Database.run_small_read``, before every
    login)."""
    rows = conn.execute(_ALL, {"b_address": address, "b_pair": pair_key(address, account),
                               "b_account": account}).all()
    found = {r.kind: r for r in rows}
    return Counters(*(_counter(found.get(kind), now, settings) for kind in (ADDRESS, PAIR, ACCOUNT)))


def failure_delay(address: Counter, pair: Counter, settings: LoginSettings) -> float:
    """Seconds to wait before answering a failure: the pair's delay, or the address's
    over every account when that is longer (spraying)."""
    return max(delay_for(pair.failures, settings),
               delay_for(address.failures, settings, settings.address_all_accounts_delay_after))


def fail(conn: Connection, kind: str, key: str, now: datetime, settings: LoginSettings,
         lock_after: int, print_: str, *, leaking: bool = False) -> tuple[Counter, bool]:
    """Count one failure; returns the counter and whether this failure caused a lock.

    ``leaking`` (the address over every account): a leaky bucket, ``lock_after``
    failures leak away per ``lock_minutes``, so only a burst locks. The application
    servers and NATs behind which many people log in see a failure now and then all day
    long; counted until a quiet ``lock_minutes``, those would lock every one of them
    sooner or later. ``last_failure_at`` is then the bucket's clock (whole leaks only)."""
    row = conn.execute(
        select(login_throttle).where(and_(login_throttle.c.kind == kind, login_throttle.c.key == key))
    ).first()
    window = timedelta(minutes=settings.lock_minutes)
    if row is None:
        failures, locked_until = 1, None
        newly = lock_after > 0 and failures >= lock_after
        if newly:
            locked_until = now + window
            account_changed(conn, lock_key(kind, key))
        conn.execute(insert(login_throttle).values(
            kind=kind, key=key, failures=failures, last_failure_at=now, last_fingerprint=print_,
            locked_until=locked_until,
        ))
        return Counter(failures, locked_until), newly
    locked_until = _aware(row.locked_until)
    last = _aware(row.last_failure_at)
    assert last is not None
    failures = row.failures
    locked = locked_until is not None and locked_until > now
    if not locked and now - last > window:
        failures, locked_until = 0, None
    stamp = now
    if leaking and lock_after > 0 and failures and not locked:
        period = window / lock_after
        leaked = min(failures, int((now - last) / period))
        failures -= leaked
        stamp = last + leaked * period if failures else now
    if print_ and print_ == row.last_fingerprint and failures:
        # The same wrong password again: not a new guess.
        conn.execute(update(login_throttle).where(login_throttle.c.id == row.id)
                     .values(last_failure_at=stamp, failures=failures))
        return Counter(failures, locked_until), False
    failures += 1
    newly = False
    if lock_after > 0 and failures >= lock_after and not locked:
        locked_until, newly = now + window, True
        # Every process and node stops taking this counter for unlocked (states.py).
        account_changed(conn, lock_key(kind, key))
    conn.execute(update(login_throttle).where(login_throttle.c.id == row.id).values(
        failures=failures, last_failure_at=stamp, last_fingerprint=print_, locked_until=locked_until,
    ))
    return Counter(failures, locked_until), newly


def clear(conn: Connection, kind: str, key: str) -> int:
    result = conn.execute(
        delete(login_throttle).where(and_(login_throttle.c.kind == kind, login_throttle.c.key == key))
    )
    return int(result.rowcount or 0)


def clear_with_pairs(conn: Connection, kind: str, key: str) -> int:
    """Clear the counter of an address or an account and those of its pairs (an
    administrator's unlock)."""
    count = clear(conn, kind, key)
    column = login_throttle.c.key
    pairs = column.startswith(f"{key} ", autoescape=True) if kind == ADDRESS else or_(
        column.endswith(f" {key}", autoescape=True), column.endswith(f" {_digest(key)}"))
    result = conn.execute(delete(login_throttle).where(and_(login_throttle.c.kind == PAIR, pairs)))
    return count + int(result.rowcount or 0)


def prune(conn: Connection, now: datetime, settings: LoginSettings) -> int:
    """Forget counters quiet for a whole window and not locked."""
    cutoff = now - timedelta(minutes=settings.lock_minutes)
    result = conn.execute(delete(login_throttle).where(and_(
        login_throttle.c.last_failure_at < cutoff,
        (login_throttle.c.locked_until.is_(None)) | (login_throttle.c.locked_until < now),
    )))
    return int(result.rowcount or 0)
