"""Bad clients over raw sockets (issue 16): malformed BER, huge announced lengths,
indefinite lengths, deeply nested filters, unknown operations, slow senders. Each gets a
Notice of Disconnection (protocolError, RFC 4511 section 4.4.1) or a closed connection,
and the server goes on answering others. Abandon stops a search."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from pathlib import Path

import pytest

from tests.conftest import ServerThread, make_data_dir
from tests.ldap.conftest import BASE, PASSWORD, LDAPWorld

NOTICE_OID = b"1.3.6.1.4.1.1466.20036"


def tlv(tag: int, content: bytes) -> bytes:
    """One BER element, definite length (written here, not by the code under test)."""
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    length = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def integer(value: int) -> bytes:
    return tlv(0x02, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big"))


def octets(value: str | bytes) -> bytes:
    return tlv(0x04, value.encode() if isinstance(value, str) else value)


def message(message_id: int, op: bytes) -> bytes:
    return tlv(0x30, integer(message_id) + op)


def simple_bind(message_id: int, name: str, password: str) -> bytes:
    return message(message_id, tlv(0x60, integer(3) + octets(name) + tlv(0x80, password.encode())))


def search_request(message_id: int, base: str, filter_: bytes, scope: int = 2) -> bytes:
    return message(message_id, tlv(0x63, octets(base) + tlv(0x0A, bytes([scope])) + tlv(0x0A, b"\x00")
                                   + integer(0) + integer(0) + tlv(0x01, b"\x00") + filter_ + tlv(0x30, b"")))


PRESENT_OBJECTCLASS = tlv(0x87, b"objectClass")


def _exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            return b""
        data += chunk
    return data


def read_pdu(sock: socket.socket) -> bytes:
    """One whole PDU (reading no further, so the next stays in the socket), b"" when the
    server closed."""
    head = _exactly(sock, 2)
    if not head:
        return b""
    if head[1] & 0x80:
        more = _exactly(sock, head[1] & 0x7F)
        head += more
        length = int.from_bytes(more, "big")
    else:
        length = head[1]
    body = _exactly(sock, length)
    return head + body if body or not length else b""


def id_and_op(pdu: bytes) -> tuple[int, int]:
    """The messageID and the operation's tag of a response."""
    position = 2 + (pdu[1] & 0x7F if pdu[1] & 0x80 else 0)
    assert pdu[position] == 0x02
    size = pdu[position + 1]
    message_id = int.from_bytes(pdu[position + 2:position + 2 + size], "big")
    return message_id, pdu[position + 2 + size]


def expect_disconnection(sock: socket.socket) -> None:
    """A Notice of Disconnection with protocolError (2), then the end of the connection."""
    notice = read_pdu(sock)
    if notice:  # the notice, then nothing more
        assert id_and_op(notice) == (0, 0x78)  # an unsolicited ExtendedResponse
        assert NOTICE_OID in notice
        assert b"\x0a\x01\x02" in notice  # resultCode protocolError
    assert sock.recv(100) == b""


def open_socket(world: LDAPWorld) -> socket.socket:
    # Generous: the machine running the tests may be loaded; a hang still fails.
    sock = socket.create_connection(("127.0.0.1", world.port), timeout=60)
    return sock


def bound_socket(world: LDAPWorld) -> socket.socket:
    """A connection bound as Nguyễn Thanh Bình (its answer read)."""
    sock = open_socket(world)
    sock.sendall(simple_bind(1, world.dn("Nguyễn Thanh Bình"), PASSWORD))
    read_pdu(sock)
    return sock


def nested_and(depth: int) -> bytes:
    """(&(&(...(objectClass=*)))) ``depth`` levels deep."""
    nested = PRESENT_OBJECTCLASS
    for _ in range(depth):
        nested = tlv(0xA0, nested)
    return nested


def still_serving(server: ServerThread, world: LDAPWorld) -> None:
    with open_socket(world) as sock:
        sock.sendall(simple_bind(1, world.dn("Nguyễn Thanh Bình"), PASSWORD))
        answer = read_pdu(sock)
        assert id_and_op(answer) == (1, 0x61)
        assert b"\x0a\x01\x00" in answer  # resultCode success


@pytest.mark.parametrize("garbage", [
    b"\x30\x03\x02\x01",  # truncated, then more garbage below
    b"\x04\x05hello",  # not a SEQUENCE
    b"\x30\x80\x02\x01\x01\x42\x00\x00\x00",  # indefinite length (RFC 4511 section 5.1)
    b"\x30\x05\x02\x01\x01\x99\x00",  # unknown operation tag
    b"\x30\x06\x02\x01\x01\x60\x01\x02",  # bind whose inner length runs past its parent
    b"\x30\x03\x02\x01\x01",  # no operation at all
    b"\x30\x89\x01\x02\x03\x04\x05\x06\x07\x08\x09",  # length of nine octets
])
def test_malformed_pdu_gets_notice_and_close(world: LDAPWorld, garbage: bytes) -> None:
    with open_socket(world) as sock:
        sock.sendall(garbage + b"\x00" * 16)
        expect_disconnection(sock)
    still_serving(world.server, world)


def test_huge_announced_length_refused_unread(world: LDAPWorld) -> None:
    with open_socket(world) as sock:
        sock.sendall(b"\x30\x84\x7f\xff\xff\xff\x02\x01\x01")
        notice = read_pdu(sock)
        assert NOTICE_OID in notice and "quá lớn".encode() in notice
        assert sock.recv(100) == b""
    still_serving(world.server, world)


def test_deeply_nested_filter(world: LDAPWorld) -> None:
    with bound_socket(world) as sock:
        sock.sendall(search_request(2, BASE, nested_and(500)))
        expect_disconnection(sock)
    # Within the limit (ldap.max_filter_depth, 32) it is an ordinary search.
    shallow = PRESENT_OBJECTCLASS
    for _ in range(20):
        shallow = tlv(0xA2, shallow) if _ % 2 else tlv(0xA1, shallow)  # not / or
    with bound_socket(world) as sock:
        sock.sendall(search_request(2, BASE, shallow, scope=0))
        assert id_and_op(read_pdu(sock)) in ((2, 0x64), (2, 0x65))  # an entry or the end


def test_filters_kept_by_encoding_answer_as_read_afresh(world: LDAPWorld) -> None:
    """Filters are kept by their encoding and depth bound (``cmd_search._filter``): a
    malformed one is refused each time it comes, a kept one read again under a lower
    ldap.max_filter_depth is refused, and one within it answers as before."""
    empty_substrings = tlv(0xA4, octets("cn") + tlv(0x30, b""))
    nested = nested_and(8)
    with bound_socket(world) as sock:
        for number in (2, 3):
            sock.sendall(search_request(number, BASE, empty_substrings))
            answer = read_pdu(sock)
            assert id_and_op(answer) == (number, 0x65) and b"\x0a\x01\x02" in answer  # protocolError
        sock.sendall(search_request(4, BASE, nested, scope=0))
        assert id_and_op(read_pdu(sock)) == (4, 0x64)  # the base entry, then the end
        assert b"\x0a\x01\x00" in read_pdu(sock)
        world.server.app.settings.ldap.max_filter_depth = 4
        sock.sendall(search_request(5, BASE, nested, scope=0))
        answer = read_pdu(sock)
        assert id_and_op(answer) == (5, 0x65) and b"\x0a\x01\x02" in answer


def test_slow_client_is_cut_off(world: LDAPWorld) -> None:
    world.server.app.settings.ldap.request_timeout = 1.0
    with open_socket(world) as sock:
        pdu = simple_bind(1, world.dn("Nguyễn Thanh Bình"), PASSWORD)
        sock.sendall(pdu[:3])  # then nothing
        started = time.monotonic()
        assert sock.recv(100) == b""
        assert time.monotonic() - started < 10
    still_serving(world.server, world)


def test_idle_connection_is_closed_and_a_busy_one_kept(world: LDAPWorld) -> None:
    """ldap.idle_timeout counts the silence between two requests (the wire's lazy idle
    timer): a connection asking every 0.2 s for three times the timeout is served
    throughout; once silent, it is closed after about the timeout."""
    world.server.app.settings.ldap.idle_timeout = 0.6
    name = world.dn("Nguyễn Thanh Bình")
    with open_socket(world) as sock:
        started = time.monotonic()
        number = 1
        while time.monotonic() - started < 1.8:
            sock.sendall(simple_bind(number, name, PASSWORD))
            answer = read_pdu(sock)
            assert id_and_op(answer) == (number, 0x61) and b"\x0a\x01\x00" in answer
            answered = time.monotonic()
            number += 1
            time.sleep(0.2)
        assert sock.recv(100) == b""
        assert 0.55 < time.monotonic() - answered < 10
    still_serving(world.server, world)


def test_pipelined_and_split_requests(world: LDAPWorld) -> None:
    """The wire cuts what arrives into PDUs itself: three binds in one segment get three
    answers in order; a bind split across segments (in the middle of its header, then of
    its body) is read whole."""
    name = world.dn("Nguyễn Thanh Bình")
    with open_socket(world) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(b"".join(simple_bind(i, name, PASSWORD) for i in (1, 2, 3)))
        assert [id_and_op(read_pdu(sock)) for _ in range(3)] == [(1, 0x61), (2, 0x61), (3, 0x61)]
        pdu = simple_bind(4, name, PASSWORD)
        for part in (pdu[:1], pdu[1:2], pdu[2:9], pdu[9:]):
            sock.sendall(part)
            time.sleep(0.05)
        answer = read_pdu(sock)
        assert id_and_op(answer) == (4, 0x61) and b"\x0a\x01\x00" in answer


def test_a_request_pipelined_after_starttls_is_dropped(world: LDAPWorld) -> None:
    """RFC 4513 section 3.1.1: nothing may follow StartTLS before its answer; a request
    sent in plaintext right behind it (command injection, CVE-2011-0411) is not taken as
    if it came through TLS."""
    start_tls = message(1, tlv(0x77, tlv(0x80, b"1.3.6.1.4.1.1466.20037")))
    name = world.dn("Nguyễn Thanh Bình")
    with open_socket(world) as sock:
        sock.sendall(start_tls + simple_bind(2, name, PASSWORD))
        answer = read_pdu(sock)
        assert id_and_op(answer) == (1, 0x78) and b"\x0a\x01\x00" in answer
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with context.wrap_socket(sock) as tls:
            tls.sendall(simple_bind(3, name, PASSWORD))
            assert id_and_op(read_pdu(tls)) == (3, 0x61)  # not 2: the injected bind was dropped


def test_abandon_and_unbind(world: LDAPWorld) -> None:
    with bound_socket(world) as sock:
        # A search, its abandon (RFC 4511 section 4.11: no answer to either), then a
        # search that is answered: the session goes on.
        sock.sendall(search_request(2, BASE, PRESENT_OBJECTCLASS) + message(3, tlv(0x50, b"\x02"))
                     + search_request(4, "", PRESENT_OBJECTCLASS, scope=0))
        ids = set()
        while True:
            message_id, op = id_and_op(read_pdu(sock))
            ids.add(message_id)
            if (message_id, op) == (4, 0x65):
                break
        assert 3 not in ids
        sock.sendall(message(5, b"\x42\x00"))  # unbind: the server closes
        assert sock.recv(100) == b""


def test_connection_cap(tmp_path: Path) -> None:
    """[connections] ldap_per_address: the connection over the cap gets a Notice of
    Disconnection, busy (51), and is closed; the others go on."""
    data = asyncio.run(make_data_dir(tmp_path / "data", connections={"ldap_per_address": 2}))
    server = ServerThread(data).start()
    try:
        port = server.port("ldap")
        held = [socket.create_connection(("127.0.0.1", port), timeout=15) for _ in range(2)]
        time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", port), timeout=15) as third:
            notice = read_pdu(third)
            assert id_and_op(notice) == (0, 0x78)
            assert b"\x0a\x01\x33" in notice  # busy
            assert third.recv(100) == b""
        held[0].sendall(search_request(1, "", PRESENT_OBJECTCLASS, scope=0))
        assert id_and_op(read_pdu(held[0])) == (1, 0x64)
        for sock in held:
            sock.close()
    finally:
        server.stop()
