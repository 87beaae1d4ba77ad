"""LDAP on the socket: whole PDUs in, encoded messages out.

``Wire.read_pdu`` waits for the first octets of the next PDU up to the idle timeout, then
reads the rest within ``ldap.request_timeout`` (a client trickling a PDU one octet at a
time holds nothing for long), and never buffers more than ``ldap.max_request_bytes`` (and
one read) of it: a PDU announced larger is refused from its header, unread. What arrived
is read in chunks into the wire's own buffer and cut into PDUs there, so a PDU that came
whole (nearly every one) costs one wait and no deadline of its own. Writes wait at most
``ldap.write_timeout`` for a client that reads too slowly. StartTLS (RFC 4513 section 3)
switches the same connection to TLS after the success response. The deadlines, the stop
and StartTLS are ``congthu.net.StreamWire``'s, shared with POP3.
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


class Wire(StreamWire):
    """One connection's socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                 settings: LDAPSettings, stopping: Stopping) -> None:
        super().__init__(reader, writer, stopping=stopping, write_timeout=settings.write_timeout)
        self.settings = settings
        self._lock = asyncio.Lock()
        # Received and not yet taken as a PDU (``_take``).
        self._buffer = bytearray()

    async def read_pdu(self) -> bytes | Ended:
        """The next whole PDU, or why there is none. MalformedPDU if its header is not
        BER's definite form or announces more than ``max_request_bytes``."""
        if self.stopping.is_set():
            return Ended.STOPPING  # as ``until`` would: no new request once stopping
        pdu = self._take()
        if pdu is not None:
            return pdu
        if not self._buffer:
            chunk = await self.until(self.reader.read(READ_SIZE), self.settings.idle_timeout)
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
