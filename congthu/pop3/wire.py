"""POP3 on the socket: command lines in, responses and multi-line bodies out.

``Wire`` reads lines with bounded memory and deadlines and writes with a deadline, so a
client that sends an endless line or reads too slowly ends only its own session (the
deadlines, the stop, writing and STLS are ``congthu.net.StreamWire``'s, shared with LDAP). The
functions below it are pure (no I/O), so that the parser can be fuzzed on its own:
``parse_command`` (RFC 1939 section 3, RFC 2449 section 4), ``response`` (RFC 2449
section 8), and the wire form of a message (CRLF lines, byte-stuffing, TOP).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from dataclasses import dataclass

from congthu.config.settings import POP3Settings
from congthu.net import Ended, Stopping, StreamWire
from congthu.pop3.errors import (
    LINE_FAR_TOO_LONG,
    CommandError,
    LineTooLong,
    SessionClosed,
    too_long,
)

# RFC 2449 section 4: servers accept command lines of at least 255 octets including the
# CRLF; the limit in force is the setting pop3.max_line_length (never less than this).
MAX_COMMAND_LINE = 255
# RFC 2449 section 4: a response line is at most 512 octets including the CRLF.
MAX_RESPONSE_LINE = 512
# RFC 1939 section 3: keywords are three or four characters; longest in use is "CAPA".
MAX_KEYWORD = 4
# RFC 1939 section 3: each argument is up to 40 characters; addresses can be longer
# (Điều 3: ho.ten.don-vi@...), so we allow more and rely on the line limit instead.


# A line without end longer than this is abuse: close.
MAX_DISCARD = 1024 * 1024


class Wire(StreamWire):
    """One connection's socket: line reading and writing with deadlines."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                 settings: POP3Settings, stopping: Stopping) -> None:
        super().__init__(reader, writer, stopping=stopping, write_timeout=settings.write_timeout)
        self.settings = settings

    async def read_line(self, limit: int, silence: float) -> bytes | Ended:
        """The next line with its end, or why there is none (end of input, ``silence``
        seconds of silence, server stop). A line longer than ``limit`` is read to its
        end and thrown away (LineTooLong)."""
        return await self.until(self._read_line(limit), silence)

    async def _read_line(self, limit: int) -> bytes | Ended:
        try:
            line = await self.reader.readuntil(b"\n")
        except asyncio.IncompleteReadError:
            return Ended.EOF
        except asyncio.LimitOverrunError as exc:
            await self._discard(exc.consumed)
            raise LineTooLong() from None
        if len(line) > limit:
            raise LineTooLong()
        return line

    async def _discard(self, consumed: int) -> None:
        discarded = 0
        while True:
            await self.reader.readexactly(consumed)
            discarded += consumed
            if discarded > MAX_DISCARD:
                await self.reply(False, *LINE_FAR_TOO_LONG)
                raise SessionClosed()
            try:
                await self.reader.readuntil(b"\n")
                return
            except asyncio.LimitOverrunError as exc:
                consumed = max(exc.consumed, 1)

    async def reply(self, ok: bool, text: str = "", code: str = "") -> None:
        await self.send(response(ok, text, code))


# -- the syntax (pure functions) ----------------------------------------------------------

CRLF = b"\r\n"


@dataclass(frozen=True)
class Command:
    verb: str
    # The arguments split on spaces (RFC 1939 section 3).
    args: tuple[str, ...]
    # Everything after the keyword and one space: PASS takes the whole rest, since
    # passwords may contain spaces (RFC 1939 section 7, notes on PASS).
    rest: str


def parse_command(line: bytes, max_line: int = MAX_COMMAND_LINE) -> Command:
    """Parse one command line (with or without its CRLF) of at most ``max_line`` octets.

    RFC 1939 section 3: a case-insensitive keyword, then arguments separated by single
    spaces. We also accept a bare LF and repeated spaces from careless clients.
    """
    if line.endswith(b"\r\n"):
        line = line[:-2]
    elif line.endswith(b"\n"):
        line = line[:-1]
    if len(line) + 2 > max_line:
        raise CommandError(too_long(max_line))
    if b"\0" in line or b"\r" in line or b"\n" in line:
        raise CommandError("Ký tự không hợp lệ trong lệnh / invalid character in command")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError("Lệnh không phải UTF-8 / command is not valid UTF-8") from None
    verb, _sep, rest = text.partition(" ")
    if not verb:
        raise CommandError("Thiếu lệnh / empty command")
    if len(verb) > MAX_KEYWORD or not verb.isascii() or not verb.isalpha():
        raise CommandError("Lệnh không rõ / unknown command")
    return Command(verb.upper(), tuple(rest.split()), rest)


def message_number(arg: str) -> int | None:
    """A message number (RFC 1939 section 3: 1-based, decimal), or None if invalid."""
    if not arg.isascii() or not arg.isdigit() or len(arg) > 9:
        return None
    number = int(arg)
    return number if number > 0 else None


def line_count(arg: str) -> int | None:
    """The line count of TOP (RFC 1939 section 7: non-negative), or None if invalid."""
    if not arg.isascii() or not arg.isdigit() or len(arg) > 12:
        return None
    return int(arg)


def response(ok: bool, text: str = "", code: str = "") -> bytes:
    """``+OK text`` or ``-ERR [CODE] text`` (RFC 2449 section 8), cut to 512 octets."""
    head = b"+OK" if ok else b"-ERR"
    body = (f"[{code}] " if code else "") + text
    out = head + (b" " + body.encode("utf-8") if body else b"")
    out = out.replace(b"\r", b" ").replace(b"\n", b" ")
    limit = MAX_RESPONSE_LINE - 2
    if len(out) > limit:
        out = out[:limit].decode("utf-8", "ignore").encode("utf-8")
    return out + CRLF


def crlf_lines(raw: bytes) -> bytes:
    """The message with CRLF line endings (bare LFs become CRLF) and a final CRLF.

    Messages are stored exactly as received (Điều 7.3-7.5); SMTP gives CRLF already, so
    this is usually a no-op done in C by ``bytes.replace`` on the whole buffer.
    """
    if b"\n" in raw and raw.count(b"\n") != raw.count(b"\r\n"):
        raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if raw and not raw.endswith(CRLF):
        raw += CRLF
    return raw


def dot_stuff(data: bytes) -> bytes:
    """Byte-stuff lines starting with "." (RFC 1939 section 3); ``data`` has CRLF endings.

    The terminating ".CRLF" is not added: the caller writes it after the body.
    """
    data = data.replace(b"\r\n.", b"\r\n..")
    if data.startswith(b"."):
        data = b"." + data
    return data


def top(data: bytes, lines: int) -> bytes:
    """The header, the blank line and the first ``lines`` lines of the body
    (RFC 1939 section 7, TOP); ``data`` has CRLF endings."""
    if data.startswith(CRLF):  # no header at all
        head_end = 2
    else:
        found = data.find(b"\r\n\r\n")
        if found < 0:
            return data  # only a header
        head_end = found + 4
    if lines == 0:
        return data[:head_end]
    body = data[head_end:]
    parts = body.split(CRLF, lines)
    if len(parts) <= lines:
        return data
    return data[:head_end] + CRLF.join(parts[:lines]) + CRLF


def b64decode(text: str) -> bytes | None:
    """Strict base64 (RFC 5034 section 4), or None if malformed. "=" is empty."""
    if text == "=":
        return b""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
