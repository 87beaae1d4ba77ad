"""The [imap] settings reach the wire: a server started with a 1-second login timeout, a
short line limit and small literal caps (from its congthu.toml), seen over raw sockets.
Settings the config file refuses this small (RFC floors) are set on the live settings."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from congthu import config
from congthu.config.template import render
from tests.conftest import ServerThread, config_refusal, serving
from tests.imap.conftest import PASSWORD, User, raw_command

LIMITS = {
    "login_timeout": 1.0,
    "max_line_length": 8192,
    "login_literal_max": 64,
    "literal_max": 1024,
    "max_bad_commands": 4,
    "max_auth_failures": 2,
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with serving(tmp_path_factory.mktemp("imap-limits") / "data", imap=LIMITS) as running:
        yield running


@pytest.fixture
def patient(server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> ServerThread:
    """The same server with time to log in: for tests of other limits before login."""
    monkeypatch.setattr(server.app.settings.imap, "login_timeout", 30.0)
    return server


def _connect(server: ServerThread) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port("imap")), timeout=10)
    assert raw_command(sock, b"", until=b"\r\n").startswith(b"* OK")
    return sock


def _login(sock: socket.socket, user: User) -> None:
    reply = raw_command(sock, f"L LOGIN {user.address} {PASSWORD}\r\n".encode(), until=b"L OK")
    assert b"L OK" in reply, reply


def _rest(sock: socket.socket, limit: float = 5.0) -> bytes:
    """Everything the server sends until it closes the connection."""
    sock.settimeout(limit)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_settings_come_from_the_config_file(server: ServerThread) -> None:
    imap = server.settings.imap
    assert (imap.login_timeout, imap.max_line_length, imap.login_literal_max) == (1.0, 8192, 64)
    # The others keep today's defaults.
    assert imap.idle_timeout == 1800.0 and imap.write_timeout == 300.0


def test_silent_client_is_logged_out_before_login(server: ServerThread) -> None:
    with _connect(server) as sock:
        data = _rest(sock)
    assert data.startswith(b"* BYE") and b"autologout" in data and data.endswith(b"\r\n")


def test_idle_client_is_logged_out_after_login(server: ServerThread, user: User,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # RFC 9051 section 5.4 forbids less than 30 minutes in the config file.
    monkeypatch.setattr(server.app.settings.imap, "idle_timeout", 1.0)
    with _connect(server) as sock:
        _login(sock, user)
        data = _rest(sock)
    assert data.startswith(b"* BYE") and b"idle too long" in data


def test_overlong_line_gets_bad_and_the_connection_goes_on(patient: ServerThread, user: User) -> None:
    with _connect(patient) as sock:
        reply = raw_command(sock, b"a NOOP " + b"x" * 9000 + b"\r\n", until=b"\r\n")
        assert reply.startswith(b"* BAD") and b"too long (max 8192 bytes)" in reply
        _login(sock, user)
        assert b"s OK" in raw_command(sock, b"s SELECT INBOX\r\n", until=b"s OK")
        reply = raw_command(sock, b"c SEARCH TEXT " + b"y" * 9000 + b"\r\nd NOOP\r\n", until=b"d OK")
        assert b"* BAD" in reply and b"too long" in reply and b"d OK" in reply
        # Just under the limit, a line is a command like any other.
        reply = raw_command(sock, b"e SEARCH TEXT " + b"y" * 8000 + b"\r\n", until=b"e OK")
        assert b"e OK" in reply


def test_oversize_literal_before_login_is_refused(patient: ServerThread, user: User) -> None:
    with _connect(patient) as sock:
        # Synchronising: refused before the client sends it (RFC 9051 section 7.5).
        reply = raw_command(sock, b"a LOGIN {65}\r\n", until=b"\r\n")
        assert reply.startswith(b"a BAD [TOOBIG]") and b"max 64" in reply
        # Within the cap, a literal is taken.
        name = user.address.encode()
        reply = raw_command(sock, b"d LOGIN {%d}\r\n" % len(name), until=b"\r\n")
        assert reply.startswith(b"+")
        reply = raw_command(sock, name + f" {PASSWORD}\r\n".encode(), until=b"d OK")
        assert b"d OK" in reply
    with _connect(patient) as sock:
        # LITERAL+ over the cap: the bytes would come anyway; they are not read, the
        # command is refused and the connection closed (RFC 7888 section 4).
        sock.sendall(b"b LOGIN {65+}\r\n" + b"x" * 65 + b" pw\r\nc NOOP\r\n")
        reply = _rest(sock)
        assert reply.startswith(b"b BAD [TOOBIG]") and b"* BYE" in reply and b"c OK" not in reply


def test_oversize_literal_after_login_is_refused(patient: ServerThread, user: User) -> None:
    with _connect(patient) as sock:
        _login(sock, user)
        assert b"s OK" in raw_command(sock, b"s SELECT INBOX\r\n", until=b"s OK")
        reply = raw_command(sock, b"a SEARCH TEXT {1025}\r\n", until=b"\r\n")
        assert reply.startswith(b"a BAD [TOOBIG]") and b"max 1024" in reply
        reply = raw_command(sock, b"b SEARCH TEXT {100}\r\n", until=b"\r\n")
        assert reply.startswith(b"+")
        reply = raw_command(sock, b"t" * 100 + b"\r\n", until=b"b OK")
        assert b"b OK" in reply


def test_bad_commands_in_a_row_close_the_connection(patient: ServerThread) -> None:
    with _connect(patient) as sock:
        reply = raw_command(sock, b"x FROB\r\n" * 3 + b"y NOOP\r\n", until=b"y OK")
        assert reply.count(b"x BAD") == 3 and b"y OK" in reply  # a good command resets the count
        sock.sendall(b"z FROB\r\n" * 10)
        data = _rest(sock)
    assert data.count(b"z BAD") == 4 and b"* BYE" in data and b"too many bad commands" in data


def test_failed_logins_close_the_connection(patient: ServerThread, user: User) -> None:
    with _connect(patient) as sock:
        reply = raw_command(sock, f"a LOGIN {user.address} wrong-1\r\n".encode(), until=b"\r\n")
        assert b"a NO [AUTHENTICATIONFAILED]" in reply
        sock.sendall(f"b LOGIN {user.address} wrong-2\r\n".encode())
        data = _rest(sock)
    assert b"* BYE" in data and b"too many failed logins" in data and b"b NO" in data


def test_idle_ends_after_its_maximum_duration(server: ServerThread, user: User,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # RFC 9051 section 6.3.13: the config file refuses less than 30 minutes.
    monkeypatch.setattr(server.app.settings.imap, "idle_max_duration", 1.0)
    with _connect(server) as sock:
        _login(sock, user)
        assert b"s OK" in raw_command(sock, b"s SELECT INBOX\r\n", until=b"s OK")
        assert raw_command(sock, b"i IDLE\r\n", until=b"\r\n").startswith(b"+")
        data = _rest(sock)
    assert b"* BYE" in data and b"IDLE too long" in data


# -- the config file ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ("[imap]\nidle_timeout = 1799\n", "imap.idle_timeout", "RFC 9051 section 5.4"),
        ("[imap]\nidle_max_duration = 600\n", "imap.idle_max_duration", "RFC 9051 section 6.3.13"),
        ("[imap]\nmax_line_length = 1000\n", "imap.max_line_length", "RFC 7162 section 4"),
        ("[imap]\nlogin_timeout = 0\n", "imap.login_timeout", "greater than 0"),
        ("[imap]\nliteral_max = -5\n", "imap.literal_max", "negative"),
        ("[imap]\nlogin_record_seconds = -1\n", "imap.login_record_seconds", "negative"),
    ],
)
def test_config_refuses_imap_values_below_their_bounds(text: str, key: str, reason: str) -> None:
    refused = config_refusal(text)
    assert refused.key == key and reason in refused.reason
    assert str(refused).startswith(f"/etc/congthu.toml: [{key}]")


def test_config_accepts_the_rfc_minimum_and_the_template_shows_the_section() -> None:
    settings = config.parse("[imap]\nidle_timeout = 1800\nmax_line_length = 8192\nlogin_record_seconds = 0\n")
    assert settings.imap.idle_timeout == 1800.0 and settings.imap.max_line_length == 8192
    assert settings.imap.login_record_seconds == 0  # every LOGIN written
    text = render()
    assert "[imap]\n" in text and "RFC 9051 section 5.4: at least 30 minutes" in text
    assert "\nlogin_literal_max = 8192\n" in text
