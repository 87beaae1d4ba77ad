"""COMPRESS=DEFLATE (RFC 4978), written from the RFC's text, and compared with a private
Dovecot (its imap_zlib plugin): the same commands over a compressed connection give the
same answers. Inflating what a client sends is bounded (a "zip bomb" line is refused
as a long line is)."""

from __future__ import annotations

import socket
import zlib
from collections.abc import Iterator

import pytest

from tests.imap import dovecot as dv
from tests.imap.conftest import PASSWORD, User, message


class Deflated:
    """A socket speaking raw DEFLATE both ways, for ``dv.Conversation``."""

    def __init__(self, sock: socket.socket, pending: bytes = b"") -> None:
        self.sock = sock
        self.out = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.inflater = zlib.decompressobj(-15)
        self.pending = self.inflater.decompress(pending)

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(self.out.compress(data) + self.out.flush(zlib.Z_SYNC_FLUSH))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self, n: int) -> bytes:
        while not self.pending:
            chunk = self.sock.recv(n)
            if not chunk:
                return b""
            self.pending = self.inflater.decompress(chunk)
        data, self.pending = self.pending, b""
        return data

    def close(self) -> None:
        self.sock.close()


def compress(conv: dv.Conversation) -> dv.Reply:
    """COMPRESS DEFLATE; on OK the conversation goes on compressed."""
    reply = conv.send("COMPRESS DEFLATE")
    if reply.tagged.startswith(b"OK"):
        # What followed the tagged OK in the same read is compressed already.
        conv.sock = Deflated(conv.sock, conv.buf)  # type: ignore[assignment]
        conv.buf = b""
    return reply


@pytest.fixture
def conv(user: User) -> Iterator[dv.Conversation]:
    c = dv.login(user.server.port("imap"), user.address, PASSWORD)
    try:
        yield c
    finally:
        c.close()


def test_compress_deflate(user: User, conv: dv.Conversation) -> None:
    """Section 3: COMPRESS DEFLATE is answered OK uncompressed, then both directions are
    DEFLATE; a second COMPRESS is NO [COMPRESSIONACTIVE]; an unknown mechanism is BAD;
    the capability is offered once authenticated."""
    caps = conv.send("CAPABILITY").untagged[0].split()
    assert b"COMPRESS=DEFLATE" in caps
    assert conv.send("COMPRESS NOTHING").tagged.startswith(b"BAD")
    assert conv.send("COMPRESS").tagged.startswith(b"BAD")
    assert compress(conv).tagged.startswith(b"OK")
    assert conv.send("NOOP").tagged.startswith(b"OK")
    assert conv.send("COMPRESS DEFLATE").tagged.startswith(b"NO [COMPRESSIONACTIVE]")
    assert b"COMPRESS=DEFLATE" not in conv.send("CAPABILITY").untagged[0].split()
    # A message through both directions: APPEND a literal, FETCH it back.
    raw = message("Nén", "Nội dung dài. " * 5000)
    assert conv.send(f"APPEND INBOX {{{len(raw)}}}\r\n".encode() + raw).tagged.startswith(b"OK")
    assert conv.send("SELECT INBOX").tagged.startswith(b"OK")
    (fetched,) = conv.send("FETCH 1 BODY.PEEK[]").untagged
    assert fetched.endswith(raw + b")")
    assert conv.send("LOGOUT").untagged[0].startswith(b"* BYE")


def test_compress_needs_authentication(user: User) -> None:
    c = dv.Conversation(user.server.port("imap"))
    try:
        assert b"COMPRESS=DEFLATE" not in c.send("CAPABILITY").untagged[0].split()
        assert c.send("COMPRESS DEFLATE").tagged.startswith(b"BAD")
    finally:
        c.close()


def test_inflating_is_bounded(user: User, conv: dv.Conversation) -> None:
    """A line of 50 MB of one letter deflates to about 50 KB: inflated a step at a time
    and refused as too long (BAD), never held; the session goes on. Then a stream that
    does not inflate ends the connection, and the server serves the next one."""
    assert compress(conv).tagged.startswith(b"OK")
    deflated: Deflated = conv.sock  # type: ignore[assignment]
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = b"a" * (1 << 20)
    data = deflated.out.compress(b"a1 NOOP ")
    for _ in range(50):
        data += deflated.out.compress(chunk)
    data += deflated.out.compress(b"\r\n") + deflated.out.flush(zlib.Z_SYNC_FLUSH)
    assert len(data) < 200_000
    del bomb
    deflated.send_raw(data)
    line = conv._line()
    assert line.startswith(b"* BAD") and b"too long" in line
    assert conv.send("NOOP").tagged.startswith(b"OK")
    deflated.send_raw(b"\xff\xff\xff garbage that is not deflate")
    with pytest.raises((ConnectionError, OSError)):
        conv.send("NOOP")
    other = dv.login(user.server.port("imap"), user.address, PASSWORD)
    try:
        assert other.send("NOOP").tagged.startswith(b"OK")
    finally:
        other.close()


def test_same_answers_as_dovecot(user: User, dovecot: dv.Dovecot) -> None:
    """The same commands over COMPRESS=DEFLATE on both servers."""
    ours = dv.login(user.server.port("imap"), user.address, PASSWORD)
    theirs = dv.login(dovecot.port, "compress@soctrang.gov.vn", dv.PASSWORD)
    try:
        raw = message("Nén", "Nội dung. " * 2000)
        commands: list[str | bytes] = [
            "COMPRESS NOTHING", f"APPEND INBOX {{{len(raw)}}}\r\n".encode() + raw, "SELECT INBOX",
            "FETCH 1 (RFC822.SIZE FLAGS)", "FETCH 1 (BODY.PEEK[])", "COMPRESS DEFLATE", "NOOP", "SEARCH ALL"]
        for c in (ours, theirs):
            assert compress(c).tagged.startswith(b"OK")
        diff = dv.differences(ours.run(commands), theirs.run(commands))
        assert not diff, "\n".join(d[:600] for d in diff)
    finally:
        ours.close()
        theirs.close()


def test_idle_over_compress(user: User, conv: dv.Conversation) -> None:
    """RFC 4978 section 4: every response is flushed, so a client in IDLE on a
    compressed connection sees a new message at once (RFC 2177)."""
    assert conv.send("SELECT INBOX").tagged.startswith(b"OK")
    assert compress(conv).tagged.startswith(b"OK")
    conv.sock.sendall(b"i1 IDLE\r\n")
    assert conv._line().startswith(b"+ ")
    user.deliver(message("Trong lúc chờ"))
    assert conv._line() == b"* 1 EXISTS"
    conv.sock.sendall(b"DONE\r\n")
    line = conv._line()
    while not line.startswith(b"i1 "):
        line = conv._line()
    assert line.startswith(b"i1 OK")
    assert conv.send("FETCH 1 (FLAGS)").tagged.startswith(b"OK")
