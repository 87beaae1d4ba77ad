"""BINARY of a part whose Content-Transfer-Encoding the server cannot undo: a tagged
NO [UNKNOWN-CTE] (RFC 3516 section 4.1, RFC 9051 section 6.4.5), no FETCH data for that
message, and \\Seen left alone; the known encodings (7bit, 8bit, binary,
quoted-printable, base64, in any case, with spaces around) are decoded."""

from __future__ import annotations

import base64
import re
import socket
from collections.abc import Iterator

import pytest

from tests.imap.conftest import PASSWORD, message, raw_command

_PDF = b"%PDF-1.4\n\x00\x01binary\xff"

MIXED = (
    b"From: Nguyen Van Binh <nvbinh@soctrang.gov.vn>\r\n"
    b"To: pth@soctrang.gov.vn\r\n"
    b"Subject: Encodings\r\n"
    b"Message-ID: <cte@soctrang.gov.vn>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="B"\r\n'
    b"\r\n"
    b"--B\r\n"
    b"Content-Type: text/plain\r\n"
    b"Content-Transfer-Encoding: x-uuencode\r\n"
    b"\r\n"
    b"begin 644 a.txt\r\n#86)C\r\n`\r\nend\r\n"
    b"--B\r\n"
    b"Content-Type: application/pdf\r\n"
    b"Content-Transfer-Encoding:   BASE64  \r\n"
    b"\r\n" + base64.b64encode(_PDF) + b"\r\n"
    b"--B\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: ???garbage\r\n"
    b"\r\n"
    b"whatever\r\n"
    b"--B\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: Quoted-Printable\r\n"
    b"\r\n"
    b"N=E1=BB=99i dung\r\n"
    b"--B\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n" + "Đã nhận".encode() + b"\r\n"
    b"--B--\r\n"
)

SINGLE_UUENCODED = (
    b"From: a@soctrang.gov.vn\r\n"
    b"Subject: uu\r\n"
    b"Content-Type: text/plain\r\n"
    b"Content-Transfer-Encoding: X-UUENCODE\r\n"
    b"\r\n"
    b"begin 644 a.txt\r\n#86)C\r\n`\r\nend\r\n"
)


@pytest.fixture
def wire(user) -> Iterator[socket.socket]:  # type: ignore[no-untyped-def]
    user.deliver(MIXED)
    user.deliver(message("Bình thường", "Nội dung"))
    user.deliver(SINGLE_UUENCODED)
    s = socket.create_connection(("127.0.0.1", user.server.port("imap")))
    s.recv(4096)
    raw_command(s, f"a LOGIN {user.address} {PASSWORD}\r\n".encode(), until=b"a OK")
    raw_command(s, b"b SELECT INBOX\r\n", until=b"b OK")
    try:
        yield s
    finally:
        s.close()


def _cmd(s: socket.socket, tag: str, command: str) -> bytes:
    """Everything the server answers to one command, up to its tagged line."""
    out = raw_command(s, f"{tag} {command}\r\n".encode(), until=b"\r\n", limit=10)
    while not re.search(rf"(^|\r\n){tag} [^\r\n]*\r\n".encode(), out):
        out += raw_command(s, b"", until=b"\r\n", limit=10)
    return out


def test_unknown_cte_gives_tagged_no_without_data(wire: socket.socket) -> None:
    for tag, command in (("c1", "FETCH 1 (BINARY.PEEK[1])"), ("c2", "FETCH 1 (BINARY.SIZE[1])"),
                         ("c3", "FETCH 1 (BINARY.PEEK[3])"), ("c4", "FETCH 1 (UID BINARY.SIZE[3])"),
                         ("c5", "FETCH 3 (BINARY.PEEK[1])"), ("c6", "UID FETCH 3 (BINARY.PEEK[1]<0.5>)"),
                         ("c7", "FETCH 1 (BINARY.PEEK[2] BINARY.PEEK[1])")):
        out = _cmd(wire, tag, command)
        assert re.search(rf"(^|\r\n){tag} NO \[UNKNOWN-CTE\] .+/ unknown Content-Transfer-Encoding".encode(), out), out
        assert b"FETCH (" not in out, (command, out)  # no partial data for that message


def test_known_encodings_still_decode(wire: socket.socket) -> None:
    out = _cmd(wire, "d1", "FETCH 1 (BINARY.PEEK[2] BINARY.SIZE[2])")
    assert b"d1 OK" in out
    assert b"BINARY[2] ~{%d}\r\n" % len(_PDF) + _PDF in out  # literal8: it has NUL
    assert b"BINARY.SIZE[2] %d" % len(_PDF) in out
    out = _cmd(wire, "d2", "FETCH 1 (BINARY.PEEK[4] BINARY.PEEK[5] BINARY.SIZE[4])")
    assert b"d2 OK" in out
    assert "Nội dung".encode() in out and "Đã nhận".encode() in out
    assert b"BINARY.SIZE[4] %d" % len("Nội dung".encode()) in out
    # The unknown encodings are no obstacle to BODY[] (no decoding there).
    out = _cmd(wire, "d3", "FETCH 1 (BODY.PEEK[1] BODY.PEEK[3])")
    assert b"d3 OK" in out and b"begin 644 a.txt" in out and b"whatever" in out


def test_other_messages_of_the_set_are_answered(wire: socket.socket) -> None:
    out = _cmd(wire, "e1", "FETCH 1:3 (BINARY.PEEK[1])")
    assert b"e1 NO [UNKNOWN-CTE]" in out
    assert b"* 2 FETCH (BINARY[1] {" in out and "Nội dung".encode() in out
    assert b"* 1 FETCH" not in out and b"* 3 FETCH" not in out


def test_failed_binary_does_not_set_seen(wire: socket.socket) -> None:
    out = _cmd(wire, "f1", "FETCH 1:2 (BINARY[1])")
    assert b"f1 NO [UNKNOWN-CTE]" in out and b"* 1 FETCH" not in out
    assert re.search(rb"\* 2 FETCH \(BINARY\[1\] \{\d+\}\r\n.*FLAGS \(\\Seen \\Recent\)\)", out, re.S), out
    out = _cmd(wire, "f2", "FETCH 1:2 (FLAGS)")
    assert b"* 1 FETCH (FLAGS (\\Recent))" in out and b"* 2 FETCH (FLAGS (\\Seen \\Recent))" in out
