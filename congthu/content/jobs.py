"""Background work of the content package: held messages past ``content.quarantine_days``
are deleted, hourly, once across every process and node (``leases.housekeeping``)."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from congthu.cluster.leases import housekeeping
from congthu.content import quarantine

if TYPE_CHECKING:
    from congthu.app import App

INTERVAL = 3600.0


def jobs(app: App) -> list[Coroutine[Any, Any, None]]:
    return [housekeeping(app.db, "content.quarantine_purge", INTERVAL, lambda: quarantine.purge_expired(app),
                         failed="content.job_failed").forever()]
