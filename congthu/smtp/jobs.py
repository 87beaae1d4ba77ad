"""Background work of the SMTP package: the outbound queue runner; hourly, once across
every process and node (``leases.housekeeping``), the TLS reports of the days that are over
(RFC 8460, ``tlsreports.py``) and the removal of MTA-STS policies whose max_age ran out
(``mtasts.purge_expired``)."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from congthu.cluster.leases import housekeeping
from congthu.smtp import mtasts, tlsreports
from congthu.smtp.queue import Runner

if TYPE_CHECKING:
    from congthu.app import App

REPORT_INTERVAL = 3600.0


async def reports_and_policies(app: App) -> None:
    await tlsreports.send_reports(app)
    await mtasts.purge_expired(app)


def jobs(app: App) -> list[Coroutine[Any, Any, None]]:
    return [Runner(app).run(),
            housekeeping(app.db, "smtp.tls_reports", REPORT_INTERVAL, lambda: reports_and_policies(app),
                         failed="smtp.job_failed").forever()]
