"""The durable outbound queue and its runner.

``enqueue`` writes the message bytes as a blob (fsynced) and the queue rows in one
transaction before returning, so a message accepted with 250 survives a crash. The
runner (``Runner.run``, started by ``congthu.smtp.jobs``) tries due recipients, one SMTP
transaction per (message, domain); deliveries to local mailboxes that had to wait (a
full mailbox) are queue entries too and go through ``app.store``.

Retries (RFC 5321 section 4.5.4.1): the first after ``smtp.retry_first_seconds``, then
twice as long each time up to ``smtp.retry_max_seconds``, for ``smtp.queue_lifetime_hours``;
a delay notice after ``smtp.delay_notice_hours``, a bounce (RFC 3464) on a permanent
failure or when the lifetime runs out, each as the recipient's NOTIFY asks (RFC 3461;
``dsn.py``), and a success notice when it asked for one: "delivered" into a local
mailbox, "relayed" to a server without the DSN extension (one with it is given the
parameters, RET, ENVID, NOTIFY and ORCPT, and reports itself). Nothing is ever sent for
a null-sender message.

Every worker process of ``congthu serve`` (and every node on a shared PostgreSQL) runs a
runner; an attempt first claims its recipients in the database (``claimed_until``, one
conditional UPDATE: on SQLite under the write lock, on PostgreSQL the loser waits on the
rows and finds them claimed), so no two runners send the same message to the same
recipient. An attempt is cut off before its claim runs out (``CLAIM_SECONDS``); the
claim of a runner that died runs out and the recipients are due again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from congthu.log import event
from congthu.smtp import addresses, delivery, dkimsign, dsn
from congthu.smtp import client as smtpclient
from congthu.smtp.addresses import domain_of
from congthu.smtp.tables import smtp_queue, smtp_queue_rcpt
from congthu.store import QuotaExceeded, StoreError, utcnow

if TYPE_CHECKING:
    from congthu.app import App


# How long an attempt holds its recipients; the attempt itself is cut off at ATTEMPT_SECONDS.
CLAIM_SECONDS = 1800.0
ATTEMPT_SECONDS = 1500.0


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _unclaimed(now: datetime) -> Any:
    """Recipients no attempt holds (or whose attempt's runner died)."""
    return or_(smtp_queue_rcpt.c.claimed_until.is_(None), smtp_queue_rcpt.c.claimed_until <= now)


@dataclass(frozen=True)
class DSNRequest:
    """What the sender asked of the notices (RFC 3461): RET and ENVID of the message,
    (NOTIFY, ORCPT) of each recipient by address."""

    ret: str = ""
    envid: str = ""
    recipients: dict[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, ret: str, envid: str, recipients: Iterable[Any]) -> DSNRequest:
        """From the transaction's RET, ENVID and recipients (with ``notify``, ``orcpt``)."""
        return cls(ret, envid, {r.address: (r.notify, r.orcpt) for r in recipients if r.notify or r.orcpt})


@dataclass(frozen=True)
class QueuedRecipient:
    id: int
    address: str
    domain: str
    mailbox_id: int | None
    attempts: int
    next_attempt_at: datetime
    last_error: str
    delay_notified: bool


@dataclass(frozen=True)
class QueuedMessage:
    id: int
    mail_from: str
    blob: str
    size: int
    smtputf8: bool
    kind: str
    mailbox_id: int | None
    created_at: datetime
    recipients: list[QueuedRecipient]


async def enqueue(app: App, raw: bytes, mail_from: str, recipients: list[tuple[str, int | None]], *,
                  kind: str = "mail", mailbox_id: int | None = None, delay: float = 0.0,
                  dsn: DSNRequest | None = None) -> int:
    """Queue ``raw`` for ``recipients`` ((address, local mailbox id or None)); durable on
    return. ``delay``: seconds before the first attempt; ``dsn``: the sender's RFC 3461
    parameters."""
    dsn = dsn or DSNRequest()
    digest = await asyncio.to_thread(app.store.blobs.put, raw)
    now = utcnow()
    due = now + timedelta(seconds=delay)
    smtputf8 = not (mail_from.isascii() and all(a.isascii() for a, _m in recipients))

    def tx(conn: Connection) -> int:
        result = conn.execute(insert(smtp_queue).values(
            mail_from=mail_from, blob=digest, size=len(raw), smtputf8=smtputf8, kind=kind,
            mailbox_id=mailbox_id, created_at=now, dsn_ret=dsn.ret, dsn_envid=dsn.envid,
        ))
        queue_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        conn.execute(insert(smtp_queue_rcpt), [
            {"queue_id": queue_id, "address": address, "domain": domain_of(address), "mailbox_id": local,
             "attempts": 0, "next_attempt_at": due, "last_error": "", "delay_notified": False,
             "dsn_notify": dsn.recipients.get(address, ("", ""))[0],
             "dsn_orcpt": dsn.recipients.get(address, ("", ""))[1]}
            for address, local in recipients
        ])
        return queue_id

    queue_id = await app.db.run_write(tx)
    event("smtp.queued", id=queue_id, mail_from=mail_from, recipients=len(recipients), size=len(raw), kind=kind)
    wake(app)
    return queue_id


async def list_queue(app: App) -> list[QueuedMessage]:
    def read(conn: Connection) -> tuple[list[Any], list[Any]]:
        return (list(conn.execute(select(smtp_queue).order_by(smtp_queue.c.id)).all()),
                list(conn.execute(select(smtp_queue_rcpt).order_by(smtp_queue_rcpt.c.id)).all()))

    rows, rcpts = await app.db.run_read(read)
    by_queue: dict[int, list[QueuedRecipient]] = defaultdict(list)
    for r in rcpts:
        by_queue[r.queue_id].append(QueuedRecipient(
            r.id, r.address, r.domain, r.mailbox_id, r.attempts, _aware(r.next_attempt_at), r.last_error,
            r.delay_notified))
    return [QueuedMessage(m.id, m.mail_from, m.blob, m.size, m.smtputf8, m.kind, m.mailbox_id,
                          _aware(m.created_at), by_queue.get(m.id, [])) for m in rows]


async def retry(app: App, ids: list[int] | None = None) -> int:
    """Make the given messages (all if None) due now; returns the recipients affected."""
    condition = smtp_queue_rcpt.c.queue_id.in_(ids) if ids else smtp_queue_rcpt.c.id.isnot(None)
    def tx(conn: Connection) -> int:
        return int(conn.execute(update(smtp_queue_rcpt).where(condition).values(next_attempt_at=utcnow())).rowcount or 0)

    count = await app.db.run_write(tx)
    wake(app)
    return count


async def delete_messages(app: App, ids: list[int]) -> int:
    """Remove messages from the queue without a bounce; returns how many were removed."""
    def tx(conn: Connection) -> int:
        conn.execute(delete(smtp_queue_rcpt).where(smtp_queue_rcpt.c.queue_id.in_(ids)))
        return int(conn.execute(delete(smtp_queue).where(smtp_queue.c.id.in_(ids))).rowcount or 0)

    return await app.db.run_write(tx)


# -- the runner ------------------------------------------------------------------------------

def wake(app: App) -> None:
    """Have the App's runner (``app.smtp.runner``, while it runs) look at the queue now."""
    runner = app.smtp.runner
    if runner is not None:
        runner.wakeup.set()


def backoff(settings: Any, attempts: int) -> float:
    """Seconds before attempt number ``attempts + 1``."""
    first = settings.smtp.retry_first_seconds
    return float(min(first * (2 ** max(attempts - 1, 0)), max(settings.smtp.retry_max_seconds, first)))


class Runner:
    def __init__(self, app: App) -> None:
        self.app = app
        self.wakeup = asyncio.Event()
        self.active: set[tuple[int, str]] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.semaphore = asyncio.Semaphore(max(app.settings.smtp.outbound_concurrency, 1))

    async def run(self) -> None:
        self.app.smtp.runner = self
        try:
            while True:
                self.wakeup.clear()
                try:
                    await self.run_once()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the database may be away for a moment
                    event("smtp.queue_error", error=repr(exc)[:300])
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wakeup.wait(), self.app.settings.smtp.queue_interval)
        finally:
            for task in self.tasks:
                task.cancel()
            if self.app.smtp.runner is self:
                self.app.smtp.runner = None

    async def run_once(self) -> int:
        """Start an attempt for every due (message, domain); returns how many started."""
        now = utcnow()
        def read(conn: Connection) -> list[Any]:
            return list(conn.execute(
                select(smtp_queue_rcpt.c.queue_id, smtp_queue_rcpt.c.domain, smtp_queue_rcpt.c.mailbox_id)
                .where(smtp_queue_rcpt.c.next_attempt_at <= now, _unclaimed(now)).distinct().limit(1000)
            ).all())

        rows = await self.app.db.run_read(read)
        started = 0
        for row in rows:
            key = (row.queue_id, f"local:{row.mailbox_id}" if row.mailbox_id is not None else row.domain)
            if key in self.active:
                continue
            self.active.add(key)
            task = asyncio.create_task(self._attempt(key))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            started += 1
        return started

    async def _attempt(self, key: tuple[int, str]) -> None:
        try:
            async with self.semaphore:
                await attempt(self.app, key[0], key[1])
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            event("smtp.attempt_error", id=key[0], target=key[1], error=repr(exc)[:300])
        finally:
            self.active.discard(key)
            # More may have become due while this one ran.
            self.wakeup.set()


async def attempt(app: App, queue_id: int, target: str) -> None:
    """One attempt for the due recipients of message ``queue_id`` at ``target`` (a domain
    or "local:<mailbox id>")."""
    now = utcnow()
    condition = and_(smtp_queue_rcpt.c.queue_id == queue_id, smtp_queue_rcpt.c.next_attempt_at <= now)
    if target.startswith("local:"):
        condition = and_(condition, smtp_queue_rcpt.c.mailbox_id == int(target[6:]))
    else:
        condition = and_(condition, smtp_queue_rcpt.c.domain == target, smtp_queue_rcpt.c.mailbox_id.is_(None))

    def claim(conn: Connection) -> tuple[Any, list[Any]]:
        # Only the recipients this runner claims now are its to send: another worker or
        # node may have claimed the others a moment ago.
        rcpts = list(conn.execute(
            update(smtp_queue_rcpt).where(condition, _unclaimed(now))
            .values(claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
            .returning(*smtp_queue_rcpt.c)).all())
        if not rcpts:
            return None, []
        return conn.execute(select(smtp_queue).where(smtp_queue.c.id == queue_id)).first(), rcpts

    message, rcpts = await app.db.run_write(claim)
    if message is None or not rcpts:
        return
    try:
        raw = await asyncio.to_thread(app.store.blobs.get, message.blob)
        addresses_ = [r.address for r in rcpts]
        try:
            async with asyncio.timeout(ATTEMPT_SECONDS):
                if target.startswith("local:"):
                    outcomes = await _deliver_local(app, int(target[6:]), addresses_, raw)
                else:
                    outcomes = await smtpclient.send(
                        app, target, message.mail_from, addresses_, raw, message.smtputf8,
                        dsn=(message.dsn_ret, message.dsn_envid, {r.address: (r.dsn_notify, r.dsn_orcpt) for r in rcpts}))
        except TimeoutError:
            outcomes = [smtpclient.Outcome(a, "temp", "attempt took too long", "4.4.7") for a in addresses_]
    except Exception:
        # A failure of ours: give the recipients back (due again after the first retry delay).
        await app.db.run_write(_unclaim, [r.id for r in rcpts],
                               utcnow() + timedelta(seconds=backoff(app.settings, 1)))
        raise
    await _record(app, message, rcpts, outcomes, raw)


def _unclaim(conn: Connection, ids: list[int], due: datetime) -> None:
    conn.execute(update(smtp_queue_rcpt).where(smtp_queue_rcpt.c.id.in_(ids))
                 .values(claimed_until=None, next_attempt_at=due))


async def _deliver_local(app: App, mailbox_id: int, rcpts: list[str], raw: bytes) -> list[smtpclient.Outcome]:
    try:
        results = await delivery.deliver(app, raw, [mailbox_id], path="queue")
    except StoreError as exc:
        return [smtpclient.Outcome(a, "temp", str(exc), "4.3.0") for a in rcpts]
    error = results[0].error if results else None
    if error is None:
        return [smtpclient.Outcome(a, "ok", "250 delivered", "2.0.0") for a in rcpts]
    if isinstance(error, QuotaExceeded):
        kind, status = ("perm", "5.2.2") if error.permanent else ("temp", "4.2.2")
        return [smtpclient.Outcome(a, kind, str(error), status) for a in rcpts]
    return [smtpclient.Outcome(a, "perm", str(error), "5.1.1") for a in rcpts]


async def _record(app: App, message: Any, rcpts: list[Any], outcomes: list[smtpclient.Outcome], raw: bytes) -> None:
    settings = app.settings
    now = utcnow()
    created = _aware(message.created_at)
    expired = now - created >= timedelta(hours=settings.smtp.queue_lifetime_hours)
    notice_due = now - created >= timedelta(hours=settings.smtp.delay_notice_hours)
    failed: list[dsn.RecipientStatus] = []
    delayed: list[dsn.RecipientStatus] = []
    succeeded: list[dsn.RecipientStatus] = []
    relayed: list[dsn.RecipientStatus] = []
    by_address = {o.address: o for o in outcomes}

    def tx(conn: Connection) -> None:
        for row in rcpts:
            outcome = by_address.get(row.address) or smtpclient.Outcome(row.address, "temp", "no outcome", "4.0.0")
            if outcome.kind == "ok":
                conn.execute(delete(smtp_queue_rcpt).where(smtp_queue_rcpt.c.id == row.id))
                event("smtp.delivered", id=message.id, rcpt=row.address, reply=outcome.reply[:200],
                      remote=outcome.remote, attempts=row.attempts + 1)
                # RFC 3461 section 4.1: a server that took the DSN parameters reports itself.
                if dsn.wants(row.dsn_notify, "SUCCESS") and not outcome.dsn_passed:
                    (succeeded if row.mailbox_id is not None else relayed).append(dsn.RecipientStatus(
                        row.address, "2.0.0", outcome.reply if row.mailbox_id is None else "", outcome.remote,
                        row.dsn_orcpt))
            elif outcome.kind == "perm" or expired:
                conn.execute(delete(smtp_queue_rcpt).where(smtp_queue_rcpt.c.id == row.id))
                reason = outcome.reply if outcome.kind == "perm" else (
                    f"Hết thời gian thử ({settings.smtp.queue_lifetime_hours:g} giờ) / gave up after "
                    f"{settings.smtp.queue_lifetime_hours:g} hours: {outcome.reply}")
                status = outcome.status if outcome.kind == "perm" else "4.4.7"
                if status.startswith("4"):
                    status = "5" + status[1:]
                if dsn.wants(row.dsn_notify, "FAILURE"):
                    failed.append(dsn.RecipientStatus(row.address, status, reason, outcome.remote, row.dsn_orcpt))
                event("smtp.failed", id=message.id, rcpt=row.address, reason=reason[:300], expired=expired)
            else:
                attempts = row.attempts + 1
                values: dict[str, Any] = {
                    "attempts": attempts, "last_error": outcome.reply[:1000],
                    "next_attempt_at": now + timedelta(seconds=backoff(settings, attempts)),
                    "claimed_until": None,
                }
                if notice_due and not row.delay_notified:
                    values["delay_notified"] = True
                    if dsn.wants(row.dsn_notify, "DELAY"):
                        delayed.append(dsn.RecipientStatus(row.address, outcome.status or "4.0.0", outcome.reply,
                                                           outcome.remote, row.dsn_orcpt))
                conn.execute(update(smtp_queue_rcpt).where(smtp_queue_rcpt.c.id == row.id).values(**values))
                event("smtp.deferred", id=message.id, rcpt=row.address, reply=outcome.reply[:200],
                      attempts=attempts)
        left = conn.execute(
            select(func.count()).select_from(smtp_queue_rcpt).where(smtp_queue_rcpt.c.queue_id == message.id)
        ).scalar_one()
        if not left:
            conn.execute(delete(smtp_queue).where(smtp_queue.c.id == message.id))

    await app.db.run_write(tx)
    if message.mail_from and message.kind != "dsn":
        for action, group in (("failed", failed), ("delayed", delayed), ("delivered", succeeded),
                              ("relayed", relayed)):
            if group:
                await send_dsn(app, message.mail_from, raw, group, action, created, envid=message.dsn_envid,
                               ret=message.dsn_ret)


async def send_dsn(app: App, to: str, original: bytes, recipients: list[dsn.RecipientStatus], action: str,
                   arrival: datetime, *, envid: str = "", ret: str = "") -> None:
    """Send a DSN to ``to``: into the mailbox if local, else through the queue (null sender)."""
    raw = dsn.build(app, to=to, original=original, recipients=recipients, action=action, arrival=arrival,
                    envid=envid, ret=ret)
    event("smtp.dsn", to=to, action=action, recipients=[r.address for r in recipients])
    if addresses.is_local(app, to):
        try:
            mailbox_id = await addresses.resolve(app, to)
        except addresses.RecipientRefused as exc:
            event("smtp.dsn_dropped", to=to, reason=exc.refusal.english)
            return
        if mailbox_id is None:
            event("smtp.dsn_dropped", to=to, reason="no such local mailbox")
            return
        raw = delivery.return_path("") + raw
        results = await delivery.deliver(app, raw, [mailbox_id], path="dsn")
        if results and not results[0].ok:
            await enqueue(app, raw, "", [(to, mailbox_id)], kind="dsn",
                          delay=app.settings.smtp.retry_first_seconds)
        return
    await enqueue(app, await dkimsign.sign(app, raw), "", [(to, None)], kind="dsn")
