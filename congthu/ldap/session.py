"""One LDAP session: its state and the order of its operations (RFC 4511 sections 4.1,
4.2, 4.4, 5.1).

The wire (``wire.py``) calls ``pump`` from the transport's callbacks; ``pump`` takes the
whole PDUs received, checks their structure (``ber.check``), decodes them
(``messages.decode_checked``) and hands each to the handler of its operation from the
table it was given (``commands.py``; it imports no handler). A PDU that is not a valid
LDAPMessage ends the session with a Notice of Disconnection, protocolError (section
4.1.1); nothing a client sends ends more than its own session.

A handler is run at once, in the callback (``_run`` steps its coroutine): a bind whose
password was verified lately, a search answered from the kept tree, WhoAmI, Compare
finish without awaiting anything, and their answers go out together at the end of the
callback, with no task made for them. The commonest two, a kept bind of a person and a
search by an indexed equality, do not even make the coroutine: the session's table of
kept handlers (``commands.KEPT``: ``cmd_bind.bind_kept``, ``cmd_search.search_kept``)
answers them as plain calls when all they need is kept, and leaves every other request,
untouched, to the operation's handler (application servers send these two by the
thousand a second: issue 16). A handler that does await (a first bind's argon2,
a database read, StartTLS, Password Modify, a search long enough to yield, a client
slow to read) goes on as a task from where it stopped, and the requests after it wait
their turn: operations are answered in the order they came, so Bind and StartTLS never
have an operation outstanding (sections 4.2.1, 4.14.1). While a task runs, what arrives
is cut into PDUs and queued; an Abandon among them (section 4.11) stops the search it
names, or drops the queued request it names, without an answer to either.

When the server stops (the node drains), a session waiting for its next request gets
the Notice of Disconnection (unavailable) at once; one with an operation under way
gets it once the operation is answered, and the requests queued behind it are not run.
"""

from __future__ import annotations

import asyncio
import ssl
import types
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from congthu.db import DatabaseUnavailable
from congthu.ldap import errors, messages
from congthu.ldap.certificates import ClientCertificates, Presented
from congthu.ldap.errors import LDAPError, MalformedPDU, SessionClosed
from congthu.ldap.messages import ControlRecord, Message
from congthu.ldap.tree import ANONYMOUS, MANAGE_DSA_IT, PAGED_RESULTS, PASSWORD_POLICY, Identity, TreeCache
from congthu.ldap.wire import INPUT_BOUND, Wire
from congthu.log import event
from congthu.net import Ended

if TYPE_CHECKING:
    from congthu.app import App

Handler = Callable[["Session", Message], Awaitable[None]]
# The operation table: operation name -> handler.
Commands = Mapping[str, Handler]
# Handlers that answer a request without awaiting when what it needs is kept (True),
# else leave it, unchanged, to the operation's handler (False): a kept bind, a kept lookup.
KeptHandler = Callable[["Session", Message], bool]

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


@types.coroutine
def _resumed(coro: Coroutine[Any, Any, None], waiting: Any) -> Generator[Any, None, None]:
    """The rest of ``coro``, stepped once already and now awaiting ``waiting`` (what it
    yielded: a future, or None for a bare yield), as a task's coroutine: what the task
    sends or throws goes on to ``coro``."""
    while True:
        try:
            yield waiting
        except BaseException as exc:  # noqa: BLE001 - a cancellation, passed on to ``coro``
            try:
                waiting = coro.throw(exc)
            except StopIteration:
                return
            continue
        break
    yield from coro  # type: ignore[misc]


async def _continued(coro: Coroutine[Any, Any, None], waiting: Any) -> None:
    await _resumed(coro, waiting)


class Session:
    def __init__(self, app: App, trees: TreeCache, commands: Commands, wire: Wire, *, tls: bool,
                 certificates: ClientCertificates, kept: Mapping[str, KeptHandler] | None = None) -> None:
        self.app = app
        self.certificates = certificates
        self.trees = trees
        self.base = trees.base
        self.commands = commands
        self.kept = kept or {}
        self.wire = wire
        self.tls = tls
        self.identity: Identity = ANONYMOUS
        self.paged: dict[bytes, Paged] = {}
        self.max_depth = app.settings.ldap.max_filter_depth + NESTING_MARGIN
        # The operation that awaits, as a task: its message and whether Abandon may stop
        # it (a search); the requests received behind it, in order (a MalformedPDU or
        # BadOperation in its place ends the session when its turn comes).
        self.current: tuple[Message, asyncio.Task[None]] | None = None
        self.queue: deque[tuple[Message | Exception, int]] = deque()
        self.queued_size = 0
        # The request being run arrived while another was under way (it was queued).
        self.came_behind = False
        self.stopping = False
        self.ending = False
        self._pumping = False

    @property
    def peer(self) -> str:
        return self.wire.peer

    # -- the order of operations ---------------------------------------------------------

    def pump(self) -> None:
        """Run the requests received, in order, until one awaits (then it goes on as a
        task), the client must read its answers first, or none is left whole."""
        if self._pumping:
            return  # called again from inside (a write that paused): the loop below goes on
        wire = self.wire
        self._pumping = True
        wire.inline = True
        took = False
        try:
            while not self.ending and not wire.closed:
                if self.current is not None:
                    self._queue_received()
                    break
                if self.stopping:
                    self._disconnect(errors.UNAVAILABLE, errors.SHUTTING_DOWN_TEXT)
                    break
                if wire.writing_paused:
                    break
                item = self._next()
                if item is None:
                    if wire.eof:
                        self._end()
                    break
                took = True
                if isinstance(item, Exception):
                    self._disconnect(errors.PROTOCOL_ERROR, item)
                    break
                self._run(item)
        except Exception as exc:  # a bug in one session must not take the server down
            event("ldap.session_error", error=repr(exc), peer=self.peer)
            self._end()
        finally:
            wire.inline = False
            self._pumping = False
        wire.flush()
        if self.current is None and not self.ending and not wire.closed and not wire.writing_paused:
            wire.settle(started_pdu=took)
        else:  # the server's turn (an operation, or answers the client has yet to take)
            wire.busy()
        # Only behind a task: otherwise the buffer holds at most a PDU begun, bounded by
        # ``ldap.max_request_bytes``, which must be read to the end.
        wire.hold(self.current is not None and self.queued_size + len(wire.buffer) > INPUT_BOUND)

    def _next(self) -> Message | Exception | None:
        """The next request in order: queued, else whole in the wire's buffer."""
        self.came_behind = bool(self.queue)
        if self.queue:
            item, size = self.queue.popleft()
            self.queued_size -= size
            return item
        got = self._received()
        return None if got is None else got[0]

    def _received(self) -> tuple[Message | Exception, int] | None:
        """The next whole PDU of the wire's buffer, decoded (or why it cannot be), and
        its size."""
        try:
            pdu = self.wire.take()
            if pdu is None:
                return None
            return messages.decode_checked(pdu, self.max_depth), len(pdu)
        except (MalformedPDU, messages.BadOperation) as exc:
            return exc, 0

    def _queue_received(self) -> None:
        """While an operation awaits: what arrived, cut into PDUs and queued, up to
        ``INPUT_BOUND`` octets; an Abandon acts at once (section 4.11). Nothing is read
        past a PDU that is not an LDAPMessage (it ends the session in its turn)."""
        while self.queued_size <= INPUT_BOUND:
            if self.queue and isinstance(self.queue[-1][0], Exception):
                return
            got = self._received()
            if got is None:
                return
            item, size = got
            if isinstance(item, Message) and item.op == "abandon":
                self._abandon(item.body)
                continue
            self.queue.append(got)
            self.queued_size += size

    def _abandon(self, target: object) -> None:
        """Section 4.11: the search under way with that id is stopped, or a request
        waiting its turn dropped; neither is answered. Anything else: ignored."""
        if self.current is not None:
            message, task = self.current
            if message.id == target and message.op == "search":
                task.cancel()
                return
        for queued in self.queue:
            item, size = queued
            if isinstance(item, Message) and item.id == target and item.op != "unbind":
                self.queue.remove(queued)
                self.queued_size -= size
                return

    def _run(self, message: Message) -> None:
        """One request: answered in this callback if its handler does not await, else
        the rest of it runs as a task and the requests after it wait."""
        if message.op == "abandon":
            self._abandon(message.body)
            return
        if message.op == "unbind":  # section 4.3: close, no answer
            self._end()
            return
        handler = self.commands.get(message.op)
        if handler is None:
            self._end()
            return
        kept = self.kept.get(message.op)
        if kept is not None and kept(self, message):
            return  # answered from what is kept: no coroutine, no task
        coro = self.guard(handler, message)
        try:
            waiting = coro.send(None)
        except StopIteration:
            return
        except SessionClosed:
            self._end()
            return
        self.wire.busy()
        task = self.wire.loop.create_task(_continued(coro, waiting))
        self.current = (message, task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self.current = None
        if not task.cancelled():
            exc = task.exception()
            if isinstance(exc, SessionClosed | ConnectionError | TimeoutError | ssl.SSLError):
                self._end()
            elif exc is not None:
                event("ldap.session_error", error=repr(exc), peer=self.peer)
                self._end()
        if self.wire.closed:
            self.wire.finish()
            return
        self.pump()

    async def guard(self, handler: Handler, message: Message) -> None:
        """Run a handler; an LDAPError is its answer, a database away is ``unavailable``."""
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
            if message.op != "search":
                raise
        except (ConnectionError, TimeoutError):
            self.wire.abort()

    # -- the end -------------------------------------------------------------------------

    def ended(self, why: Ended) -> None:
        """The wire's news: the listener stops, or the client was silent too long."""
        if why is Ended.STOPPING:
            # Draining: an operation under way finishes first (within the listener's
            # grace), then the Notice of Disconnection, unavailable (section 4.4.1).
            self.stopping = True
            if self.current is None:
                self.pump()
        elif why is Ended.TIMEOUT:
            event("ldap.timeout", peer=self.peer)
            self._end()

    def lost(self) -> None:
        """The connection is gone: a search under way stops; any other operation
        finishes (its answer goes nowhere), then the session is over."""
        self.ending = True
        self.queue.clear()
        if self.current is None:
            self.wire.finish()
        elif self.current[0].op == "search":
            self.current[1].cancel()

    def cancel(self) -> None:
        """The listener's grace is over: whatever is under way stops."""
        if self.current is not None:
            self.current[1].cancel()
        self.wire.abort()

    def _end(self) -> None:
        self.ending = True
        self.queue.clear()
        self.wire.close()

    def _disconnect(self, code: int, reason: object) -> None:
        """RFC 4511 section 4.4.1: the Notice of Disconnection, then close."""
        text = str(reason) if isinstance(reason, str) else errors.PROTOCOL_ERROR_TEXT
        if isinstance(reason, MalformedPDU) and str(reason) == errors.TOO_LARGE_TEXT:
            text = errors.TOO_LARGE_TEXT
        if isinstance(reason, Exception):
            event("ldap.protocol_error", peer=self.peer, reason=str(reason))
        self.wire.write(messages.notice_of_disconnection(code, text))
        self._end()

    # -- answers ------------------------------------------------------------------------

    async def send(self, data: bytes) -> None:
        """An answer, written at the end of the callback under way (several answers of
        one segment in one write) or at once from a task; waits while the client is slow
        to read (``ldap.write_timeout``)."""
        wire = self.wire
        wire.write(data)
        if wire.writing_paused or wire.closed:
            if wire.inline:
                wire.flush()
            await wire.drained()

    async def result(self, message: Message, code: int, diagnostic: str = "", matched: str = "", *,
                     controls: list[ControlRecord] | None = None, name: str | None = None,
                     value: bytes | None = None) -> None:
        """The response to ``message`` (its kind from the request's)."""
        await self.send(messages.result(message.id, RESPONSES[message.op], code, diagnostic, matched,
                                        controls=controls, name=name, value=value))

    # -- what handlers share ------------------------------------------------------------

    def outstanding(self) -> bool:
        """Were answers to earlier requests outstanding when this one was sent: it came
        while another operation was under way, or behind requests answered in this same
        callback, not yet written (RFC 4513 section 3.1.1, for StartTLS)?"""
        return self.came_behind or bool(self.wire.out)

    async def start_tls(self, context: ssl.SSLContext, ok: bytes) -> None:
        """Send ``ok`` and switch the connection to TLS (``Wire.start_tls``); what the
        client sent behind its request is dropped, queued or not (CVE-2011-0411)."""
        self.queue.clear()
        self.queued_size = 0
        await self.wire.start_tls(context, ok)

    def client_certificate(self) -> Presented | None:
        """The verified client certificate of this connection's TLS, if it sent one."""
        if not self.tls:
            return None
        return self.certificates.presented(self.wire.get_extra_info("ssl_object"))

    @property
    def may_read(self) -> bool:
        """A bound identity, or anonymous reading allowed (``ldap.allow_anonymous``)."""
        return self.identity.bound or self.app.settings.ldap.allow_anonymous
