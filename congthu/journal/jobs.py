"""Background work of the journal: entries past ``journal.retention_days`` are removed,
daily, once across every process and node (``leases.housekeeping``)."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from congthu.cluster.leases import housekeeping
from congthu.journal import entries

if TYPE_CHECKING:
    from congthu.app import App

INTERVAL = 86400.0


def jobs(app: App) -> list[Coroutine[Any, Any, None]]:
    return [housekeeping(app.db, "journal.retention_purge", INTERVAL, lambda: entries.purge_expired(app),
                         failed="journal.job_failed").forever()]
