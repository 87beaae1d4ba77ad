"""Binds and searches answered without their coroutine chains (issue 16:
``cmd_bind.bind_kept``, ``accounts.authenticate_kept``, ``cmd_search.search_kept``), over
raw sockets to a server that hears the change feed and keeps its tree: once a person's
state, password and last success are kept, pipelined binds of them are answered in the
transport's callback without ``authenticate`` and with the very octets the full bind
sends; whatever is not kept (a wrong password, the success after it, a bind with a
control, a disabled mailbox) still goes through ``authenticate`` and gets its answer.
A search by an indexed equality is answered with the very octets the full search sends
(asked again with a control, which only the full search takes); every other search
(over the size limit, no such base, not bound) is the full search's."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from congthu.ldap.commands import COMMANDS
from tests.ldap.conftest import BASE, PASSWORD, LDAPWorld, listening_world
from tests.ldap.test_robustness import id_and_op, integer, octets, open_socket, read_pdu, simple_bind, tlv
from tests.ldap.test_wire import BIND_RESPONSE, SEARCH_DONE, result_code

BINH, HOA, DUC = "Nguyễn Thanh Bình", "Trần Thị Hoa", "Lê Văn Đức"
# A control no operation knows, not critical: ignored (RFC 4511 section 4.1.11), but only
# the full search takes a request with controls.
UNKNOWN_CONTROL = tlv(0x30, tlv(0x04, b"1.2.3.4.5.6.7"))
PASSWORD_POLICY = b"1.3.6.1.4.1.42.2.27.8.5.1"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LDAPWorld]:
    """A server that listens to the change feed, its tree kept (the kept search answers
    from a fresh snapshot only)."""
    with listening_world(tmp_path_factory.mktemp("kept"), ldap={"cache_seconds": 3600.0}) as world:
        yield world


class FullChecks:
    """Counts the calls of the server's ``accounts.authenticate`` (the full check),
    passing each on unchanged."""

    def __init__(self, world: LDAPWorld) -> None:
        self.accounts = world.server.app.accounts
        self.calls = 0
        self._original: Callable[..., Any] = self.accounts.authenticate

    def __enter__(self) -> FullChecks:
        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return await self._original(*args, **kwargs)

        self.accounts.authenticate = counted  # type: ignore[method-assign]
        return self

    def __exit__(self, *_exc: object) -> None:
        del self.accounts.authenticate


def _with_controls(message_id: int, operation: bytes, control: bytes) -> bytes:
    """An LDAPMessage with one control (RFC 4511 section 4.1.11; ``message_id`` < 128)."""
    return tlv(0x30, tlv(0x02, bytes([message_id])) + operation + tlv(0xA0, control))


def answers(sock: Any, count: int) -> list[bytes]:
    found = [read_pdu(sock) for _ in range(count)]
    assert all(found), found
    return found


def test_kept_binds_skip_the_full_check_and_answer_the_same(world: LDAPWorld) -> None:
    name = world.dn(BINH)
    with open_socket(world) as first:
        # The first bind: argon2id, read, written (the full check).
        first.sendall(simple_bind(1, name, PASSWORD))
        full_answer = read_pdu(first)
        assert result_code(full_answer) == 0
    with FullChecks(world) as full, open_socket(world) as sock:
        # The state is kept by the first bind's read, the password verified, the
        # success written: from now on, binds are kept ones.
        sock.sendall(b"".join(simple_bind(i, name, PASSWORD) for i in range(1, 6)))
        kept = answers(sock, 5)
        assert [id_and_op(a) for a in kept] == [(i, BIND_RESPONSE) for i in range(1, 6)]
        assert kept[0] == full_answer  # the same octets as the full bind's success
        assert full.calls == 0
        # A wrong password: the full check refuses it; the success after it is written
        # (the full check again), then kept again.
        sock.sendall(simple_bind(6, name, "Sai@mat-khau1") + simple_bind(7, name, PASSWORD)
                     + simple_bind(8, name, PASSWORD))
        assert [result_code(a) for a in answers(sock, 3)] == [49, 0, 0]
        assert full.calls == 2
        # A bind asking for a control: the full bind, with the control in its answer.
        sock.sendall(_with_controls(9, tlv(0x60, tlv(0x02, b"\x03") + tlv(0x04, name.encode())
                                           + tlv(0x80, PASSWORD.encode())), tlv(0x30, tlv(0x04, PASSWORD_POLICY))))
        with_control = read_pdu(sock)
        assert result_code(with_control) == 0 and PASSWORD_POLICY in with_control
        assert full.calls == 3
        # A mailbox disabled: refused at once (the kept state dropped by the change).
        app = world.server.app
        mailbox_id = world.people[BINH][1]
        world.server.run(app.store.update_mailbox(mailbox_id, status="disabled"))
        try:
            sock.sendall(simple_bind(10, name, PASSWORD))
            refused = read_pdu(sock)
            assert result_code(refused) == 49 and "thu hồi".encode() in refused
            assert full.calls == 4
        finally:
            world.server.run(app.store.update_mailbox(mailbox_id, status="active"))
        sock.sendall(simple_bind(11, name, PASSWORD) + simple_bind(12, name, PASSWORD))
        assert [result_code(a) for a in answers(sock, 2)] == [0, 0]
        assert full.calls == 5  # read and written after the change, then kept


def search(message_id: int, base: str, filter_: bytes, *, scope: int = 2, size_limit: int = 0,
           attributes: tuple[str, ...] = (), control: bool = False) -> bytes:
    operation = tlv(0x63, octets(base) + tlv(0x0A, bytes([scope])) + tlv(0x0A, b"\x00") + integer(size_limit)
                    + integer(0) + tlv(0x01, b"\x00") + filter_ + tlv(0x30, b"".join(octets(a) for a in attributes)))
    if control:
        return _with_controls(message_id, operation, UNKNOWN_CONTROL)
    return tlv(0x30, integer(message_id) + operation)


def equals(attribute: str, value: str) -> bytes:
    return tlv(0xA3, octets(attribute) + octets(value))


def until_done(sock: Any) -> list[bytes]:
    found = []
    while True:
        pdu = read_pdu(sock)
        assert pdu, found
        found.append(pdu)
        if id_and_op(pdu)[1] == SEARCH_DONE:
            return found


class FullSearches:
    """Counts the calls of the full search handler (the operation table's), passing each
    on unchanged."""

    def __init__(self) -> None:
        self.calls = 0
        self._original = COMMANDS["search"]

    def __enter__(self) -> FullSearches:
        async def counted(*args: Any) -> None:
            self.calls += 1
            await self._original(*args)

        COMMANDS["search"] = counted  # type: ignore[index]
        return self

    def __exit__(self, *_exc: object) -> None:
        COMMANDS["search"] = self._original  # type: ignore[index]


def test_kept_searches_answer_as_the_full_search(world: LDAPWorld) -> None:
    people = f"ou=people,{BASE}"
    kept = [  # (base, filter, scope, attributes)
        (BASE, equals("uid", world.uid(DUC)), 2, ()),
        (BASE, equals("mail", world.address(HOA)), 2, ("cn", "mail")),
        (people, equals("uid", world.uid(BINH)), 1, ("1.1",)),
        (BASE, tlv(0xA1, equals("uid", world.uid(DUC)) + equals("uid", world.uid(HOA))), 2, ("*", "+")),
        (BASE, tlv(0xA0, equals("uid", world.uid(DUC)) + tlv(0x87, b"telephoneNumber")), 2, ()),
        (BASE, equals("uid", "khong-co-ai"), 2, ()),
    ]
    with open_socket(world) as anonymous, FullSearches() as full:  # not bound: refused by the full search
        anonymous.sendall(search(1, BASE, equals("uid", world.uid(DUC))))
        assert result_code(until_done(anonymous)[-1]) == 50
        assert full.calls == 1
    with open_socket(world) as sock:
        sock.sendall(simple_bind(1, world.dn(BINH), PASSWORD))
        assert result_code(read_pdu(sock)) == 0
        sock.sendall(search(2, BASE, equals("uid", world.uid(DUC))))  # the tree built: the full search
        until_done(sock)
        with FullSearches() as full:
            for number, (base, filter_, scope, attributes) in enumerate(kept, 3):
                sock.sendall(search(number, base, filter_, scope=scope, attributes=attributes))
                answer = until_done(sock)
                assert full.calls == 0, base
                sock.sendall(search(number, base, filter_, scope=scope, attributes=attributes, control=True))
                assert until_done(sock) == answer
                assert full.calls == 1
                full.calls = 0
            # Two entries over a size limit of one, a base that is not there: the full search.
            sock.sendall(search(20, BASE, tlv(0xA1, equals("uid", world.uid(DUC)) + equals("uid", world.uid(HOA))),
                                size_limit=1))
            answer = until_done(sock)
            assert len(answer) == 2 and result_code(answer[-1]) == 4  # sizeLimitExceeded
            sock.sendall(search(21, f"ou=khong-co,{BASE}", equals("uid", world.uid(DUC))))
            assert result_code(until_done(sock)[-1]) == 32  # noSuchObject
            assert full.calls == 2
