"""The quarantine (Điều 9.9): messages the pipeline held instead of delivering them.

A held message's bytes are a file ``<data>/quarantine/<sha256>.eml`` (written with
``fsync`` before the SMTP reply, like every accepted message), its envelope and reason a
row of ``content_quarantine``. Administrators list, release (delivered to the local
recipients' INBOX as it came) or delete held messages (``congthu quarantine``); each of
those acts goes to the audit trail. Held messages older than ``content.quarantine_days``
are deleted by ``purge_expired`` (``jobs.py``, hourly). The recipients are told that a message was held: a
notice with its sender, subject, date and reason, without the message itself (its
dangerous part stays in the quarantine).
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection

from congthu import audit
from congthu.content.tables import content_quarantine
from congthu.log import event

if TYPE_CHECKING:
    from congthu.app import App

__all__ = ["Held", "delete_held", "hold", "list_held", "purge_expired", "release"]

DIRECTORY = "quarantine"


@dataclass(frozen=True)
class Held:
    id: int
    held_at: datetime
    door: str
    mail_from: str
    recipients: list[tuple[str, int | None]]
    subject: str
    rule: str
    reason: str
    size: int
    sha256: str


def _path(app: App, sha256: str) -> Path:
    return app.path(DIRECTORY) / f"{sha256}.eml"


def _write_file(path: Path, raw: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    with open(temporary, "wb") as out:
        out.write(raw)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _held(row: Any) -> Held:
    recipients = [(str(a), int(m) if m is not None else None) for a, m in json.loads(row.recipients)]
    held_at = row.held_at if row.held_at.tzinfo else row.held_at.replace(tzinfo=UTC)
    return Held(row.id, held_at, row.door, row.mail_from, recipients, row.subject, row.rule, row.reason,
                row.size, row.sha256)


def _insert(conn: Connection, values: dict[str, Any]) -> int:
    result = conn.execute(insert(content_quarantine).values(**values).returning(content_quarantine.c.id))
    return int(result.scalar_one())


def _select_all(conn: Connection) -> list[Held]:
    return [_held(r) for r in conn.execute(select(content_quarantine).order_by(content_quarantine.c.id))]


def _get(conn: Connection, held_id: int) -> Held | None:
    row = conn.execute(select(content_quarantine).where(content_quarantine.c.id == held_id)).first()
    return _held(row) if row is not None else None


def _take(conn: Connection, held_id: int) -> Held | None:
    row = conn.execute(select(content_quarantine).where(content_quarantine.c.id == held_id)).first()
    if row is None:
        return None
    conn.execute(delete(content_quarantine).where(content_quarantine.c.id == held_id))
    return _held(row)


def _still_used(conn: Connection, sha256: str) -> bool:
    return conn.execute(select(content_quarantine.c.id).where(content_quarantine.c.sha256 == sha256)
                        .limit(1)).first() is not None


async def hold(app: App, raw: bytes, *, door: str, mail_from: str, recipients: list[tuple[str, int | None]],
               subject: str, rule: str, reason: str) -> int:
    """Keep ``raw`` in the quarantine, tell the local recipients; returns its id."""
    sha256 = hashlib.sha256(raw).hexdigest()
    await asyncio.to_thread(_write_file, _path(app, sha256), raw)
    values = {"held_at": datetime.now(UTC), "door": door, "mail_from": mail_from[:320],
              "recipients": json.dumps(recipients), "subject": subject[:500], "rule": rule[:40],
              "reason": reason[:500], "size": len(raw), "sha256": sha256}
    held_id = await app.db.run_write(_insert, values)
    event("content.quarantined", id=held_id, door=door, mail_from=mail_from, rule=rule, reason=reason)
    for address, mailbox_id in recipients:
        if mailbox_id is not None:
            await _notify(app, address, mailbox_id, held_id, mail_from, subject, reason)
    return held_id


async def _notify(app: App, address: str, mailbox_id: int, held_id: int, mail_from: str, subject: str,
                  reason: str) -> None:
    """The recipient is told a message was held, without the message (Điều 9.9)."""
    domain = app.settings.system.domain
    admin = app.settings.system.admin_address
    admin = admin if "@" in admin else f"{admin}@{domain}"
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = email.utils.formataddr(("Hệ thống thư điện tử / Mail system", f"postmaster@{domain}"))
    msg["To"] = address
    msg["Subject"] = "Một thư gửi bạn đã bị giữ lại / A message to you was held"
    msg["Date"] = email.utils.formatdate(localtime=True)
    msg["Message-ID"] = email.utils.make_msgid(domain=domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(
        "Một thư gửi đến bạn đã bị hệ thống giữ lại (cách ly) và chưa được chuyển vào hộp thư "
        "(Điều 9.9 Quy chế).\n\n"
        f"  Người gửi / From:     {mail_from or '<>'}\n"
        f"  Tiêu đề / Subject:    {subject}\n"
        f"  Lý do / Reason:       {reason}\n"
        f"  Mã số / Quarantine id: {held_id}\n\n"
        f"Nếu đây là thư bạn cần, hãy liên hệ quản trị ({admin}) và cho biết mã số trên.\n"
        f"If you need this message, ask the administrators ({admin}) quoting the id above.\n",
        charset="utf-8", cte="base64",
    )
    try:
        await app.store.deliver(msg.as_bytes(), [mailbox_id])
    except Exception as exc:  # noqa: BLE001 - the notice must never lose the held message
        event("content.notice_failed", mailbox=address, id=held_id, error=str(exc))


async def list_held(app: App) -> list[Held]:
    return await app.db.run_read(_select_all)


async def _forget(app: App, held: Held) -> None:
    if not await app.db.run_read(_still_used, held.sha256):
        await asyncio.to_thread(_path(app, held.sha256).unlink, True)


async def release(app: App, held_id: int, *, actor: str = "admin") -> Held | None:
    """Deliver a held message to its local recipients' INBOX; None if there is no such
    id. Remote recipients are not sent to (a held message never leaves the system)."""
    held = await app.db.run_read(_get, held_id)
    if held is None:
        return None
    # Delivered first, forgotten after: a failed delivery leaves it held.
    raw = await asyncio.to_thread(_path(app, held.sha256).read_bytes)
    mailbox_ids = [m for _a, m in held.recipients if m is not None]
    if mailbox_ids:
        await app.store.deliver(raw, mailbox_ids)
    if await app.db.run_write(_take, held_id) is None:
        return None  # released or deleted meanwhile by someone else
    await _forget(app, held)
    await audit.record(app, "content.released", actor, ",".join(a for a, _m in held.recipients)[:320],
                       {"id": held.id, "mail_from": held.mail_from, "subject": held.subject, "rule": held.rule})
    return held


async def delete_held(app: App, held_id: int, *, actor: str = "admin") -> Held | None:
    """Delete a held message for good; None if there is no such id."""
    held = await app.db.run_write(_take, held_id)
    if held is None:
        return None
    await _forget(app, held)
    await audit.record(app, "content.deleted", actor, ",".join(a for a, _m in held.recipients)[:320],
                       {"id": held.id, "mail_from": held.mail_from, "subject": held.subject, "rule": held.rule})
    return held


def _take_older(conn: Connection, cutoff: datetime) -> list[Held]:
    rows = conn.execute(select(content_quarantine).where(content_quarantine.c.held_at < cutoff)).all()
    if rows:
        conn.execute(delete(content_quarantine).where(content_quarantine.c.id.in_([r.id for r in rows])))
    return [_held(r) for r in rows]


async def purge_expired(app: App, now: datetime | None = None) -> int:
    """Delete the messages held longer than ``content.quarantine_days``; how many."""
    days = app.settings.content.quarantine_days
    if days <= 0:
        return 0
    expired = await app.db.run_write(_take_older, (now or datetime.now(UTC)) - timedelta(days=days))
    for held in expired:
        await _forget(app, held)
    if expired:
        await audit.record(app, "content.expired", "system", "quarantine",
                           {"ids": [h.id for h in expired], "days": days})
    return len(expired)
