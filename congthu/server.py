"""``congthu serve``: every listener in one asyncio process.

Each protocol package has a ``server.py`` with ``services(app) -> list[Service]`` that
returns its enabled listeners (a port of 0 switches one off, so a node can specialise),
and may have a ``jobs.py`` with ``jobs(app)``, its periodic work; both are found by
``congthu.plugins.discover``. Services start in the order of their module's
``START_ORDER`` (50 if it has none), then of the package names, and stop in reverse.
SIGTERM and SIGINT drain the node: ``/healthz`` answers 503 at once (a load balancer
stops sending connections), the listeners stop accepting, sessions finish what they are
doing within ``server.drain_seconds`` (an SMTP transaction under way is completed, an
IMAP, POP3 or LDAP command under way is answered, then the session ends; one waiting
for its next command, or in IMAP IDLE, gets its goodbye at once: SMTP 421, IMAP BYE,
POP3 -ERR [SYS/TEMP], LDAP's Notice of Disconnection), then the database is closed and
the process exits; SIGHUP
reloads the TLS certificate.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from congthu.app import App
from congthu.log import event
from congthu.plugins import discover

# Where a server.py without START_ORDER starts among the others.
DEFAULT_START_ORDER = 50


class Service(Protocol):
    name: str

    async def start(self) -> None:
        """Bind and start accepting; return once listening."""

    async def stop(self) -> None:
        """Stop accepting, finish or close open sessions."""


def collect_services(app: App) -> list[tuple[int, Service]]:
    """Every enabled service with its module's START_ORDER, in start order."""
    modules = sorted(discover("server"), key=lambda m: getattr(m, "START_ORDER", DEFAULT_START_ORDER))
    return [(getattr(module, "START_ORDER", DEFAULT_START_ORDER), service)
            for module in modules for service in module.services(app)]


async def serve(
    app: App, *, stop: asyncio.Event | None = None,
    ready: Callable[[list[Service]], None] | None = None, install_signals: bool = True,
) -> None:
    """Run every enabled service until ``stop`` is set or SIGTERM/SIGINT arrives."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    if install_signals:
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGHUP, _reload, app)
    services = collect_services(app)
    started: list[tuple[int, Service]] = []
    background: list[asyncio.Task[None]] = []
    try:
        for order, service in services:
            await service.start()
            started.append((order, service))
            event("service.started", service=service.name)
        background = [asyncio.create_task(job) for job in _background_jobs(app)]
        if ready:
            ready([service for _order, service in started])
        await stop.wait()
    finally:
        # Draining: /healthz answers 503 from now on (congthu.web.app), so a balancer
        # sends no new connection here while the sessions finish.
        app.draining = True
        event("server.stopping")
        for task in background:
            task.cancel()
        # Awaited, so that none is left pending when the loop closes (and a job in the
        # middle of a database write ends it before the services and the App go).
        await asyncio.gather(*background, return_exceptions=True)
        # Services of one START_ORDER drain together (each within its grace),
        # in the reverse of the start order: the web listener, first up, answers health
        # checks until the others are done.
        for order in sorted({order for order, _service in started}, reverse=True):
            group = [service for o, service in started if o == order]
            results = await asyncio.gather(*(service.stop() for service in group), return_exceptions=True)
            for service, result in zip(group, results, strict=True):
                if isinstance(result, Exception):  # one service's failure must not keep the others up
                    event("service.stop_failed", service=service.name, error=str(result))
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
        event("server.stopped")


def _reload(app: App) -> None:
    try:
        app.tls.reload()
        event("tls.reloaded", cert=str(app.tls.cert_path))
    except Exception as exc:
        event("tls.reload_failed", error=str(exc))


def _background_jobs(app: App) -> list[Coroutine[Any, Any, None]]:
    """Periodic jobs (queue runs, publication, reclamation) contributed by packages."""
    return [job for module in discover("jobs") for job in module.jobs(app)]
