"""LDAP on the socket: whole PDUs in, encoded messages out.

``Wire.read_pdu`` waits for the first octet of the next PDU up to the idle timeout, then
reads the rest within ``ldap.request_timeout`` (a client trickling a PDU one octet at a
time holds nothing for long), and never buffers more than ``ldap.max_request_bytes``: a
PDU announced larger is refused from its header, unread. Writes wait at most
``ldap.write_timeout`` for a client that reads too slowly. StartTLS (RFC 4513 section 3)
switches the same connection to TLS after the success response. The deadlines, the stop
and StartTLS are ``congthu.net.StreamWire``'s, shared with POP3.
"""

from __future__ import annotations

import asyncio

from congthu.config.settings import LDAPSettings
from congthu.ldap import ber
from congthu.ldap.errors import TOO_LARGE_TEXT, MalformedPDU
from congthu.net import Ended, Stopping, StreamWire


class Wire(StreamWire):
    """One connection's socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                 settings: LDAPSettings, stopping: Stopping) -> None:
        super().__init__(reader, writer, stopping=stopping, write_timeout=settings.write_timeout)
        self.settings = settings
        self._lock = asyncio.Lock()

    async def read_pdu(self) -> bytes | Ended:
        """The next whole PDU, or why there is none. MalformedPDU if its header is not
        BER's definite form or announces more than ``max_request_bytes``."""
        start = await self.until(self.reader.read(1), self.settings.idle_timeout)
        if isinstance(start, Ended):
            return start
        if not start:
            return Ended.EOF
        try:
            # A deadline, not wait_for: on Python 3.11 wait_for makes a task of each read.
            async with asyncio.timeout(self.settings.request_timeout):
                return await self._rest(start)
        except asyncio.IncompleteReadError:
            return Ended.EOF
        except TimeoutError:
            return Ended.TIMEOUT

    async def _rest(self, data: bytes) -> bytes:
        if data[0] != ber.SEQUENCE:
            raise MalformedPDU("not an LDAPMessage")
        while True:
            found = ber.header(data)
            if found is not None:
                break
            data += await self.reader.readexactly(1)
        head, length = found
        if head + length > self.settings.max_request_bytes:
            raise MalformedPDU(TOO_LARGE_TEXT)
        return data + await self.reader.readexactly(head + length - len(data))

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
