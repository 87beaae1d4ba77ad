"""Connection caps per client address and in all on every door ([connections]), and the
HTTP deadlines ([web] request_timeout, keepalive_timeout), against a real server on
loopback. Loopback has a whole /8, so clients bind 127.0.0.2, 127.0.0.3... to be
different addresses."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from congthu import metrics
from congthu.config import ConfigError, parse
from congthu.net import ConnectionLimiter, client_key
from tests.conftest import ServerThread, make_data_dir

PER_ADDRESS, TOTAL = 2, 3
REQUEST_TIMEOUT = 2.0


@pytest.fixture
def capped(tmp_path: Path) -> Iterator[ServerThread]:
    caps = {f"{door}_{kind}": value for door in ("mx", "submission", "imap", "pop3", "http")
            for kind, value in (("per_address", PER_ADDRESS), ("total", TOTAL))}
    data = asyncio.run(make_data_dir(tmp_path / "data", connections=caps,
                                     web={"request_timeout": REQUEST_TIMEOUT, "keepalive_timeout": 1.0}))
    running = ServerThread(data).start()
    try:
        yield running
    finally:
        running.stop()


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket()
    sock.settimeout(10)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def first_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(1024)
        if not chunk:
            break
        data += chunk
    return data


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed (EOF or reset), reading whatever is left."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return True


GREETINGS = {"smtp": b"220 ", "submission": b"220 ", "imap": b"* OK", "pop3": b"+OK"}
REFUSALS = {"smtp": b"421 4.7.0 ", "submission": b"421 4.7.0 ", "imap": b"* BYE [UNAVAILABLE] ",
            "pop3": b"-ERR [SYS/TEMP] "}


@pytest.mark.parametrize("door", ["smtp", "submission", "imap", "pop3"])
def test_line_protocols_refuse_past_the_caps(capped: ServerThread, door: str) -> None:
    port = capped.port(door)
    held = [connect(port) for _ in range(PER_ADDRESS)]
    try:
        for sock in held:
            assert first_line(sock).startswith(GREETINGS[door])
        # A third from the same address: the protocol's "try again later", then closed.
        over = connect(port)
        refusal = first_line(over)
        assert refusal.startswith(REFUSALS[door]), refusal
        assert b"too many connections" in refusal
        assert closed_by_server(over)
        over.close()
        # Another address still gets in, up to the total; past it, refused.
        other = connect(port, "127.0.0.2")
        held.append(other)
        assert first_line(other).startswith(GREETINGS[door])
        third = connect(port, "127.0.0.3")
        assert first_line(third).startswith(REFUSALS[door])
        third.close()
        # A connection that ends frees its place.
        held.pop(0).close()
        deadline = time.monotonic() + 10
        while True:
            again = connect(port)
            line = first_line(again)
            if line.startswith(GREETINGS[door]) or time.monotonic() > deadline:
                break
            again.close()
            time.sleep(0.1)
        assert line.startswith(GREETINGS[door]), line
        held.append(again)
    finally:
        for sock in held:
            sock.close()
    refused = metrics.registry.get_sample_value(
        "congthu_connections_refused_total", {"service": door, "reason": "per_address"})
    assert refused is not None and refused >= 1


def http_get(sock: socket.socket, path: str = "/healthz") -> bytes:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_http_refuses_past_the_caps_with_503(capped: ServerThread) -> None:
    port = capped.port("http")
    held = [connect(port) for _ in range(PER_ADDRESS)]
    try:
        assert http_get(held[0]).startswith(b"HTTP/1.1 200")
        over = connect(port)
        answer = http_get(over)
        assert answer.startswith(b"HTTP/1.1 503"), answer
        assert b"Retry-After: 10" in answer and b"X-Content-Type-Options: nosniff" in answer
        assert closed_by_server(over)
        over.close()
        other = connect(port, "127.0.0.2")
        held.append(other)
        assert http_get(other).startswith(b"HTTP/1.1 200")
        assert http_get(connect(port, "127.0.0.3")).startswith(b"HTTP/1.1 503")
    finally:
        for sock in held:
            sock.close()


def test_http_closes_a_trickled_request(capped: ServerThread) -> None:
    """The issue's slow-header attack, scaled down: one header byte every 0.5 s keeps a
    connection no longer than web.request_timeout."""
    port = capped.port("http")
    sock = connect(port)
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100
    started = time.monotonic()
    answer = b""
    try:
        for byte in request:
            sock.sendall(bytes([byte]))
            time.sleep(0.5)
            if time.monotonic() - started > REQUEST_TIMEOUT + 10:
                break
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        answer = sock.recv(65536)
    except ConnectionResetError:
        pass
    elapsed = time.monotonic() - started
    sock.close()
    assert elapsed < REQUEST_TIMEOUT + 5, elapsed
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer


def test_http_closes_a_silent_connection_and_a_stalled_keepalive(capped: ServerThread) -> None:
    port = capped.port("http")
    silent = connect(port)
    started = time.monotonic()
    silent.settimeout(REQUEST_TIMEOUT + 10)
    answer = silent.recv(65536)
    assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - started < REQUEST_TIMEOUT + 5
    silent.close()
    # After one request, a client that starts a second one and stalls is closed too.
    kept = connect(port)
    assert http_get(kept).startswith(b"HTTP/1.1 200")
    kept.sendall(b"G")
    started = time.monotonic()
    kept.settimeout(REQUEST_TIMEOUT + 10)
    assert closed_by_server(kept)
    assert time.monotonic() - started < REQUEST_TIMEOUT + 5
    kept.close()


def test_client_key_counts_ipv6_by_its_64_network() -> None:
    assert client_key(("192.0.2.7", 1234)) == "192.0.2.7"
    assert client_key(("::ffff:192.0.2.7", 1234, 0, 0)) == "192.0.2.7"
    assert client_key(("2001:db8:1:2:aaaa::1", 1, 0, 0)) == client_key(("2001:db8:1:2:bbbb::9", 1, 0, 0))
    assert client_key(("2001:db8:1:3::1", 1, 0, 0)) != client_key(("2001:db8:1:2::1", 1, 0, 0))
    limiter = ConnectionLimiter("test", per_address=1, total=2)
    assert limiter.acquire(("2001:db8::1", 1, 0, 0))
    assert not limiter.acquire(("2001:db8::2", 1, 0, 0))  # same /64
    assert limiter.acquire(("192.0.2.1", 1))
    assert not limiter.acquire(("192.0.2.2", 1))  # total
    limiter.release(("2001:db8::1", 1, 0, 0))
    assert limiter.acquire(("192.0.2.2", 1))


@pytest.mark.parametrize(("text", "key"), [
    ("[connections]\nimap_per_address = 0\n", "connections.imap_per_address"),
    ("[connections]\nhttp_per_address = 50\nhttp_total = 10\n", "connections.http_per_address"),
    ("[connections]\npop3_total = -1\n", "connections.pop3_total"),
    ("[connections]\nmx_total = \"many\"\n", "connections.mx_total"),
    ("[web]\nrequest_timeout = 0\n", "web.request_timeout"),
    ("[web]\nmetrics_allow = [\"127.0.0.1\", \"monitoring\"]\n", "web.metrics_allow[1]"),
])
def test_bad_caps_name_their_key(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    assert caught.value.key == key
