"""The LDAP listeners: ``listen.ldap`` (StartTLS, RFC 4513 section 3) and ``listen.ldaps``
(implicit TLS). Both share one ``LDAPServer``: the App, the base DN and the cached tree.
Each listener caps its connections (``[connections]`` ldap_per_address, ldap_total); a
client over a cap gets a Notice of Disconnection (busy) and is closed."""

from __future__ import annotations

import asyncio

from congthu.app import App
from congthu.ldap import errors, messages
from congthu.ldap.commands import COMMANDS
from congthu.ldap.session import Session
from congthu.ldap.tree import TreeCache, base_dn_of
from congthu.ldap.wire import Wire
from congthu.net import ConnectionLimiter, TCPService


class LDAPServer:
    """What the sessions of this process share."""

    def __init__(self, app: App) -> None:
        self.app = app
        settings = app.settings
        self.base = settings.ldap.base_dn or base_dn_of(settings.system.domain)
        self.trees = TreeCache(app, self.base)

    def listener(self, name: str, port: int, *, implicit_tls: bool) -> TCPService:
        settings = self.app.settings
        service = TCPService(name, settings.listen.host, port, _unset,
                             self.app.tls.server if implicit_tls else None,
                             limiter=ConnectionLimiter.for_door(settings, "ldap", name),
                             refusal=messages.notice_of_disconnection(errors.BUSY, errors.TOO_MANY_CONNECTIONS_TEXT))

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            wire = Wire(reader, writer, settings=settings.ldap, stopping=service.stopping)
            await Session(self.app, self.trees, COMMANDS, wire, tls=implicit_tls).run()

        service.handler = handle
        return service


async def _unset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The handler until ``listener`` sets the one that needs the service itself."""


def services(app: App) -> list[TCPService]:
    listen = app.settings.listen
    server = LDAPServer(app)
    found = []
    if listen.ldap:
        found.append(server.listener("ldap", listen.ldap, implicit_tls=False))
    if listen.ldaps and app.tls.available:
        found.append(server.listener("ldaps", listen.ldaps, implicit_tls=True))
    return found
