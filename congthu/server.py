"""``congthu serve``: every listener in one asyncio process.

Each protocol package has a ``server.py`` with ``services(app) -> list[Service]`` that
returns its enabled listeners (a port of 0 switches one off, so a node can specialise).
SIGTERM and SIGINT stop the listeners, let sessions finish their current command, and
close the database; SIGHUP reloads the TLS certificate.
"""

from __future__ import annotations

import asyncio
import importlib
import signal
from collections.abc import Callable
from typing import Protocol

from congthu.app import App
from congthu.log import event

SERVICE_MODULES = [
    "congthu.web.server",
    "congthu.smtp.server",
    "congthu.imap.server",
    "congthu.pop3.server",
    "congthu.ldap.server",
]


class Service(Protocol):
    name: str

    async def start(self) -> None:
        """Bind and start accepting; return once listening."""

    async def stop(self) -> None:
        """Stop accepting, finish or close open sessions."""


def collect_services(app: App) -> list[Service]:
    found: list[Service] = []
    for name in SERVICE_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        found.extend(module.services(app))
    return found


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
    started: list[Service] = []
    try:
        for service in services:
            await service.start()
            started.append(service)
            event("service.started", service=service.name)
        background = [asyncio.create_task(job) for job in _background_jobs(app)]
        if ready:
            ready(started)
        await stop.wait()
    finally:
        event("server.stopping")
        for task in locals().get("background", []):
            task.cancel()
        for service in reversed(started):
            try:
                await service.stop()
            except Exception as exc:  # one service's failure must not keep the others up
                event("service.stop_failed", service=service.name, error=str(exc))
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


def _background_jobs(app: App) -> list:  # type: ignore[type-arg]
    """Periodic jobs (queue runs, publication, reclamation) contributed by packages."""
    jobs = []
    for name in ("congthu.smtp.jobs", "congthu.directory.jobs", "congthu.policy.jobs",
                 "congthu.accounts.jobs", "congthu.workflow.jobs"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        jobs.extend(module.jobs(app))
    return jobs
