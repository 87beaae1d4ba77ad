"""The SMTP listeners: MX (``listen.smtp``, 25), submission with STARTTLS
(``listen.submission``, 587) and with implicit TLS (``listen.submissions``, 465, RFC 8314).
A port of 0 switches a listener off.

Each connection is a ``session.SMTPSession`` given the command table and aiosmtpd hooks
of ``commands`` (the session itself imports no command module)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import TYPE_CHECKING, Any, cast

from congthu import metrics
from congthu.net import LISTEN_BACKLOG, ConnectionLimiter, inherited_listener
from congthu.proxyproto import gated
from congthu.smtp import errors
from congthu.smtp.commands import COMMANDS, Hooks
from congthu.smtp.session import SMTPSession

if TYPE_CHECKING:
    from congthu.app import App


class SMTPService:
    """One listener (implements congthu.server.Service)."""

    def __init__(self, app: App, name: str, port: int, door: str, implicit_tls: bool,
                 stop_grace: float = 5.0) -> None:
        self.app = app
        self.name = name
        self.host = app.settings.listen.host
        self.port = port
        self.door = door
        self.implicit_tls = implicit_tls
        self.stop_grace = stop_grace
        self.hooks = Hooks()
        self.limiter = ConnectionLimiter.for_door(app.settings, door, name)
        self.protocols: set[_CountedProtocol] = set()
        self._server: asyncio.Server | None = None
        # This listener's counters, looked up once (``labels`` takes a lock and hashes
        # for every call).
        self.connections_metric = metrics.connections.labels(name)
        self.open_metric = metrics.open_connections.labels(name)

    def _make(self) -> _CountedProtocol:
        protocol = _CountedProtocol(self.hooks, COMMANDS, self.app, door=self.door, implicit_tls=self.implicit_tls)
        protocol.service = self
        return protocol

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # Behind a balancer (proxy.listeners) the PROXY header comes first, then TLS.
        factory, ssl_context = gated(self.app.settings, self.name, self._make,
                                     self.app.tls.server if self.implicit_tls else None)
        handshake = 30 if ssl_context else None
        sock = inherited_listener(self.host, self.port)  # bound by the supervisor (congthu.workers)
        if sock is not None:
            self._server = await loop.create_server(factory, sock=sock, ssl=ssl_context, backlog=LISTEN_BACKLOG,
                                                    ssl_handshake_timeout=handshake)
            return
        self._server = await loop.create_server(
            factory, self.host, self.port, ssl=ssl_context, reuse_address=True, backlog=LISTEN_BACKLOG,
            ssl_handshake_timeout=handshake,
        )
        if self.port == 0:
            self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Drain: stop accepting; a session between transactions gets 421 and is closed
        (RFC 5321 section 3.8); a transaction under way (MAIL given, or its message being
        delivered) is let finish, its client getting its 250, for up to ``stop_grace``
        seconds; then what is left is closed."""
        if self._server is not None:
            self._server.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.stop_grace
        while self.protocols and loop.time() < deadline:
            for protocol in list(self.protocols):
                if not protocol.in_transaction():
                    protocol.shutting_down()
            if not any(p.in_transaction() for p in self.protocols):
                break
            await asyncio.sleep(0.05)
        tasks = []
        for protocol in list(self.protocols):
            if protocol._handler_coroutine is not None:
                tasks.append(protocol._handler_coroutine)
            if protocol.transport is not None:
                protocol.transport.close()
        if tasks:
            await asyncio.wait(tasks, timeout=2)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)


class _CountedProtocol(SMTPSession):
    service: SMTPService
    refused = False
    peername: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.transport is None:
            self.peername = transport.get_extra_info("peername")
        if self.transport is None and not self.service.limiter.acquire(self.peername):
            # Over a [connections] cap: 421 as the greeting, then close (RFC 5321 section 3.8).
            self.refused = True
            cast(asyncio.Transport, transport).write(
                f"421 4.7.0 {self.app.settings.system.hostname} Quá nhiều kết nối, hãy thử lại "
                "sau / too many connections, try again later\r\n".encode())
            transport.close()
            return
        if self.transport is None:  # not the second call after STARTTLS
            self.service.protocols.add(self)
            self.service.connections_metric.inc()
            self.service.open_metric.inc()
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)

    def in_transaction(self) -> bool:
        """A mail transaction is under way: MAIL was accepted and its DATA or last BDAT
        has not been answered yet."""
        envelope = self.envelope
        return self.busy or (not self.closed and envelope is not None and envelope.mail_from is not None)

    def shutting_down(self) -> None:
        """421 and close, between transactions, as the server stops (RFC 5321 section 3.8)."""
        if self.closed or self.transport is None or self.transport.is_closing():
            # Closing already (after QUIT, until its connection_lost): nothing more is
            # said; a TLS transport would raise on the write.
            return
        text = (f"421 4.3.2 {self.app.settings.system.hostname} Máy chủ đang dừng, hãy thử lại sau / "
                "server shutting down, try again later")
        self._writer.write(errors.ascii_text(text).encode() + b"\r\n")
        self.close_now()

    def connection_lost(self, error: Exception | None) -> None:
        if self.refused:
            return
        if self in self.service.protocols:
            self.service.protocols.discard(self)
            self.service.limiter.release(self.peername)
            self.service.open_metric.dec()
        super().connection_lost(error)


def services(app: App) -> list[Any]:
    listen = app.settings.listen
    drain = app.settings.server.drain_seconds
    found: list[Any] = []
    if listen.smtp:
        found.append(SMTPService(app, "smtp", listen.smtp, "mx", False, drain))
    if listen.submission:
        found.append(SMTPService(app, "submission", listen.submission, "submission", False, drain))
    if listen.submissions and app.tls.available:
        found.append(SMTPService(app, "submissions", listen.submissions, "submission", True, drain))
    return found
