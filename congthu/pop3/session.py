"""One POP3 session: the state machine of RFC 1939 with a command table per state.

AUTHORIZATION (section 4) -> TRANSACTION (section 5) -> UPDATE (section 6). Each table
maps a keyword to its handler; a keyword that exists in another state is answered
"not in this state", an unknown one "unknown command". Every answer to a client is a
line (``protocol.response``); nothing a client sends ends more than its own session.

Timeouts and limits are the settings of ``[pop3]`` (``app.settings.pop3``), read when
they apply. The maildrop lock (``congthu.pop3.lock``) is taken on entering TRANSACTION,
renewed by a task while the session lives, and released when it ends, however it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from congthu import metrics
from congthu.accounts import AuthResult, AuthStatus, sasl
from congthu.db import DatabaseUnavailable
from congthu.log import event
from congthu.pop3 import protocol
from congthu.pop3.lock import MaildropLock
from congthu.pop3.maildrop import Maildrop
from congthu.pop3.protocol import Command, CommandError, response
from congthu.store import NotFound, StoreError

if TYPE_CHECKING:
    from congthu.pop3.server import POP3Server

# Failed logins: wait this long times the number of failures before answering
# (slows password guessing), and close the connection after pop3.max_auth_failures.
FAILURE_DELAY = 0.5
# Consecutive unusable lines (unknown, malformed, too long) before we hang up.
MAX_ERRORS = 20
# Longest SASL continuation line (RFC 5034 section 4 exempts these from the 255 limit).
MAX_SASL_LINE = 16 * 1024
# A line without end longer than this is abuse: close.
MAX_DISCARD = 1024 * 1024

IMPLEMENTATION = "Cong-Thu"


class State(enum.Enum):
    AUTHORIZATION = "AUTHORIZATION"
    TRANSACTION = "TRANSACTION"
    UPDATE = "UPDATE"


class _Close(Exception):
    """End the session (after its last answer is written)."""


class _LineTooLong(Exception):
    pass


Handler = Callable[["Session", Command], Awaitable[None]]


class Session:
    def __init__(
        self, server: POP3Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
        *, tls: bool, stopping: asyncio.Event,
    ) -> None:
        self.server = server
        self.app = server.app
        self.reader, self.writer = reader, writer
        self.tls = tls
        self.stopping = stopping
        peer = writer.get_extra_info("peername")
        self.peer = str(peer[0]) if isinstance(peer, tuple) and peer else ""
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
        self._stop_waiter: asyncio.Task[bool] | None = None

    # -- the loop -----------------------------------------------------------------------

    async def run(self) -> None:
        try:
            await self.send(response(True, f"{self.app.settings.system.hostname} Công Thư POP3 "
                                           "sẵn sàng / ready"))
            while self.state is not State.UPDATE:
                max_line = self.app.settings.pop3.max_line_length
                try:
                    line = await self.read_line(max_line)
                except _LineTooLong:
                    await self.error(protocol.too_long(max_line))
                    continue
                if line is None:
                    return
                await self.dispatch(line)
        except _Close:
            pass
        finally:
            if self._stop_waiter is not None:
                self._stop_waiter.cancel()
            await self.release_lock()

    async def lock_lost(self) -> None:
        """The lease ran out unrenewed (the database was away) and another session took
        the maildrop: this one must not go on, nor enter UPDATE. Closes the session."""
        event("pop3.lock_lost", address=self.address, peer=self.peer)
        self.lock = None  # not ours to release any more
        await self.send(response(False, "Mất khóa hộp thư, hãy kết nối lại / maildrop lock "
                                        "lost, reconnect", "IN-USE"))
        raise _Close()

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

    async def dispatch(self, line: bytes) -> None:
        if self._keeper is not None and self._keeper.done():
            await self.lock_lost()
        try:
            command = protocol.parse_command(line, self.app.settings.pop3.max_line_length)
        except CommandError as exc:
            await self.error(str(exc))
            return
        handler = COMMANDS[self.state].get(command.verb)
        if handler is None:
            if any(command.verb in table for table in COMMANDS.values()):
                await self.error(f"Lệnh {command.verb} không dùng được lúc này / "
                                 f"not allowed in the {self.state.value} state")
            else:
                await self.error("Lệnh không rõ / unknown command")
            return
        errors = self.errors
        try:
            await handler(self, command)
        except DatabaseUnavailable:
            await self.send(response(False, "Hệ thống tạm thời không sẵn sàng, hãy thử lại sau / "
                                            "temporarily unavailable, try again later", "SYS/TEMP"))
        if self.errors == errors:
            self.errors = 0

    async def read_line(self, limit: int) -> bytes | None:
        """The next line, None at end of input, idle timeout or server stop.

        A line longer than ``limit`` is read to its end and thrown away (_LineTooLong).
        """
        if self._stop_waiter is None:
            self._stop_waiter = asyncio.ensure_future(self.stopping.wait())
        settings = self.app.settings.pop3
        before_login = self.state is State.AUTHORIZATION
        timeout = settings.login_timeout if before_login else settings.idle_timeout
        reading = asyncio.ensure_future(self._read_line(limit))
        done, _pending = await asyncio.wait(
            {reading, self._stop_waiter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED,
        )
        if reading not in done:
            reading.cancel()
            with contextlib.suppress(BaseException):
                await reading
            if self._stop_waiter in done:
                await self.send(response(False, "Máy chủ đang dừng / server shutting down", "SYS/TEMP"))
            elif before_login:
                # Our own timer before login (pop3.login_timeout): say why we hang up.
                event("pop3.login_timeout", peer=self.peer)
                await self.send(response(False, "Hết thời gian chờ đăng nhập / no login in time, "
                                                "closing"))
            # RFC 1939 section 3: on autologout the server closes without an answer and
            # without entering UPDATE, so nothing is deleted.
            else:
                event("pop3.idle_timeout", peer=self.peer, address=self.address)
            return None
        return reading.result()

    async def _read_line(self, limit: int) -> bytes | None:
        try:
            line = await self.reader.readuntil(b"\n")
        except asyncio.IncompleteReadError:
            return None  # the client went away, perhaps mid-line
        except asyncio.LimitOverrunError as exc:
            await self._discard(exc.consumed)
            raise _LineTooLong() from None
        if len(line) > limit:
            raise _LineTooLong()
        return line

    async def _discard(self, consumed: int) -> None:
        discarded = 0
        while True:
            await self.reader.readexactly(consumed)
            discarded += consumed
            if discarded > MAX_DISCARD:
                await self.send(response(False, "Dòng quá dài / line far too long"))
                raise _Close()
            try:
                await self.reader.readuntil(b"\n")
                return
            except asyncio.LimitOverrunError as exc:
                consumed = max(exc.consumed, 1)

    async def send(self, data: bytes) -> None:
        """Write and wait until the client has taken it; a client that reads too slowly
        (pop3.write_timeout) ends its session with TimeoutError."""
        self.writer.write(data)
        await asyncio.wait_for(self.writer.drain(), self.app.settings.pop3.write_timeout)

    async def error(self, text: str, code: str = "") -> None:
        """An -ERR for an unusable line; too many in a row and we hang up."""
        self.errors += 1
        if self.errors > MAX_ERRORS:
            await self.send(response(False, "Quá nhiều lỗi / too many errors, closing"))
            raise _Close()
        await self.send(response(False, text, code))

    # -- helpers ------------------------------------------------------------------------

    @property
    def plaintext_allowed(self) -> bool:
        """RFC 2595 section 4: passwords in the clear only inside TLS (or over loopback
        in development, ``system.dev_allow_plaintext_loopback``)."""
        return self.app.accounts.plaintext_allowed(self.tls, self.peer)

    @property
    def stls_available(self) -> bool:
        return not self.tls and self.app.tls.available

    def _drop(self) -> Maildrop:
        assert self.maildrop is not None
        return self.maildrop

    async def _message_arg(self, command: Command, *, required: bool = True) -> int | None:
        """The message number argument, or None after answering -ERR."""
        if not command.args:
            await self.error("Thiếu số thư / message number required")
            return None
        number = protocol.message_number(command.args[0])
        drop = self._drop()
        if number is None:
            await self.error("Số thư không hợp lệ / invalid message number")
            return None
        if not drop.exists(number):
            await self.send(response(False, f"Không có thư {number} / no such message"))
            return None
        if number in drop.deleted:
            await self.send(response(False, f"Thư {number} đã bị đánh dấu xóa / message {number} "
                                            "already deleted"))
            return None
        return number

    # -- AUTHORIZATION (RFC 1939 section 4) ---------------------------------------------

    async def cmd_capa(self, command: Command) -> None:
        """RFC 2449 section 5: the capabilities of the current state."""
        caps = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"]
        if self.state is State.AUTHORIZATION:
            if self.plaintext_allowed:
                caps.append("USER")  # RFC 2449 section 6.5
            # RFC 5034 section 3; SCRAM-SHA-256 also without TLS, PLAIN and LOGIN not.
            caps.append("SASL " + " ".join(sasl.mechanisms(secure=self.plaintext_allowed)))
            if self.stls_available:
                caps.append("STLS")  # RFC 2595 section 4
        caps.append(f"IMPLEMENTATION {IMPLEMENTATION}")  # RFC 2449 section 6.9
        await self.send(response(True, "Danh sách khả năng / capability list follows")
                        + "".join(f"{c}\r\n" for c in caps).encode() + b".\r\n")

    async def cmd_stls(self, command: Command) -> None:
        """RFC 2595 section 4: begin TLS; afterwards the session starts over."""
        if not self.stls_available:
            await self.send(response(False, "Đã dùng TLS hoặc không có TLS / TLS already active "
                                            "or unavailable"))
            return
        # Anything the client sent after STLS arrived in plaintext and must not be taken
        # as if it came through TLS (command injection, CVE-2011-0411).
        buffered = getattr(self.reader, "_buffer", None)
        if buffered:
            buffered.clear()
        # Stop reading before the +OK: the client's ClientHello must reach the TLS layer,
        # not the plaintext buffer, even if it arrives while we wait for the +OK to drain.
        self.writer.transport.pause_reading()  # type: ignore[attr-defined]
        await self.send(response(True, "Bắt đầu TLS / begin TLS negotiation"))
        await self.writer.start_tls(self.app.tls.server, ssl_handshake_timeout=30)
        self.tls = True
        self.user = None

    async def cmd_user(self, command: Command) -> None:
        """RFC 1939 section 7, USER; we say nothing about whether the mailbox exists."""
        if not self.plaintext_allowed:
            await self.send(response(False, "Hãy dùng STLS trước khi đăng nhập / use STLS before "
                                            "logging in", "AUTH"))
            return
        name = command.rest.strip()
        if not name:
            await self.error("Thiếu tên đăng nhập / user name required")
            return
        self.user = name
        await self.send(response(True, "Mời nhập mật khẩu / send PASS"))

    async def cmd_pass(self, command: Command) -> None:
        """RFC 1939 section 7, PASS: the whole rest of the line is the password."""
        if self.user is None:
            await self.error("Hãy gửi USER trước / USER first")
            return
        user, self.user = self.user, None
        await self.login(user, command.rest)

    async def cmd_auth(self, command: Command) -> None:
        """RFC 5034 section 4: AUTH mechanism [initial-response], through congthu.accounts.sasl."""
        mechanisms = sasl.mechanisms(secure=self.plaintext_allowed)
        if not command.args:
            # RFC 1734 (obsolete) listed the mechanisms; some clients still ask this way.
            await self.send(response(True, "Cơ chế SASL / SASL mechanisms")
                            + "".join(f"{m}\r\n" for m in mechanisms).encode() + b".\r\n")
            return
        mechanism = command.args[0].upper()
        if mechanism in sasl.ALL and mechanism not in mechanisms:
            await self.send(response(False, "Hãy dùng STLS trước khi đăng nhập / use STLS before "
                                            "logging in", "AUTH"))
            return
        if mechanism not in mechanisms:
            await self.send(response(False, "Cơ chế không hỗ trợ / unsupported mechanism"))
            return
        data: bytes | None = None
        if len(command.args) > 1:
            data = protocol.b64decode(command.args[1])
            if data is None:
                await self.send(response(False, "Base64 không hợp lệ / invalid base64"))
                return
        exchange = sasl.SASLServer(self.app.accounts, mechanism, protocol="pop3",
                                   client_ip=self.peer, secure=self.tls)
        step = await exchange.step(data)
        while step.result is None:
            assert step.challenge is not None
            data = await self.sasl_step(step.challenge)
            if data is None:
                return
            step = await exchange.step(data)
        result = step.result
        await self.concluded(result.mailbox.address if result.mailbox else f"AUTH {mechanism}", result)

    async def sasl_step(self, challenge: bytes) -> bytes | None:
        """Send a challenge (RFC 5034 section 4: "+ " base64) and read the response;
        None (after answering -ERR) if the client cancelled or sent garbage."""
        await self.send(b"+ " + protocol.b64encode(challenge).encode() + b"\r\n")
        try:
            line = await self.read_line(MAX_SASL_LINE)
        except _LineTooLong:
            await self.send(response(False, "Dòng quá dài / line too long"))
            return None
        if line is None:
            raise _Close()
        text = line.rstrip(b"\r\n").decode("ascii", "replace").strip()
        if text == "*":  # RFC 5034 section 4: the client cancels
            await self.send(response(False, "Đã hủy xác thực / authentication cancelled"))
            return None
        data = protocol.b64decode(text) if text else b""
        if data is None:
            await self.send(response(False, "Base64 không hợp lệ / invalid base64"))
        return data

    async def login(self, user: str, password: str) -> None:
        """USER/PASS through the one login check (congthu.accounts)."""
        result = await self.app.accounts.authenticate(
            user, password, protocol="pop3", client_ip=self.peer, secure=self.tls,
        )
        await self.concluded(user, result)

    async def concluded(self, user: str, result: AuthResult) -> None:
        """Answer a login (USER/PASS or AUTH): the maildrop, or -ERR with its code."""
        metrics.logins.labels("pop3", result.status.value).inc()
        event("pop3.login", address=user, peer=self.peer, result=result.status.value, tls=self.tls)
        if result.status is AuthStatus.OK:
            await self.enter_transaction(result)
        elif result.status is AuthStatus.FAILED:
            await self.login_failed(result)
        elif result.status is AuthStatus.EXPIRED:
            # RFC 5530's [EXPIRED] is IMAP's; POP3 has only [AUTH] (RFC 3206 section 4).
            # The text says where to change the password.
            await self.send(response(False, result.message, "AUTH"))
        elif result.status is AuthStatus.LOCKED:
            await self.send(response(False, result.message or "Tài khoản tạm khóa do đăng nhập sai "
                                     "nhiều lần, hãy thử lại sau / temporarily locked, try later",
                                     "AUTH"))
        else:  # DISABLED: only an administrator can change that (RFC 3206 section 5)
            await self.send(response(False, result.message or "Hộp thư đã bị khóa / mailbox disabled",
                                     "SYS/PERM"))

    async def login_failed(self, result: AuthResult) -> None:
        """RFC 3206 section 4 [AUTH]. The answer waits (longer each time, unless accounts
        already held it back), and the third failure closes the connection."""
        self.failures += 1
        if result.delay < FAILURE_DELAY * self.failures:
            await asyncio.sleep(FAILURE_DELAY * self.failures - result.delay)
        await self.send(response(False, result.message or "Sai địa chỉ hoặc mật khẩu / invalid "
                                                          "address or password", "AUTH"))
        if self.failures >= self.app.settings.pop3.max_auth_failures:
            raise _Close()

    async def enter_transaction(self, result: AuthResult) -> None:
        assert result.mailbox is not None
        mailbox_id = result.mailbox.id
        # RFC 1939 sections 4 and 8, RFC 2449 section 8.1.1 [IN-USE]: one session per
        # maildrop, on every node (congthu.pop3.lock).
        lock = await self.server.locks.acquire(mailbox_id)
        if lock is None:
            event("pop3.in_use", address=result.mailbox.address, peer=self.peer)
            await self.send(response(False, "Hộp thư đang được một phiên POP3 khác dùng / "
                                            "maildrop already locked", "IN-USE"))
            return
        self.lock, self._keeper = lock, asyncio.ensure_future(lock.keep())
        try:
            self.maildrop = await Maildrop.open(self.app.store, mailbox_id)
        except DatabaseUnavailable:
            await self.release_lock()
            raise
        except StoreError as exc:
            await self.release_lock()
            await self.send(response(False, str(exc), "SYS/PERM"))
            return
        self.mailbox_id, self.address = mailbox_id, result.mailbox.address
        self.state = State.TRANSACTION
        count, size = self.maildrop.stat()
        await self.send(response(True, f"Hộp thư có {count} thư ({size} byte) / "
                                       f"maildrop has {count} messages ({size} octets)"))

    async def cmd_quit(self, command: Command) -> None:
        """RFC 1939 section 6 (in TRANSACTION: UPDATE) and section 4 (in AUTHORIZATION)."""
        if self.state is State.AUTHORIZATION:
            self.state = State.UPDATE
            await self.send(response(True, "Tạm biệt / bye"))
            return
        # Deletions only under the lock: renewing it proves it is still ours.
        if self.lock is None or not await self.lock.renew():
            await self.lock_lost()
        self.state = State.UPDATE
        drop = self._drop()
        try:
            removed = await drop.commit()
        except (DatabaseUnavailable, StoreError) as exc:
            event("pop3.update_failed", address=self.address, error=str(exc))
            await self.release_lock()
            await self.send(response(False, "Chưa xóa được các thư đã đánh dấu / some deleted "
                                            "messages not removed", "SYS/TEMP"))
            return
        event("pop3.quit", address=self.address, deleted=removed, retrieved=len(drop.retrieved))
        # The lock goes before the answer (RFC 1939 section 6 has it after): a client that
        # logs in again as soon as it reads +OK must not find its own session's lock.
        await self.release_lock()
        await self.send(response(True, f"Tạm biệt, đã xóa {removed} thư / bye, {removed} "
                                       "messages deleted"))

    # -- TRANSACTION (RFC 1939 section 5) -----------------------------------------------

    async def cmd_stat(self, command: Command) -> None:
        """RFC 1939 section 5, STAT: "+OK count octets"."""
        count, size = self._drop().stat()
        await self.send(response(True, f"{count} {size}"))

    async def cmd_list(self, command: Command) -> None:
        """RFC 1939 section 5, LIST [msg]."""
        drop = self._drop()
        if command.args:
            number = await self._message_arg(command)
            if number is not None:
                message = drop.get(number)
                assert message is not None
                await self.send(response(True, f"{number} {message.size}"))
            return
        count, size = drop.stat()
        lines = "".join(f"{n} {m.size}\r\n" for n, m in drop.live())
        await self.send(response(True, f"{count} thư ({size} byte) / {count} messages "
                                       f"({size} octets)") + lines.encode() + b".\r\n")

    async def cmd_uidl(self, command: Command) -> None:
        """RFC 1939 section 7, UIDL [msg]."""
        drop = self._drop()
        if command.args:
            number = await self._message_arg(command)
            if number is not None:
                message = drop.get(number)
                assert message is not None
                await self.send(response(True, f"{number} {drop.unique_id(message)}"))
            return
        lines = "".join(f"{n} {drop.unique_id(m)}\r\n" for n, m in drop.live())
        await self.send(response(True, "Danh sách mã thư / unique-id listing follows")
                        + lines.encode() + b".\r\n")

    async def _send_message(self, number: int, lines: int | None) -> None:
        drop = self._drop()
        message = drop.get(number)
        assert message is not None
        try:
            raw = await drop.read(message)
        except NotFound:
            await self.send(response(False, f"Thư {number} đã bị xóa ở phiên khác / message "
                                            "removed by another session"))
            return
        data = protocol.crlf_lines(raw)
        if lines is not None:
            data = protocol.top(data, lines)
        data = protocol.dot_stuff(data)
        self.writer.write(response(True, f"{message.size} byte / octets"))
        self.writer.write(data)
        await self.send(b".\r\n")
        if lines is None:
            drop.retrieved.add(number)

    async def cmd_retr(self, command: Command) -> None:
        """RFC 1939 section 5, RETR msg: the message exactly as stored, byte-stuffed."""
        number = await self._message_arg(command)
        if number is not None:
            await self._send_message(number, None)

    async def cmd_top(self, command: Command) -> None:
        """RFC 1939 section 7, TOP msg n: the header and the first n body lines."""
        if len(command.args) != 2:
            await self.error("Cú pháp: TOP số-thư số-dòng / syntax: TOP msg n")
            return
        lines = protocol.line_count(command.args[1])
        if lines is None:
            await self.error("Số dòng không hợp lệ / invalid line count")
            return
        number = await self._message_arg(command)
        if number is not None:
            await self._send_message(number, lines)

    async def cmd_dele(self, command: Command) -> None:
        """RFC 1939 section 5, DELE msg: mark; removed at QUIT."""
        number = await self._message_arg(command)
        if number is not None:
            self._drop().deleted.add(number)
            await self.send(response(True, f"Đã đánh dấu xóa thư {number} / message {number} "
                                           "deleted"))

    async def cmd_noop(self, command: Command) -> None:
        """RFC 1939 section 5, NOOP."""
        await self.send(response(True))

    async def cmd_rset(self, command: Command) -> None:
        """RFC 1939 section 5, RSET: unmark every message."""
        drop = self._drop()
        drop.reset()
        count, size = drop.stat()
        await self.send(response(True, f"Hộp thư có {count} thư ({size} byte) / "
                                       f"maildrop has {count} messages ({size} octets)"))


# One table per state (RFC 1939 sections 4-6; CAPA in both, RFC 2449 section 5).
COMMANDS: dict[State, dict[str, Handler]] = {
    State.AUTHORIZATION: {
        "CAPA": Session.cmd_capa,
        "STLS": Session.cmd_stls,
        "USER": Session.cmd_user,
        "PASS": Session.cmd_pass,
        "AUTH": Session.cmd_auth,
        "QUIT": Session.cmd_quit,
    },
    State.TRANSACTION: {
        "CAPA": Session.cmd_capa,
        "STAT": Session.cmd_stat,
        "LIST": Session.cmd_list,
        "UIDL": Session.cmd_uidl,
        "RETR": Session.cmd_retr,
        "TOP": Session.cmd_top,
        "DELE": Session.cmd_dele,
        "NOOP": Session.cmd_noop,
        "RSET": Session.cmd_rset,
        "QUIT": Session.cmd_quit,
    },
    State.UPDATE: {},
}

