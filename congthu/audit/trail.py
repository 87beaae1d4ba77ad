"""The audit trail (Điều 9.12, 13.4): append-only and tamper-evident.

Every administrative action, every login success or failure (protocol, address, client)
and every delegated mailbox access is one row of ``audit_log``. Each row carries the
SHA-256 of its own content and of the previous row's hash, so changing or deleting a row
in the database breaks the chain, and ``verify()`` (``congthu audit verify``) finds where.
Deleting the newest rows leaves a shorter but valid chain: ``verify`` prints the head
hash, which an operator can note elsewhere (a report, a printed page) to detect that too.

Writers are serialised so the chain never forks: on SQLite every write transaction holds
the database lock from ``BEGIN IMMEDIATE`` (which also serialises processes); on
PostgreSQL the transaction takes an advisory lock first (``serialise``).

``append`` and ``serialise`` are synchronous functions of a ``Connection``, so a package
records an action in the same transaction as the change it records (``db.run_write``).
``record``, ``records`` and ``verify`` take anything with the application's database and
clock (the ``App``), through the ``AuditHost`` protocol, not the ``App`` class itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import and_, insert, select, text
from sqlalchemy.engine import Connection

from congthu.audit.tables import audit_log
from congthu.db import Database
from congthu.log import event

GENESIS = "0" * 64
# pg_advisory_xact_lock key of the audit writer ("AUDT").
_PG_LOCK = 0x41554454
# Records read per transaction while verifying the chain.
_VERIFY_BATCH = 5000


class _Clocked(Protocol):
    @property
    def clock(self) -> Callable[[], datetime]: ...


class AuditHost(Protocol):
    """What the trail needs of the application: its database and the accounts' clock
    (injectable by tests, so that records follow the time the logins see)."""

    @property
    def db(self) -> Database: ...

    @property
    def accounts(self) -> _Clocked: ...


@dataclass(frozen=True)
class Record:
    id: int
    at: datetime
    action: str
    actor: str
    target: str
    client: str
    details: dict[str, Any]
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "at": _iso(self.at), "action": self.action, "actor": self.actor,
                "target": self.target, "client": self.client, "details": self.details,
                "prev_hash": self.prev_hash, "hash": self.hash}


@dataclass(frozen=True)
class Problem:
    id: int
    reason: str


@dataclass(frozen=True)
class Verification:
    count: int
    head: str
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso(value: datetime) -> str:
    return _aware(value).isoformat(timespec="microseconds")


def _details_text(details: dict[str, Any] | None) -> str:
    return json.dumps(details or {}, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def record_hash(id: int, at: datetime, action: str, actor: str, target: str, client: str,
                details_text: str, prev_hash: str) -> str:
    """SHA-256 over the canonical JSON of every field and the previous hash."""
    canonical = json.dumps([id, _iso(at), action, actor, target, client, details_text, prev_hash],
                           ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def serialise(conn: Connection) -> None:
    """Take the audit writer's lock for the rest of the transaction (PostgreSQL; on SQLite
    the writer transaction holds the database lock already). Callers that read and then
    write rows which must not race (and will append a record) may take it first."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})


def append(conn: Connection, *, at: datetime, action: str, actor: str, target: str,
           details: dict[str, Any] | None = None, client: str = "") -> int:
    """Append one record inside the caller's write transaction; returns its id."""
    serialise(conn)
    last = conn.execute(select(audit_log.c.id, audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1)).first()
    new_id = (last.id + 1) if last else 1
    prev = last.hash if last else GENESIS
    at = _aware(at)
    body = _details_text(details)
    actor, target, client = actor[:320], target[:320], client[:200]
    digest = record_hash(new_id, at, action, actor, target, client, body, prev)
    conn.execute(insert(audit_log).values(
        id=new_id, at=at, action=action, actor=actor, target=target, client=client,
        details=body, prev_hash=prev, hash=digest,
    ))
    return new_id


async def record(app: AuditHost, action: str, actor: str, target: str, details: dict[str, Any] | None = None,
                 *, client: str = "") -> int:
    """Record one audited action in its own transaction; returns the record's id."""
    at = app.accounts.clock()

    def write(conn: Connection) -> int:
        return append(conn, at=at, action=action, actor=actor, target=target, details=details, client=client)

    record_id = await app.db.run_write(write)
    event("audit", id=record_id, action=action, actor=actor, target=target, client=client)
    return record_id


def _record(row: Any) -> Record:
    try:
        details = json.loads(row.details)
    except ValueError:
        details = {"_raw": row.details}
    return Record(row.id, _aware(row.at), row.action, row.actor, row.target, row.client,
                  details if isinstance(details, dict) else {"_raw": details}, row.prev_hash, row.hash)


def _select(conn: Connection, query: Any) -> list[Any]:
    return list(conn.execute(query).all())


async def records(app: AuditHost, *, since: datetime | None = None, until: datetime | None = None,
                  action: str = "", actor: str = "", target: str = "", limit: int | None = None,
                  newest_first: bool = False) -> list[Record]:
    """Records matching the filters (action matches a prefix: "login" finds "login.failed")."""
    conditions = []
    if since is not None:
        conditions.append(audit_log.c.at >= _aware(since))
    if until is not None:
        conditions.append(audit_log.c.at < _aware(until))
    if action:
        conditions.append(audit_log.c.action.like(action.replace("%", "") + "%"))
    if actor:
        conditions.append(audit_log.c.actor == actor)
    if target:
        conditions.append(audit_log.c.target == target)
    query = select(audit_log).where(and_(True, *conditions))
    query = query.order_by(audit_log.c.id.desc() if newest_first else audit_log.c.id)
    if limit:
        query = query.limit(limit)
    return [_record(r) for r in await app.db.run_read(_select, query)]


def _batch_after(conn: Connection, after: int, size: int) -> list[Any]:
    return list(conn.execute(
        select(audit_log).where(audit_log.c.id > after).order_by(audit_log.c.id).limit(size)).all())


def _check(rows: Iterator[Any], problems: list[Problem], prev_hash: str, prev_id: int) -> tuple[str, int, int]:
    count = 0
    for row in rows:
        count += 1
        if row.id != prev_id + 1:
            problems.append(Problem(row.id, f"thiếu bản ghi / records {prev_id + 1}..{row.id - 1} missing"))
        if row.prev_hash != prev_hash:
            problems.append(Problem(row.id, "liên kết với bản ghi trước bị hỏng / link to the previous record broken"))
        expected = record_hash(row.id, _aware(row.at), row.action, row.actor, row.target, row.client,
                               row.details, row.prev_hash)
        if expected != row.hash:
            problems.append(Problem(row.id, "nội dung đã bị sửa / content changed after it was written"))
        prev_hash, prev_id = row.hash, row.id
    return prev_hash, prev_id, count


async def verify(app: AuditHost) -> Verification:
    """Walk the chain: every record's hash, its link to the previous, no missing ids."""
    problems: list[Problem] = []
    prev_hash, prev_id, total = GENESIS, 0, 0
    while True:
        rows = await app.db.run_read(_batch_after, prev_id, _VERIFY_BATCH)
        if not rows:
            return Verification(total, prev_hash, problems)
        prev_hash, prev_id, count = _check(iter(rows), problems, prev_hash, prev_id)
        total += count
