"""MAIL and RCPT (RFC 5321 sections 4.1.1.2, 4.1.1.3): aiosmtpd parses the commands,
the hooks here decide.

MX (port 25):
  MAIL    any sender except our own domains (those come through submission, with a
          login: mail from outside claiming to be us is spoofed); SPF evaluation starts
  RCPT    local addresses only (550 5.1.1 if unknown; 554 5.7.1 for any other domain:
          never an open relay, section 3.6.2); quota: 452 4.2.2, or 552 5.2.2 when the
          message could never fit

Submission (587 STARTTLS, 465 TLS), RFC 6409:
  MAIL    after AUTH; the sender must be the user's or delegated to them
          (``congthu.delegation.can_send_as``); ``smtp.messages_per_hour`` per user,
          counted in the database so every node agrees (``ratelimit.py``)
  RCPT    at most ``smtp.max_recipients``; local as above; remote through Điều 7.7

MAIL accepts RFC 4954 section 5's AUTH= parameter and ignores it (we trust no one's word
for the original submitter); SIZE (RFC 1870) above the limit is refused at once with
552 5.3.4. Replies to MAIL and RCPT may be held for PIPELINING (``session.push``).
"""

from __future__ import annotations

import asyncio
import re

from aiosmtpd.smtp import SMTP, syntax

from congthu.content import rules
from congthu.delegation import can_send_as
from congthu.log import event
from congthu.smtp import addresses, authres, ratelimit
from congthu.smtp.errors import too_big
from congthu.smtp.session import CTEnvelope, CTSession, Recipient, SMTPSession
from congthu.store import normalise_address

__all__ = ["handle_MAIL", "handle_RCPT", "smtp_MAIL", "smtp_RCPT"]

_AUTH_PARAM = re.compile(r"\s+AUTH=\S*", re.IGNORECASE)
_SIZE_PARAM = re.compile(r"\sSIZE=(\d+)", re.IGNORECASE)
_SIZE = re.compile(r"^SIZE=(\d+)$", re.IGNORECASE)


@syntax("MAIL FROM: <address>", extended=" [SP <mail-parameters>]")
async def smtp_MAIL(self: SMTPSession, arg: str | None) -> None:
    self.may_hold = True
    try:
        if arg:
            arg = _AUTH_PARAM.sub("", arg)
            size = _SIZE_PARAM.search(arg)
            if size and self.data_size_limit and int(size.group(1)) > self.data_size_limit:
                await self.push(too_big(self.data_size_limit))
                return
        await SMTP.smtp_MAIL(self, arg)
    finally:
        self.may_hold = False


@syntax("RCPT TO: <address>", extended=" [SP <mail-parameters>]")
async def smtp_RCPT(self: SMTPSession, arg: str | None) -> None:
    self.may_hold = True
    try:
        await SMTP.smtp_RCPT(self, arg)
    finally:
        self.may_hold = False


def _quiet(task: asyncio.Future[tuple[str, str, bool]]) -> None:
    if not task.cancelled():
        task.exception()


async def handle_MAIL(server: SMTPSession, session: CTSession, envelope: CTEnvelope,
                      address: str, mail_options: list[str]) -> str:
    app = server.app
    utf8 = bool(envelope.smtp_utf8)
    sender = "" if address == "<>" else address
    if sender and not addresses.valid_mailbox(sender, utf8):
        return "553 5.1.7 Địa chỉ người gửi không hợp lệ / invalid sender address"
    size = 0
    for option in mail_options:
        match = _SIZE.match(option)
        if match:
            size = int(match.group(1))
    if server.door == "submission":
        mailbox = session.mailbox
        assert mailbox is not None  # aiosmtpd answered 530 before AUTH
        if not sender:
            return "553 5.7.1 Cần địa chỉ người gửi / a sender address is required"
        limit = app.settings.smtp.messages_per_hour
        if limit and await ratelimit.sent_last_hour(app, mailbox.id) >= limit:
            event("smtp.rate_limited", user=mailbox.address, limit=limit)
            return (f"451 4.7.1 Đã gửi quá {limit} thư trong một giờ, hãy thử lại sau / "
                    f"limit of {limit} messages per hour reached, try again later")
        if not await can_send_as(app, mailbox.id, sender):
            event("smtp.spoof_refused", user=mailbox.address, mail_from=sender, where="MAIL")
            return (f"553 5.7.1 Bạn không được gửi thư với địa chỉ {sender} / "
                    f"you may not send as {sender}")
    elif sender and addresses.is_local(app, sender):
        event("smtp.spoof_refused", peer=session.peer_ip, mail_from=sender, where="MAIL")
        return ("550 5.7.1 Thư mang địa chỉ của hệ thống phải gửi qua cổng 587/465 có đăng nhập / "
                "mail from our own domain must be submitted with authentication (port 587/465)")
    if server.door == "mx":
        # SPF depends on the envelope only: check it while RCPT and DATA arrive.
        envelope.spf = asyncio.ensure_future(
            authres.check_spf(app, session.peer_ip, sender, session.host_name or ""))
        envelope.spf.add_done_callback(_quiet)
    envelope.mail_from = address
    envelope.sender = sender
    envelope.size_hint = size
    envelope.mail_options.extend(mail_options)
    return "250 2.1.0 OK"


async def handle_RCPT(server: SMTPSession, session: CTSession, envelope: CTEnvelope,
                      address: str, rcpt_options: list[str]) -> str:
    app = server.app
    settings = app.settings
    utf8 = bool(envelope.smtp_utf8)
    if address.lower() == "postmaster":  # RFC 5321 section 4.1.1.3
        address = f"postmaster@{settings.system.domain}"
    if not addresses.valid_mailbox(address, utf8):
        return "553 5.1.3 Địa chỉ người nhận không hợp lệ / invalid recipient address"
    limit = settings.smtp.max_recipients if server.door == "submission" else settings.smtp.mx_max_recipients
    if len(envelope.recipients) >= limit:
        return (f"452 4.5.3 Quá nhiều người nhận (tối đa {limit} mỗi thư) / "
                f"too many recipients (at most {limit} per message)")
    if addresses.is_local(app, address):
        address = normalise_address(address)
        if any(r.address == address for r in envelope.recipients):
            return "250 2.1.5 OK"
        found = await addresses.lookup(app, address)
        if found is None:
            return f"550 5.1.1 Không có hộp thư {address} / no such mailbox: {address}"
        mailbox_id, used, quota = found
        size = envelope.size_hint
        if size > quota:
            return (f"552 5.2.2 Thư lớn hơn dung lượng hộp thư {address} / "
                    f"message larger than the mailbox quota of {address}")
        if used + max(size, 1) > quota:
            return (f"452 4.2.2 Hộp thư {address} đã đầy (Điều 8.1) / mailbox full: {address}")
        envelope.recipients.append(Recipient(address, mailbox_id, used, quota))
    else:
        if server.door != "submission" or not session.authenticated:
            event("smtp.relay_denied", peer=session.peer_ip, mail_from=envelope.sender, rcpt=address)
            return ("554 5.7.1 Không chuyển tiếp thư đến tên miền khác / relay access denied")
        if any(r.address == address for r in envelope.recipients):
            return "250 2.1.5 OK"
        refusal = rules.check_recipient(settings, address)
        if refusal is not None:
            rules.log_refusal(refusal, user=session.mailbox.address if session.mailbox else "",
                              recipient=address)
            return refusal.smtp_reply(utf8)
        envelope.recipients.append(Recipient(address, None))
    envelope.rcpt_tos.append(address)
    envelope.rcpt_options.extend(rcpt_options)
    return "250 2.1.5 OK"
