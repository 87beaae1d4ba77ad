"""The [pop3] settings reach the wire: a server started with a 1-second login timeout, a
512-octet line limit and two failed logins per connection (from its congthu.toml), seen
over raw sockets. Values the config file refuses this small (RFC floors) are set on the
live settings."""

from __future__ import annotations

import poplib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from congthu import config
from congthu.config.template import render
from tests.conftest import ServerThread, config_refusal, serving
from tests.pop3.conftest import DOMAIN, PASSWORD, deliver, login, message

LIMITS = {"login_timeout": 1.0, "max_line_length": 512, "max_auth_failures": 2}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    with serving(tmp_path / "data", pop3=LIMITS) as running:
        yield running


@pytest.fixture
def patient(server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> ServerThread:
    """The same server with time to log in: for tests of other limits before login."""
    monkeypatch.setattr(server.app.settings.pop3, "login_timeout", 30.0)
    return server


class Raw:
    def __init__(self, server: ServerThread, **socket_options: int) -> None:
        self.sock = socket.socket()
        for option, value in socket_options.items():
            self.sock.setsockopt(socket.SOL_SOCKET, getattr(socket, option), value)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", server.port("pop3")))
        self.file = self.sock.makefile("rb")
        self.greeting = self.file.readline()

    def ask(self, data: bytes) -> bytes:
        self.sock.sendall(data)
        return self.file.readline()

    def rest(self) -> bytes:
        """Everything until the server closes the connection."""
        return self.file.read()

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def test_settings_come_from_the_config_file(server: ServerThread) -> None:
    pop3 = server.settings.pop3
    assert (pop3.login_timeout, pop3.max_line_length, pop3.max_auth_failures) == (1.0, 512, 2)
    assert pop3.idle_timeout == 600.0 and pop3.lock_lease == 1200.0


def test_silent_client_gets_err_and_is_closed_before_login(server: ServerThread) -> None:
    client = Raw(server)
    assert client.greeting.startswith(b"+OK")
    answer = client.rest()
    client.close()
    assert answer.startswith(b"-ERR") and b"no login in time" in answer and answer.endswith(b"\r\n")
    assert answer.count(b"\r\n") == 1


def test_line_limit_is_the_setting(patient: ServerThread) -> None:
    client = Raw(patient)
    # Longer than RFC 2449's 255 octets but within the configured 512: a command.
    assert client.ask(b"USER " + b"a" * 400 + b"\r\n").startswith(b"+OK")
    answer = client.ask(b"USER " + b"b" * 600 + b"\r\n")
    assert answer.startswith("-ERR Dòng lệnh quá dài".encode()) and b"max 512 octets" in answer
    # The session goes on.
    assert client.ask(b"CAPA\r\n").startswith(b"+OK")
    client.close()


def test_failed_logins_close_the_connection(patient: ServerThread) -> None:
    address = f"dvthong@{DOMAIN}"
    patient.add_user(address, PASSWORD)
    client = Raw(patient)
    assert client.ask(f"USER {address}\r\n".encode()).startswith(b"+OK")
    assert client.ask(b"PASS wrong-1\r\n").startswith(b"-ERR [AUTH]")
    assert client.ask(f"USER {address}\r\n".encode()).startswith(b"+OK")
    client.sock.sendall(b"PASS wrong-2\r\n")
    answer = client.rest()
    client.close()
    assert answer.startswith(b"-ERR [AUTH]") and answer.count(b"\r\n") == 1


def test_slow_reader_is_disconnected_and_its_lock_released(server: ServerThread,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    address = f"dvthong@{DOMAIN}"
    mailbox_id = server.add_user(address, PASSWORD)
    deliver(server, mailbox_id, message(1, body="Phụ lục.\r\n" * 600_000))  # 8 MB
    monkeypatch.setattr(server.app.settings.pop3, "write_timeout", 1.0)
    client = Raw(server, SO_RCVBUF=4096)
    client.sock.sendall(f"USER {address}\r\nPASS {PASSWORD}\r\n".encode())
    assert client.file.readline().startswith(b"+OK") and client.file.readline().startswith(b"+OK")
    client.sock.sendall(b"RETR 1\r\n")  # and read nothing more
    # The server gives up on the write and ends the session: the maildrop is free again.
    deadline = time.monotonic() + 20
    while True:
        try:
            login(server, address).quit()
            break
        except poplib.error_proto as exc:  # while the lock is still held
            assert "IN-USE" in str(exc), exc
            assert time.monotonic() < deadline, "the slow reader kept the maildrop"
            time.sleep(0.2)
    client.close()


# -- the config file ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ("[pop3]\nidle_timeout = 599\n", "pop3.idle_timeout", "RFC 1939 section 3"),
        ("[pop3]\nmax_line_length = 254\n", "pop3.max_line_length", "RFC 2449 section 4"),
        ("[pop3]\nmax_auth_failures = 0\n", "pop3.max_auth_failures", "greater than 0"),
        ("[pop3]\nwrite_timeout = 'soon'\n", "pop3.write_timeout", "number"),
        ("[pop3]\nlock_lease = 60\n", "pop3.lock_lease", "unknown key"),
    ],
)
def test_config_refuses_pop3_values_below_their_bounds(text: str, key: str, reason: str) -> None:
    refused = config_refusal(text)
    assert refused.key == key and reason in refused.reason


def test_template_shows_the_pop3_section() -> None:
    text = render()
    assert "[pop3]\n" in text and "RFC 1939 section 3: at least 10 minutes" in text
    assert "\nmax_line_length = 255\n" in text
    assert config.parse("[pop3]\nidle_timeout = 600\nmax_line_length = 255\n").pop3.idle_timeout == 600
