"""Periodic work of the directory: publication on a schedule (Điều 9.8).

The directory is published (``publish.publish``) into ``directory.publish_dir`` every
``directory.publish_every_hours`` hours while the server runs; 0 switches the schedule
off (``congthu directory publish`` still publishes by hand). The time of the last
publication is the age of its ``index.html``, so a restarted server publishes at once
only when the last publication is due, and an operator's manual run counts too. Every
worker and node runs the schedule; a lease (``congthu.cluster.leases``) lets one of them
publish per period.
"""

from __future__ import annotations

import time
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from congthu.cluster.leases import PeriodicJob
from congthu.directory.publish import publish
from congthu.log import event

if TYPE_CHECKING:
    from congthu.app import App

# How often the schedule is looked at: publication is hourly at the finest.
CHECK_EVERY = 300.0


def _target(app: App) -> Path:
    return app.path(app.settings.directory.publish_dir or "public/danh-ba")


def due_in(app: App, now: float | None = None) -> float | None:
    """Seconds until the next publication is due (0 or less: due now); None when the
    schedule is off."""
    hours = app.settings.directory.publish_every_hours
    if hours <= 0:
        return None
    try:
        last = (_target(app) / "index.html").stat().st_mtime
    except FileNotFoundError:
        return 0.0
    return last + hours * 3600 - (time.time() if now is None else now)


async def publish_if_due(app: App) -> list[Path]:
    """Publish when the schedule says so; the files written, or none."""
    wait = due_in(app)
    if wait is None or wait > 0:
        return []
    written = await publish(app)
    event("directory.published", dir=str(_target(app)), files=len(written))
    return written


async def _scheduled(app: App) -> bool:
    """One look at the schedule, under the job's lease: True if it published."""
    try:
        return bool(await publish_if_due(app))
    except Exception as exc:  # a failed run is tried again at the next check
        event("directory.publish_failed", error=str(exc))
        return False


def publication(app: App) -> PeriodicJob:
    """The scheduled publication, once per ``publish_every_hours`` across every worker and node."""
    return PeriodicJob(app.db, "directory.publish", lambda: app.settings.directory.publish_every_hours * 3600.0,
                       lambda: _scheduled(app), check=CHECK_EVERY)


def jobs(app: App) -> list[Coroutine[Any, Any, None]]:
    return [publication(app).forever()]
