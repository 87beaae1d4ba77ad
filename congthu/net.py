"""A TCP listener shared by the line protocols we implement ourselves (IMAP, POP3, LDAP).

``TCPService`` accepts connections (implicit TLS if given a context), hands each to an
async handler, counts them for /metrics, and on stop closes the listener, asks open
sessions to finish (``stopping`` is set) and cancels those that do not within a grace
period. One bad client only ever ends its own task.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Awaitable, Callable

from congthu import metrics
from congthu.log import event

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class TCPService:
    def __init__(
        self, name: str, host: str, port: int, handler: Handler,
        ssl_context: ssl.SSLContext | None = None, *, limit: int = 64 * 1024,
        stop_grace: float = 5.0,
    ) -> None:
        self.name, self.host, self.port = name, host, port
        self.handler = handler
        self.ssl_context = ssl_context
        self.limit = limit
        self.stop_grace = stop_grace
        self.stopping = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self.host, self.port, ssl=self.ssl_context, limit=self.limit,
            reuse_address=True, backlog=1024,
            ssl_handshake_timeout=30 if self.ssl_context else None,
        )
        if self.port == 0:  # tests ask for any free port
            self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        metrics.connections.labels(self.name).inc()
        metrics.open_connections.labels(self.name).inc()
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, TimeoutError):
            pass
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # a bug in one session must not take the server down
            event(f"{self.name}.session_error", error=repr(exc),
                  peer=str(writer.get_extra_info("peername")))
        finally:
            metrics.open_connections.labels(self.name).dec()
            self._sessions.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 2)

    async def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.close()
        if self._sessions:
            _done, pending = await asyncio.wait(set(self._sessions), timeout=self.stop_grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
