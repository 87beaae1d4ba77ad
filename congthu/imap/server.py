"""The IMAP listeners: ``listen.imap`` (STARTTLS, 143) and ``listen.imaps`` (implicit
TLS, RFC 8314, 993). Port 0 switches one off. Each connection gets a ``Session`` with the
command tables (``commands.TABLES``) and the App's shared caches (``app.imap``)."""

from __future__ import annotations

import asyncio

from congthu.app import App
from congthu.imap.caches import ImapCaches
from congthu.imap.commands import TABLES
from congthu.imap.session import Session
from congthu.imap.wire import Connection
from congthu.net import ConnectionLimiter, TCPService

# The greeting to a client over a [connections] cap: RFC 9051 section 7.1.5 (BYE as the
# greeting when the server will not accept the connection), RFC 5530 UNAVAILABLE.
REFUSAL = ("* BYE [UNAVAILABLE] Quá nhiều kết nối, hãy thử lại sau / "
           "too many connections, try again later\r\n").encode()


def services(app: App) -> list[TCPService]:
    listen, limits = app.settings.listen, app.settings.imap
    found: list[TCPService] = []
    for name, port, implicit in (("imap", listen.imap, False), ("imaps", listen.imaps, True)):
        if not port:
            continue
        if implicit and not app.tls.available:
            continue
        service = TCPService(name, listen.host, port, None,  # type: ignore[arg-type]
                             app.tls.server if implicit else None,
                             limit=limits.max_line_length + 2,
                             limiter=ConnectionLimiter.for_door(app.settings, "imap", name),
                             refusal=REFUSAL, settings=app.settings,
                             stop_grace=app.settings.server.drain_seconds)
        service.handler = _handler(app, app.imap, service, implicit)
        found.append(service)
    return found


def _handler(app: App, caches: ImapCaches, service: TCPService, implicit: bool):  # type: ignore[no-untyped-def]
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        limits = app.settings.imap
        conn = Connection(reader, writer, tls=implicit, max_line=limits.max_line_length,
                          write_timeout=limits.write_timeout)
        await Session(app, conn, TABLES, caches, implicit_tls=implicit, service=service).run()
    return handle
