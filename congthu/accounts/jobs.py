"""Periodic work of the accounts package: expiry reminders (Điều 13.2) and counter pruning.

``send_reminders(app)`` mails every user whose password expires within one of
``passwords.reminder_days`` (7 and 1 by default) the reminder for the smallest such
threshold not yet sent for the current password; ``jobs(app)`` runs it (and forgets old
guessing counters) every ``INTERVAL`` seconds while the server runs, once across every
worker and node (a lease, ``congthu.cluster.leases``: reminders are read, then marked).
"""

from __future__ import annotations

from collections.abc import Coroutine
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from congthu.accounts import credentials as sql
from congthu.accounts import lockout, notices
from congthu.accounts.model import aware, change_password_url
from congthu.cluster.leases import PeriodicJob
from congthu.log import event
from congthu.store.lookup import mailboxes_by_ids

if TYPE_CHECKING:
    from congthu.app import App

INTERVAL = 3600.0


async def send_reminders(app: App) -> int:
    """Send the reminders due now (by ``app.accounts.clock``); returns how many were sent."""
    accounts = app.accounts
    settings = app.settings.passwords
    thresholds = sorted({d for d in settings.reminder_days if d > 0})
    if not settings.max_age_days or not thresholds:
        return 0
    now = accounts.clock()
    horizon = now - timedelta(days=settings.max_age_days - max(thresholds))
    def read(conn: Connection) -> list[tuple[int, str, Any, int | None]]:
        rows = sql.reminders_due(conn, horizon)
        boxes = mailboxes_by_ids(conn, [r.mailbox_id for r in rows])
        return [(r.mailbox_id, boxes[r.mailbox_id].address, r.changed_at, r.reminded_days) for r in rows
                if r.mailbox_id in boxes and boxes[r.mailbox_id].status == "active"]

    sent = 0
    url = change_password_url(app.settings)
    for mailbox_id, address, changed_at, reminded_days in await app.db.run_read(read):
        changed = aware(changed_at)
        assert changed is not None
        expires = changed + timedelta(days=settings.max_age_days)
        if expires <= now:
            continue  # expired already: logins say so
        due = [d for d in thresholds if now >= expires - timedelta(days=d)]
        if not due:
            continue
        days = min(due)
        if reminded_days is not None and reminded_days <= days:
            continue
        raw = notices.expiry_reminder(app.settings, address, days, expires, url, now)
        results = await app.store.deliver(raw, [mailbox_id], internal_date=now)
        if not results[0].ok:
            event("password.reminder_failed", address=address, error=str(results[0].error))
            continue
        await app.db.run_write(sql.mark_reminded, mailbox_id, days)
        event("password.reminder", address=address, days=days)
        sent += 1
    return sent


async def prune_counters(app: App) -> int:
    return await app.db.run_write(lockout.prune, app.accounts.clock(), app.settings.login)


async def _run(app: App) -> bool:
    try:
        await send_reminders(app)
        await prune_counters(app)
    except Exception as exc:  # a failed run is retried at the next interval
        event("accounts.job_failed", error=str(exc))
    return True


def jobs(app: App) -> list[Coroutine[Any, Any, None]]:
    return [PeriodicJob(app.db, "accounts.reminders", lambda: INTERVAL, lambda: _run(app)).forever()]
