"""What an IDLE session holds while it waits (issue 13: memory per IDLE connection,
thousands at once): one task reading the client's next line beside the session's own,
and no task per thing it waits for (the folder's changes, the server's stop), which
would cost about a kilobyte each. A change still wakes it at once, and so does the
server's stop (tests/imap/test_idle.py, tests/core/test_workers.py). A folder watch's
flag (``congthu.store.changes.ChangeFlag``) acts as an ``asyncio.Event`` does."""

from __future__ import annotations

import asyncio
import contextlib
import socket

from congthu.store.changes import ChangeHub
from tests.imap.conftest import User, message, raw_command

CLIENTS = 5


def _selected(user: User) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", user.server.port("imap")))
    s.recv(4096)
    raw_command(s, f"a LOGIN {user.address} Mk@12345678\r\n".encode(), until=b"a OK")
    raw_command(s, b"b SELECT INBOX\r\n", until=b"b OK")
    return s


def _tasks(user: User) -> int:
    async def count() -> int:
        await asyncio.sleep(0.2)  # let the sessions reach their wait
        return len(asyncio.all_tasks())
    return user.server.run(count())


def test_an_idle_session_holds_one_task_more_than_a_selected_one(user: User) -> None:
    clients = [_selected(user) for _ in range(CLIENTS)]
    try:
        selected = _tasks(user)
        for s in clients:
            assert raw_command(s, b"c IDLE\r\n", until=b"+ ").startswith(b"+ ")
        idling = _tasks(user)
        assert idling - selected == CLIENTS, (selected, idling)
        user.deliver(message())
        for s in clients:  # woken by the change, without a task waiting on it
            assert b"* 1 EXISTS" in raw_command(s, b"", until=b"EXISTS\r\n", limit=5)
        for s in clients:
            assert b"c OK" in raw_command(s, b"DONE\r\n", until=b"c OK")
        assert _tasks(user) == selected
    finally:
        for s in clients:
            s.close()


async def test_a_watch_wakes_its_waiters_and_its_waker_as_an_event_would() -> None:
    hub = ChangeHub()
    watch = hub.watch(7)
    woken: list[int] = []
    watch.waker = lambda: woken.append(watch.modseq)
    assert not watch.event.is_set()
    assert await watch.wait(0.01) is False  # nothing yet: a timeout
    waiters = [asyncio.create_task(watch.wait(5)) for _ in range(3)]
    await asyncio.sleep(0)
    hub.publish_local(7, 12)
    assert await asyncio.gather(*waiters) == [True, True, True]
    assert woken == [12] and watch.modseq == 12
    assert not watch.event.is_set()  # cleared by the waits
    hub.publish_local(7, 13)
    assert watch.event.is_set() and await watch.wait(1) is True  # set before the wait: at once
    cancelled = asyncio.create_task(watch.wait(5))
    await asyncio.sleep(0)
    cancelled.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await cancelled
    hub.publish_local(7, 14)  # a cancelled waiter is not woken, nothing fails
    assert woken == [12, 13, 14]
    watch.close()
    hub.publish_local(7, 15)
    assert woken == [12, 13, 14]
