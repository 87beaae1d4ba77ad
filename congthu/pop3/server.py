"""The POP3 listeners: ``listen.pop3`` (STLS, RFC 2595) and ``listen.pop3s`` (implicit
TLS, RFC 8314). Both share one ``POP3Server``; the maildrop lock is in the database, so it
covers both ports and every other process or node on the same database. Each listener
caps its connections (``[connections]`` pop3_per_address, pop3_total; RFC 3206
``[SYS/TEMP]`` to a client over a cap)."""

from __future__ import annotations

import asyncio

from congthu.app import App
from congthu.net import ConnectionLimiter, TCPService
from congthu.pop3 import errors
from congthu.pop3.commands import COMMANDS
from congthu.pop3.lock import MaildropLocks
from congthu.pop3.session import Session
from congthu.pop3.wire import Wire, response


class POP3Server:
    """What the sessions of this process share: the app, the maildrop locks and the
    command table."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.locks = MaildropLocks(app.db, app.settings.pop3.lock_lease)

    def listener(self, name: str, port: int, *, implicit_tls: bool) -> TCPService:
        settings = self.app.settings
        # The stream buffer holds at least one whole command line (pop3.max_line_length);
        # a longer line is read past and refused (wire.Wire._discard).
        limit = max(64 * 1024, settings.pop3.max_line_length + 2)
        service = TCPService(name, settings.listen.host, port, _unset,
                             self.app.tls.server if implicit_tls else None, limit=limit,
                             limiter=ConnectionLimiter.for_door(settings, "pop3", name),
                             refusal=response(False, *errors.TOO_MANY_CONNECTIONS))

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            wire = Wire(reader, writer, settings=settings.pop3, stopping=service.stopping)
            await Session(self.app, self.locks, COMMANDS, wire, tls=implicit_tls).run()

        service.handler = handle
        return service


async def _unset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The handler until ``listener`` sets the one that needs the service itself."""


def services(app: App) -> list[TCPService]:
    listen = app.settings.listen
    server = POP3Server(app)
    found = []
    if listen.pop3:
        found.append(server.listener("pop3", listen.pop3, implicit_tls=False))
    if listen.pop3s and app.tls.available:
        found.append(server.listener("pop3s", listen.pop3s, implicit_tls=True))
    return found
