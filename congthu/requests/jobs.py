"""Periodic work of the request workflow: overdue alerts (Điều 4.3).

``alert_overdue(app)`` finds the open requests whose last working day has ended (in
Vietnam's time, by ``app.accounts.clock``) and that were not yet alerted, and mails one
alert listing them to the IT Center (the ``admin`` role holders and the system's admin
mailbox) and the Department (``supervisor``), through the store's delivery; each request
is alerted once. ``jobs(app)`` runs it every ``requests.overdue_check_seconds`` while the
server runs, once across workers and nodes (a lease, ``congthu.cluster.leases``), and
the reclamation pass of Điều 4.4 (``reclaim.py``) daily.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from congthu.accounts import roles
from congthu.accounts.notices import system_sender
from congthu.cluster.leases import PeriodicJob
from congthu.directory import Directory, DirectoryError
from congthu.log import event
from congthu.requests import notices, reclaim
from congthu.requests.calendar import local_day
from congthu.requests.workflow import mark_alerted, overdue_unalerted

if TYPE_CHECKING:
    from congthu.app import App

# Reclamation (Điều 4.4) is looked at once a day: its dates are days.
RECLAIM_EVERY = 86400.0


def _watchers(conn: Connection) -> list[int]:
    return sorted(set(roles.holders(conn, roles.ADMIN)) | set(roles.holders(conn, roles.SUPERVISOR)))


async def alert_overdue(app: App) -> int:
    """Mail the alert for requests newly overdue; returns how many requests it named."""
    now = app.accounts.clock()
    overdue = await app.db.run_read(overdue_unalerted, local_day(now))
    if not overdue:
        return 0
    ids = await app.db.run_small_read(_watchers)
    admin_box = await app.store.get_mailbox(system_sender(app.settings))
    if admin_box is not None:
        ids = sorted({*ids, admin_box.id})
    boxes = [b for b in [await app.store.get_mailbox_by_id(i) for i in ids] if b is not None]
    directory = Directory(app)
    named = []
    for request in overdue:
        try:
            org_name = (await directory.get_org(request.org_id)).name
        except DirectoryError:
            org_name = str(request.org_id)
        named.append((request, org_name))
    if boxes:
        raw = notices.overdue_alert(app.settings, named, [b.address for b in boxes], now)
        results = await app.store.deliver(raw, [b.id for b in boxes], internal_date=now)
        if not any(r.ok for r in results):
            event("requests.overdue_alert_failed", requests=[r.id for r in overdue])
            return 0
    await app.db.run_write(mark_alerted, [r.id for r in overdue], now)
    event("requests.overdue", requests=[r.id for r in overdue], alerted=len(boxes))
    return len(overdue)


async def reclaim_pass(app: App) -> bool:
    done = await reclaim.run(app)
    event("requests.reclaim_pass", warned=len(done.warned), reclaimed=len(done.reclaimed))
    return True  # one pass a day, whether it found something or not


def jobs(app: App) -> list[Coroutine[Any, Any, None]]:
    return [PeriodicJob(app.db, "requests.overdue", lambda: app.settings.requests.overdue_check_seconds,
                        lambda: alert_overdue(app)).forever(),
            PeriodicJob(app.db, "requests.reclaim",
                        lambda: RECLAIM_EVERY if app.settings.requests.reclaim_months > 0 else None,
                        lambda: reclaim_pass(app)).forever()]
