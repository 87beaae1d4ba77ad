"""Every path that says it closes the connection closes it (issue 10): after the closing
reply the socket is closed and nothing the client sent after it is read as a command.
Raw sockets, so the test sends exactly the bytes it wants: the closing command and a
NOOP behind it in the same packet."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ServerThread
from tests.smtp.conftest import messages, start_server
from tests.smtp.dnsserver import DNSServer
from tests.smtp.rawclient import Raw

BOB = "ntbinh@soctrang.gov.vn"
OUTSIDE = "vanthu@cantho.gov.vn"


@pytest.fixture
def server(tmp_path: Path, dns_server: DNSServer) -> Iterator[ServerThread]:
    """Deadlines of one second for DATA and BDAT."""
    running = start_server(tmp_path / "data", dns_server, smtp={"data_timeout": 1.0})
    try:
        yield running
    finally:
        running.stop()


def assert_closed(raw: Raw) -> None:
    """The server has closed: EOF (or a reset) where any further reply would be, even
    after another command."""
    raw.sock.settimeout(10)
    try:
        line = raw.file.readline()
        assert line == b"", f"a reply after the closing one: {line!r}"
        raw.send(b"NOOP\r\n")
        assert raw.file.readline() == b""
    except (ConnectionResetError, BrokenPipeError):
        pass
    finally:
        raw.close()


def _transaction(port: int) -> Raw:
    raw = Raw(port)
    assert raw.cmd("EHLO mail.cantho.gov.vn")[0] == 250
    assert raw.cmd(f"MAIL FROM:<{OUTSIDE}>")[0] == 250
    assert raw.cmd(f"RCPT TO:<{BOB}>")[0] == 250
    return raw


@pytest.mark.parametrize("command", [b"BDAT", b"BDAT x", b"BDAT 10 NOTLAST", b"BDAT 1234567890123"])
def test_bdat_without_a_size(server: ServerThread, command: bytes) -> None:
    server.add_user(BOB)
    raw = _transaction(server.port("smtp"))
    raw.send(command + b"\r\nNOOP\r\n")
    code, text = raw.reply()
    assert (code, text[:5]) == (501, "5.5.4")
    assert_closed(raw)


def test_overlong_auth_line(server: ServerThread) -> None:
    raw = Raw(server.port("submission"))
    assert raw.cmd("EHLO client.example")[0] == 250
    code, _text = raw.cmd("AUTH SCRAM-SHA-256")
    assert code == 334
    raw.send(b"A" * 70_000 + b"\r\nNOOP\r\n")
    code, text = raw.reply()
    assert (code, text[:5]) == (500, "5.5.6")
    assert_closed(raw)


def test_data_deadline(server: ServerThread) -> None:
    bob = server.add_user(BOB)
    raw = _transaction(server.port("smtp"))
    assert raw.cmd("DATA")[0] == 354
    raw.send(b"From: vanthu@cantho.gov.vn\r\nSubject: slow\r\n\r\nfirst part\r\n")
    time.sleep(1.5)
    # The rest of the body arrives after the deadline: none of it is a command.
    raw.send(b"RSET\r\nMAIL FROM:<x@cantho.gov.vn>\r\nNOOP\r\n")
    code, text = raw.reply()
    assert (code, text[:5]) == (451, "4.4.2")
    assert_closed(raw)
    assert messages(server, bob) == []


def test_bdat_deadline(server: ServerThread) -> None:
    bob = server.add_user(BOB)
    raw = _transaction(server.port("smtp"))
    raw.send(b"BDAT 100000 LAST\r\n" + b"x" * 10)
    time.sleep(1.5)
    raw.send(b"\r\nNOOP\r\n")
    code, text = raw.reply()
    assert (code, text[:5]) == (451, "4.4.2")
    assert_closed(raw)
    assert messages(server, bob) == []


def test_too_many_unknown_commands(server: ServerThread) -> None:
    """aiosmtpd's own closing path (its limit of bogus commands): 421, then closed."""
    raw = Raw(server.port("smtp"))
    raw.send(b"".join(b"BOGUS%d\r\n" % i for i in range(5)) + b"NOOP\r\n")
    replies = [raw.reply() for _ in range(5)]
    assert [code for code, _t in replies] == [500, 500, 500, 500, 421]
    assert_closed(raw)


def test_server_goes_on(server: ServerThread) -> None:
    """After all that, the next client is served."""
    server.add_user(BOB)
    raw = _transaction(server.port("smtp"))
    raw.send(b"BDAT\r\n")
    raw.reply()
    assert_closed(raw)
    raw = _transaction(server.port("smtp"))
    assert raw.cmd("NOOP")[0] == 250
    assert raw.cmd("QUIT")[0] == 221
    raw.close()
