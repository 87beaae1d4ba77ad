"""LDAP on the socket: whole PDUs in, encoded messages out, from the transport's callbacks.

Why LDAP's wire is an ``asyncio.Protocol`` when IMAP's, POP3's and SMTP's are streams:
application servers bind and search per page they serve, thousands of tiny requests a
second on kept connections, and most of them can be answered from what the process
keeps (a password verified lately, the tree snapshot). A stream costs each of them a
wake-up of the session's task, a read, a write and a drain; here the bytes the kernel
gives (``data_received``) are cut into PDUs at once and the session answers what it can
in the same callback, the answers of one ``data_received`` going out in one
``transport.write`` (``Session.pump``). The connection still arrives as the other doors'
do (``TCPService``, ``door_listeners``: caps, PROXY header, implicit TLS, the listener's
stop and grace, one task per connection): ``Wire.attach`` takes the transport over from
the stream protocol asyncio made, and that task then only waits for the connection's end
(``Wire.done``).

Bounds, as the stream wire had them: a PDU announced larger than
``ldap.max_request_bytes`` is refused from its header, unread; while an operation awaits
(a first bind, a database read, StartTLS, a long search) what arrives is cut into PDUs
and queued, and reading pauses once ``INPUT_BOUND`` octets wait; reading pauses too
while the transport's write buffer is above its high-water mark (``pause_writing``), so
a client that never reads its answers holds a bounded amount of memory, and one that has
not taken them within ``ldap.write_timeout`` is disconnected. One timer per connection,
moved on lazily, ends a silence longer than ``ldap.idle_timeout`` between requests and a
PDU that takes longer than ``ldap.request_timeout`` to arrive (a client trickling octets
holds nothing for long); no deadline is armed per request. A listener's stop reaches
each of its connections through ``IdleWires`` (one task per listener). StartTLS (RFC
4513 section 3) switches the same connection to TLS after the success response, dropping
whatever the client sent behind its request (CVE-2011-0411).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any, Protocol

from congthu.config.settings import LDAPSettings
from congthu.ldap import ber
from congthu.ldap.errors import TOO_LARGE_TEXT, MalformedPDU
from congthu.net import Ended, Stopping

# Octets received and not yet answered (the unread buffer and the PDUs queued behind an
# operation that awaits) past which reading pauses until they are taken.
INPUT_BOUND = 256 * 1024
# Octets of answers gathered in one callback past which they are written at once.
FLUSH_AT = 65536
# Seconds a TLS connection closed while the node drains is kept for the client's
# close_notify before it is cut (``Wire.close``).
TLS_CLOSE_WAIT = 0.5


class Receiver(Protocol):
    """What the wire tells its session (``session.Session``)."""

    def pump(self) -> None: ...

    def ended(self, why: Ended) -> None: ...

    def lost(self) -> None: ...


class IdleWires:
    """The open connections of one listener; when the listener stops (``stopping``),
    each is told at once (``Wire.interrupt``, Ended.STOPPING), as
    ``Stopping.between_commands`` does for the other doors. One task per listener waits
    for the stop, made at the first connection."""

    def __init__(self, stopping: Stopping) -> None:
        self.stopping = stopping
        self.waiting: set[Wire] = set()
        self._watch: asyncio.Task[None] | None = None

    def add(self, wire: Wire) -> None:
        self.waiting.add(wire)
        if self._watch is None:
            self._watch = asyncio.ensure_future(self._end_waits())

    async def _end_waits(self) -> None:
        await self.stopping.wait()
        for wire in list(self.waiting):
            wire.interrupt(Ended.STOPPING)


class Wire(asyncio.Protocol):
    """One connection's socket, as the transport's protocol."""

    def __init__(self, *, settings: LDAPSettings, stopping: Stopping, idle: IdleWires) -> None:
        self.settings = settings
        self.stopping = stopping
        self.write_timeout = settings.write_timeout
        self._idle = idle
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        self.receiver: Receiver | None = None
        # The stream protocol asyncio made for the connection: told of its end, so the
        # listener's close of its writer does not wait.
        self._stream: asyncio.BaseProtocol | None = None
        # Received and not yet taken as a PDU (``take``).
        self.buffer = bytearray()
        # Answers gathered in the callback under way (``inline``), written at its end.
        self.out: list[bytes] = []
        self.out_size = 0
        self.inline = False
        self.eof = False
        self.closed = False
        # Reading paused by whom: the write buffer's high water, the input bound.
        self.writing_paused = False
        self._held = False
        self._reading = True
        self._drained: list[asyncio.Future[None]] = []
        self._write_timer: asyncio.TimerHandle | None = None
        # The wait for the client under way: since when (None: none, an operation or a
        # write is what is awaited), and whether a PDU has begun to arrive; the one timer
        # that ends it (moved on lazily, ``_check``) and when it is due.
        self.waiting_since: float | None = None
        self.partial = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = 0.0
        # The loop, looked up once: ``asyncio.get_running_loop`` is a getpid() system
        # call each time on Python 3.11, and ``settle`` runs after every answer.
        self.loop = asyncio.get_running_loop()
        self.done: asyncio.Future[None] = self.loop.create_future()

    # -- taking the connection over ------------------------------------------------------

    def attach(self, receiver: Receiver, transport: asyncio.Transport, stream: asyncio.BaseProtocol,
               received: bytes, eof: bool) -> None:
        """Become ``transport``'s protocol in place of the stream protocol ``stream``,
        with what it had received and not yet read (``received``, ``eof``)."""
        self.receiver = receiver
        self._stream = stream
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        transport.set_protocol(self)
        if not transport.is_reading():  # the stream had paused it (its buffer was full)
            transport.resume_reading()
        self._idle.add(self)
        if received:
            self.data_received(received)
        else:
            self.settle()
        if eof:
            self.eof_received()

    # -- asyncio.Protocol ---------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        assert self.receiver is not None
        self.receiver.pump()

    def eof_received(self) -> bool:
        self.eof = True
        assert self.receiver is not None
        self.receiver.pump()
        # Half-closed: what was asked is still answered (TLS cannot half-close: asyncio
        # closes it whatever we say, and warns if we ask otherwise).
        return self.transport is not None and self.transport.get_extra_info("ssl_object") is None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.writing_paused = False
        for waiter in self._drained:
            if not waiter.done():
                waiter.set_exception(ConnectionResetError("connection lost"))
        self._drained.clear()
        self._cancel_timers()
        self._idle.waiting.discard(self)
        if self.receiver is not None:
            self.receiver.lost()
        if self._stream is not None:
            self._stream.connection_lost(exc)

    def pause_writing(self) -> None:
        """The transport's buffer is above its high-water mark: read no more requests
        until the client takes its answers, for ``ldap.write_timeout`` at most."""
        self.writing_paused = True
        self._set_reading()
        if self._write_timer is None:
            self._write_timer = asyncio.get_running_loop().call_later(self.write_timeout, self._too_slow)

    def resume_writing(self) -> None:
        self.writing_paused = False
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        for waiter in self._drained:
            if not waiter.done():
                waiter.set_result(None)
        self._drained.clear()
        self._set_reading()
        assert self.receiver is not None
        self.receiver.pump()

    def _too_slow(self) -> None:
        self._write_timer = None
        for waiter in self._drained:
            if not waiter.done():
                waiter.set_exception(TimeoutError())
        self._drained.clear()
        self.abort()

    # -- reading -----------------------------------------------------------------------

    def take(self) -> bytes | None:
        """The PDU at the start of the buffer, taken out, if all of it is there.
        MalformedPDU if its header is not BER's definite form or announces more than
        ``max_request_bytes``."""
        buffer = self.buffer
        if not buffer:
            return None
        if buffer[0] != ber.SEQUENCE:
            raise MalformedPDU("not an LDAPMessage")
        found = ber.header(buffer)
        if found is None:
            return None
        head, length = found
        size = head + length
        if size > self.settings.max_request_bytes:
            raise MalformedPDU(TOO_LARGE_TEXT)
        if len(buffer) < size:
            return None
        if size == len(buffer):  # the usual case: one whole request per segment
            pdu = bytes(buffer)
            buffer.clear()
        else:
            pdu = bytes(buffer[:size])
            del buffer[:size]
        return pdu

    def hold(self, held: bool) -> None:
        """Pause reading (True) while ``INPUT_BOUND`` octets wait to be taken."""
        if held != self._held:
            self._held = held
            self._set_reading()

    def _set_reading(self) -> None:
        reading = not (self.writing_paused or self._held)
        if reading == self._reading or self.transport is None or self.closed:
            return
        self._reading = reading
        with contextlib.suppress(RuntimeError):  # closing already
            if reading:
                self.transport.resume_reading()
            else:
                self.transport.pause_reading()

    def settle(self, *, started_pdu: bool = False) -> None:
        """The session waits for its client now (nothing under way): the idle timeout
        runs, or the request timeout if a PDU has begun to arrive (from when it began:
        ``started_pdu`` when this part of the buffer is new)."""
        loop = self.loop
        if not self.buffer:
            self.partial = False
            self.waiting_since = loop.time()
            due = self.waiting_since + self.settings.idle_timeout
        else:
            if not self.partial or started_pdu or self.waiting_since is None:
                self.partial = True
                self.waiting_since = loop.time()
            due = self.waiting_since + self.settings.request_timeout
        if self._timer is None or self._timer_due > due:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_due = due
            self._timer = loop.call_at(due, self._check)

    def busy(self) -> None:
        """An operation is under way: no wait for the client runs."""
        self.waiting_since = None

    def _check(self) -> None:
        """The timer: end a wait older than its timeout, else come back when the wait
        under way would be that old (none under way: disarmed until the next one)."""
        self._timer = None
        since = self.waiting_since
        if since is None or self.closed:
            return
        due = since + (self.settings.request_timeout if self.partial else self.settings.idle_timeout)
        loop = asyncio.get_running_loop()
        if loop.time() >= due:
            self.interrupt(Ended.TIMEOUT)
        else:
            self._timer_due = due
            self._timer = loop.call_at(due, self._check)

    def interrupt(self, why: Ended) -> None:
        """The wait for the client ends (a timeout), or the listener stops."""
        if self.closed or self.receiver is None:
            return
        if why is Ended.TIMEOUT and self.waiting_since is None:
            return
        self.receiver.ended(why)

    # -- writing -----------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Queue an answer; it goes out at the end of the callback under way
        (``flush``), or at once past ``FLUSH_AT`` octets or outside a callback."""
        self.out.append(data)
        self.out_size += len(data)
        if not self.inline or self.out_size >= FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        out = self.out
        if not out:
            return
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        self.out_size = 0
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    async def drained(self) -> None:
        """Wait until the transport's buffer is below its low-water mark again
        (``ldap.write_timeout``: TimeoutError, and the connection is aborted)."""
        if self.closed:
            raise ConnectionResetError("connection lost")
        if not self.writing_paused:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._drained.append(waiter)
        await waiter

    async def start_tls(self, context: ssl.SSLContext, ok: bytes) -> None:
        """Send ``ok`` (the StartTLS success) and negotiate TLS on the connection. What
        the client sent after its request arrived in plaintext and is dropped (command
        injection, CVE-2011-0411); reading stops before the answer, so the ClientHello
        reaches the TLS layer, not the plaintext buffer."""
        assert self.transport is not None
        self.buffer.clear()
        self.transport.pause_reading()
        self._reading = False
        self.write(ok)
        self.flush()
        await self.drained()
        self.transport = await asyncio.get_running_loop().start_tls(
            self.transport, self, context, server_side=True, ssl_handshake_timeout=30)
        self._reading = True  # start_tls resumes reading on the new transport
        self._set_reading()

    def close(self) -> None:
        """Close once the answers written have gone (within ``ldap.write_timeout``: a
        client that does not take them holds its connection no longer)."""
        self.flush()
        if self.transport is None:
            return
        self.transport.close()
        if self._write_timer is not None or self.closed:
            return
        if self.transport.get_write_buffer_size():
            self._write_timer = self.loop.call_later(self.write_timeout, self._too_slow)
        elif self.stopping.is_set() and self.transport.get_extra_info("ssl_object") is not None:
            # The node drains: a TLS close waits for the client's close_notify (asyncio:
            # up to 30 s), which an idle client, reading nothing, never sends, and the
            # stop would wait out its whole grace for it. The initiator of a close need not
            # wait for the answering alert (RFC 5246 section 7.2.1, RFC 8446 section 6.1):
            # the Notice of Disconnection is sent; the connection ends soon after.
            self._write_timer = self.loop.call_later(TLS_CLOSE_WAIT, self.abort)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def finish(self) -> None:
        """The session is over: its timers go, and ``done`` is set."""
        self._cancel_timers()
        self._idle.waiting.discard(self)
        if not self.done.done():
            self.done.set_result(None)

    def _cancel_timers(self) -> None:
        for timer in (self._timer, self._write_timer):
            if timer is not None:
                timer.cancel()
        self._timer = self._write_timer = None

    def get_extra_info(self, name: str) -> Any:
        return None if self.transport is None else self.transport.get_extra_info(name)

