"""AUTH (RFC 4954) through ``congthu.accounts.sasl``: SCRAM-SHA-256 always, PLAIN (RFC
4616) and LOGIN after TLS or on development loopback, so lockout and expiry are the
accounts' rules. Only the submission doors offer it; at most 5 attempts a connection
(``session.SMTPSession``'s call limit).

Replies (RFC 4954 section 6, RFC 5248): 235 2.7.0 success; 535 5.7.8 bad credentials;
535 5.7.0 an expired password (the text says where to change it, Điều 13.2); 454 4.7.0 a
locked account; 535 5.7.13 a disabled one; 538 5.7.11 a mechanism that needs TLS. A
continuation line longer than the command limit ends the session (500 5.5.6, then the
connection is closed: its rest cannot be told from commands).
"""

from __future__ import annotations

import asyncio
import base64
import binascii

from aiosmtpd.smtp import syntax

from congthu.accounts import AuthStatus, sasl
from congthu.log import event
from congthu.smtp.errors import syntax_error
from congthu.smtp.session import SMTPSession

__all__ = ["smtp_AUTH"]


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None


@syntax("AUTH <mechanism>")
async def smtp_AUTH(self: SMTPSession, arg: str) -> None:
    session = self.ct_session
    if self.door != "submission":
        await self.push("503 5.5.1 Cổng này không nhận đăng nhập, hãy dùng cổng 587 hoặc 465 / "
                        "no AUTH here, use the submission port 587 or 465")
        return
    if await self.check_helo_needed("EHLO"):
        return
    if session.authenticated:
        await self.push("503 5.5.1 Đã đăng nhập / already authenticated")
        return
    if self.envelope is not None and self.envelope.mail_from:
        await self.push("503 5.5.1 AUTH không được dùng trong giao dịch thư / AUTH not allowed during a mail transaction")
        return
    parts = (arg or "").split()
    if not parts or len(parts) > 2:
        await self.push(syntax_error("AUTH mechanism [initial-response]"))
        return
    mechanism = parts[0].upper()
    accounts = self.app.accounts
    secure = accounts.plaintext_allowed(session.secure, session.peer_ip)
    if mechanism not in sasl.mechanisms(secure=secure):
        if mechanism in sasl.ALL:
            await self.push("538 5.7.11 Cần mã hóa TLS trước khi gửi mật khẩu (STARTTLS) / "
                            "encryption required for this mechanism, use STARTTLS")
        else:
            await self.push("504 5.5.4 Cơ chế xác thực không hỗ trợ / unrecognised authentication mechanism")
        return
    server = sasl.SASLServer(accounts, mechanism, protocol="smtp",
                             client_ip=session.peer_ip, secure=session.secure or secure)
    initial: bytes | None = None
    if len(parts) == 2:
        initial = b"" if parts[1] == "=" else _b64(parts[1])
        if initial is None:
            await self.push("501 5.5.2 Base64 không hợp lệ / invalid base64")
            return
    step = await server.step(initial)
    while step.result is None:
        await self.push(b"334 " + base64.b64encode(step.challenge or b""))
        try:
            line = await self.reader.readuntil(b"\n")
        except asyncio.LimitOverrunError:
            await self.close_with("500 5.5.6 Dòng quá dài, đóng kết nối / authentication line too long, closing")
            return
        blob = line.strip()
        if blob == b"*":  # RFC 4954 section 4: the client cancels
            await self.push("501 5.7.0 Đã hủy xác thực / authentication cancelled")
            return
        data = _b64(blob.decode("ascii", "replace"))
        if data is None:
            await self.push("501 5.5.2 Base64 không hợp lệ / invalid base64")
            return
        step = await server.step(data)
    result = step.result
    assert result is not None
    if result.ok and result.mailbox is not None:
        session.authenticated = True
        session.mailbox = result.mailbox
        self.guard = self.app.hub.guard(result.mailbox.id, self.revoked)  # Điều 4.5
        # aiosmtpd's auth_data (its login_data is deprecated and logs a warning).
        session.auth_data = result.mailbox.address  # type: ignore[assignment]
        event("smtp.auth", door=self.door, peer=session.peer_ip, user=result.mailbox.address,
              mechanism=mechanism)
        await self.push("235 2.7.0 Đăng nhập thành công / authentication successful")
        return
    message = result.message or "Sai địa chỉ hoặc mật khẩu / invalid address or password"
    if result.status is AuthStatus.EXPIRED:
        # Điều 13.2: say where to change it (the text carries the web address).
        reply = f"535 5.7.0 {message}"
    elif result.status is AuthStatus.LOCKED:
        reply = f"454 4.7.0 {message}"
    elif result.status is AuthStatus.DISABLED:
        reply = f"535 5.7.13 {message}"
    elif result.code == "PRIVACYREQUIRED":
        reply = f"538 5.7.11 {message}"
    else:
        reply = f"535 5.7.8 {message}"
    await self.push(reply)
