"""LDAP on the socket: whole PDUs in, encoded messages out.

``Wire.read_pdu`` waits for the first octets of the next PDU up to the idle timeout, then
reads the rest within ``ldap.request_timeout`` (a client trickling a PDU one octet at a
time holds nothing for long), and never buffers more than ``ldap.max_request_bytes`` (and
one read) of it: a PDU announced larger is refused from its header, unread. What arrived
is read in chunks into the wire's own buffer and cut into PDUs there, so a PDU that came
whole (nearly every one) costs one wait and no deadline of its own. The idle wait itself
arms no deadline either (``IdleWires``): the time the wait began is noted, and one timer
per connection, moved on lazily, ends a wait older than the idle timeout; a listener's
stop ends the waits of its idle connections at once. Writes wait at most
``ldap.write_timeout`` for a client that reads too slowly. StartTLS (RFC 4513 section 3)
switches the same connection to TLS after the success response. StartTLS is
``congthu.net.StreamWire``'s, shared with POP3.
"""

from __future__ import annotations

import asyncio
import ssl

from congthu.config.settings import LDAPSettings
from congthu.ldap import ber
from congthu.ldap.errors import TOO_LARGE_TEXT, MalformedPDU
from congthu.net import Ended, Stopping, StreamWire

# What one read of the socket takes at most.
READ_SIZE = 65536


class IdleWires:
    """The connections of one listener waiting for their client's next request; when
    the listener stops (``stopping``), each of their waits ends at once (Ended.STOPPING),
    as ``Stopping.between_commands`` does for the other doors, without a deadline armed
    per request. One task per listener waits for the stop, made at the first wait."""

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


class Wire(StreamWire):
    """One connection's socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                 settings: LDAPSettings, stopping: Stopping, idle: IdleWires) -> None:
        super().__init__(reader, writer, stopping=stopping, write_timeout=settings.write_timeout)
        self.settings = settings
        self._lock = asyncio.Lock()
        # Received and not yet taken as a PDU (``_take``).
        self._buffer = bytearray()
        self._idle = idle
        # The idle wait under way: when it began (None: not waiting), the task waiting,
        # the timer that ends it (moved on lazily, ``_idle_check``), and why it was ended.
        self._idle_since: float | None = None
        self._waiter: asyncio.Task[object] | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._interrupted: Ended | None = None

    async def read_pdu(self) -> bytes | Ended:
        """The next whole PDU, or why there is none. MalformedPDU if its header is not
        BER's definite form or announces more than ``max_request_bytes``."""
        if self.stopping.is_set():
            return Ended.STOPPING  # as ``until`` would: no new request once stopping
        pdu = self._take()
        if pdu is not None:
            return pdu
        if not self._buffer:
            chunk = await self._wait_idle()
            if isinstance(chunk, Ended):
                return chunk
            if not chunk:
                return Ended.EOF
            self._buffer += chunk
            pdu = self._take()
            if pdu is not None:
                return pdu
        try:
            # A deadline, not wait_for: on Python 3.11 wait_for makes a task of each read.
            async with asyncio.timeout(self.settings.request_timeout):
                while True:
                    chunk = await self.reader.read(READ_SIZE)
                    if not chunk:
                        return Ended.EOF  # the client went away in the middle of a PDU
                    self._buffer += chunk
                    pdu = self._take()
                    if pdu is not None:
                        return pdu
        except TimeoutError:
            return Ended.TIMEOUT

    async def _wait_idle(self) -> bytes | Ended:
        """The next read of the socket between two requests: Ended.TIMEOUT after
        ``ldap.idle_timeout`` seconds of silence, Ended.STOPPING when the listener stops."""
        loop = asyncio.get_running_loop()
        self._waiter = asyncio.current_task()
        since = self._idle_since = loop.time()
        if self._idle_timer is None:
            self._idle_timer = loop.call_at(since + self.settings.idle_timeout, self._idle_check)
        self._idle.add(self)
        try:
            return await self.reader.read(READ_SIZE)
        except asyncio.CancelledError:
            why = self._interrupted
            if why is None:
                raise  # the session itself is cancelled
            self._interrupted = None
            if self._waiter is not None:
                self._waiter.uncancel()
            return why
        finally:
            self._idle_since = None
            self._idle.waiting.discard(self)

    def _idle_check(self) -> None:
        """The idle timer: end a wait that began ``idle_timeout`` ago or more, else come
        back when the wait under way would be that old (none under way: disarmed until
        the next one)."""
        self._idle_timer = None
        since = self._idle_since
        if since is None:
            return
        due = since + self.settings.idle_timeout
        loop = asyncio.get_running_loop()
        if loop.time() >= due:
            self.interrupt(Ended.TIMEOUT)
        else:
            self._idle_timer = loop.call_at(due, self._idle_check)

    def interrupt(self, why: Ended) -> None:
        """End the idle wait under way, if any, with ``why``."""
        if self._idle_since is None or self._waiter is None or self._interrupted is not None:
            return
        self._interrupted = why
        self._waiter.cancel()

    def finish(self) -> None:
        """The session is over: its idle timer goes (it would keep the session alive
        until it fired)."""
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        self._idle.waiting.discard(self)

    def _take(self) -> bytes | None:
        """The PDU at the start of the buffer, taken out, if all of it is there."""
        buffer = self._buffer
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
        pdu = bytes(buffer[:size])
        del buffer[:size]
        return pdu

    async def start_tls(self, context: ssl.SSLContext, ok: bytes) -> None:
        """As ``StreamWire.start_tls``; what the client sent after its request arrived in
        plaintext and is dropped from our buffer too (CVE-2011-0411)."""
        self._buffer.clear()
        await super().start_tls(context, ok)

    async def send(self, data: bytes) -> None:
        """Write and wait until the client has taken it (``ldap.write_timeout``:
        TimeoutError ends the session). Whole messages only: a search sending entries
        and another answer never interleave (the lock)."""
        async with self._lock:
            self.writer.write(data)
            if not self.writer.transport.get_write_buffer_size():
                # All of it went to the socket: drain cannot wait (it still raises if
                # the connection was lost), so no deadline to arm.
                await self.writer.drain()
                return
            # As ``StreamWire.send``, under a deadline rather than wait_for (a task per
            # answer on Python 3.11).
            async with asyncio.timeout(self.write_timeout):
                await self.writer.drain()
