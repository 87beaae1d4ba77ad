"""HTTP and HTTPS listeners (uvicorn) for the web application."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Generator

import uvicorn

from congthu.app import App
from congthu.web.app import create_app


class _Uvicorn(uvicorn.Server):
    # The process's signals belong to congthu.server, not to uvicorn.
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class HTTPService:
    def __init__(self, app: App, name: str, port: int, tls: bool) -> None:
        self.name, self.port = name, port
        config = uvicorn.Config(
            create_app(app), host=app.settings.listen.host, port=port, log_config=None,
            access_log=False, lifespan="off", proxy_headers=False, server_header=False,
            ssl_certfile=str(app.tls.cert_path) if tls else None,
            ssl_keyfile=str(app.tls.key_path) if tls else None,
            # The shared context, so SIGHUP's certificate reload reaches HTTPS too.
            ssl_context_factory=(lambda _config, _default: app.tls.server) if tls else None,
        )
        self.server = _Uvicorn(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self._task.done():
                self._task.result()  # raises the bind error
                raise RuntimeError(f"{self.name} stopped during start-up")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self.server.should_exit = True
        if self._task:
            await self._task


def services(app: App) -> list[HTTPService]:
    listen = app.settings.listen
    found = []
    if listen.http:
        found.append(HTTPService(app, "http", listen.http, tls=False))
    if listen.https and app.tls.available:
        found.append(HTTPService(app, "https", listen.https, tls=True))
    return found
