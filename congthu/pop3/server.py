"""The POP3 listeners: ``listen.pop3`` (STLS, RFC 2595) and ``listen.pop3s`` (implicit
TLS, RFC 8314). Both share one ``POP3Server``; the maildrop lock is in the database, so it
covers both ports and every other process or node on the same database."""

from __future__ import annotations

import asyncio

from congthu.app import App
from congthu.net import TCPService
from congthu.pop3.lock import MaildropLocks
from congthu.pop3.session import Session


class POP3Server:
    """What the sessions of this process share: the app and the maildrop locks."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.locks = MaildropLocks(app.db, app.settings.pop3.lock_lease)

    def listener(self, name: str, port: int, *, implicit_tls: bool) -> TCPService:
        # The stream buffer holds at least one whole command line (pop3.max_line_length);
        # a longer line is read past and refused (session.Session._discard).
        limit = max(64 * 1024, self.app.settings.pop3.max_line_length + 2)
        service = TCPService(name, self.app.settings.listen.host, port, _noop,
                             self.app.tls.server if implicit_tls else None, limit=limit)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await Session(self, reader, writer, tls=implicit_tls, stopping=service.stopping).run()

        service.handler = handle
        return service


async def _noop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    return None


def services(app: App) -> list[TCPService]:
    listen = app.settings.listen
    server = POP3Server(app)
    found = []
    if listen.pop3:
        found.append(server.listener("pop3", listen.pop3, implicit_tls=False))
    if listen.pop3s and app.tls.available:
        found.append(server.listener("pop3s", listen.pop3s, implicit_tls=True))
    return found
