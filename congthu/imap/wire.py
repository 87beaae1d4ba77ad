"""The IMAP wire: reading commands with their literals, writing responses.

Reading (RFC 9051 sections 2.2, 4.3, 7.5, RFC 7888):

- a line is at most ``max_line`` bytes (``imap.max_line_length``); a longer one is read
  to its end, dropped, and answered with BAD, so memory never grows with what a client
  sends;
- a line ending in ``{n}`` announces a synchronising literal: the session's *gate*
  decides before any byte of it is read (APPENDLIMIT, quota, size caps); if accepted we
  send ``+`` and read exactly n bytes, if refused the client gets a tagged NO/BAD and
  sends nothing (RFC 9051 section 7.5);
- ``{n+}`` (LITERAL+) is sent without waiting. Refused because it is larger than we
  accept there, it is not read at all: the reply is sent and the connection closed
  (RFC 7888 section 4, the server's second choice; reading a gigabyte to throw it away
  is what a denial of service asks for). Refused for another reason (an APPEND over
  quota, within APPENDLIMIT), its bytes are read and thrown away with the rest of the
  command, and the connection goes on;
- every read has a deadline: the autologout timer (``imap.idle_timeout``, at least 30
  minutes, RFC 9051 section 5.4), shorter before authentication;
- the wait for a command that has not begun also ends when the server stops (draining,
  ``congthu.net.Stopping``); a command that has begun is read to its end.

Writing: responses are gathered in a small buffer and written when it grows or when the
command completes; ``drain()`` has a deadline, so a client that stops reading (a slow
reader) holds up only its own session, and is disconnected after ``write_timeout``
(``imap.write_timeout``).

COMPRESS=DEFLATE (RFC 4978): after ``start_deflate`` both directions are raw DEFLATE
streams (RFC 1951, zlib with no header), inside TLS when TLS is on (compressed, then
encrypted: section 3's order). Each flush of our output ends with a sync flush, so the
client can decode every response as it arrives (section 4). What the client sends is
inflated by ``InflatingReader`` only as the session asks for more, at most
``INFLATE_STEP`` bytes at a time: a small compressed input that inflates to gigabytes
(a "zip bomb") never occupies more than the line and literal bounds above allow, and
is refused by them like plain input.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from congthu.imap.errors import LineTooLong, Rejected
from congthu.net import Stopping

__all__ = ["Connection", "Gate", "INFLATE_STEP", "InflatingReader", "Refusal"]

_FLUSH_AT = 64 * 1024
_LITERAL_AT_END = re.compile(rb"~?\{(\d{1,20})(\+?)\}$")



@dataclass(frozen=True, slots=True)
class Refusal:
    """A literal refused before it is read: ``reply`` is the complete tagged reply (e.g.
    b"A1 NO [TOOBIG] ..."). ``read_past``: a LITERAL+ of a size we would accept, refused
    for another reason, whose bytes are read and dropped; otherwise a LITERAL+ ends the
    connection unread."""

    reply: bytes
    read_past: bool = False


# gate(parts so far, the line announcing the literal, size, synchronising) -> None to
# accept, else the Refusal.
Gate = Callable[[list[bytes], bytes, int, bool], Awaitable[Refusal | None]]


# Bytes of inflated input made at a time (COMPRESS=DEFLATE).
INFLATE_STEP = 64 * 1024


class InflatingReader:
    """The client's input after COMPRESS=DEFLATE (RFC 4978): the methods of
    ``asyncio.StreamReader`` that ``Connection`` uses, over a raw DEFLATE stream read
    from the socket's reader. Input is inflated only when a read needs more, at most
    ``INFLATE_STEP`` bytes a time; a line longer than ``limit`` raises
    ``LimitOverrunError`` as StreamReader does. A stream that does not inflate is a
    ``ConnectionError`` (the connection ends)."""

    def __init__(self, source: asyncio.StreamReader, limit: int) -> None:
        self._source = source
        self._limit = limit
        self._buffer = bytearray()
        self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        self._eof = False

    async def _fill(self) -> None:
        """Add some inflated bytes to the buffer (or reach the end of the input)."""
        while True:
            pending = self._inflater.unconsumed_tail
            if not pending:
                pending = await self._source.read(INFLATE_STEP)
                if not pending:
                    self._eof = True
                    return
            try:
                data = self._inflater.decompress(pending, INFLATE_STEP)
            except zlib.error as exc:
                raise ConnectionError(f"invalid DEFLATE data: {exc}") from None
            if data:
                self._buffer += data
                return
            if self._inflater.eof:
                self._eof = True
                return

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        start = 0
        while True:
            found = self._buffer.find(separator, start)
            if found >= 0:
                end = found + len(separator)
                if end > self._limit:
                    raise asyncio.LimitOverrunError("separator found, but chunk longer than limit", found)
                data = bytes(self._buffer[:end])
                del self._buffer[:end]
                return data
            if len(self._buffer) > self._limit:
                raise asyncio.LimitOverrunError("separator not found, and chunk exceeds the limit",
                                                len(self._buffer))
            if self._eof:
                partial = bytes(self._buffer)
                self._buffer.clear()
                raise asyncio.IncompleteReadError(partial, None)
            start = max(0, len(self._buffer) - len(separator) + 1)
            await self._fill()

    async def readexactly(self, n: int) -> bytes:
        while len(self._buffer) < n:
            if self._eof:
                partial = bytes(self._buffer)
                self._buffer.clear()
                raise asyncio.IncompleteReadError(partial, n)
            await self._fill()
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    async def read(self, n: int = -1) -> bytes:
        if not self._buffer and not self._eof:
            await self._fill()
        size = len(self._buffer) if n < 0 else min(n, len(self._buffer))
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data


class Connection:
    __slots__ = ("reader", "writer", "out", "out_size", "tls", "peer", "max_line", "write_timeout", "deflater")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, tls: bool,
                 max_line: int, write_timeout: float) -> None:
        self.reader = reader
        self.writer = writer
        self.out: list[bytes] = []
        self.out_size = 0
        self.tls = tls
        # imap.max_line_length and imap.write_timeout (the reader's limit is max_line + 2).
        self.max_line = max_line
        self.write_timeout = write_timeout
        peer = writer.get_extra_info("peername")
        self.peer = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        # COMPRESS=DEFLATE (RFC 4978): our output's compressor once started.
        self.deflater: Any = None

    # -- reading ------------------------------------------------------------------------

    async def read_line(self, within: float | None, stopping: Stopping | None = None) -> bytes:
        """One line without its CRLF. EOF: IncompleteReadError; too long: LineTooLong
        (after reading past it); no data before the deadline: TimeoutError. With
        ``stopping`` (the wait for the next command), ``Stopped`` as soon as the server
        stops while nothing of the line has come."""
        try:
            buffered = self.buffered()
            if b"\n" in buffered:
                # Already here (a pipelining client): no deadline to arm, nothing to wait for.
                line = await self.reader.readuntil(b"\n")
            elif stopping is not None and not buffered:
                async with stopping.between_commands(within):
                    line = await self.reader.readuntil(b"\n")
            else:
                # asyncio.timeout, not wait_for: no extra task for each line read.
                async with asyncio.timeout(within):
                    line = await self.reader.readuntil(b"\n")
        except asyncio.LimitOverrunError:
            await asyncio.wait_for(self._skip_line(), within)
            raise LineTooLong() from None
        if len(line) > self.max_line:
            raise LineTooLong()
        return line[:-2] if line.endswith(b"\r\n") else line[:-1]

    async def _skip_line(self) -> None:
        while True:
            try:
                await self.reader.readuntil(b"\n")
                return
            except asyncio.LimitOverrunError as exc:
                await self.reader.readexactly(exc.consumed)

    async def _skip_bytes(self, n: int, within: float | None) -> None:
        while n > 0:
            chunk = await asyncio.wait_for(self.reader.read(min(n, 65536)), within)
            if not chunk:
                raise asyncio.IncompleteReadError(b"", n)
            n -= len(chunk)

    async def read_command(self, gate: Gate, within: float | None, literal_within: float,
                           stopping: Stopping | None = None) -> list[bytes]:
        """The parts of one command (see ``parser``): lines alternating with literal data.
        ``Stopped`` if the server stops (``stopping``) before the command has begun to
        come; once it has, it is read to its end."""
        parts: list[bytes] = []
        line = await self.read_line(within, stopping)
        while True:
            m = _LITERAL_AT_END.search(line)
            if m is None:
                parts.append(line)
                return parts
            size, sync = int(m.group(1)), not m.group(2)
            refusal = await gate(parts, line, size, sync)
            if refusal is not None:
                close = not sync and not refusal.read_past
                if not sync and refusal.read_past:
                    await self._skip_bytes(size, literal_within)
                    close = not await self._discard_rest(literal_within, size)
                await self.send(refusal.reply)
                await self.flush()
                raise Rejected(close=close)
            if sync:
                await self.send(b"+ Ready for literal data\r\n")
                await self.flush()
            if len(self.buffered()) >= size:
                data = await self.reader.readexactly(size)  # all here already (LITERAL+)
            else:
                async with asyncio.timeout(literal_within):
                    data = await self.reader.readexactly(size)
            parts.append(line)
            parts.append(data)
            line = await self.read_line(literal_within)

    async def _discard_rest(self, within: float, largest: int) -> bool:
        """Drop the rest of a refused command, further LITERAL+ literals of at most
        ``largest`` bytes included; False if a larger one follows (left unread)."""
        while True:
            line = await self.read_line(within)
            m = _LITERAL_AT_END.search(line)
            if m is None or not m.group(2):
                return True  # a synchronising literal after this: the client waits for "+"
            if int(m.group(1)) > largest:
                return False
            await self._skip_bytes(int(m.group(1)), within)

    def buffered(self) -> bytes | bytearray:
        """What the client sent that is not read yet (StreamReader keeps it in _buffer)."""
        return getattr(self.reader, "_buffer", b"")

    def pipelined(self) -> bool:
        """Whether the client's next command line is here already (a pipelining client):
        the session then answers it before writing (Dovecot corks its output alike), so
        a burst of commands costs one write, not one each. Whatever waits for the client
        (a literal's "+", a SASL challenge, IDLE, the next command not yet sent) writes
        everything pending first, so nothing the client waits for is held back; and
        ``send`` writes once ``_FLUSH_AT`` bytes are pending."""
        return b"\n" in self.buffered()

    def buffered_input(self) -> int:
        """Bytes the client sent that are not read yet (STARTTLS must see none)."""
        return len(self.buffered())

    # -- writing ------------------------------------------------------------------------

    async def send(self, data: bytes) -> None:
        self.out.append(data)
        self.out_size += len(data)
        if self.out_size >= _FLUSH_AT:
            await self.flush()

    async def flush(self) -> None:
        if not self.out:
            return
        data = b"".join(self.out) if len(self.out) > 1 else self.out[0]
        self.out.clear()
        self.out_size = 0
        self.writer.write(self._deflate(data))
        if self.writer.transport.get_write_buffer_size() == 0:
            # All of it went to the socket at once (the usual case): drain() cannot wait,
            # so no deadline (and no task for wait_for) is needed.
            await self.writer.drain()
        else:
            async with asyncio.timeout(self.write_timeout):
                await self.writer.drain()

    def _deflate(self, data: bytes) -> bytes:
        if self.deflater is None:
            return data
        # A sync flush after each write: the client decodes all of it at once.
        return self.deflater.compress(data) + self.deflater.flush(zlib.Z_SYNC_FLUSH)

    def write_now(self, data: bytes) -> None:
        """Write at once, without waiting (a BYE as the connection is being ended)."""
        self.writer.write(self._deflate(data))

    @property
    def compressed(self) -> bool:
        return self.deflater is not None

    def start_deflate(self) -> None:
        """COMPRESS=DEFLATE from here on, both ways (RFC 4978 section 3): called once the
        tagged OK has been written uncompressed. What the client sent after it and we
        have read already is compressed too, and stays in the reader for the inflater."""
        self.deflater = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        self.reader = InflatingReader(self.reader, self.max_line + 2)  # type: ignore[assignment]

    async def start_tls(self, context: ssl.SSLContext) -> None:
        await self.flush()
        await self.writer.start_tls(context, ssl_handshake_timeout=30)
        self.tls = True
