"""One LDAP session: its state and its loop (RFC 4511 sections 4.1, 4.2, 4.4, 5.1).

The loop reads whole PDUs (``wire``), checks their structure (``ber.check``) and decodes
them (``messages.decode_checked``), then hands each to the handler of its operation from the
table it was given (``commands.py``; it imports no handler). A PDU that is not a valid
LDAPMessage ends the session with a Notice of Disconnection, protocolError (section
4.1.1); nothing a client sends ends more than its own session.

Operations run in order. A search runs as a task while the loop goes on reading, so an
Abandon (section 4.11) can stop it; any other request first waits for it to finish, so
Bind and StartTLS never have an operation outstanding (sections 4.2.1, 4.14.1).

When the server stops (the node drains), a session waiting for its next request gets
the Notice of Disconnection (unavailable) at once; one with an operation under way
gets it once the operation is answered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from congthu.db import DatabaseUnavailable
from congthu.ldap import errors, messages
from congthu.ldap.certificates import ClientCertificates, Presented
from congthu.ldap.errors import LDAPError, MalformedPDU, SessionClosed
from congthu.ldap.messages import ControlRecord, Message
from congthu.ldap.tree import ANONYMOUS, MANAGE_DSA_IT, PAGED_RESULTS, PASSWORD_POLICY, Identity, TreeCache
from congthu.ldap.wire import Ended, Wire
from congthu.log import event

if TYPE_CHECKING:
    from congthu.app import App

Handler = Callable[["Session", Message], Awaitable[None]]
# The operation table: operation name -> handler.
Commands = Mapping[str, Handler]

# The answer's application number for each request (RFC 4511 section 4.2 onwards).
RESPONSES = {"bind": 1, "search": messages.SEARCH_DONE, "modify": messages.MODIFY_RESPONSE,
             "add": messages.ADD_RESPONSE, "delete": messages.DEL_RESPONSE, "modifyDN": messages.MODDN_RESPONSE,
             "compare": messages.COMPARE_RESPONSE, "extended": 24}
# Controls we understand, and the operations they apply to (others: ignored unless
# critical, RFC 4511 section 4.1.11).
CONTROLS = {PAGED_RESULTS: {"search"}, PASSWORD_POLICY: {"bind", "extended"}, MANAGE_DSA_IT: set(RESPONSES)}
# Elements nested inside a search request around its filter (envelope, request, a leaf
# filter's parts) beyond the and/or/not levels of ldap.max_filter_depth.
NESTING_MARGIN = 8


@dataclass
class Paged:
    """The rest of a paged search (RFC 2696), under its cookie."""

    request: tuple[str, int, bytes, tuple[str, ...], bool]
    identity: Identity
    keys: list[tuple[tuple[tuple[str, str], ...], ...]] = field(default_factory=list)


class Session:
    def __init__(self, app: App, trees: TreeCache, commands: Commands, wire: Wire, *, tls: bool,
                 certificates: ClientCertificates) -> None:
        self.app = app
        self.certificates = certificates
        self.trees = trees
        self.base = trees.base
        self.commands = commands
        self.wire = wire
        self.tls = tls
        self.peer = wire.peer
        self.identity: Identity = ANONYMOUS
        self.paged: dict[bytes, Paged] = {}
        self.current: tuple[int, asyncio.Task[None]] | None = None

    # -- the loop -----------------------------------------------------------------------

    async def run(self) -> None:
        try:
            while True:
                try:
                    pdu = await self.wire.read_pdu()
                    if isinstance(pdu, Ended):
                        await self.ended(pdu)
                        return
                    message = messages.decode_checked(pdu, self.app.settings.ldap.max_filter_depth + NESTING_MARGIN)
                except (MalformedPDU, messages.BadOperation) as exc:
                    await self.disconnect(errors.PROTOCOL_ERROR, exc)
                    return
                if not await self.dispatch(message):
                    return
        except SessionClosed:
            pass
        finally:
            self.wire.finish()
            await self.finish_current(cancel=True)

    async def dispatch(self, message: Message) -> bool:
        """Run one request; False when the session is to end (Unbind)."""
        if message.op == "abandon":
            target = message.body
            if self.current is not None and self.current[0] == target:
                self.current[1].cancel()  # section 4.11: no answer to the abandoned search
            return True
        await self.finish_current()
        if message.op == "unbind":  # section 4.3: close, no answer
            return False
        handler = self.commands.get(message.op)
        if handler is None:
            raise SessionClosed()
        if message.op == "search":
            self.current = (message.id, asyncio.ensure_future(self.guard(handler, message)))
        else:
            await self.guard(handler, message)
        return True

    async def guard(self, handler: Handler, message: Message) -> None:
        """Run a handler; an LDAPError is its answer, a database away is ``unavailable``."""
        number = RESPONSES[message.op]
        try:
            for control in message.controls:
                if control.critical and message.op not in CONTROLS.get(control.oid, set()):
                    raise LDAPError(errors.UNAVAILABLE_CRITICAL_EXTENSION,
                                    f"Điều khiển không hỗ trợ / unsupported critical control {control.oid}")
            await handler(self, message)
        except LDAPError as exc:
            await self.result(message, exc.code, exc.message, exc.matched)
        except DatabaseUnavailable:
            await self.result(message, errors.UNAVAILABLE, errors.UNAVAILABLE_TEXT)
        except asyncio.CancelledError:
            if number != messages.SEARCH_DONE:
                raise
        except (ConnectionError, TimeoutError):
            self.wire.writer.close()

    async def finish_current(self, *, cancel: bool = False) -> None:
        if self.current is None:
            return
        _id, task = self.current
        self.current = None
        if cancel:
            task.cancel()
        with contextlib.suppress(BaseException):
            await task

    async def ended(self, why: Ended) -> None:
        if why is Ended.STOPPING:
            # Draining: a search under way finishes first (within the listener's grace),
            # then the Notice of Disconnection, unavailable (section 4.4.1).
            await self.finish_current()
            await self.disconnect(errors.UNAVAILABLE, errors.SHUTTING_DOWN_TEXT)
        elif why is Ended.TIMEOUT:
            event("ldap.timeout", peer=self.peer)

    async def disconnect(self, code: int, reason: object) -> None:
        """RFC 4511 section 4.4.1: the Notice of Disconnection, then close."""
        text = str(reason) if isinstance(reason, str) else errors.PROTOCOL_ERROR_TEXT
        if isinstance(reason, MalformedPDU) and str(reason) == errors.TOO_LARGE_TEXT:
            text = errors.TOO_LARGE_TEXT
        if isinstance(reason, Exception):
            event("ldap.protocol_error", peer=self.peer, reason=str(reason))
        with contextlib.suppress(Exception):
            await self.wire.send(messages.notice_of_disconnection(code, text))

    # -- answers ------------------------------------------------------------------------

    async def send(self, data: bytes) -> None:
        await self.wire.send(data)

    async def result(self, message: Message, code: int, diagnostic: str = "", matched: str = "", *,
                     controls: list[ControlRecord] | None = None, name: str | None = None,
                     value: bytes | None = None) -> None:
        """The response to ``message`` (its kind from the request's)."""
        await self.send(messages.result(message.id, RESPONSES[message.op], code, diagnostic, matched,
                                        controls=controls, name=name, value=value))

    # -- what handlers share ------------------------------------------------------------

    def client_certificate(self) -> Presented | None:
        """The verified client certificate of this connection's TLS, if it sent one."""
        if not self.tls:
            return None
        return self.certificates.presented(self.wire.writer.get_extra_info("ssl_object"))

    @property
    def may_read(self) -> bool:
        """A bound identity, or anonymous reading allowed (``ldap.allow_anonymous``)."""
        return self.identity.bound or self.app.settings.ldap.allow_anonymous
