"""AUTHORIZATION state (RFC 1939 section 4): CAPA, STLS, USER, PASS, AUTH.

Every login (USER/PASS and AUTH) goes through ``congthu.accounts`` (last access for
Điều 4.4, expiry, lockout, audit, the login metric); on top of that a session answers a
failed login after a growing delay and hangs up after ``pop3.max_auth_failures``.
A login that succeeds takes the maildrop lock and enters TRANSACTION.
"""

from __future__ import annotations

import asyncio

from congthu.accounts import AuthResult, AuthStatus, sasl
from congthu.db import DatabaseUnavailable
from congthu.log import event
from congthu.pop3 import errors
from congthu.pop3.errors import LineTooLong, SessionClosed
from congthu.pop3.maildrop import Maildrop
from congthu.pop3.session import Session, State
from congthu.pop3.wire import Command, b64decode, b64encode, response
from congthu.store import StoreError

# Failed logins: wait this long times the number of failures before answering
# (slows password guessing), and close the connection after pop3.max_auth_failures.
FAILURE_DELAY = 0.5
# Longest SASL continuation line (RFC 5034 section 4 exempts these from the 255 limit).
MAX_SASL_LINE = 16 * 1024

IMPLEMENTATION = "Cong-Thu"


async def capa(s: Session, command: Command) -> None:
    """RFC 2449 section 5: the capabilities of the current state (also in TRANSACTION)."""
    caps = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"]
    if s.state is State.AUTHORIZATION:
        if s.plaintext_allowed:
            caps.append("USER")  # RFC 2449 section 6.5
        # RFC 5034 section 3; SCRAM-SHA-256 also without TLS, PLAIN and LOGIN not.
        caps.append("SASL " + " ".join(sasl.mechanisms(secure=s.plaintext_allowed)))
        if s.stls_available:
            caps.append("STLS")  # RFC 2595 section 4
    caps.append(f"IMPLEMENTATION {IMPLEMENTATION}")  # RFC 2449 section 6.9
    await s.send(response(True, "Danh sách khả năng / capability list follows")
                 + "".join(f"{c}\r\n" for c in caps).encode() + b".\r\n")


async def stls(s: Session, command: Command) -> None:
    """RFC 2595 section 4: begin TLS; afterwards the session starts over."""
    if not s.stls_available:
        await s.reply(False, "Đã dùng TLS hoặc không có TLS / TLS already active or unavailable")
        return
    await s.wire.start_tls(s.app.tls.server, response(True, "Bắt đầu TLS / begin TLS negotiation"))
    s.tls = True
    s.user = None


async def user(s: Session, command: Command) -> None:
    """RFC 1939 section 7, USER; we say nothing about whether the mailbox exists."""
    if not s.plaintext_allowed:
        await s.reply(False, *errors.STLS_FIRST)
        return
    name = command.rest.strip()
    if not name:
        await s.error("Thiếu tên đăng nhập / user name required")
        return
    s.user = name
    await s.reply(True, "Mời nhập mật khẩu / send PASS")


async def pass_(s: Session, command: Command) -> None:
    """RFC 1939 section 7, PASS: the whole rest of the line is the password."""
    if s.user is None:
        await s.error("Hãy gửi USER trước / USER first")
        return
    name, s.user = s.user, None
    result = await s.app.accounts.authenticate(
        name, command.rest, protocol="pop3", client_ip=s.peer, secure=s.tls,
    )
    await concluded(s, name, result)


async def auth(s: Session, command: Command) -> None:
    """RFC 5034 section 4: AUTH mechanism [initial-response], through congthu.accounts.sasl."""
    mechanisms = sasl.mechanisms(secure=s.plaintext_allowed)
    if not command.args:
        # RFC 1734 (obsolete) listed the mechanisms; some clients still ask this way.
        await s.send(response(True, "Cơ chế SASL / SASL mechanisms")
                     + "".join(f"{m}\r\n" for m in mechanisms).encode() + b".\r\n")
        return
    mechanism = command.args[0].upper()
    if mechanism in sasl.ALL and mechanism not in mechanisms:
        await s.reply(False, *errors.STLS_FIRST)
        return
    if mechanism not in mechanisms:
        await s.reply(False, "Cơ chế không hỗ trợ / unsupported mechanism")
        return
    data: bytes | None = None
    if len(command.args) > 1:
        data = b64decode(command.args[1])
        if data is None:
            await s.reply(False, "Base64 không hợp lệ / invalid base64")
            return
    exchange = sasl.SASLServer(s.app.accounts, mechanism, protocol="pop3",
                               client_ip=s.peer, secure=s.tls)
    step = await exchange.step(data)
    while step.result is None:
        assert step.challenge is not None
        data = await _sasl_step(s, step.challenge)
        if data is None:
            return
        step = await exchange.step(data)
    result = step.result
    await concluded(s, result.mailbox.address if result.mailbox else f"AUTH {mechanism}", result)


async def _sasl_step(s: Session, challenge: bytes) -> bytes | None:
    """Send a challenge (RFC 5034 section 4: "+ " base64) and read the response;
    None (after answering -ERR) if the client cancelled or sent garbage."""
    await s.send(b"+ " + b64encode(challenge).encode() + b"\r\n")
    try:
        line = await s.read_line(MAX_SASL_LINE)
    except LineTooLong:
        await s.reply(False, "Dòng quá dài / line too long")
        return None
    if line is None:
        raise SessionClosed()
    text = line.rstrip(b"\r\n").decode("ascii", "replace").strip()
    if text == "*":  # RFC 5034 section 4: the client cancels
        await s.reply(False, "Đã hủy xác thực / authentication cancelled")
        return None
    data = b64decode(text) if text else b""
    if data is None:
        await s.reply(False, "Base64 không hợp lệ / invalid base64")
    return data


async def concluded(s: Session, name: str, result: AuthResult) -> None:
    """Answer a login (USER/PASS or AUTH): the maildrop, or -ERR with its code. The
    login was counted for /metrics by congthu.accounts, once for every door."""
    event("pop3.login", address=name, peer=s.peer, result=result.status.value, tls=s.tls)
    if result.status is AuthStatus.OK:
        await _enter_transaction(s, result)
    elif result.status is AuthStatus.FAILED:
        await _login_failed(s, result)
    elif result.status is AuthStatus.EXPIRED:
        # RFC 5530's [EXPIRED] is IMAP's; POP3 has only [AUTH] (RFC 3206 section 4).
        # The text says where to change the password.
        await s.reply(False, result.message, "AUTH")
    elif result.status is AuthStatus.LOCKED:
        await s.reply(False, result.message or "Tài khoản tạm khóa do đăng nhập sai nhiều lần, "
                      "hãy thử lại sau / temporarily locked, try later", "AUTH")
    else:  # DISABLED: only an administrator can change that (RFC 3206 section 5)
        await s.reply(False, result.message or "Hộp thư đã bị khóa / mailbox disabled", "SYS/PERM")


async def _login_failed(s: Session, result: AuthResult) -> None:
    """RFC 3206 section 4 [AUTH]. The answer waits (longer each time, unless accounts
    already held it back), and the last allowed failure closes the connection."""
    s.failures += 1
    if result.delay < FAILURE_DELAY * s.failures:
        await asyncio.sleep(FAILURE_DELAY * s.failures - result.delay)
    await s.reply(False, result.message or "Sai địa chỉ hoặc mật khẩu / invalid address or "
                                           "password", "AUTH")
    if s.failures >= s.app.settings.pop3.max_auth_failures:
        raise SessionClosed()


async def _enter_transaction(s: Session, result: AuthResult) -> None:
    assert result.mailbox is not None
    mailbox_id = result.mailbox.id
    # RFC 1939 sections 4 and 8, RFC 2449 section 8.1.1 [IN-USE]: one session per
    # maildrop, on every node (congthu.pop3.lock).
    lock = await s.locks.acquire(mailbox_id)
    if lock is None:
        event("pop3.in_use", address=result.mailbox.address, peer=s.peer)
        await s.reply(False, *errors.IN_USE)
        return
    s.hold(lock)
    try:
        s.maildrop = await Maildrop.open(s.app.store, mailbox_id)
    except DatabaseUnavailable:
        await s.release_lock()
        raise
    except StoreError as exc:
        await s.release_lock()
        await s.reply(False, str(exc), "SYS/PERM")
        return
    s.mailbox_id, s.address = mailbox_id, result.mailbox.address
    s.state = State.TRANSACTION
    count, size = s.maildrop.stat()
    await s.reply(True, f"Hộp thư có {count} thư ({size} byte) / maildrop has {count} messages "
                        f"({size} octets)")
