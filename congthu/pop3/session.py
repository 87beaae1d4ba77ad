"""One POP3 session: its state and its loop (RFC 1939).

AUTHORIZATION (section 4) -> TRANSACTION (section 5) -> UPDATE (section 6). The session
reads a line, parses it and looks the keyword up in the command table of its state,
which it is given (``congthu.pop3.commands``; it imports no handler). A keyword that
exists in another state is answered "not in this state", an unknown one "unknown
command". Every answer to a client is a line (``wire.response``); nothing a client
sends ends more than its own session.

Timeouts and limits are the settings of ``[pop3]`` (``app.settings.pop3``), read when
they apply. The maildrop lock (``congthu.pop3.lock``) is taken on entering TRANSACTION,
renewed by a task while the session lives, and released when it ends, however it ends.

When the server stops (the node drains), a session waiting for its next command is
closed at once, and one running a command after it; neither enters UPDATE, so nothing
is deleted. RFC 1939 has no unsolicited response; like Dovecot we still write one line,
``-ERR [SYS/TEMP]`` (RFC 2449 section 8.1.2), before closing, which a client reads as the
answer to whatever it sends next and which tells it to come back later.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from congthu.db import DatabaseUnavailable
from congthu.log import event
from congthu.pop3 import errors
from congthu.pop3.errors import CommandError, LineTooLong, SessionClosed
from congthu.pop3.lock import MaildropLock, MaildropLocks
from congthu.pop3.maildrop import Maildrop
from congthu.pop3.wire import Command, Ended, Wire, parse_command, response
from congthu.store.changes import MailboxGuard

if TYPE_CHECKING:
    from congthu.app import App

# Consecutive unusable lines (unknown, malformed, too long) before we hang up.
MAX_ERRORS = 20


class State(enum.Enum):
    AUTHORIZATION = "AUTHORIZATION"
    TRANSACTION = "TRANSACTION"
    UPDATE = "UPDATE"


Handler = Callable[["Session", Command], Awaitable[None]]
# The command table: per state, keyword -> handler.
Commands = Mapping[State, Mapping[str, Handler]]


class Session:
    def __init__(self, app: App, locks: MaildropLocks, commands: Commands, wire: Wire, *,
                 tls: bool) -> None:
        self.app = app
        self.locks = locks
        self.commands = commands
        self.wire = wire
        self.tls = tls
        self.peer = wire.peer
        self.state = State.AUTHORIZATION
        self.user: str | None = None  # from USER, waiting for PASS
        self.failures = 0
        self.errors = 0
        self.mailbox_id: int | None = None
        self.address = ""
        self.maildrop: Maildrop | None = None
        # The maildrop lock while in TRANSACTION, and the task that renews its lease
        # (it ends only if the lock was lost).
        self.lock: MaildropLock | None = None
        self._keeper: asyncio.Task[None] | None = None
        # Ends the connection if the mailbox is revoked or disabled (Điều 4.5).
        self._guard: MailboxGuard | None = None

    # -- the loop -----------------------------------------------------------------------

    async def run(self) -> None:
        try:
            await self.reply(True, f"{self.app.settings.system.hostname} Công Thư POP3 "
                                   "sẵn sàng / ready")
            while self.state is not State.UPDATE:
                max_line = self.app.settings.pop3.max_line_length
                try:
                    line = await self.read_line(max_line)
                except LineTooLong:
                    await self.error(errors.too_long(max_line))
                    continue
                if line is None:
                    return
                await self.dispatch(line)
        except SessionClosed:
            pass
        finally:
            if self._guard is not None:
                self._guard.close()
            await self.release_lock()

    async def dispatch(self, line: bytes) -> None:
        if self._keeper is not None and self._keeper.done():
            await self.lock_lost()
        try:
            command = parse_command(line, self.app.settings.pop3.max_line_length)
        except CommandError as exc:
            await self.error(str(exc))
            return
        handler = self.commands[self.state].get(command.verb)
        if handler is None:
            if any(command.verb in table for table in self.commands.values()):
                await self.error(f"Lệnh {command.verb} không dùng được lúc này / "
                                 f"not allowed in the {self.state.value} state")
            else:
                await self.error(*errors.UNKNOWN_COMMAND)
            return
        count = self.errors
        try:
            await handler(self, command)
        except DatabaseUnavailable:
            await self.reply(False, *errors.TEMPORARILY_UNAVAILABLE)
        if self.errors == count:
            self.errors = 0

    async def read_line(self, limit: int) -> bytes | None:
        """The next line, None at end of input, idle timeout or server stop (after
        saying why, where the RFC lets us). A line longer than ``limit`` raises
        LineTooLong once it has been read past."""
        settings = self.app.settings.pop3
        before_login = self.state is State.AUTHORIZATION
        timeout = settings.login_timeout if before_login else settings.idle_timeout
        line = await self.wire.read_line(limit, timeout)
        if isinstance(line, bytes):
            return line
        if line is Ended.STOPPING:
            await self.reply(False, *errors.SHUTTING_DOWN)
        elif line is Ended.TIMEOUT and before_login:
            # Our own timer before login (pop3.login_timeout): say why we hang up.
            event("pop3.login_timeout", peer=self.peer)
            await self.reply(False, *errors.LOGIN_TIMEOUT)
        elif line is Ended.TIMEOUT:
            # RFC 1939 section 3: on autologout the server closes without an answer and
            # without entering UPDATE, so nothing is deleted.
            event("pop3.idle_timeout", peer=self.peer, address=self.address)
        return None

    # -- answers ------------------------------------------------------------------------

    async def send(self, data: bytes) -> None:
        await self.wire.send(data)

    async def reply(self, ok: bool, text: str = "", code: str = "") -> None:
        await self.wire.send(response(ok, text, code))

    async def error(self, text: str, code: str = "") -> None:
        """An -ERR for an unusable line; too many in a row and we hang up."""
        self.errors += 1
        if self.errors > MAX_ERRORS:
            await self.reply(False, *errors.TOO_MANY_ERRORS)
            raise SessionClosed()
        await self.reply(False, text, code)

    # -- what handlers share ------------------------------------------------------------

    @property
    def plaintext_allowed(self) -> bool:
        """RFC 2595 section 4: passwords in the clear only inside TLS (or over loopback
        in development, ``system.dev_allow_plaintext_loopback``)."""
        return self.app.accounts.plaintext_allowed(self.tls, self.peer)

    @property
    def stls_available(self) -> bool:
        return not self.tls and self.app.tls.available

    def drop(self) -> Maildrop:
        """The maildrop (in TRANSACTION)."""
        assert self.maildrop is not None
        return self.maildrop

    def hold(self, lock: MaildropLock) -> None:
        """Keep the maildrop lock: renew its lease until the session ends; and end the
        session if the mailbox is revoked or disabled meanwhile (Điều 4.5)."""
        self.lock, self._keeper = lock, asyncio.ensure_future(lock.keep())
        if self._guard is None:
            self._guard = self.app.hub.guard(lock.mailbox_id, self.revoked)

    def revoked(self) -> None:
        """The mailbox was revoked: close now, without UPDATE (nothing is deleted)."""
        event("pop3.revoked", address=self.address, peer=self.peer)
        with contextlib.suppress(Exception):
            self.wire.writer.write(response(False, "Hộp thư đã bị thu hồi / mailbox revoked"))
            self.wire.writer.close()

    async def lock_lost(self) -> None:
        """The lease ran out unrenewed (the database was away) and another session took
        the maildrop: this one must not go on, nor enter UPDATE. Closes the session."""
        event("pop3.lock_lost", address=self.address, peer=self.peer)
        self.lock = None  # not ours to release any more
        await self.reply(False, *errors.LOCK_LOST)
        raise SessionClosed()

    async def release_lock(self) -> None:
        """Stop renewing the maildrop lock and give it back. If the database does not
        answer now, the lease runs out by itself (``congthu.pop3.lock``)."""
        lock, keeper, self.lock, self._keeper = self.lock, self._keeper, None, None
        if keeper is not None:
            keeper.cancel()
            with contextlib.suppress(BaseException):
                await keeper
        if lock is not None:
            try:
                await lock.release()
            except Exception as exc:
                event("pop3.unlock_failed", address=self.address, error=repr(exc))
