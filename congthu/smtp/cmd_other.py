"""The commands that change no transaction data: NOOP, RSET, QUIT, HELP, STARTTLS
(aiosmtpd's own, RFC 5321 sections 4.1.1.5 to 4.1.1.10, RFC 3207), and VRFY and EXPN,
which answer without looking anything up: VRFY would let anyone enumerate the
directory (RFC 5321 section 7.3)."""

from __future__ import annotations

from aiosmtpd.smtp import SMTP, syntax

from congthu.smtp.session import SMTPSession

__all__ = ["smtp_EXPN", "smtp_HELP", "smtp_NOOP", "smtp_QUIT", "smtp_RSET", "smtp_STARTTLS", "smtp_VRFY"]

smtp_NOOP = SMTP.smtp_NOOP
smtp_RSET = SMTP.smtp_RSET
smtp_QUIT = SMTP.smtp_QUIT
smtp_HELP = SMTP.smtp_HELP
smtp_STARTTLS = SMTP.smtp_STARTTLS


@syntax("VRFY <address>")
async def smtp_VRFY(self: SMTPSession, arg: str) -> None:
    await self.push("252 2.5.0 Không xác minh địa chỉ; hãy gửi thư / cannot VRFY, send the message")


@syntax("EXPN <list>")
async def smtp_EXPN(self: SMTPSession, arg: str) -> None:
    await self.push("502 5.5.1 Không hỗ trợ EXPN / EXPN not implemented")
