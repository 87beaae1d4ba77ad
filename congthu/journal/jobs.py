"""Background work of the journal: entries past ``journal.retention_days`` are removed,
daily, once across every process and node (``PeriodicJob``)."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from congthu.cluster.leases import PeriodicJob
from congthu.journal import entries
from congthu.log import event

if TYPE_CHECKING:
    from congthu.app import App

INTERVAL = 86400.0


async def _run(app: App) -> bool:
    try:
        await entries.purge_expired(app)
    except Exception as exc:  # noqa: BLE001 - a failed run is retried at the next interval
        event("journal.job_failed", error=str(exc))
    return True


def jobs(app: App) -> list[Coroutine[Any, Any, None]]:
    return [PeriodicJob(app.db, "journal.retention_purge", lambda: INTERVAL, lambda: _run(app)).forever()]
