"""MAIL and RCPT (RFC 5321 sections 4.1.1.2, 4.1.1.3): aiosmtpd parses the commands,
the hooks here decide.

MX (port 25):
  MAIL    any sender except our own domains (those come through submission, with a
          login: mail from outside claiming to be us is spoofed); SPF evaluation starts
  RCPT    local addresses only (550 5.1.1 if unknown; 554 5.7.1 for any other domain:
          never an open relay, section 3.6.2); quota: 452 4.2.2, or 552 5.2.2 when the
          message could never fit

Submission (587 STARTTLS, 465 TLS), RFC 6409 (the checks are ``submit``'s, which the
webmail's messages pass too):
  MAIL    after AUTH; the sender must be the user's or delegated to them
          (``congthu.delegation.can_send_as``); ``smtp.messages_per_hour`` per user,
          counted in the database so every node agrees (``ratelimit.py``)
  RCPT    at most ``smtp.max_recipients``; local as above; remote through Điều 7.7

MAIL accepts RFC 4954 section 5's AUTH= parameter and ignores it (we trust no one's word
for the original submitter); SIZE (RFC 1870) above the limit is refused at once with
552 5.3.4. The DSN parameters (RFC 3461: RET and ENVID on MAIL, NOTIFY and ORCPT on RCPT)
are taken off the command after EHLO and kept with the envelope and its recipients
(``dsn.mail_parameters``, ``dsn.rcpt_parameters``; 501 5.5.4 when malformed). Replies to MAIL and RCPT may be held for PIPELINING (``session.push``).
"""

from __future__ import annotations

import asyncio
import re

from aiosmtpd.smtp import SMTP, syntax

from congthu.log import event
from congthu.smtp import addresses, authres, dsn, submit
from congthu.smtp.errors import too_big
from congthu.smtp.session import CTEnvelope, CTSession, SMTPSession

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
            if self.ct_session.extended_smtp:
                arg, ret, envid, refusal = dsn.mail_parameters(arg)
                if refusal is not None:
                    await self.push(refusal)
                    return
                self.dsn_params = (ret, envid)
        await SMTP.smtp_MAIL(self, arg)
    finally:
        self.may_hold = False
        self.dsn_params = ("", "")


@syntax("RCPT TO: <address>", extended=" [SP <mail-parameters>]")
async def smtp_RCPT(self: SMTPSession, arg: str | None) -> None:
    self.may_hold = True
    try:
        if arg and self.ct_session.extended_smtp:
            arg, notify, orcpt, refusal = dsn.rcpt_parameters(arg)
            if refusal is not None:
                await self.push(refusal)
                return
            self.dsn_params = (notify, orcpt)
        await SMTP.smtp_RCPT(self, arg)
    finally:
        self.may_hold = False
        self.dsn_params = ("", "")


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
        refusal = await submit.check_sender(app, mailbox, sender)
        if refusal is not None:
            return refusal
    elif sender and addresses.is_local(app, sender):
        event("smtp.spoof_refused", peer=session.peer_ip, mail_from=sender, where="MAIL")
        return ("550 5.7.1 Thư mang địa chỉ của hệ thống phải gửi qua cổng 587/465 có đăng nhập / "
                "mail from our own domain must be submitted with authentication (port 587/465)")
    if server.door == "mx":
        # SPF depends on the envelope only: check it while RCPT and DATA arrive (a result
        # kept for this client, sender and HELO is taken at once, without a task).
        helo = session.host_name or ""
        kept = authres.kept_spf(app, session.peer_ip, sender, helo)
        if kept is not None:
            envelope.spf = server.loop.create_future()
            envelope.spf.set_result(kept)
        else:
            envelope.spf = asyncio.ensure_future(authres.check_spf(app, session.peer_ip, sender, helo))
            envelope.spf.add_done_callback(_quiet)
    envelope.mail_from = address
    envelope.sender = sender
    envelope.dsn_ret, envelope.dsn_envid = server.dsn_params
    envelope.size_hint = size
    envelope.mail_options.extend(mail_options)
    return "250 2.1.0 OK"


async def handle_RCPT(server: SMTPSession, session: CTSession, envelope: CTEnvelope,
                      address: str, rcpt_options: list[str]) -> str:
    reply, recipient = await submit.check_recipient(
        server.app, address, envelope.recipients, door=server.door, authenticated=bool(session.authenticated),
        user=session.mailbox.address if session.mailbox else "", sender=envelope.sender,
        size_hint=envelope.size_hint, utf8=bool(envelope.smtp_utf8), peer=session.peer_ip)
    if recipient is not None:
        recipient.notify, recipient.orcpt = server.dsn_params
        envelope.recipients.append(recipient)
        envelope.rcpt_tos.append(recipient.address)
        envelope.rcpt_options.extend(rcpt_options)
    return reply
