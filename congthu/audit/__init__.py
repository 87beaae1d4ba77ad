"""The audit trail (Điều 9.12, 13.4): append-only and tamper-evident.

Every administrative action, every login success or failure (protocol, address, client)
and every delegated mailbox access is one row of ``audit_log``. Each row carries the
SHA-256 of its own content and of the previous row's hash, so changing or deleting a row
in the database breaks the chain, and ``verify()`` (``congthu audit verify``) finds where.
Deleting the newest rows leaves a shorter but valid chain: ``verify`` prints the head
hash, which an operator can note elsewhere (a report, a printed page) to detect that too.

Writers are serialised so the chain never forks: on SQLite the writer engine is one
connection taking the lock at ``BEGIN IMMEDIATE`` (which also serialises processes); on
PostgreSQL the transaction takes an advisory lock first.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from congthu.audit.tables import audit_log
from congthu.log import event

if TYPE_CHECKING:
    from congthu.app import App

GENESIS = "0" * 64
# pg_advisory_xact_lock key of the audit writer ("AUDT").
_PG_LOCK = 0x41554454

__all__ = ["GENESIS", "Record", "Problem", "append", "serialise", "record", "records", "verify", "record_hash"]


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


async def serialise(conn: AsyncConnection) -> None:
    """Take the audit writer's lock for the rest of the transaction (PostgreSQL; on SQLite
    the writer transaction holds the database lock already). Callers that read and then
    write rows which must not race (and will append a record) may take it first."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})


async def append(conn: AsyncConnection, *, at: datetime, action: str, actor: str, target: str,
                 details: dict[str, Any] | None = None, client: str = "") -> int:
    """Append one record inside the caller's writer transaction; returns its id."""
    await serialise(conn)
    last = (await conn.execute(
        select(audit_log.c.id, audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1)
    )).first()
    new_id = (last.id + 1) if last else 1
    prev = last.hash if last else GENESIS
    at = _aware(at)
    body = _details_text(details)
    actor, target, client = actor[:320], target[:320], client[:200]
    digest = record_hash(new_id, at, action, actor, target, client, body, prev)
    await conn.execute(insert(audit_log).values(
        id=new_id, at=at, action=action, actor=actor, target=target, client=client,
        details=body, prev_hash=prev, hash=digest,
    ))
    return new_id


def clock_of(app: App) -> Callable[[], datetime]:
    accounts = getattr(app, "accounts", None)
    return getattr(accounts, "clock", None) or (lambda: datetime.now(UTC))


async def record(app: App, action: str, actor: str, target: str, details: dict[str, Any] | None = None,
                 *, client: str = "") -> int:
    """Record one audited action in its own transaction; returns the record's id."""
    async with app.db.writer.begin() as conn:
        record_id = await append(conn, at=clock_of(app)(), action=action, actor=actor, target=target,
                                 details=details, client=client)
    event("audit", id=record_id, action=action, actor=actor, target=target, client=client)
    return record_id


def _record(row: Any) -> Record:
    try:
        details = json.loads(row.details)
    except ValueError:
        details = {"_raw": row.details}
    return Record(row.id, _aware(row.at), row.action, row.actor, row.target, row.client,
                  details if isinstance(details, dict) else {"_raw": details}, row.prev_hash, row.hash)


async def records(app: App, *, since: datetime | None = None, until: datetime | None = None,
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
    async with app.db.reader.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [_record(r) for r in rows]


async def _stream(app: App, batch: int = 5000) -> AsyncIterator[Any]:
    after = 0
    while True:
        async with app.db.reader.connect() as conn:
            rows = (await conn.execute(
                select(audit_log).where(audit_log.c.id > after).order_by(audit_log.c.id).limit(batch)
            )).all()
        if not rows:
            return
        for row in rows:
            yield row
        after = rows[-1].id


@dataclass(frozen=True)
class Verification:
    count: int
    head: str
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems


async def verify(app: App) -> Verification:
    """Walk the chain: every record's hash, its link to the previous, no missing ids."""
    problems: list[Problem] = []
    prev_hash, prev_id, count = GENESIS, 0, 0
    async for row in _stream(app):
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
    return Verification(count, prev_hash, problems)
