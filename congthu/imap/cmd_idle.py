"""IDLE (RFC 2177, RFC 9051 section 6.3.13): the server pushes EXISTS, EXPUNGE (or
VANISHED) and FETCH FLAGS as soon as the selected mailbox changes, until the client
sends DONE. With NOTIFY (RFC 5465) set, IDLE also sends the notifier's news (other
mailboxes' STATUS, LIST for names) as they come.

The wait costs no polling and no task per source: the client's next line is read by
one task, and the session waits on one future that it, the selected folder's
``FolderWatch`` (its ``waker``, called by the store's change feed, ``app.hub``) and the
notifier resolve, under the listener's ``Stopping.between_commands`` (the server's stop
moves its deadline to now, as for a session waiting for its next command). Thousands of
clients sit in IDLE at once, so what each holds while it waits is kept small
(``bench/imap.py`` measures it). IDLE may last ``imap.idle_max_duration`` (hours); a
client that sends something other than DONE gets BAD.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from congthu.imap.errors import Answered, bad
from congthu.imap.notify import NAMES_POLL
from congthu.imap.parser import Command
from congthu.imap.session import SHUTTING_DOWN, Result, Session, State
from congthu.net import Stopped
from congthu.store.changes import FolderWatch


async def idle(s: Session, cmd: Command) -> Result:
    await s.send(b"+ idling\r\n")
    await s.sync(expunge_ok=True)
    await s.conn.flush()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + s.app.settings.imap.idle_max_duration
    stopping = s.service.stopping if s.service is not None else None
    woken: asyncio.Future[None] = loop.create_future()

    def wake(*_args: object) -> None:
        if not woken.done():
            woken.set_result(None)

    read = asyncio.ensure_future(s.conn.read_line(None))
    read.add_done_callback(wake)
    told: asyncio.Task[Any] | None = None
    watch: FolderWatch | None = None
    try:
        while True:
            woken = loop.create_future()
            sel = s.selected
            if watch is not None and (sel is None or sel.watch is not watch):
                watch.waker = None
                watch = None
            if sel is not None and watch is None:
                watch = sel.watch
                watch.waker = wake
            if s.notifier is not None and told is None:
                # NOTIFY (RFC 5465): IDLE holds the session's turn, so it sends the
                # notifier's news itself.
                told = asyncio.ensure_future(s.notifier.event.wait())
                told.add_done_callback(wake)
            if read.done() or (watch is not None and watch.event.is_set()) or (told is not None and told.done()):
                wake()  # came while the last round was being answered
            remaining = deadline - loop.time()
            if remaining <= 0:
                await s.untagged("BYE Hết thời gian IDLE / IDLE too long")
                s.state = State.LOGOUT
                raise Answered()
            names = s.notifier is not None and s.notifier.spec.names_wanted
            within = min(remaining, NAMES_POLL) if names else remaining
            timed_out = False
            try:
                if stopping is not None:
                    async with stopping.between_commands(within):
                        await woken
                else:
                    async with asyncio.timeout(within):
                        await woken
            except TimeoutError:
                timed_out = True
            except Stopped:
                pass  # answered below
            if stopping is not None and stopping.is_set():
                # A stopping (draining) server ends IDLE at once with BYE, not at the
                # end of its grace.
                await s.untagged(SHUTTING_DOWN)
                s.state = State.LOGOUT
                raise Answered()
            if watch is not None and watch.event.is_set():
                await s.sync(expunge_ok=True)
                await s.conn.flush()
            if s.notifier is not None and ((told is not None and told.done()) or (names and timed_out)):
                told = None
                await s.notifier.emit(names=names and timed_out)
                await s.conn.flush()
            if read.done():
                line = read.result()
                break
    finally:
        if watch is not None and watch.waker is wake:
            watch.waker = None
        if not read.done():
            read.cancel()
            with contextlib.suppress(BaseException):
                await read
        if told is not None and not told.done():
            told.cancel()
    if line.strip().upper() != b"DONE":
        raise bad("IDLE chỉ kết thúc bằng DONE / expected DONE")
    return "IDLE kết thúc / terminated"


HANDLERS = {"IDLE": idle}
