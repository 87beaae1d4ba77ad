"""Commands of the not-authenticated state: STARTTLS, LOGIN, AUTHENTICATE (RFC 9051
sections 6.2.1-6.2.3), with SASL-IR (RFC 4959) and the response codes of RFC 5530.

Every login goes through ``app.accounts.authenticate(..., protocol="imap")``, the one
check of every door: it records the access (Điều 4.4), slows down and locks guessing,
and refuses an expired or must-change password with [EXPIRED] and where to change it
(Điều 13.2). A password login (LOGIN, AUTHENTICATE PLAIN or LOGIN) repeated by one
account from one address within ``imap.login_record_seconds`` is checked in full but
written as a count on the next record (``congthu.accounts.recent``; failures are always
written at once). Passwords travel only over TLS (LOGINDISABLED before STARTTLS), except over
loopback with the development setting ``system.dev_allow_plaintext_loopback``.
SASL mechanisms come from ``congthu.accounts.sasl``: SCRAM-SHA-256 (RFC 7677, offered
with and without TLS), PLAIN (RFC 4616) and LOGIN (only where plaintext is allowed).
"""

from __future__ import annotations

import asyncio
import base64
import binascii

from congthu.accounts import AuthResult, AuthStatus, sasl
from congthu.imap.errors import Answered, bad, no
from congthu.imap.parser import Command
from congthu.imap.session import Result, Session, State
from congthu.log import event


async def starttls(s: Session, cmd: Command) -> Result:
    """RFC 9051 section 6.2.1. Any command the client pipelined after STARTTLS is
    dropped with the connection (no plaintext injection into the TLS session)."""
    if s.conn.tls:
        raise bad("Đã dùng TLS / TLS already active")
    if not s.app.tls.available:
        raise no("TLS không có sẵn / TLS not available")
    if s.conn.buffered_input():
        s.state = State.LOGOUT
        raise bad("Dữ liệu gửi trước khi bắt tay TLS / data sent before the TLS handshake")
    # Stop reading before the OK: the client's ClientHello must reach the TLS layer, not
    # the plaintext buffer (it may arrive before the handshake is set up).
    s.conn.writer.transport.pause_reading()  # type: ignore[attr-defined]
    await s.send(f"{cmd.tag} OK Bắt đầu TLS / begin TLS negotiation now\r\n".encode())
    await s.conn.start_tls(s.app.tls.server)
    raise Answered()


async def login(s: Session, cmd: Command) -> Result:
    """RFC 9051 section 6.2.3."""
    if not s.plaintext_allowed():
        raise no("Hãy dùng STARTTLS trước khi đăng nhập / use STARTTLS before LOGIN", "PRIVACYREQUIRED")
    return await _authenticate(s, cmd.args["user"], cmd.args["password"], "LOGIN")


async def _read_response(s: Session, challenge: bytes) -> bytes:
    """One SASL round: send "+ challenge", read the client's base64 line (RFC 9051 6.2.2)."""
    await s.send(b"+ " + base64.b64encode(challenge) + b"\r\n")
    await s.conn.flush()
    line = await s.conn.read_line(s.app.settings.imap.literal_timeout)
    if line.strip() == b"*":
        raise bad("Đã hủy xác thực / authentication cancelled")
    return _b64(line.strip())


def _b64(data: bytes | str) -> bytes:
    if data in ("=", b"="):
        return b""
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise bad("Dữ liệu base64 không hợp lệ / invalid base64") from None


async def authenticate(s: Session, cmd: Command) -> Result:
    """RFC 9051 section 6.2.2 with RFC 4959 SASL-IR, through ``congthu.accounts.sasl``."""
    mech = cmd.args["mechanism"]
    initial = cmd.args["initial"]
    if mech not in sasl.mechanisms(secure=s.plaintext_allowed()):
        if mech in sasl.ALL:
            raise no("Hãy dùng STARTTLS trước / use STARTTLS first", "PRIVACYREQUIRED")
        raise no(f"Cơ chế không hỗ trợ / unsupported mechanism {mech[:30]}", "CANNOT")
    server = sasl.SASLServer(s.app.accounts, mech, protocol="imap", client_ip=s.conn.peer, secure=s.conn.tls,
                             record_within=s.app.settings.imap.login_record_seconds)
    try:
        step = await server.step(_b64(initial) if initial is not None else None)
        while step.result is None:
            step = await server.step(await _read_response(s, step.challenge or b""))
    except TimeoutError:
        raise bad("Hết thời gian chờ / timed out") from None
    return await _conclude(s, step.result, f"AUTHENTICATE {mech}")


async def _authenticate(s: Session, user: str, password: str, how: str) -> Result:
    result = await s.app.accounts.authenticate(
        user, password, protocol="imap", client_ip=s.conn.peer, secure=s.conn.tls,
        record_within=s.app.settings.imap.login_record_seconds)
    return await _conclude(s, result, how)


async def _conclude(s: Session, result: AuthResult, how: str) -> Result:
    if result.status is AuthStatus.OK and result.mailbox is not None:
        s.login(result.mailbox)
        event("imap.login", user=result.mailbox.address, peer=s.conn.peer, how=how, tls=s.conn.tls)
        return ("CAPABILITY " + " ".join(s.capabilities()), "Đăng nhập thành công / logged in")
    message = result.message or "Đăng nhập thất bại / login failed"
    code = result.code or {
        AuthStatus.EXPIRED: "EXPIRED", AuthStatus.LOCKED: "UNAVAILABLE",
        AuthStatus.DISABLED: "CONTACTADMIN",
    }.get(result.status, "AUTHENTICATIONFAILED")
    if result.status is AuthStatus.FAILED:
        s.auth_failures += 1
        if not result.delay:
            await asyncio.sleep(min(0.25 * s.auth_failures, 2.0))
        if s.auth_failures >= s.app.settings.imap.max_auth_failures:
            await s.untagged("BYE Quá nhiều lần đăng nhập sai / too many failed logins")
            s.state = State.LOGOUT
    raise no(message, code)


HANDLERS = {"STARTTLS": starttls, "LOGIN": login, "AUTHENTICATE": authenticate}
