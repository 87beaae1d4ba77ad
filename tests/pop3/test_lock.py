"""The maildrop lock (RFC 1939 section 8, [IN-USE] of RFC 2449 section 8.1.1): one POP3
session per mailbox on one server, across two servers sharing a database, released
however a session ends, and taken over once the lease of a dead holder has run out."""

from __future__ import annotations

import asyncio
import poplib
import socket
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from congthu.app import App
from congthu.pop3.lock import MaildropLocks
from congthu.store import utcnow
from tests.conftest import ServerThread, make_data_dir
from tests.pop3.conftest import DOMAIN, PASSWORD, connect, deliver, inbox_uids, login, message

ADDRESS = f"dvthong@{DOMAIN}"


def in_use(server: ServerThread, address: str = ADDRESS) -> bool:
    """Log in; True if the answer was -ERR [IN-USE], False if the login worked (then QUIT)."""
    client = connect(server)
    try:
        client.user(address)
        client.pass_(PASSWORD)
    except poplib.error_proto as exc:
        assert b"-ERR [IN-USE]" in exc.args[0], exc
        client.close()
        return True
    client.quit()
    return False


def holder(server: ServerThread, mailbox_id: int) -> str | None:
    return server.run(MaildropLocks(server.app.db, 60).holder(mailbox_id))


def wait_free(server: ServerThread, mailbox_id: int) -> None:
    """The server notices a vanished client by itself; give it a moment (bounded)."""
    deadline = time.monotonic() + 10
    while holder(server, mailbox_id) is not None:
        assert time.monotonic() < deadline, "the maildrop lock was never released"
        time.sleep(0.05)


# -- one server ----------------------------------------------------------------------------


def test_second_session_gets_in_use_until_the_first_quits(server: ServerThread) -> None:
    mailbox_id = server.add_user(ADDRESS, PASSWORD)
    deliver(server, mailbox_id, message(1))
    first = login(server, ADDRESS)
    assert first.stat() == (1, len(message(1)))
    assert holder(server, mailbox_id) is not None
    assert in_use(server)
    # The refused session changed nothing: the first one goes on.
    assert first.dele(1).startswith(b"+OK")
    first.quit()
    assert holder(server, mailbox_id) is None  # released before the +OK of QUIT
    assert not in_use(server)
    assert inbox_uids(server, mailbox_id) == []


@pytest.mark.parametrize("reset", [False, True], ids=["close", "reset"])
def test_lock_is_released_when_the_client_drops_without_quit(server: ServerThread, reset: bool) -> None:
    mailbox_id = server.add_user(ADDRESS, PASSWORD)
    uid = deliver(server, mailbox_id, message(1))
    sock = socket.create_connection(("127.0.0.1", server.port("pop3")), timeout=10)
    reader = sock.makefile("rb")
    reader.readline()
    sock.sendall(f"USER {ADDRESS}\r\nPASS {PASSWORD}\r\nDELE 1\r\n".encode())
    assert all(reader.readline().startswith(b"+OK") for _ in range(3))
    assert holder(server, mailbox_id) is not None
    if reset:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    reader.close()
    sock.close()
    wait_free(server, mailbox_id)
    assert not in_use(server)
    assert inbox_uids(server, mailbox_id) == [uid]  # no QUIT, no UPDATE: nothing deleted


def test_a_session_whose_lock_was_taken_over_does_not_update(server: ServerThread) -> None:
    mailbox_id = server.add_user(ADDRESS, PASSWORD)
    uid = deliver(server, mailbox_id, message(1))
    client = login(server, ADDRESS)
    assert client.dele(1).startswith(b"+OK")
    # Another node whose clock is past the lease (its holder looks dead) takes the lock.
    later = MaildropLocks(server.app.db, 60, clock=lambda: utcnow() + timedelta(hours=1))
    thief = server.run(later.acquire(mailbox_id))
    assert thief is not None
    with pytest.raises(poplib.error_proto, match=r"IN-USE.*lock lost"):
        client.quit()
    client.close()
    assert inbox_uids(server, mailbox_id) == [uid]
    # The thief's lock was not released by the session that lost it.
    assert holder(server, mailbox_id) is not None and in_use(server)
    server.run(thief.release())
    assert not in_use(server)


# -- two servers on one database -------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def two_nodes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[ServerThread, ServerThread]]:
    """Two servers, each with its own data directory and ports, on one database: for
    SQLite the first node's file, for PostgreSQL one database."""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres").create_database()
        first = asyncio.run(make_data_dir(tmp_path / "a", database={"url": url}))
    else:
        first = asyncio.run(make_data_dir(tmp_path / "a"))
        url = f"sqlite+aiosqlite:///{(first / 'meta.db').resolve()}"
    second = asyncio.run(make_data_dir(tmp_path / "b", database={"url": url}))
    node_a = ServerThread(first).start()
    try:
        node_b = ServerThread(second).start()
        try:
            yield node_a, node_b
        finally:
            node_b.stop()
    finally:
        node_a.stop()


def test_two_servers_sharing_a_database_share_the_lock(two_nodes: tuple[ServerThread, ServerThread]) -> None:
    node_a, node_b = two_nodes
    assert node_a.port("pop3") != node_b.port("pop3")
    node_a.add_user(ADDRESS, PASSWORD)
    on_a = login(node_a, ADDRESS)
    assert in_use(node_b)
    assert in_use(node_a)
    on_a.quit()
    on_b = login(node_b, ADDRESS)
    assert in_use(node_a)
    on_b.quit()
    assert not in_use(node_a)


# -- the lock itself, two "nodes" (two App objects) on each engine ---------------------------


def moving_clock() -> tuple[Callable[[], datetime], Callable[[float], None]]:
    now = [utcnow()]

    def advance(seconds: float) -> None:
        now[0] += timedelta(seconds=seconds)

    return lambda: now[0], advance


async def test_two_nodes_contend_and_exactly_one_wins(any_app: App) -> None:
    other = await App.open(any_app.data_dir)
    try:
        mailbox = await any_app.store.create_mailbox(ADDRESS)
        nodes = [MaildropLocks(any_app.db, 60), MaildropLocks(other.db, 60)]
        for _round in range(3):
            won = await asyncio.gather(*(nodes[i % 2].acquire(mailbox.id) for i in range(6)))
            holders = [lock for lock in won if lock is not None]
            assert len(holders) == 1
            assert await nodes[1].holder(mailbox.id) == holders[0].owner
            await holders[0].release()
            assert await nodes[0].holder(mailbox.id) is None
    finally:
        await other.close()


async def test_an_expired_lease_is_taken_over_and_the_old_holder_loses(any_app: App) -> None:
    other = await App.open(any_app.data_dir)
    try:
        mailbox = await any_app.store.create_mailbox(ADDRESS)
        clock, advance = moving_clock()
        node_a, node_b = MaildropLocks(any_app.db, 60, clock), MaildropLocks(other.db, 60, clock)
        held = await node_a.acquire(mailbox.id)
        assert held is not None
        advance(50)
        assert await node_b.acquire(mailbox.id) is None
        assert await held.renew()  # the lease now runs to 110 s
        advance(30)
        assert await node_b.acquire(mailbox.id) is None  # 80 s: still renewed
        advance(31)
        taken = await node_b.acquire(mailbox.id)  # 111 s: the holder looks dead
        assert taken is not None and taken.owner != held.owner
        assert not await held.renew()
        await held.release()  # not its lock any more: nothing happens
        assert await node_a.holder(mailbox.id) == taken.owner
        await taken.release()
        assert await node_a.acquire(mailbox.id) is not None
    finally:
        await other.close()


async def test_keep_renews_until_the_lock_is_lost(any_app: App) -> None:
    other = await App.open(any_app.data_dir)
    try:
        mailbox = await any_app.store.create_mailbox(ADDRESS)
        node_a = MaildropLocks(any_app.db, 0.3)
        held = await node_a.acquire(mailbox.id)
        assert held is not None
        keeper = asyncio.ensure_future(held.keep())
        # Another node, an hour ahead, takes the lock; the next renewal finds it gone.
        node_b = MaildropLocks(other.db, 60, clock=lambda: utcnow() + timedelta(hours=1))
        assert await node_b.acquire(mailbox.id) is not None
        await asyncio.wait_for(keeper, 10)
        assert keeper.done() and keeper.exception() is None
    finally:
        await other.close()
