"""The LDAP wire's edges over raw sockets (issue 16): requests are cut into PDUs and
answered from the transport's callbacks (``congthu/ldap/wire.py``, ``session.pump``), a
request that awaits goes on as a task and the ones behind it wait their turn. Pipelined
requests are answered in order, whatever mix of at-once and awaiting operations; a
request trickled octet by octet is read whole; a client that never reads its answers is
paused, not buffered without end, while others are served; StartTLS behind requests
still unanswered is refused (RFC 4511 section 4.14.1, RFC 4513 section 3.1.1); Abandon
drops a request waiting its turn (RFC 4511 section 4.11).

The world's tree is rebuilt for each search (``ldap.cache_seconds`` 0): a search under
the base reads the directory, so it awaits; a search of the root DSE does not.
"""

from __future__ import annotations

import asyncio
import gc
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest

from congthu.ldap.wire import Wire
from tests.conftest import ServerThread, make_data_dir
from tests.ldap.conftest import BASE, LDAP_SETTINGS, PASSWORD, LDAPWorld, build_world
from tests.ldap.test_robustness import (
    PRESENT_OBJECTCLASS,
    bound_socket,
    id_and_op,
    message,
    octets,
    open_socket,
    read_pdu,
    search_request,
    simple_bind,
    still_serving,
    tlv,
)

START_TLS_OID = b"1.3.6.1.4.1.1466.20037"
WHO_AM_I_OID = b"1.3.6.1.4.1.4203.1.11.3"
SEARCH_ENTRY, SEARCH_DONE, BIND_RESPONSE, EXTENDED_RESPONSE = 0x64, 0x65, 0x61, 0x78


def extended(message_id: int, oid: bytes) -> bytes:
    return message(message_id, tlv(0x77, tlv(0x80, oid)))


def abandon(message_id: int, target: int) -> bytes:
    return message(message_id, tlv(0x50, target.to_bytes(1, "big")))


def uid_equals(uid: str) -> bytes:
    return tlv(0xA3, octets("uid") + octets(uid))


def answers_until(sock: socket.socket, last: tuple[int, int]) -> list[tuple[int, int]]:
    """(id, operation) of every answer up to and including ``last``."""
    seen = []
    while True:
        pdu = read_pdu(sock)
        assert pdu, f"closed after {seen}"
        seen.append(id_and_op(pdu))
        if seen[-1] == last:
            return seen


def result_code(pdu: bytes) -> int:
    """The resultCode of an LDAPResult answer (the first ENUMERATED after the id)."""
    at = pdu.index(b"\x0a\x01", 4)
    return pdu[at + 2]


def test_pipelined_mix_answered_in_order(world: LDAPWorld) -> None:
    """Binds, root DSE searches and WhoAmI answered at once, a search reading the
    directory (a task), in one segment: every answer, in the order asked."""
    name = world.dn("Nguyễn Thanh Bình")
    with bound_socket(world) as sock:
        sock.sendall(simple_bind(2, name, PASSWORD) + search_request(3, "", PRESENT_OBJECTCLASS, scope=0)
                     + extended(4, WHO_AM_I_OID) + search_request(5, BASE, uid_equals(world.uid("Trần Thị Hoa")))
                     + simple_bind(6, name, PASSWORD) + extended(7, WHO_AM_I_OID))
        seen = answers_until(sock, (7, EXTENDED_RESPONSE))
        assert seen == [(2, BIND_RESPONSE), (3, SEARCH_ENTRY), (3, SEARCH_DONE), (4, EXTENDED_RESPONSE),
                        (5, SEARCH_ENTRY), (5, SEARCH_DONE), (6, BIND_RESPONSE), (7, EXTENDED_RESPONSE)]


@pytest.mark.parametrize("backend", ["postgresql"])
def test_pipelined_binds_and_searches_on_postgresql(backend: str, tmp_path: Path,
                                                    request: pytest.FixtureRequest) -> None:
    """On PostgreSQL every read awaits (no read on the event loop's own connection): a
    first bind, its kept repeats, searches reading the directory and the root DSE,
    pipelined, are answered in order."""
    url = request.getfixturevalue("postgres").create_database()
    data = asyncio.run(make_data_dir(tmp_path / "data", database={"url": url}, **LDAP_SETTINGS))
    running = ServerThread(data).start()
    try:
        world = LDAPWorld(running, build_world(running), tmp_path)
        name = world.dn("Nguyễn Thanh Bình")
        with open_socket(world) as sock:
            sock.sendall(simple_bind(1, name, PASSWORD) + simple_bind(2, name, PASSWORD)
                         + search_request(3, BASE, uid_equals(world.uid("Lê Văn Đức")))
                         + search_request(4, "", PRESENT_OBJECTCLASS, scope=0) + simple_bind(5, name, PASSWORD))
            assert answers_until(sock, (5, BIND_RESPONSE)) == [
                (1, BIND_RESPONSE), (2, BIND_RESPONSE), (3, SEARCH_ENTRY), (3, SEARCH_DONE), (4, SEARCH_ENTRY),
                (4, SEARCH_DONE), (5, BIND_RESPONSE)]
    finally:
        running.stop()


def test_requests_sent_octet_by_octet(world: LDAPWorld) -> None:
    """A bind then a search, each sent one octet per segment: each read whole and
    answered once complete, nothing answered from a part."""
    with open_socket(world) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for pdu, last in ((simple_bind(1, world.dn("Nguyễn Thanh Bình"), PASSWORD), (1, BIND_RESPONSE)),
                          (search_request(2, "", PRESENT_OBJECTCLASS, scope=0), (2, SEARCH_DONE))):
            for octet in range(len(pdu)):
                sock.sendall(pdu[octet:octet + 1])
                time.sleep(0.002)
            answers = answers_until(sock, last)
            assert answers[-1] == last and all(found[0] == last[0] for found in answers)


def test_first_bind_and_read_keep_the_order_of_kept_binds(world: LDAPWorld) -> None:
    """A first bind (argon2, a task), a kept bind behind it, a search reading the
    directory, then a kept bind: the kept ones, answerable at once, wait their turn."""
    name = world.dn("Nguyễn Thanh Bình")
    with open_socket(world) as sock:
        sock.sendall(simple_bind(1, name, PASSWORD) + simple_bind(2, name, PASSWORD)
                     + search_request(3, BASE, uid_equals(world.uid("Lê Văn Đức")))
                     + simple_bind(4, name, PASSWORD) + search_request(5, "", PRESENT_OBJECTCLASS, scope=0))
        seen = answers_until(sock, (5, SEARCH_DONE))
        assert seen == [(1, BIND_RESPONSE), (2, BIND_RESPONSE), (3, SEARCH_ENTRY), (3, SEARCH_DONE),
                        (4, BIND_RESPONSE), (5, SEARCH_ENTRY), (5, SEARCH_DONE)]


def _server_wires() -> list[Wire]:
    """The LDAP connections open in the test server (same process, its own thread)."""
    return [found for found in gc.get_objects() if isinstance(found, Wire) and not found.closed]


def test_a_client_that_never_reads_is_paused_and_others_are_served(world: LDAPWorld) -> None:
    """Searches pipelined without end by a client that reads nothing: the server stops
    reading it once its answers fill the socket (``pause_writing``), keeps serving
    others, and once the client reads, answers every request, in order."""
    batch = 1000
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the server's writes fill up
    sock.settimeout(60)
    sock.connect(("127.0.0.1", world.port))
    stop = threading.Event()
    sent = [1]  # the last message id sent

    def send() -> None:
        while not stop.is_set():
            first = sent[0] + 1
            sock.sendall(b"".join(search_request(i, "", tlv(0x87, b"objectClass"), scope=0)
                                  for i in range(first, first + batch)))
            sent[0] = first + batch - 1

    with sock:
        sock.sendall(simple_bind(1, world.dn("Nguyễn Thanh Bình"), PASSWORD))
        assert id_and_op(read_pdu(sock)) == (1, BIND_RESPONSE)
        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        deadline = time.monotonic() + 60
        while not any(wire.writing_paused for wire in _server_wires()):
            assert time.monotonic() < deadline, "the server never paused"
            time.sleep(0.05)
        stop.set()
        still_serving(world.server, world)
        with bound_socket(world) as other:
            other.sendall(search_request(2, BASE, uid_equals(world.uid("Trần Thị Hoa"))))
            assert answers_until(other, (2, SEARCH_DONE)) == [(2, SEARCH_ENTRY), (2, SEARCH_DONE)]
        expected = 2
        while sender.is_alive() or expected <= sent[0]:
            message_id, op = id_and_op(read_pdu(sock))
            assert message_id == expected
            if op == SEARCH_DONE:
                expected += 1
        assert sent[0] > batch
        last = sent[0] + 1
        sock.sendall(simple_bind(last, world.dn("Nguyễn Thanh Bình"), PASSWORD))
        assert id_and_op(read_pdu(sock)) == (last, BIND_RESPONSE)


def _tls(sock: socket.socket) -> ssl.SSLSocket:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context.wrap_socket(sock)


def test_starttls_behind_unanswered_requests_is_refused(world: LDAPWorld) -> None:
    """RFC 4513 section 3.1.1, RFC 4511 section 4.14.1: StartTLS sent while answers to
    earlier requests are outstanding is a detected sequencing problem, operationsError
    (1), and the connection stays as it was; StartTLS alone then succeeds."""
    name = world.dn("Nguyễn Thanh Bình")
    with open_socket(world) as sock:
        # Behind a first bind (a task) and behind a kept bind answered in the same callback.
        for first in (simple_bind(1, name, PASSWORD), simple_bind(3, name, PASSWORD)):
            bind_id = first[4]
            sock.sendall(first + extended(bind_id + 1, START_TLS_OID))
            assert id_and_op(read_pdu(sock)) == (bind_id, BIND_RESPONSE)
            refused = read_pdu(sock)
            assert id_and_op(refused) == (bind_id + 1, EXTENDED_RESPONSE) and result_code(refused) == 1
        sock.sendall(search_request(5, "", PRESENT_OBJECTCLASS, scope=0))  # still plaintext LDAP
        assert answers_until(sock, (5, SEARCH_DONE))[-1] == (5, SEARCH_DONE)
        sock.sendall(extended(6, START_TLS_OID))
        accepted = read_pdu(sock)
        assert id_and_op(accepted) == (6, EXTENDED_RESPONSE) and result_code(accepted) == 0
        with _tls(sock) as tls:
            tls.sendall(simple_bind(7, name, PASSWORD))
            answer = read_pdu(tls)  # type: ignore[arg-type]
            assert id_and_op(answer) == (7, BIND_RESPONSE) and result_code(answer) == 0


def test_abandon_drops_a_request_waiting_its_turn(world: LDAPWorld) -> None:
    """Section 4.11: a search queued behind a first bind (a task) and abandoned before
    its turn gets no answer; the requests around it are answered."""
    name = world.dn("Nguyễn Thanh Bình")
    with open_socket(world) as sock:
        sock.sendall(simple_bind(1, name, PASSWORD) + search_request(2, BASE, PRESENT_OBJECTCLASS)
                     + abandon(3, 2) + search_request(4, "", PRESENT_OBJECTCLASS, scope=0))
        seen = answers_until(sock, (4, SEARCH_DONE))
        assert seen == [(1, BIND_RESPONSE), (4, SEARCH_ENTRY), (4, SEARCH_DONE)]
    still_serving(world.server, world)


def test_unbind_behind_a_task_answers_what_came_before(world: LDAPWorld) -> None:
    """Section 4.3: an Unbind queued behind a search reading the directory: the search
    is answered, then the connection closes, and what followed the Unbind is not run."""
    with bound_socket(world) as sock:
        sock.sendall(search_request(2, BASE, uid_equals(world.uid("Phạm Minh Tâm"))) + message(3, b"\x42\x00")
                     + search_request(4, "", PRESENT_OBJECTCLASS, scope=0))
        assert answers_until(sock, (2, SEARCH_DONE)) == [(2, SEARCH_ENTRY), (2, SEARCH_DONE)]
        assert sock.recv(100) == b""

