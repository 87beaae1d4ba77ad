"""IDLE (RFC 2177, RFC 9051 section 6.3.13): the server pushes EXISTS, EXPUNGE (or
VANISHED) and FETCH FLAGS as soon as the selected mailbox changes, until the client
sends DONE. With NOTIFY (RFC 5465) set, IDLE also sends the notifier's news (other
mailboxes' STATUS, LIST for names) as they come.

The wait costs no polling: the session waits on its ``FolderWatch`` (woken by the
store's change feed, ``app.hub``) and on the client's next line at once. IDLE may last
``imap.idle_max_duration`` (hours); a client that sends something other than DONE gets BAD.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from congthu.imap.errors import Answered, bad
from congthu.imap.notify import NAMES_POLL
from congthu.imap.parser import Command
from congthu.imap.session import SHUTTING_DOWN, Result, Session, State


async def idle(s: Session, cmd: Command) -> Result:
    await s.send(b"+ idling\r\n")
    await s.sync(expunge_ok=True)
    await s.conn.flush()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + s.app.settings.imap.idle_max_duration
    read = asyncio.ensure_future(s.conn.read_line(None))
    wake: asyncio.Task[Any] | None = None
    told: asyncio.Task[Any] | None = None
    # A stopping (draining) server ends IDLE at once with BYE, not at the end of its grace.
    stopping = asyncio.ensure_future(s.service.stopping.wait()) if s.service is not None else None
    try:
        while True:
            waiting: set[asyncio.Future[object]] = {read}  # type: ignore[arg-type]
            if stopping is not None:
                waiting.add(stopping)  # type: ignore[arg-type]
            sel = s.selected
            if sel is not None:
                wake = asyncio.ensure_future(sel.watch.event.wait())
                waiting.add(wake)  # type: ignore[arg-type]
            if s.notifier is not None:
                # NOTIFY (RFC 5465): IDLE holds the session's turn, so it sends the
                # notifier's news itself.
                told = asyncio.ensure_future(s.notifier.event.wait())
                waiting.add(told)  # type: ignore[arg-type]
            remaining = deadline - loop.time()
            if remaining <= 0:
                await s.untagged("BYE Hết thời gian IDLE / IDLE too long")
                s.state = State.LOGOUT
                raise Answered()
            names = s.notifier is not None and s.notifier.spec.names_wanted
            done, _pending = await asyncio.wait(waiting, timeout=min(remaining, NAMES_POLL) if names else remaining,
                                                return_when=asyncio.FIRST_COMPLETED)
            if wake is not None and not wake.done():
                wake.cancel()
            if told is not None and not told.done():
                told.cancel()
            if s.service is not None and s.service.stopping.is_set():
                await s.untagged(SHUTTING_DOWN)
                s.state = State.LOGOUT
                raise Answered()
            if wake is not None and wake in done:
                await s.sync(expunge_ok=True)
                await s.conn.flush()
            if s.notifier is not None and (told in done or (names and not done)):
                await s.notifier.emit(names=names and not done)
                await s.conn.flush()
            if read in done:
                line = read.result()
                break
    finally:
        if not read.done():
            read.cancel()
            with contextlib.suppress(BaseException):
                await read
        if wake is not None and not wake.done():
            wake.cancel()
        if told is not None and not told.done():
            told.cancel()
        if stopping is not None and not stopping.done():
            stopping.cancel()
    if line.strip().upper() != b"DONE":
        raise bad("IDLE chỉ kết thúc bằng DONE / expected DONE")
    return "IDLE kết thúc / terminated"


HANDLERS = {"IDLE": idle}
