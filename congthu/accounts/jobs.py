"""Periodic work of the accounts package: expiry reminders (Điều 13.2) and counter pruning.

``send_reminders(app)`` mails every user whose password expires within one of
``passwords.reminder_days`` (7 and 1 by default) the reminder for the smallest such
threshold not yet sent for the current password; ``jobs(app)`` runs it (and forgets old
guessing counters) every ``INTERVAL`` seconds while the server runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from congthu.accounts import change_password_url, lockout, notices
from congthu.accounts.tables import credentials
from congthu.log import event
from congthu.store.tables import mailboxes

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
    async with app.db.reader.connect() as conn:
        rows = (await conn.execute(
            select(credentials.c.mailbox_id, credentials.c.changed_at, credentials.c.reminded_days,
                   mailboxes.c.address)
            .join(mailboxes, mailboxes.c.id == credentials.c.mailbox_id)
            .where(credentials.c.must_change.is_(False), mailboxes.c.status == "active",
                   credentials.c.changed_at <= horizon)
        )).all()
    sent = 0
    url = change_password_url(app.settings)
    for row in rows:
        changed = row.changed_at if row.changed_at.tzinfo else row.changed_at.replace(tzinfo=now.tzinfo)
        expires = changed + timedelta(days=settings.max_age_days)
        if expires <= now:
            continue  # expired already: logins say so
        due = [d for d in thresholds if now >= expires - timedelta(days=d)]
        if not due:
            continue
        days = min(due)
        if row.reminded_days is not None and row.reminded_days <= days:
            continue
        raw = notices.expiry_reminder(app.settings, row.address, days, expires, url, now)
        results = await app.store.deliver(raw, [row.mailbox_id], internal_date=now)
        if not results[0].ok:
            event("password.reminder_failed", address=row.address, error=str(results[0].error))
            continue
        async with app.db.writer.begin() as conn:
            await accounts.mark_reminded(conn, row.mailbox_id, days)
        event("password.reminder", address=row.address, days=days)
        sent += 1
    return sent


async def prune_counters(app: App) -> int:
    async with app.db.writer.begin() as conn:
        return await lockout.prune(conn, app.accounts.clock(), app.settings.login)


async def _periodic(app: App) -> None:
    while True:
        try:
            await send_reminders(app)
            await prune_counters(app)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a failed run is retried at the next interval
            event("accounts.job_failed", error=str(exc))
        await asyncio.sleep(INTERVAL)


def jobs(app: App) -> list[Coroutine[Any, Any, None]]:
    return [_periodic(app)]
