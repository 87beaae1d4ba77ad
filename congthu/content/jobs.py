"""Background work of the content package: held messages past ``content.quarantine_days``
are deleted, hourly, once across every process and node (``PeriodicJob``)."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from congthu.cluster.leases import PeriodicJob
from congthu.content import quarantine
from congthu.log import event

if TYPE_CHECKING:
    from congthu.app import App

INTERVAL = 3600.0


async def _run(app: App) -> bool:
    try:
        await quarantine.purge_expired(app)
    except Exception as exc:  # noqa: BLE001 - a failed run is retried at the next interval
        event("content.job_failed", error=str(exc))
    return True


def jobs(app: App) -> list[Coroutine[Any, Any, None]]:
    return [PeriodicJob(app.db, "content.quarantine_purge", lambda: INTERVAL, lambda: _run(app)).forever()]
