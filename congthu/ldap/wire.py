"""LDAP on the socket: whole PDUs in, encoded messages out.

``Wire.read_pdu`` waits for the first octet of the next PDU up to the idle timeout, then
reads the rest within ``ldap.request_timeout`` (a client trickling a PDU one octet at a
time holds nothing for long), and never buffers more than ``ldap.max_request_bytes``: a
PDU announced larger is refused from its header, unread. Writes wait at most
``ldap.write_timeout`` for a client that reads too slowly. StartTLS (RFC 4513 section 3)
switches the same connection to TLS after the success response.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import ssl
from typing import Any

from congthu.config.settings import LDAPSettings
from congthu.ldap import ber
from congthu.ldap.errors import TOO_LARGE_TEXT, MalformedPDU


class Ended(enum.Enum):
    """Why ``Wire.read_pdu`` returned no PDU."""

    EOF = "eof"
    TIMEOUT = "timeout"
    STOPPING = "stopping"


class Wire:
    """One connection's socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                 settings: LDAPSettings, stopping: asyncio.Event) -> None:
        self.reader, self.writer = reader, writer
        self.settings = settings
        self.stopping = stopping
        peer = writer.get_extra_info("peername")
        self.peer = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        self._stop_waiter: asyncio.Task[Any] | None = None
        self._lock = asyncio.Lock()

    async def read_pdu(self) -> bytes | Ended:
        """The next whole PDU, or why there is none. MalformedPDU if its header is not
        BER's definite form or announces more than ``max_request_bytes``."""
        if self._stop_waiter is None:
            self._stop_waiter = asyncio.ensure_future(self.stopping.wait())
        first = asyncio.ensure_future(self.reader.read(1))
        done, _pending = await asyncio.wait({first, self._stop_waiter}, timeout=self.settings.idle_timeout,
                                            return_when=asyncio.FIRST_COMPLETED)
        if first not in done:
            first.cancel()
            with contextlib.suppress(BaseException):
                await first
            return Ended.STOPPING if self._stop_waiter in done else Ended.TIMEOUT
        start = first.result()
        if not start:
            return Ended.EOF
        try:
            return await asyncio.wait_for(self._rest(start), self.settings.request_timeout)
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
            await asyncio.wait_for(self.writer.drain(), self.settings.write_timeout)

    async def start_tls(self, context: ssl.SSLContext, ok: bytes) -> None:
        """RFC 4513 section 3.1.3: send the StartTLS success response, then the TLS
        handshake on the same connection."""
        # Anything sent after the request arrived in plaintext: it must not be taken
        # as if it came through TLS (CVE-2011-0411, for SMTP).
        buffered = getattr(self.reader, "_buffer", None)
        if buffered:
            buffered.clear()
        self.writer.transport.pause_reading()  # type: ignore[attr-defined]
        await self.send(ok)
        await self.writer.start_tls(context, ssl_handshake_timeout=30)

    def close(self) -> None:
        if self._stop_waiter is not None:
            self._stop_waiter.cancel()
