"""The command hooks of the two doors (aiosmtpd handler API): what each accepts.

MX (port 25), RFC 5321:
  MAIL    any sender except our own domains (those come through submission, with a
          login: mail from outside claiming to be us is spoofed)
  RCPT    local addresses only (550 5.1.1 if unknown; 554 5.7.1 for any other domain:
          never an open relay, section 3.6.2); quota: 452 4.2.2, or 552 5.2.2 when the
          message could never fit
  DATA    SPF, DKIM, DMARC (DMARC p=reject failures refused, quarantine to Junk); a From
          of our own domain must carry our DKIM signature; the content rules
          (``congthu.policy``); delivery, then 250

Submission (587 STARTTLS, 465 TLS), RFC 6409:
  MAIL    after AUTH; the sender must be the user's or delegated to them
          (``congthu.delegation.can_send_as``); ``smtp.messages_per_hour`` per user,
          counted in the database so every node agrees (``ratelimit.py``)
  RCPT    at most ``smtp.max_recipients``; local as above; remote through Điều 7.7
  DATA    every From (and Sender) address the user's; Date and Message-ID added if
          missing (section 8); the content rules; local recipients delivered at once,
          remote ones DKIM-signed into the durable queue; then 250

Nothing accepted is lost and nothing is delivered twice: the reply is 250 once every
recipient is either delivered, queued (a local mailbox full since RCPT waits in the
queue) or bounced with a DSN; only when no recipient could take the message is it
refused as a whole (so the client's retry duplicates nothing).
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import email.utils
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from congthu import policy
from congthu.accounts import sasl
from congthu.log import event
from congthu.smtp import addresses, authres, delivery, dkimsign, queue, ratelimit
from congthu.smtp.dsn import RecipientStatus
from congthu.smtp.protocol import CTEnvelope, CTSession, SMTPProtocol, tls_description
from congthu.store import QuotaExceeded, normalise_address, utcnow

if TYPE_CHECKING:
    from congthu.app import App


@dataclass
class Recipient:
    address: str
    mailbox_id: int | None  # None: a remote address
    used: int = 0  # usage and quota when RCPT was accepted (local only)
    quota: int = 0


_SIZE = re.compile(r"^SIZE=(\d+)$", re.IGNORECASE)


# A field name, then optional white space before the colon: RFC 5322 section 4.5 (obsolete
# syntax) lets "From : x" be a From field, and readers must accept it (section 4).
_FIELD = re.compile(rb"([!-9;-~]+)[ \t]*:")


def _header_fields(raw: bytes) -> list[tuple[str, str]]:
    """The header fields as (lower-case name, unfolded value), read as leniently as the
    most lenient mail reader, so that no author field can hide from the checks
    ("Composition Kills", USENIX Security 2020)."""
    end = raw.find(b"\r\n\r\n")
    head = raw[:end] if end >= 0 else raw
    fields: list[tuple[bytes, bytes]] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            # Keep the fold: the address parser reads "a@x\r\n\tb@y" as two addresses.
            fields[-1] = (fields[-1][0], fields[-1][1] + b"\r\n" + line)
            continue
        match = _FIELD.match(line)
        if match:
            fields.append((match.group(1).lower(), line[match.end():]))
    return [(name.decode("ascii"), value.decode("utf-8", "replace")) for name, value in fields]


# Anything shaped like an address, as a second net under the address parser: a value
# the parser cannot read must not hide an address from the sender check.
_ADDRESS_LIKE = re.compile(r"[^\s<>()\[\],;:\"@]+@[^\s<>()\[\],;:\"@]+")


def _header_addresses(raw: bytes, names: tuple[str, ...]) -> list[str]:
    wanted = {name.lower() for name in names}
    found: list[str] = []
    for name, value in _header_fields(raw):
        if name in wanted:
            parsed = [address for _display, address in email.utils.getaddresses([value]) if address]
            found.extend(parsed)
            found.extend(a for a in _ADDRESS_LIKE.findall(value) if a not in parsed)
    return found


def _count_fields(raw: bytes, name: str) -> int:
    return sum(1 for field, _value in _header_fields(raw) if field == name)


def _quiet(task: asyncio.Future[tuple[str, str, bool]]) -> None:
    if not task.cancelled():
        task.exception()


def _has_field(raw: bytes, name: bytes) -> bool:
    end = raw.find(b"\r\n\r\n")
    head = b"\r\n" + (raw[: end + 2] if end >= 0 else raw)
    return re.search(rb"\r\n" + re.escape(name) + rb"[ \t]*:", head, re.IGNORECASE) is not None


class Handler:
    """aiosmtpd handler for one door ("mx" or "submission")."""

    def __init__(self, app: App, door: str) -> None:
        self.app = app
        self.door = door
        self.settings = app.settings

    # -- EHLO: RFC 1870, 2920, 2034, 3030; no AUTH on the MX --------------------------

    async def handle_EHLO(self, server: SMTPProtocol, session: CTSession, envelope: CTEnvelope,
                          hostname: str, responses: list[str]) -> list[str]:
        session.host_name = hostname
        lines = [r for r in responses if r != "250 HELP" and not r.startswith("250-AUTH")]
        # RFC 4954: PLAIN and LOGIN only over TLS (or development loopback); before
        # STARTTLS on 587 nothing, as AUTH is refused until then (RFC 3207).
        if (self.door == "submission" and not session.authenticated
                and (session.secure or self.app.accounts.plaintext_allowed(False, session.peer_ip))):
            secure = self.app.accounts.plaintext_allowed(session.secure, session.peer_ip)
            lines.append("250-AUTH " + " ".join(sasl.mechanisms(secure=secure)))
        lines += ["250-PIPELINING", "250-ENHANCEDSTATUSCODES", "250 CHUNKING"]
        return lines

    # -- MAIL ------------------------------------------------------------------------

    async def handle_MAIL(self, server: SMTPProtocol, session: CTSession, envelope: CTEnvelope,
                          address: str, mail_options: list[str]) -> str:
        utf8 = bool(envelope.smtp_utf8)
        sender = "" if address == "<>" else address
        if sender and not addresses.valid_mailbox(sender, utf8):
            return "553 5.1.7 Địa chỉ người gửi không hợp lệ / invalid sender address"
        size = 0
        for option in mail_options:
            match = _SIZE.match(option)
            if match:
                size = int(match.group(1))
        if self.door == "submission":
            mailbox = session.mailbox
            assert mailbox is not None  # aiosmtpd answered 530 before AUTH
            if not sender:
                return "553 5.7.1 Cần địa chỉ người gửi / a sender address is required"
            limit = self.settings.smtp.messages_per_hour
            if limit and await ratelimit.sent_last_hour(self.app, mailbox.id) >= limit:
                event("smtp.rate_limited", user=mailbox.address, limit=limit)
                return (f"451 4.7.1 Đã gửi quá {limit} thư trong một giờ, hãy thử lại sau / "
                        f"limit of {limit} messages per hour reached, try again later")
            from congthu.delegation import can_send_as

            if not await can_send_as(self.app, mailbox.id, sender):
                event("smtp.spoof_refused", user=mailbox.address, mail_from=sender, where="MAIL")
                return (f"553 5.7.1 Bạn không được gửi thư với địa chỉ {sender} / "
                        f"you may not send as {sender}")
        elif sender and addresses.is_local(self.app, sender):
            event("smtp.spoof_refused", peer=session.peer_ip, mail_from=sender, where="MAIL")
            return ("550 5.7.1 Thư mang địa chỉ của hệ thống phải gửi qua cổng 587/465 có đăng nhập / "
                    "mail from our own domain must be submitted with authentication (port 587/465)")
        if self.door == "mx":
            # SPF depends on the envelope only: check it while RCPT and DATA arrive.
            envelope.spf = asyncio.ensure_future(
                authres.check_spf(self.app, session.peer_ip, sender, session.host_name or ""))
            envelope.spf.add_done_callback(_quiet)
        envelope.mail_from = address
        envelope.sender = sender
        envelope.size_hint = size
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    # -- RCPT ------------------------------------------------------------------------

    async def handle_RCPT(self, server: SMTPProtocol, session: CTSession, envelope: CTEnvelope,
                          address: str, rcpt_options: list[str]) -> str:
        utf8 = bool(envelope.smtp_utf8)
        if address.lower() == "postmaster":  # RFC 5321 section 4.1.1.3
            address = f"postmaster@{self.settings.system.domain}"
        if not addresses.valid_mailbox(address, utf8):
            return "553 5.1.3 Địa chỉ người nhận không hợp lệ / invalid recipient address"
        limit = self.settings.smtp.max_recipients if self.door == "submission" else self.settings.smtp.mx_max_recipients
        if len(envelope.recipients) >= limit:
            return (f"452 4.5.3 Quá nhiều người nhận (tối đa {limit} mỗi thư) / "
                    f"too many recipients (at most {limit} per message)")
        if addresses.is_local(self.app, address):
            address = normalise_address(address)
            if any(r.address == address for r in envelope.recipients):
                return "250 2.1.5 OK"
            found = await addresses.lookup(self.app, address)
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
            if self.door != "submission" or not session.authenticated:
                event("smtp.relay_denied", peer=session.peer_ip, mail_from=envelope.sender, rcpt=address)
                return ("554 5.7.1 Không chuyển tiếp thư đến tên miền khác / relay access denied")
            if any(r.address == address for r in envelope.recipients):
                return "250 2.1.5 OK"
            refusal = policy.check_recipient(self.settings, address)
            if refusal is not None:
                policy.log_refusal(refusal, user=session.mailbox.address if session.mailbox else "",
                                   recipient=address)
                return refusal.smtp_reply(utf8)
            envelope.recipients.append(Recipient(address, None))
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    # -- DATA ------------------------------------------------------------------------

    async def handle_DATA(self, server: SMTPProtocol, session: CTSession, envelope: CTEnvelope) -> str:
        content = envelope.original_content or b""
        if self.door == "submission":
            return await self._submission(server, session, envelope, content)
        return await self._inbound(server, session, envelope, content)

    def _received(self, session: CTSession, envelope: CTEnvelope, queue_id: str) -> bytes:
        rcpts = envelope.recipients
        return delivery.received(
            self.app, helo=session.host_name or "unknown", ip=session.peer_ip,
            protocol=delivery.with_protocol(esmtp=bool(session.extended_smtp), secure=session.secure,
                                            authenticated=bool(session.authenticated),
                                            utf8=bool(envelope.smtp_utf8)),
            tls=tls_description(session), queue_id=queue_id,
            for_addr=rcpts[0].address if len(rcpts) == 1 else "",
        )

    async def _inbound(self, server: SMTPProtocol, session: CTSession, envelope: CTEnvelope, content: bytes) -> str:
        settings = self.settings
        utf8 = bool(envelope.smtp_utf8)
        verdict = await authres.evaluate(self.app, content, session.peer_ip, envelope.sender,
                                         session.host_name or "", spf=envelope.spf)
        enforce = settings.smtp.dmarc_enforce
        if verdict.dmarc == "fail" and verdict.dmarc_policy == "reject" and enforce == "reject":
            event("smtp.dmarc_rejected", peer=session.peer_ip, mail_from=envelope.sender,
                  from_domain=verdict.from_domain)
            return (f"550 5.7.1 Thư không qua kiểm tra DMARC của {verdict.from_domain} / "
                    f"message fails the DMARC policy of {verdict.from_domain}")
        local_froms = [d for d in authres.header_from_domains(content) if d in settings.local_domains]
        if local_froms and not any(d in settings.local_domains for d in verdict.dkim_pass_domains()):
            event("smtp.spoof_refused", peer=session.peer_ip, mail_from=envelope.sender,
                  from_domain=local_froms[0], where="From")
            return (f"550 5.7.1 Thư giả mạo địa chỉ {local_froms[0]} / message claims to be from "
                    f"{local_froms[0]} but was not sent by its server")
        quarantine = (verdict.dmarc == "fail" and verdict.dmarc_policy in ("quarantine", "reject")
                      and enforce != "none")
        queue_id = delivery.new_id()
        body = delivery.strip_authres(content, settings.system.hostname)
        final = (delivery.return_path(envelope.sender) + verdict.header(settings.system.hostname)
                 + self._received(session, envelope, queue_id) + body)
        return await self._deliver_local_and_queue(
            session, envelope, final, queue_id, utf8, folder="Junk" if quarantine else "INBOX",
        )

    async def _submission(self, server: SMTPProtocol, session: CTSession, envelope: CTEnvelope, content: bytes) -> str:
        settings = self.settings
        utf8 = bool(envelope.smtp_utf8)
        mailbox = session.mailbox
        assert mailbox is not None
        from congthu.delegation import can_send_as

        # Every author field, resent ones too (RFC 5322 sections 3.6.2, 3.6.6).
        authors = _header_addresses(content, ("From", "Sender", "Resent-From", "Resent-Sender"))
        if not _header_addresses(content, ("From",)):
            return "554 5.6.0 Thư không có trường From / message has no From field"
        for author in authors:
            if not await can_send_as(self.app, mailbox.id, author):
                event("smtp.spoof_refused", user=mailbox.address, from_addr=author, where="From")
                return (f"550 5.7.1 Bạn không được gửi thư với địa chỉ {author} / "
                        f"you may not send as {author}")
        # RFC 5322 section 3.6: exactly one From and at most one Sender field.
        if _count_fields(content, "from") > 1 or _count_fields(content, "sender") > 1:
            return ("554 5.6.0 Thư có nhiều trường From hoặc Sender / "
                    "message has more than one From or Sender field")
        # RFC 6409 section 8.2, 8.3: a submission server may add Date and Message-ID.
        added = b""
        if not _has_field(content, b"Date"):
            added += f"Date: {email.utils.formatdate(localtime=True)}\r\n".encode("ascii")
        if not _has_field(content, b"Message-ID"):
            domain = addresses.domain_of(envelope.sender) or settings.system.domain
            added += f"Message-ID: {email.utils.make_msgid(domain=domain if domain.isascii() else None)}\r\n".encode("ascii")
        content = added + content
        queue_id = delivery.new_id()
        trace = self._received(session, envelope, queue_id)
        reply = await self._deliver_local_and_queue(session, envelope, delivery.return_path(envelope.sender) + trace
                                                     + content, queue_id, utf8, remote_raw=trace + content)
        if reply.startswith("250"):
            await ratelimit.count_sent(self.app, mailbox.id)
        return reply

    async def _deliver_local_and_queue(
        self, session: CTSession, envelope: CTEnvelope, final: bytes, queue_id: str, utf8: bool, *,
        folder: str = "INBOX", remote_raw: bytes | None = None,
    ) -> str:
        """Content rules, then local delivery of ``final`` and queueing of ``remote_raw``
        (DKIM-signed here) for the remote recipients; the reply to DATA."""
        settings = self.settings
        local = [r for r in envelope.recipients if r.mailbox_id is not None]
        remote = [r for r in envelope.recipients if r.mailbox_id is None]
        analysis = await delivery.analyse(final if local or remote_raw is None else remote_raw,
                                          settings.smtp.analysis_processes)
        refusal = policy.check_message(settings, analysis.subject, analysis.attachments)
        if refusal is not None:
            policy.log_refusal(refusal, door=self.door, peer=session.peer_ip, mail_from=envelope.sender,
                               user=session.mailbox.address if session.mailbox else "",
                               recipients=[r.address for r in envelope.recipients], subject=analysis.subject)
            return refusal.smtp_reply(utf8)
        delivered: list[str] = []
        deferred: list[Recipient] = []
        failed: list[RecipientStatus] = []
        temp_reasons: list[str] = []
        if local:
            results = await delivery.deliver(
                self.app, final, [r.mailbox_id for r in local if r.mailbox_id is not None], analysis=analysis,
                folder=folder, usage={r.mailbox_id: (r.used + len(final), r.quota) for r in local if r.mailbox_id},
            )
            by_id = {res.mailbox_id: res for res in results}
            for rcpt in local:
                res = by_id.get(rcpt.mailbox_id or 0)
                if res is not None and res.ok:
                    delivered.append(rcpt.address)
                    addresses.note_delivered(self.app, rcpt.address, len(final))
                elif res is not None and isinstance(res.error, QuotaExceeded) and res.error.permanent:
                    failed.append(RecipientStatus(rcpt.address, "5.2.2", str(res.error)))
                else:
                    deferred.append(rcpt)
                    temp_reasons.append(str(res.error) if res is not None else "not delivered")
        if not delivered and not remote:
            # Nobody took it: refuse the whole message, the client keeps it (no duplicate).
            if deferred:
                return f"452 4.2.2 {temp_reasons[0]}"
            return f"552 5.2.2 {failed[0].diagnostic}" if failed else "451 4.3.0 Lỗi tạm thời / temporary error"
        if remote:
            assert remote_raw is not None
            signer_domain = addresses.domain_of(envelope.sender)
            if signer_domain not in settings.local_domains:
                signer_domain = settings.system.domain
            signed = await dkimsign.sign(self.app, remote_raw, signer_domain)
            await queue.enqueue(self.app, signed, envelope.sender, [(r.address, None) for r in remote],
                                mailbox_id=session.mailbox.id if session.mailbox else None)
        if deferred:
            await queue.enqueue(self.app, final, envelope.sender, [(r.address, r.mailbox_id) for r in deferred],
                                delay=settings.smtp.retry_first_seconds)
        if failed and envelope.sender:
            await queue.send_dsn(self.app, envelope.sender, final, failed, "failed", datetime.now(utcnow().tzinfo))
        event("smtp.accepted", door=self.door, id=queue_id, peer=session.peer_ip, mail_from=envelope.sender,
              user=session.mailbox.address if session.mailbox else "", size=len(final),
              delivered=len(delivered), queued=len(remote), deferred=len(deferred), bounced=len(failed))
        return f"250 2.0.0 Đã nhận thư / message accepted, id {queue_id}"


__all__ = ["Handler", "Recipient"]
