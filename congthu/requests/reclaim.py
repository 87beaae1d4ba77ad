"""Reclamation of unused mailboxes (Điều 4.4: "Các hộp thư điện tử không truy xuất thời
gian sáu (06) tháng kể từ lúc khai báo hoặc lần truy xuất sau cùng ... sẽ thu hồi").

A mailbox's last use is the later of its creation and its last access
(``mailboxes.last_access_at``, stamped by the accounts' one login check for every door).
Its reclamation falls ``requests.reclaim_months`` calendar months after that (the same
day of the month, or the month's last day). ``requests.reclaim_warn_days`` before, the
owner and the organisation's mailbox are warned by mail (each warning once per period:
a new access starts a new period); on the day, the mailbox's status becomes
``reclaimed``: every door refuses it, its mail stays, its address stays reserved (the
naming engine counts mailboxes of any status). Organisation and sub-unit mailboxes
(``reclaim_exempt_kinds``) and organisations' leaders (``reclaim_exempt_leaders``) are
never reclaimed. ``restore`` gives a reclaimed mailbox back (Điều 4.4: "khi có nhu cầu
sử dụng lại thì lập yêu cầu") with every message, and a new one-time password;
``export`` writes its mail as a zip of .eml files, one folder a directory, with each
message's flags in an index (readable without Công Thư).

``run(app)`` does one pass by ``app.accounts.clock``; ``jobs.py`` runs it daily.
"""

from __future__ import annotations

import calendar as months
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from congthu import audit
from congthu.accounts.notices import build
from congthu.directory import Directory, DirectoryError
from congthu.log import event
from congthu.requests.calendar import VIETNAM
from congthu.requests.tables import reclaim_warnings
from congthu.store import Mailbox
from congthu.store.access import record_access
from congthu.store.export import write_mbox
from congthu.store.lookup import set_mailbox

if TYPE_CHECKING:
    from congthu.app import App

RECLAIMED = "reclaimed"


def add_months(moment: datetime, count: int) -> datetime:
    """``moment`` plus ``count`` calendar months (31/8 + 6 months is 28/2 or 29/2)."""
    month = moment.month - 1 + count
    year, month = moment.year + month // 12, month % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, months.monthrange(year, month)[1]))


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def last_use(mailbox: Mailbox) -> datetime:
    created = _utc(mailbox.created_at)
    return max(created, _utc(mailbox.last_access_at)) if mailbox.last_access_at else created


@dataclass(frozen=True)
class Pass:
    """What one pass did: addresses warned (with the days left) and reclaimed."""

    warned: list[tuple[str, int]]
    reclaimed: list[str]


def _warned(conn: Connection, mailbox_id: int, since: datetime) -> set[int]:
    rows = conn.execute(select(reclaim_warnings.c.days).where(
        reclaim_warnings.c.mailbox_id == mailbox_id, reclaim_warnings.c.last_use == since))
    return {int(r.days) for r in rows}


def _mark_warned(conn: Connection, mailbox_id: int, since: datetime, days: int, now: datetime) -> None:
    conn.execute(insert(reclaim_warnings).values(mailbox_id=mailbox_id, last_use=since, days=days, sent_at=now))


def _reclaim(conn: Connection, mailbox_id: int, address: str, since: datetime, now: datetime) -> None:
    set_mailbox(conn, mailbox_id, status=RECLAIMED)
    audit.append(conn, at=now, action="mailbox.reclaimed", actor="system", target=address,
                 details={"last_use": since.isoformat(), "rule": "Điều 4.4"})


def warning(app: App, address: str, to: list[str], days: int, on: datetime, now: datetime) -> bytes:
    day = on.astimezone(VIETNAM).strftime("%d/%m/%Y")
    subject = (f"Hộp thư {address} sẽ bị thu hồi sau {days} ngày / The mailbox {address} will be reclaimed "
               f"in {days} days")
    body = (f"Hộp thư {address} không được sử dụng đã gần sáu tháng. Theo Điều 4.4 của Quy chế, hộp thư sẽ bị "
            f"thu hồi vào ngày {day} nếu không được đăng nhập trước ngày đó (bất kỳ cách nào: ứng dụng thư, "
            f"webmail). Thư trong hộp thư được giữ lại; khi cần dùng lại, lãnh đạo cơ quan lập yêu cầu.\n\n---\n"
            f"The mailbox {address} has not been used for almost six months. Under article 4.4 of the regulation "
            f"it will be reclaimed on {day} unless someone signs in to it before (any mail client or the "
            f"webmail). Its mail is kept; the organisation's leader may ask for it back.\n")
    return build(app.settings, ", ".join(to), subject, body, now)


async def _exempt(app: App) -> tuple[set[int], dict[int, int]]:
    """Mailbox ids of leaders (if exempt), and each person's mailbox -> their
    organisation's mailbox (where warnings go too)."""
    directory = Directory(app)
    leaders: set[int] = set()
    org_box: dict[int, int] = {}
    orgs = {o.id: o for o in await directory.list_orgs()}
    for person in await directory.list_people():
        if person.mailbox_id is None:
            continue
        org = orgs.get(person.org_id) if person.org_id is not None else None
        if org is not None:
            if org.mailbox_id:
                org_box[person.mailbox_id] = org.mailbox_id
            if org.leader_id == person.id:
                leaders.add(person.mailbox_id)
    return (leaders if app.settings.requests.reclaim_exempt_leaders else set()), org_box


async def run(app: App) -> Pass:
    """One pass of Điều 4.4 at ``app.accounts.clock()``: warnings due, reclamations due."""
    settings = app.settings.requests
    done = Pass([], [])
    if settings.reclaim_months <= 0:
        return done
    now = _utc(app.accounts.clock())
    leaders, org_box = await _exempt(app)
    thresholds = sorted({d for d in settings.reclaim_warn_days if d > 0})
    for mailbox in await app.store.list_mailboxes():
        if mailbox.status != "active" or mailbox.kind in settings.reclaim_exempt_kinds or mailbox.id in leaders:
            continue
        since = last_use(mailbox)
        due = add_months(since, settings.reclaim_months)
        if now >= due:
            await app.db.run_write(_reclaim, mailbox.id, mailbox.address, since, now)
            event("mailbox.reclaimed", address=mailbox.address)
            done.reclaimed.append(mailbox.address)
            continue
        reached = [d for d in thresholds if now >= due - timedelta(days=d)]
        if not reached:
            continue
        days = min(reached)
        if days in await app.db.run_small_read(_warned, mailbox.id, since):
            continue
        targets = [mailbox.id] + ([org_box[mailbox.id]] if mailbox.id in org_box else [])
        boxes = [b for b in [await app.store.get_mailbox_by_id(i) for i in targets] if b is not None]
        raw = warning(app, mailbox.address, [b.address for b in boxes], days, due, now)
        await app.store.deliver(raw, [b.id for b in boxes], internal_date=now)
        await app.db.run_write(_mark_warned, mailbox.id, since, days, now)
        done.warned.append((mailbox.address, days))
    return done


async def restore(app: App, address: str, *, actor: str) -> str:
    """Give a reclaimed mailbox back with all its mail (Điều 4.4); returns its new
    one-time password (for the requesting organisation's manager)."""
    mailbox = await app.store.get_mailbox(address)
    if mailbox is None or mailbox.status != RECLAIMED:
        raise DirectoryError(f"Không có hộp thư đã thu hồi / no reclaimed mailbox: {address}")
    now = _utc(app.accounts.clock())

    def write(conn: Connection) -> None:
        set_mailbox(conn, mailbox.id, status="active")
        record_access(conn, mailbox.id, now)  # a new six months start
        audit.append(conn, at=now, action="mailbox.restored", actor=actor, target=mailbox.address,
                     details={"rule": "Điều 4.4"})

    await app.db.run_write(write)
    return await app.accounts.reset_password(mailbox.id, actor=actor, client="reclaim restore")


async def export(app: App, address: str, dest: Path) -> int:
    """Write every message of a mailbox (any status) into ``dest``: a ``.mbox`` file as
    mboxrd (``congthu.store.export``), anything else as a zip file of
    ``<folder>/<uid>.eml`` exactly as received, and ``index.csv`` (folder, uid, date,
    flags). Returns the number of messages."""
    mailbox = await app.store.get_mailbox(address)
    if mailbox is None:
        raise DirectoryError(f"Không có hộp thư / no such mailbox: {address}")
    if dest.suffix.lower() == ".mbox":
        return await write_mbox(app.store, mailbox.id, dest)
    count = 0
    rows = ["folder,uid,internal_date,flags"]
    tmp = dest.with_name(dest.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for folder in await app.store.list_folders(mailbox.id):
            for meta in await app.store.folder_index(folder.id):
                raw = await app.store.read_message(meta.content_id)
                archive.writestr(f"{folder.name}/{meta.uid}.eml", raw)
                flags = " ".join(meta.flag_names)
                rows.append(f'"{folder.name.replace(chr(34), chr(34) * 2)}",{meta.uid},'
                            f"{_utc(meta.internal_date).isoformat()},{flags}")
                count += 1
        archive.writestr("index.csv", "\n".join(rows) + "\n")
    tmp.replace(dest)
    return count
