"""Reading message data on the socket: DATA and BDAT, with bounded memory and deadlines.

* DATA (RFC 5321 sections 4.1.1.4, 4.5.2) is read in large chunks: the end of data is
  found with ``find`` over each new chunk and dot-stuffing is undone with one
  ``replace``, not line by line (aiosmtpd's own reader is 3-4x slower on 1 MB messages);
  a message without stuffed lines (most) is passed over once: the search for
  ``<CRLF>.`` finds its end.
* Line endings (RFC 5321 section 2.3.8): only ``<CRLF>.<CRLF>`` ends the data. A bare CR
  or bare LF anywhere in the data refuses the whole message (554 5.6.0) once the real end
  is seen, rather than normalising it: a lone LF or CR is how SMTP smuggling hides a
  second message (``<LF>.<LF>``, ``<CR>.<CR>``, ``<LF>.<CRLF>``) that a next hop would
  cut differently, and no conforming client sends one (8BITMIME, RFC 6152, forbids it
  too). The same rule holds for BDAT, so what we relay never carries one
  (``check_content``).
* BDAT (RFC 3030 CHUNKING): length-delimited chunks, read and discarded even after an
  error so the session stays in step (``read_chunk``).
* Deadlines (``smtp.data_timeout``): a reader that passes one raises ``DeadlineExceeded``;
  the session then sends its closing reply and ends, so the rest of a body is never read
  as commands.

Commands themselves are read as lines by aiosmtpd's loop (``session.SMTPSession``);
pipelined commands that arrive behind the data go back into its buffer.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

from congthu.smtp.errors import DeadlineExceeded, too_big

__all__ = ["READ_CHUNK", "check_content", "longest_line_over", "read_chunk", "read_dot_data"]

READ_CHUNK = 1 << 20


async def read_dot_data(reader: Any, seconds: float, limit: int,
                        progress: Callable[[], None]) -> tuple[bytes | None, str | None]:
    """Read up to ``<CRLF>.<CRLF>`` from the StreamReader ``reader``: (content without
    dot-stuffing, None), or (None, reply) when it is larger than ``limit``. ``progress``
    is called for each chunk (it resets the idle timer)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    # The data starts at a line start: a CRLF in front lets one search find the end
    # of an empty message too, and one replace undo the stuffing of the first line.
    buf = bytearray(b"\r\n")
    scan = 0
    oversized = False
    stuffed = False  # a line starting with a dot seen (before the end)
    saved = reader._limit
    reader._limit = READ_CHUNK  # a wider flow-control window while data streams in
    try:
        while True:
            chunk = await reader.read(READ_CHUNK)
            if not chunk:
                raise ConnectionResetError("EOF during DATA")
            progress()
            if oversized:
                buf = buf[-4:] + chunk
                scan = 0
            else:
                buf += chunk
            end = -1
            if not stuffed:
                # One pass finds the end and the first stuffed line: each "<CRLF>." is
                # one or the other (one undecided at the buffer's end is found again).
                dot = buf.find(b"\r\n.", scan)
                if dot >= 0 and dot + 5 <= len(buf):
                    if buf[dot + 3:dot + 5] == b"\r\n":
                        end = dot
                    else:
                        stuffed = True
            if stuffed:
                end = buf.find(b"\r\n.\r\n", scan)
            if end >= 0:
                rest = buf[end + 5:]
                if rest:  # pipelined commands after the data go back to the reader
                    reader._buffer[0:0] = rest
                if oversized:
                    return None, too_big(limit)
                del buf[end + 2:]
                break
            if loop.time() > deadline:
                raise DeadlineExceeded("DATA")
            if not oversized and limit and len(buf) > limit + 4096:
                oversized = True
                buf = buf[-4:]
            scan = max(0, len(buf) - 4)
    finally:
        reader._limit = saved
    if stuffed:
        buf = buf.replace(b"\r\n.", b"\r\n")  # RFC 5321 section 4.5.2
    return bytes(memoryview(buf)[2:]), None


async def read_chunk(reader: Any, size: int, into: bytearray | None, seconds: float,
                     progress: Callable[[], None]) -> None:
    """Read a BDAT chunk of ``size`` octets into ``into`` (or discard it if None)."""
    saved = reader._limit
    reader._limit = READ_CHUNK
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    try:
        remaining = size
        while remaining:
            chunk = await reader.read(min(remaining, READ_CHUNK))
            if not chunk:
                raise ConnectionResetError("EOF during BDAT")
            progress()
            remaining -= len(chunk)
            if into is not None:
                into += chunk
            if remaining and loop.time() > deadline:
                raise DeadlineExceeded("BDAT")
    finally:
        reader._limit = saved


# A CR not followed by LF, an LF not preceded by CR (RFC 5321 section 2.3.8). Each pattern
# starts with its one character, which ``re`` looks for as fast as a count does, and looks
# around only where it is: both ~1 ms a MB of mail's usual lines (a count of the CRLFs and
# a translate, with its 1 MB copy, were 2 ms), more the shorter the lines (12 ms a MB of
# empty lines: a 25 MB message of nothing else costs 0.3 s, once).
_BARE_CR = re.compile(rb"\r(?!\n)")
_BARE_LF = re.compile(rb"\n(?<!\r\n)")


def check_content(content: bytes, max_line: int) -> str | None:
    """The refusal of a message with a bare CR or LF (RFC 5321 section 2.3.8) or a line
    longer than ``max_line`` (section 4.5.3.1.6), or None."""
    if _BARE_CR.search(content) or _BARE_LF.search(content):
        return ("554 5.6.0 Thư chứa ký tự CR hoặc LF đứng riêng, không hợp lệ / "
                "message contains a bare CR or LF, not allowed (RFC 5321 section 2.3.8)")
    if len(content) > max_line and longest_line_over(content, max_line - 2):
        return (f"500 5.5.2 Có dòng dài hơn {max_line} byte / a line is longer than "
                f"{max_line} bytes (RFC 5321 section 4.5.3.1.6)")
    return None


def longest_line_over(content: bytes, most: int) -> bool:
    """Whether a line of ``content`` (one whose every LF ends a CRLF) is longer than
    ``most`` octets without its CRLF: what ``max(map(len, content.split(CRLF))) > most``
    says, without cutting 1 MB into ten thousand lines (4-10 ms a MB on the event loop,
    now 0.3). Each
    step looks back from ``most + 2`` octets ahead for the last LF: none there, and the
    line starting here is too long; else every line up to it is short enough, and the
    next step starts after it (some ``most`` octets on per step, by memrchr)."""
    end = len(content)
    start = 0
    while end - start > most:
        newline = content.rfind(b"\n", start, start + most + 2)
        if newline < 0:
            return True
        start = newline + 1
    return False
