"""The SMTP server protocol: aiosmtpd's ``SMTP`` with the parts Công Thư needs replaced.

* DATA (RFC 5321 section 4.1.1.4, 4.5.2) is read in large chunks: the end of data is
  found with one ``find`` over the buffer and dot-stuffing is undone with one
  ``replace``, not line by line (aiosmtpd's own reader is 3-4x slower on 1 MB messages).
* Line endings (RFC 5321 section 2.3.8): only ``<CRLF>.<CRLF>`` ends the data. A bare CR
  or bare LF anywhere in the data refuses the whole message (554 5.6.0) once the real end
  is seen, rather than normalising it: a lone LF or CR is how SMTP smuggling hides a
  second message (``<LF>.<LF>``, ``<CR>.<CR>``, ``<LF>.<CRLF>``) that a next hop would
  cut differently, and no conforming client sends one (8BITMIME, RFC 6152, forbids it
  too). The same rule holds for BDAT, so what we relay never carries one.
* BDAT (RFC 3030 CHUNKING): length-delimited chunks, read and discarded even after an
  error so the session stays in step.
* AUTH (RFC 4954) goes through ``congthu.accounts.sasl`` (SCRAM-SHA-256 always, PLAIN and
  LOGIN after TLS or on development loopback), so lockout and expiry are the accounts'
  rules; only the submission doors offer it.
* Every reply carries an enhanced status code (RFC 2034, RFC 3463); reply texts are
  ASCII (Vietnamese without accents) unless the client asked for SMTPUTF8 (RFC 6531).
* PIPELINING (RFC 2920 section 3.2): the replies to MAIL and RCPT are held while the
  client's next command is already in the buffer, and go out with the next reply (in
  one write: one packet and one wake-up of the client per group, not one per command).
* Any exception in a command answers 451 4.3.0 and logs; the session and server go on.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import re
from typing import TYPE_CHECKING, Any, cast

from aiosmtpd.smtp import SMTP, Envelope, Session, syntax

from congthu.accounts import AuthStatus, sasl
from congthu.db import DatabaseUnavailable
from congthu.log import event
from congthu.text import unaccent

if TYPE_CHECKING:
    from congthu.app import App
    from congthu.store import Mailbox

READ_CHUNK = 1 << 20
COMMAND_LIMIT = 1001  # aiosmtpd's line limit for commands (RFC 5321 section 4.5.3.1.4: 512)
_ENHANCED = re.compile(r"^\d{3}[ -]\d\.\d{1,3}\.\d{1,3}(?:\s|$)")
# Default enhanced codes for replies that have none (aiosmtpd's own replies).
_DEFAULT_ENHANCED = {
    "221": "2.0.0", "235": "2.7.0", "250": "2.0.0", "251": "2.1.5", "252": "2.5.0",
    "421": "4.7.0", "450": "4.2.0", "451": "4.3.0", "452": "4.3.1", "454": "4.7.0",
    "500": "5.5.2", "501": "5.5.4", "502": "5.5.1", "503": "5.5.1", "504": "5.5.4",
    "530": "5.7.0", "534": "5.7.9", "535": "5.7.8", "538": "5.7.11", "550": "5.0.0",
    "552": "5.3.4", "553": "5.1.3", "554": "5.0.0", "555": "5.5.4",
}


class CTSession(Session):  # type: ignore[misc]
    """aiosmtpd's session plus what the doors need."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.secure = False
        self.tls_version = ""
        self.tls_cipher = ""
        self.peer_ip = ""
        self.mailbox: Mailbox | None = None


class CTEnvelope(Envelope):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.sender = ""  # MAIL FROM without <>; "" is the null sender
        self.size_hint = 0  # MAIL FROM SIZE= (RFC 1870)
        self.recipients: list[Any] = []  # session.Recipient, one per accepted RCPT
        self.bdat: bytearray | None = None
        self.bdat_error: str | None = None
        self.spf: asyncio.Future[tuple[str, str, bool]] | None = None  # started at MAIL (MX)


def ascii_text(text: str) -> str:
    """Reply text without SMTPUTF8: accents stripped, anything else non-ASCII replaced."""
    return unaccent(text).encode("ascii", "replace").decode("ascii")


class SMTPProtocol(SMTP):  # type: ignore[misc]
    """One SMTP connection. ``door`` is "mx" (port 25) or "submission" (587, 465)."""

    def __init__(self, handler: Any, app: App, *, door: str, implicit_tls: bool) -> None:
        settings = app.settings
        starttls = None if implicit_tls else (app.tls.server if app.tls.available else None)
        super().__init__(
            handler,
            data_size_limit=settings.message_max_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=settings.system.hostname,
            ident="ESMTP Cong Thu",
            tls_context=starttls,
            require_starttls=False,
            timeout=settings.smtp.idle_timeout,
            auth_required=door == "submission",
            auth_require_tls=True,
            # AUTH attempts per connection; the rest is practically unlimited (a
            # connection may carry many messages).
            command_call_limit={"AUTH": 5, "STARTTLS": 3, "*": 10_000_000},
        )
        self.app = app
        self.door = door
        self.implicit_tls = implicit_tls
        self._in_ehlo = False
        self._plaintext_ok = False
        self._held = bytearray()  # replies held back (RFC 2920 section 3.2), see push
        self._may_hold = False  # set while MAIL or RCPT runs

    @property
    def ct_session(self) -> CTSession:
        return cast(CTSession, self.session)

    @property
    def ct_envelope(self) -> CTEnvelope:
        return cast(CTEnvelope, self.envelope)

    def _close(self) -> None:
        if self.transport is not None:
            self._close()

    # -- connection -------------------------------------------------------------------

    def _create_session(self) -> CTSession:
        return CTSession(self.loop)

    def _create_envelope(self) -> CTEnvelope:
        return CTEnvelope()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None
        super().connection_made(transport)
        session = self.ct_session
        peer = transport.get_extra_info("peername")
        session.peer_ip = str(peer[0]) if peer else ""
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            session.secure = True
            session.tls_version = str(ssl_object.version() or "")
            cipher = ssl_object.cipher()
            session.tls_cipher = str(cipher[0]) if cipher else ""
        if first:
            loopback = False
            try:
                loopback = ipaddress.ip_address(session.peer_ip).is_loopback
            except ValueError:
                pass
            dev_plain = self.app.settings.system.dev_allow_plaintext_loopback and loopback
            self._plaintext_ok = dev_plain
            # RFC 3207 section 4 / RFC 8314: no password before TLS on submission.
            self.require_starttls = bool(
                self.tls_context and self.door == "submission" and not dev_plain and not self.implicit_tls
            )

    # -- replies ----------------------------------------------------------------------

    def utf8(self) -> bool:
        return bool(self.envelope is not None and getattr(self.envelope, "smtp_utf8", False))

    async def push(self, status: Any) -> None:
        if isinstance(status, bytes):
            response = status
        else:
            text = str(status)
            if (not self._in_ehlo and len(text) >= 4 and text[:3].isdigit() and text[0] in "245"
                    and not _ENHANCED.match(text)):
                code = _DEFAULT_ENHANCED.get(text[:3], f"{text[0]}.0.0")
                text = f"{text[:3]}{text[3:4]}{code} {text[4:]}"
            if not text.isascii() and not self.utf8():
                text = ascii_text(text)
            response = text.encode("utf-8" if self.enable_SMTPUTF8 else "ascii")
        self._held += response + b"\r\n"
        # RFC 2920 section 3.2: a reply to MAIL or RCPT may wait while the next command is
        # already buffered; that command's reply follows at once and takes it along.
        if self._may_hold and b"\n" in self._reader._buffer:  # type: ignore[attr-defined]
            return
        out, self._held = bytes(self._held), bytearray()
        self._writer.write(out)
        await self._writer.drain()

    async def handle_exception(self, error: Exception) -> str:
        if isinstance(error, DatabaseUnavailable):
            return "451 4.3.0 Hệ thống tạm thời không sẵn sàng, hãy thử lại sau / temporarily unavailable, try again later"
        event("smtp.error", door=self.door, peer=self.ct_session.peer_ip if self.session else "",
              error=repr(error)[:500])
        return "451 4.3.0 Lỗi tạm thời, hãy thử lại sau / temporary error, try again later"

    # -- EHLO: the extensions we add ---------------------------------------------------

    @syntax("EHLO hostname")
    async def smtp_EHLO(self, hostname: str) -> None:
        self._in_ehlo = True
        try:
            await super().smtp_EHLO(hostname)
        finally:
            self._in_ehlo = False

    # -- MAIL: RFC 4954 section 5 AUTH= parameter, SIZE with an enhanced code ----------

    _AUTH_PARAM = re.compile(r"\s+AUTH=\S*", re.IGNORECASE)
    _SIZE_PARAM = re.compile(r"\sSIZE=(\d+)", re.IGNORECASE)

    @syntax("MAIL FROM: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_MAIL(self, arg: str | None) -> None:
        self._may_hold = True
        try:
            await self._mail(arg)
        finally:
            self._may_hold = False

    async def _mail(self, arg: str | None) -> None:
        if arg:
            # AUTH=<> or AUTH=addr (RFC 4954 section 5) is accepted and ignored: we trust
            # no one's word for the original submitter.
            arg = self._AUTH_PARAM.sub("", arg)
            size = self._SIZE_PARAM.search(arg)
            if size and self.data_size_limit and int(size.group(1)) > self.data_size_limit:
                mb = self.data_size_limit // (1024 * 1024)
                await self.push(f"552 5.3.4 Thư vượt quá kích thước tối đa {mb} MB / "
                                f"message exceeds the maximum size of {mb} MB")
                return
        await super().smtp_MAIL(arg)

    # -- AUTH through congthu.accounts.sasl -------------------------------------------

    @syntax("AUTH <mechanism>")
    async def smtp_AUTH(self, arg: str) -> None:
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
            await self.push("501 5.5.4 Cú pháp / syntax: AUTH mechanism [initial-response]")
            return
        mechanism = parts[0].upper()
        secure = self.app.accounts.plaintext_allowed(session.secure, session.peer_ip)
        if mechanism not in sasl.mechanisms(secure=secure):
            if mechanism in sasl.ALL:
                await self.push("538 5.7.11 Cần mã hóa TLS trước khi gửi mật khẩu (STARTTLS) / "
                                "encryption required for this mechanism, use STARTTLS")
            else:
                await self.push("504 5.5.4 Cơ chế xác thực không hỗ trợ / unrecognised authentication mechanism")
            return
        server = sasl.SASLServer(self.app.accounts, mechanism, protocol="smtp",
                                 client_ip=session.peer_ip, secure=session.secure or secure)
        initial: bytes | None = None
        if len(parts) == 2:
            initial = b"" if parts[1] == "=" else self._b64(parts[1])
            if initial is None:
                await self.push("501 5.5.2 Base64 không hợp lệ / invalid base64")
                return
        step = await server.step(initial)
        while step.result is None:
            await self.push(b"334 " + base64.b64encode(step.challenge or b""))
            try:
                line = await self._reader.readuntil(b"\n")
            except asyncio.LimitOverrunError:
                await self.push("500 5.5.6 Dòng quá dài / authentication line too long")
                self._close()
                return
            blob = line.strip()
            if blob == b"*":  # RFC 4954 section 4: the client cancels
                await self.push("501 5.7.0 Đã hủy xác thực / authentication cancelled")
                return
            data = self._b64(blob.decode("ascii", "replace"))
            if data is None:
                await self.push("501 5.5.2 Base64 không hợp lệ / invalid base64")
                return
            step = await server.step(data)
        result = step.result
        assert result is not None
        if result.ok and result.mailbox is not None:
            session.authenticated = True
            session.mailbox = result.mailbox
            session.login_data = result.mailbox.address.encode()
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

    @staticmethod
    def _b64(text: str) -> bytes | None:
        try:
            return base64.b64decode(text.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            return None

    # -- DATA: chunked, smuggling-proof -----------------------------------------------

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        envelope = self.ct_envelope
        if envelope.bdat is not None:
            await self.push("503 5.5.1 Không dùng DATA sau BDAT / DATA not allowed after BDAT")
            return
        if not envelope.rcpt_tos:
            await self.push("503 5.5.1 Chưa có người nhận (RCPT) / need RCPT command")
            return
        if arg:
            await self.push("501 5.5.4 Cú pháp / syntax: DATA")
            return
        await self.push(b"354 End data with <CR><LF>.<CR><LF>")
        content, error = await self._read_dot_data()
        if error is None and content is not None:
            error = self._check_content(content)
        if error is not None or content is None:
            await self.push(error)
            self._set_post_data_state()
            return
        await self._deliver(content)

    async def _read_dot_data(self) -> tuple[bytes | None, str | None]:
        """Read up to ``<CRLF>.<CRLF>``; (content without dot-stuffing, None) or (None, reply)."""
        reader: Any = self._reader  # StreamReader internals: _limit, _buffer
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.app.settings.smtp.data_timeout
        limit = self.data_size_limit or 0
        # The data starts at a line start: a CRLF in front lets one search find the end
        # of an empty message too, and one replace undo the stuffing of the first line.
        buf = bytearray(b"\r\n")
        scan = 0
        too_big = False
        saved = reader._limit
        reader._limit = READ_CHUNK  # a wider flow-control window while data streams in
        try:
            while True:
                chunk = await reader.read(READ_CHUNK)
                if not chunk:
                    raise ConnectionResetError("EOF during DATA")
                self._reset_timeout()
                if too_big:
                    buf = buf[-4:] + chunk
                    scan = 0
                else:
                    buf += chunk
                end = buf.find(b"\r\n.\r\n", scan)
                if end >= 0:
                    rest = buf[end + 5:]
                    if rest:  # pipelined commands after the data go back to the reader
                        reader._buffer[0:0] = rest
                    if too_big:
                        mb = limit // (1024 * 1024)
                        return None, (f"552 5.3.4 Thư vượt quá kích thước tối đa {mb} MB / "
                                      f"message exceeds the maximum size of {mb} MB")
                    del buf[end + 2:]
                    break
                if loop.time() > deadline:
                    await self.push("451 4.4.2 Quá thời gian gửi dữ liệu / data timeout")
                    self._close()
                    raise ConnectionResetError("DATA deadline")
                if not too_big and limit and len(buf) > limit + 4096:
                    too_big = True
                    buf = buf[-4:]
                scan = max(0, len(buf) - 4)
        finally:
            reader._limit = saved
        if buf.find(b"\r\n.") >= 0:
            buf = buf.replace(b"\r\n.", b"\r\n")  # RFC 5321 section 4.5.2
        return bytes(memoryview(buf)[2:]), None

    def _check_content(self, content: bytes) -> str | None:
        """RFC 5321 section 2.3.8 (no bare CR or LF) and line lengths."""
        crlf = content.count(b"\r\n")
        if content.count(b"\n") != crlf or content.count(b"\r") != crlf:
            event("smtp.bare_newline", door=self.door, peer=self.ct_session.peer_ip,
                  mail_from=self.ct_envelope.sender)
            return ("554 5.6.0 Thư chứa ký tự CR hoặc LF đứng riêng, không hợp lệ / "
                    "message contains a bare CR or LF, not allowed (RFC 5321 section 2.3.8)")
        max_line = self.app.settings.smtp.max_line_length
        if len(content) > max_line and max(map(len, content.split(b"\r\n"))) + 2 > max_line:
            return (f"500 5.5.2 Có dòng dài hơn {max_line} byte / a line is longer than "
                    f"{max_line} bytes (RFC 5321 section 4.5.3.1.6)")
        return None

    async def _deliver(self, content: bytes) -> None:
        envelope = self.ct_envelope
        envelope.content = envelope.original_content = content
        status = await self._call_handler_hook("DATA")
        try:
            await self.push(status)
        finally:
            self._set_post_data_state()

    # -- BDAT, RFC 3030 ---------------------------------------------------------------

    @syntax("BDAT size [LAST]")
    async def smtp_BDAT(self, arg: str | None) -> None:
        parts = (arg or "").split()
        if (not parts or len(parts) > 2 or not parts[0].isdigit() or len(parts[0]) > 12
                or (len(parts) == 2 and parts[1].upper() != "LAST")):
            # Without a size the chunk cannot be skipped: end the session so that its
            # bytes are never read as commands.
            await self.push("501 5.5.4 Cú pháp / syntax: BDAT size [LAST]; đóng kết nối / closing")
            self._close()
            return
        size, last = int(parts[0]), len(parts) == 2
        envelope = self.ct_envelope
        session = self.ct_session
        error: str | None = envelope.bdat_error
        if error is None:
            if not session.host_name:
                error = "503 5.5.1 Hãy gửi EHLO trước / send EHLO first"
            elif self.door == "submission" and not session.authenticated:
                error = "530 5.7.0 Cần đăng nhập / authentication required"
            elif not envelope.rcpt_tos:
                error = "503 5.5.1 Chưa có người nhận (RCPT) / need RCPT command"
        buffer = envelope.bdat if envelope.bdat is not None else bytearray()
        limit = self.data_size_limit or 0
        if error is None and limit and len(buffer) + size > limit:
            mb = limit // (1024 * 1024)
            error = (f"552 5.3.4 Thư vượt quá kích thước tối đa {mb} MB / message exceeds the maximum size of {mb} MB")
        await self._read_chunk(size, buffer if error is None else None)
        if error is not None:
            # RFC 3030 section 2: the chunk is consumed; the transaction is failed.
            envelope.bdat_error = error
            if last or not envelope.rcpt_tos:
                self._set_post_data_state()
            await self.push(error)
            return
        envelope.bdat = buffer
        if not last:
            await self.push(f"250 2.0.0 Đã nhận {size} byte / {size} octets received")
            return
        content = bytes(buffer)
        problem = self._check_content(content)
        if problem is not None:
            self._set_post_data_state()
            await self.push(problem)
            return
        await self._deliver(content)

    async def _read_chunk(self, size: int, into: bytearray | None) -> None:
        reader: Any = self._reader  # StreamReader internals: _limit, _buffer
        saved = reader._limit
        reader._limit = READ_CHUNK
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.app.settings.smtp.data_timeout
        try:
            remaining = size
            while remaining:
                chunk = await reader.read(min(remaining, READ_CHUNK))
                if not chunk:
                    raise ConnectionResetError("EOF during BDAT")
                self._reset_timeout()
                remaining -= len(chunk)
                if into is not None:
                    into += chunk
                if loop.time() > deadline:
                    await self.push("451 4.4.2 Quá thời gian gửi dữ liệu / data timeout")
                    self._close()
                    raise ConnectionResetError("BDAT deadline")
        finally:
            reader._limit = saved

    @syntax("RCPT TO: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_RCPT(self, arg: str | None) -> None:
        self._may_hold = True
        try:
            await super().smtp_RCPT(arg)
        finally:
            self._may_hold = False

    # VRFY would let anyone enumerate the directory (RFC 5321 section 7.3).
    @syntax("VRFY <address>")
    async def smtp_VRFY(self, arg: str) -> None:
        await self.push("252 2.5.0 Không xác minh địa chỉ; hãy gửi thư / cannot VRFY, send the message")


def tls_description(session: CTSession) -> str:
    if not session.secure:
        return ""
    return f"(version={session.tls_version} cipher={session.tls_cipher})"


__all__ = ["CTEnvelope", "CTSession", "SMTPProtocol", "ascii_text", "tls_description"]
