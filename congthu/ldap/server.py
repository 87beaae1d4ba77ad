"""The LDAP listeners: ``listen.ldap`` (StartTLS, RFC 4513 section 3) and ``listen.ldaps``
(implicit TLS). Both share one ``LDAPServer``: the App, the base DN and the cached tree.
Each listener caps its connections (``[connections]`` ldap_per_address, ldap_total); a
client over a cap gets a Notice of Disconnection (busy) and is closed."""

from __future__ import annotations

import asyncio

from congthu.app import App
from congthu.ldap import errors, grants, messages
from congthu.ldap.commands import COMMANDS
from congthu.ldap.session import Session
from congthu.ldap.tree import TreeCache, base_dn_of
from congthu.ldap.wire import Wire
from congthu.net import TCPService, door_listeners


class LDAPServer:
    """What the sessions of this process share."""

    def __init__(self, app: App) -> None:
        self.app = app
        settings = app.settings
        self.base = settings.ldap.base_dn or base_dn_of(settings.system.domain)
        self.trees = TreeCache(app, self.base)

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stopping: asyncio.Event,
                      implicit_tls: bool) -> None:
        wire = Wire(reader, writer, settings=self.app.settings.ldap, stopping=stopping)
        await Session(self.app, self.trees, COMMANDS, wire, tls=implicit_tls).run()


def services(app: App) -> list[TCPService]:
    # A malformed grant stops the start with its message, not the first bind.
    grants.parse(app.settings.ldap.service_grants, app.settings.system.domain)
    return door_listeners(app, "ldap", LDAPServer(app).session,
                          refusal=messages.notice_of_disconnection(errors.BUSY, errors.TOO_MANY_CONNECTIONS_TEXT))
