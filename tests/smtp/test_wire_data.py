"""The DATA reader and the line checks of ``congthu.smtp.wire`` read every message as the
plain ways do: the end of data and the undoing of dot-stuffing (RFC 5321 sections
4.1.1.4, 4.5.2) as a line-by-line reader finds them, whatever chunks the bytes arrive
in; the line-length rule (section 4.5.3.1.6) as splitting the message into lines says, the
refusal of a bare CR or LF (section 2.3.8) as counting each says.
Random messages of dotted, empty, long and short lines, in random chunks, on asyncio's
own StreamReader."""

from __future__ import annotations

import asyncio
import random

from congthu.smtp import wire

PIECES = [b".", b"..", b".x", b"x", b"", b"\r\n", b".\r\n", b"\r\n.", b"\r\n.\r\n", b"ab", b"\r", b"\n",
          b"QUIT\r\n"]


def _plain_read(stream: bytes) -> tuple[bytes, bytes] | None:
    """Line by line: (content, what follows the end), or None without an end."""
    lines: list[bytes] = []
    at = 0
    while True:
        cut = stream.find(b"\r\n", at)
        if cut < 0:
            return None
        line = stream[at:cut]
        at = cut + 2
        if line == b".":
            return b"".join(part + b"\r\n" for part in lines), stream[at:]
        lines.append(line[1:] if line.startswith(b".") else line)


async def _fast_read(stream: bytes, chunks: list[int]) -> tuple[bytes, bytes] | None:
    reader = asyncio.StreamReader(limit=1 << 16)
    at = 0
    for size in chunks:
        reader.feed_data(stream[at:at + size])
        at += size
    if at < len(stream):
        reader.feed_data(stream[at:])
    reader.feed_eof()
    try:
        content, error = await wire.read_dot_data(reader, 60, 0, lambda: None)
    except ConnectionResetError:
        return None
    assert error is None and content is not None
    return content, await reader.read()


def test_dot_data_read_as_line_by_line() -> None:
    rnd = random.Random(4_5_2)

    async def each() -> None:
        for _ in range(4000):
            stream = b"".join(rnd.choice(PIECES) for _ in range(rnd.randrange(0, 30)))
            cuts = [rnd.randrange(1, 6) for _ in range(rnd.randrange(0, 12))]
            assert await _fast_read(stream, cuts) == _plain_read(stream), (stream, cuts)
        # A large message with and without stuffed lines, in the reader's own chunks.
        for dotted in (False, True):
            body = b"".join((b"." if dotted and n % 997 == 0 else b"") + b"x" * (n % 90) + b"\r\n"
                            for n in range(20_000))
            stream = body.replace(b"\r\n.", b"\r\n..") + b".\r\nMAIL FROM:<a@b>\r\n"
            if body.startswith(b"."):
                stream = b"." + stream
            assert await _fast_read(stream, [70_000] * 30) == (body, b"MAIL FROM:<a@b>\r\n")

    asyncio.run(each())


def test_line_length_read_as_split_lines() -> None:
    rnd = random.Random(998)
    for _ in range(20_000):
        most = rnd.choice([0, 1, 2, 3, 5, 8, 20, 998])
        lengths = [rnd.choice([0, 1, max(0, most - 1), most, most + 1, most + 2, rnd.randrange(0, 2 * most + 3)])
                   for _ in range(rnd.randrange(0, 8))]
        content = b"\r\n".join(b"x" * n for n in lengths) + (b"\r\n" if rnd.random() < 0.5 else b"")
        plain = max(map(len, content.split(b"\r\n"))) > most
        assert wire.longest_line_over(content, most) == plain, (content, most)
    # Bare CR or LF anywhere (section 2.3.8), as counting each says.
    for _ in range(20_000):
        content = b"".join(rnd.choice([b"\r\n", b"\r", b"\n", b"x", b"\n\r", b"\r\r\n"])
                           for _ in range(rnd.randrange(0, 10)))
        crlf = content.count(b"\r\n")
        bare = content.count(b"\n") != crlf or content.count(b"\r") != crlf
        assert (wire.check_content(content, 998) or "").startswith("554") == bare, content
    # check_content's verdicts at the limit, on a message of 1 MB.
    line = b"y" * 996 + b"\r\n"
    assert wire.check_content(line * 1000, 998) is None
    assert wire.check_content(line * 500 + b"y" + line + line * 499, 998) is not None
    assert wire.check_content(line * 1000 + b"y" * 997, 998) is not None
    assert wire.check_content(line * 1000 + b"y" * 996, 998) is None


def test_bare_cr_or_lf_found_anywhere_in_a_large_message() -> None:
    """One bare CR or LF (section 2.3.8) at the first byte, the last, beside a CRLF or
    in the middle of 1 MB of CRLF lines of every length up to 79 is refused."""
    body = b"".join(b"x" * (n % 80) + b"\r\n" for n in range(25_000))
    assert wire.check_content(body, 1000) is None
    assert wire.check_content(b"\r\n" * 500_000, 1000) is None  # empty lines only
    for at in (0, 1, 2, 77, len(body) // 2, len(body) - 2, len(body) - 1, len(body)):
        for bare in (b"\r", b"\n"):
            content = body[:at] + bare + body[at:]
            assert (wire.check_content(content, 1000) or "").startswith("554 5.6.0"), (at, bare)
