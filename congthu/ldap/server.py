"""The LDAP listeners: ``listen.ldap`` (StartTLS, RFC 4513 section 3) and ``listen.ldaps``
(implicit TLS). Each connection's transport is taken over by the wire (``wire.py`` says
why LDAP reads from the transport's callbacks). Both share one ``LDAPServer``: the App,
the base DN, the cached tree and the TLS context, which asks for client certificates
when ``ldap.client_ca`` is set (SASL EXTERNAL, ``certificates.py``). Each listener caps its connections (``[connections]``
ldap_per_address, ldap_total); a client over a cap gets a Notice of Disconnection (busy)
and is closed."""

from __future__ import annotations

import asyncio
from typing import cast

from congthu.app import App
from congthu.ldap import errors, grants, messages
from congthu.ldap.certificates import ClientCertificates
from congthu.ldap.commands import COMMANDS, KEPT
from congthu.ldap.session import Session
from congthu.ldap.tree import TreeCache, base_dn_of
from congthu.ldap.wire import IdleWires, Wire
from congthu.net import Stopping, TCPService, door_listeners


class LDAPServer:
    """What the sessions of this process share."""

    def __init__(self, app: App) -> None:
        self.app = app
        settings = app.settings
        self.base = settings.ldap.base_dn or base_dn_of(settings.system.domain)
        self.trees = TreeCache(app, self.base)
        self.certificates = ClientCertificates(app)
        # Each listener's connections waiting for a request (ended at once on its stop).
        self.idle: dict[Stopping, IdleWires] = {}

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stopping: Stopping,
                      implicit_tls: bool) -> None:
        """One connection, as the other doors get theirs; the wire takes its transport
        over from the stream (``Wire.attach``) and this task waits for its end. Cancelled
        (the listener's grace is over): whatever is under way stops, the connection is
        cut."""
        transport = writer.transport
        if transport.is_closing():
            return  # gone before its turn came
        idle = self.idle.get(stopping)
        if idle is None:
            idle = self.idle[stopping] = IdleWires(stopping)
        wire = Wire(settings=self.app.settings.ldap, stopping=stopping, idle=idle)
        session = Session(self.app, self.trees, COMMANDS, wire, tls=implicit_tls, certificates=self.certificates,
                          kept=KEPT)
        # What the stream read before the wire took over (the client's first requests,
        # when they came with the connection): the StreamReader's own buffer, as
        # ``StreamWire.start_tls`` reaches it.
        buffered = getattr(reader, "_buffer", None)
        received = bytes(buffered) if buffered else b""
        if buffered:
            buffered.clear()
        wire.attach(session, cast(asyncio.Transport, transport), transport.get_protocol(), received,
                    bool(getattr(reader, "_eof", False)))
        try:
            await wire.done
        finally:
            if not wire.done.done() or not wire.closed:
                session.cancel()


def services(app: App) -> list[TCPService]:
    # A malformed grant or certificate map stops the start with its message, not the
    # first bind.
    grants.parse(app.settings.ldap.service_grants, app.settings.system.domain)
    server = LDAPServer(app)
    found = door_listeners(app, "ldap", server.session,
                           refusal=messages.notice_of_disconnection(errors.BUSY, errors.TOO_MANY_CONNECTIONS_TEXT))
    for service in found:
        if service.ssl_context is not None:  # LDAPS: ask for client certificates too
            service.ssl_context = server.certificates.context
    return found
