"""The POP3 listeners: ``listen.pop3`` (STLS, RFC 2595) and ``listen.pop3s`` (implicit
TLS, RFC 8314). Both share one ``POP3Server``; the maildrop lock is in the database, so it
covers both ports and every other process or node on the same database. Each listener
caps its connections (``[connections]`` pop3_per_address, pop3_total; RFC 3206
``[SYS/TEMP]`` to a client over a cap)."""

from __future__ import annotations

import asyncio

from congthu.app import App
from congthu.net import Stopping, TCPService, door_listeners
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

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stopping: Stopping,
                      implicit_tls: bool) -> None:
        wire = Wire(reader, writer, settings=self.app.settings.pop3, stopping=stopping)
        await Session(self.app, self.locks, COMMANDS, wire, tls=implicit_tls).run()


def services(app: App) -> list[TCPService]:
    # The stream buffer holds at least one whole command line (pop3.max_line_length);
    # a longer line is read past and refused (wire.Wire._discard).
    limit = max(64 * 1024, app.settings.pop3.max_line_length + 2)
    return door_listeners(app, "pop3", POP3Server(app).session, limit=limit,
                          refusal=response(False, *errors.TOO_MANY_CONNECTIONS))
