"""The IMAP listeners: ``listen.imap`` (STARTTLS, 143) and ``listen.imaps`` (implicit
TLS, RFC 8314, 993). Port 0 switches one off."""

from __future__ import annotations

import asyncio

from congthu.app import App
from congthu.imap.protocol import Connection
from congthu.imap.session import Session
from congthu.net import TCPService


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
                             limit=limits.max_line_length + 2)
        service.handler = _handler(app, service, implicit)
        found.append(service)
    return found


def _handler(app: App, service: TCPService, implicit: bool):  # type: ignore[no-untyped-def]
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        limits = app.settings.imap
        conn = Connection(reader, writer, tls=implicit, max_line=limits.max_line_length,
                          write_timeout=limits.write_timeout)
        await Session(app, conn, implicit_tls=implicit, service=service).run()
    return handle
