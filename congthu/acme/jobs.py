"""Periodic work of ACME: the renewal (once across every worker and node, under a lease
of ``congthu.cluster.leases``), and in every worker process a look every minute at the
certificate files, loading them again when they changed (``TLSContexts.reload_if_changed``),
so the worker that renewed and all the others serve the new certificate on every
protocol without a restart."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from congthu.acme.client import ACMEError
from congthu.acme.renewal import renew_if_due
from congthu.cluster.leases import PeriodicJob
from congthu.log import event

if TYPE_CHECKING:
    from congthu.app import App

CHECK_EVERY = 3600.0  # a look at the certificate's age; a failed order is tried again then
WATCH_EVERY = 60.0


async def _renew(app: App) -> bool:
    try:
        return await renew_if_due(app)
    except ACMEError as exc:
        event("acme.failed", error=str(exc))
        return False


def renewal(app: App) -> PeriodicJob:
    # The period is the least time between two orders; whether one is due is decided by
    # the certificate itself at every check.
    return PeriodicJob(app.db, "acme.renew", lambda: CHECK_EVERY if app.settings.tls.acme_directory else 0,
                       lambda: _renew(app), check=CHECK_EVERY)


async def watch(app: App) -> None:
    while True:
        await asyncio.sleep(WATCH_EVERY)
        try:
            if app.tls.reload_if_changed():
                event("tls.reloaded", cert=str(app.tls.cert_path), why="files changed")
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            event("tls.reload_failed", error=str(exc))


def jobs(app: App) -> list[Coroutine[Any, Any, None]]:
    return [renewal(app).forever(), watch(app)]
