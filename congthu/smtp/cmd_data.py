"""DATA and BDAT (RFC 5321 section 4.1.1.4, RFC 3030 CHUNKING) and what is done with the
message: the inbound path of the MX and the submission path.

The bytes are read by ``wire`` (chunked, smuggling-proof, with deadlines); a client that
passes ``smtp.data_timeout`` gets 451 4.4.2 and the session ends. A BDAT without a valid
size ends the session too (501, then closed): its chunk cannot be skipped, so its bytes
would be read as commands.

MX (port 25):
  the author fields (``mime.authors``: From, Sender, Resent-From, Resent-Sender, read as
  leniently as the most lenient mail client) are read first: several From or Sender
  fields are refused (RFC 5322 section 3.6, RFC 7489 section 6.6.1); any address of our
  own domains shown in an author field must come with a valid DKIM signature of ours
  (550 5.7.1; for unsigned mail decided before any DNS lookup); SPF, DMARC (p=reject
  failures refused, quarantine to Junk); the content pipeline (``congthu.content.pipeline``:
  size rules, virus scan, spam scoring, classified stamps);
  delivery, then 250.

Submission (587 STARTTLS, 465 TLS), RFC 6409:
  every author address (and every address of our domains a client would show in those
  fields) the user's or delegated to them; one From, at most one Sender; Date and
  Message-ID added if missing (section 8); the content rules; local recipients delivered
  at once, remote ones DKIM-signed into the durable queue; then 250.

Nothing accepted is lost and nothing is delivered twice: the reply is 250 once every
recipient is either delivered, queued (a local mailbox full since RCPT waits in the
queue) or bounced with a DSN; only when no recipient could take the message is it
refused as a whole (so the client's retry duplicates nothing).
"""

from __future__ import annotations

import email.utils
from datetime import datetime

from aiosmtpd.smtp import syntax

from congthu.content import pipeline
from congthu.delegation import can_send_as
from congthu.log import event
from congthu.mime.authors import Authors, normal_domain, read_authors
from congthu.mime.headers import has_field
from congthu.requests import bymail
from congthu.smtp import addresses, authres, delivery, dkimsign, queue, ratelimit, wire
from congthu.smtp.dsn import RecipientStatus
from congthu.smtp.errors import DATA_TIMEOUT, DeadlineExceeded, syntax_error, too_big
from congthu.smtp.session import CTEnvelope, CTSession, Recipient, SMTPSession, tls_description
from congthu.store import QuotaExceeded, utcnow

__all__ = ["handle_DATA", "smtp_BDAT", "smtp_DATA"]


# -- reading ------------------------------------------------------------------------------


@syntax("DATA")
async def smtp_DATA(self: SMTPSession, arg: str) -> None:
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
        await self.push(syntax_error("DATA"))
        return
    await self.push(b"354 End data with <CR><LF>.<CR><LF>")
    try:
        content, error = await wire.read_dot_data(self.reader, self.app.settings.smtp.data_timeout,
                                                  self.data_size_limit or 0, self._reset_timeout)
    except DeadlineExceeded:
        await self.close_with(DATA_TIMEOUT)
        return
    if error is None and content is not None:
        error = _check_content(self, content)
    if error is not None or content is None:
        await self.push(error)
        self.reset_transaction()
        return
    await deliver(self, content)


@syntax("BDAT size [LAST]")
async def smtp_BDAT(self: SMTPSession, arg: str | None) -> None:
    parts = (arg or "").split()
    if (not parts or len(parts) > 2 or not parts[0].isdigit() or len(parts[0]) > 12
            or (len(parts) == 2 and parts[1].upper() != "LAST")):
        # Without a size the chunk cannot be skipped: end the session so that its
        # bytes are never read as commands.
        await self.close_with(syntax_error("BDAT size [LAST]") + "; đóng kết nối / closing")
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
        error = too_big(limit)
    try:
        await wire.read_chunk(self.reader, size, buffer if error is None else None,
                              self.app.settings.smtp.data_timeout, self._reset_timeout)
    except DeadlineExceeded:
        await self.close_with(DATA_TIMEOUT)
        return
    if error is not None:
        # RFC 3030 section 2: the chunk is consumed; the transaction is failed.
        envelope.bdat_error = error
        if last or not envelope.rcpt_tos:
            self.reset_transaction()
        await self.push(error)
        return
    envelope.bdat = buffer
    if not last:
        await self.push(f"250 2.0.0 Đã nhận {size} byte / {size} octets received")
        return
    content = bytes(buffer)
    problem = _check_content(self, content)
    if problem is not None:
        self.reset_transaction()
        await self.push(problem)
        return
    await deliver(self, content)


def _check_content(session: SMTPSession, content: bytes) -> str | None:
    problem = wire.check_content(content, session.app.settings.smtp.max_line_length)
    if problem is not None and problem.startswith("554"):
        event("smtp.bare_newline", door=session.door, peer=session.ct_session.peer_ip,
              mail_from=session.ct_envelope.sender)
    return problem


async def deliver(session: SMTPSession, content: bytes) -> None:
    """Hand the message to the DATA hook and send its reply; the transaction ends."""
    envelope = session.ct_envelope
    envelope.content = envelope.original_content = content
    session.busy = True  # a stopping server lets this finish (server.SMTPService.stop)
    try:
        status = await session.call_hook("DATA")
        await session.push(status)
    finally:
        session.busy = False
        session.reset_transaction()


# -- what is done with it -----------------------------------------------------------------


async def handle_DATA(server: SMTPSession, session: CTSession, envelope: CTEnvelope) -> str:
    """aiosmtpd's DATA hook: the reply to the message of this transaction."""
    content = envelope.original_content or b""
    if server.door == "submission":
        return await _submission(server, session, envelope, content)
    return await _inbound(server, session, envelope, content)


def malformed_authors(authors: Authors) -> str | None:
    """RFC 5322 section 3.6: one From and at most one Sender field. Several From fields
    leave the author to the reader's choice: refused (RFC 7489 section 6.6.1)."""
    if authors.overflow:
        return "554 5.6.0 Phần đầu thư quá lớn / message header too large to check"
    if authors.count("from") > 1 or authors.count("sender") > 1:
        return ("554 5.6.0 Thư có nhiều trường From hoặc Sender / "
                "message has more than one From or Sender field")
    return None


def _received(server: SMTPSession, session: CTSession, envelope: CTEnvelope, queue_id: str) -> bytes:
    rcpts = envelope.recipients
    return delivery.received(
        server.app, helo=session.host_name or "unknown", ip=session.peer_ip,
        protocol=delivery.with_protocol(esmtp=bool(session.extended_smtp), secure=session.secure,
                                        authenticated=bool(session.authenticated),
                                        utf8=bool(envelope.smtp_utf8)),
        tls=tls_description(session), queue_id=queue_id,
        for_addr=rcpts[0].address if len(rcpts) == 1 else "",
    )


async def _inbound(server: SMTPSession, session: CTSession, envelope: CTEnvelope, content: bytes) -> str:
    app = server.app
    settings = app.settings
    utf8 = bool(envelope.smtp_utf8)
    # Who the message says wrote it, read once, as a mail client will show it; the
    # decisions below use nothing else (and none depends on DNS for unsigned mail).
    authors = read_authors(content)
    malformed = malformed_authors(authors)
    if malformed is not None:
        event("smtp.authors_refused", peer=session.peer_ip, mail_from=envelope.sender,
              from_fields=authors.count("from"), sender_fields=authors.count("sender"))
        return malformed
    # Mail from outside that shows one of our domains as its author (From, Sender,
    # Resent-From, Resent-Sender: any address a client shows there) must carry a valid
    # DKIM signature of ours: our users submit on 587/465, and that mail is signed. An
    # unsigned message needs no DNS for this, so the answer never waits for DNS or
    # depends on what it says.
    dkim = await authres.check_dkim(app, content)
    ours = addresses.local_domains(app)
    claimed = [d for d in authors.claimed_domains() if d in ours]
    if claimed and not any(normal_domain(d) in ours for result, d in dkim if result == "pass"):
        event("smtp.spoof_refused", peer=session.peer_ip, mail_from=envelope.sender,
              from_domain=claimed[0], shown=authors.shown_sender()[:300], where="From")
        return (f"550 5.7.1 Thư giả mạo địa chỉ {claimed[0]} / message claims to be from "
                f"{claimed[0]} but was not sent by its server")
    verdict = await authres.evaluate(app, content, authors, session.peer_ip, envelope.sender,
                                     session.host_name or "", spf=envelope.spf, dkim=dkim)
    enforce = settings.smtp.dmarc_enforce
    if verdict.dmarc == "fail" and verdict.dmarc_policy == "reject" and enforce == "reject":
        event("smtp.dmarc_rejected", peer=session.peer_ip, mail_from=envelope.sender,
              from_domain=verdict.from_domain)
        return (f"550 5.7.1 Thư không qua kiểm tra DMARC của {verdict.from_domain} / "
                f"message fails the DMARC policy of {verdict.from_domain}")
    quarantine = (verdict.dmarc == "fail" and verdict.dmarc_policy in ("quarantine", "reject")
                  and enforce != "none")
    queue_id = delivery.new_id()
    body = delivery.strip_authres(content, settings.system.hostname)
    final = (delivery.return_path(envelope.sender) + verdict.header(settings.system.hostname)
             + _received(server, session, envelope, queue_id) + body)
    return await _deliver_local_and_queue(
        server, session, envelope, final, queue_id, utf8, folder="Junk" if quarantine else "INBOX",
        auth={"spf": verdict.spf, "dkim": ",".join(r for r, _d in verdict.dkim) or "none", "dmarc": verdict.dmarc},
    )


async def _submission(server: SMTPSession, session: CTSession, envelope: CTEnvelope, content: bytes) -> str:
    app = server.app
    settings = app.settings
    utf8 = bool(envelope.smtp_utf8)
    mailbox = session.mailbox
    assert mailbox is not None
    # Every author field, resent ones too (RFC 5322 sections 3.6.2, 3.6.6): each
    # address, and each address of our domains a client would show there (a display
    # name, a comment), must be the user's or delegated to them.
    authors = read_authors(content)
    if not authors.from_:
        return "554 5.6.0 Thư không có trường From / message has no From field"
    ours = addresses.local_domains(app)
    checked = [f"{a.local}@{a.normal_domain}" if a.domain else a.address for a in authors.addresses()]
    checked += [c for c in authors.claimed() if c.rpartition("@")[2] in ours]
    for author in dict.fromkeys(checked):
        if not await can_send_as(app, mailbox.id, author):
            event("smtp.spoof_refused", user=mailbox.address, from_addr=author, where="From")
            return (f"550 5.7.1 Bạn không được gửi thư với địa chỉ {author} / "
                    f"you may not send as {author}")
    malformed = malformed_authors(authors)
    if malformed is not None:
        return malformed
    # RFC 6409 section 8.2, 8.3: a submission server may add Date and Message-ID.
    added = b""
    if not has_field(content, "Date"):
        added += f"Date: {email.utils.formatdate(localtime=True)}\r\n".encode("ascii")
    if not has_field(content, "Message-ID"):
        domain = addresses.domain_of(envelope.sender) or settings.system.domain
        added += f"Message-ID: {email.utils.make_msgid(domain=domain if domain.isascii() else None)}\r\n".encode("ascii")
    content = added + content
    queue_id = delivery.new_id()
    trace = _received(server, session, envelope, queue_id)
    reply = await _deliver_local_and_queue(server, session, envelope, delivery.return_path(envelope.sender) + trace
                                           + content, queue_id, utf8, remote_raw=trace + content)
    if reply.startswith("250"):
        await ratelimit.count_sent(app, mailbox.id)
        # Điều 4.1: a request mailed to admin@ from an organisation's mailbox is filed
        # (congthu.requests.bymail); the sender is proven: it logged in, and every author
        # field passed can_send_as above.
        admin = f"{settings.system.admin_address}@{settings.system.domain}".lower()
        if admin in {r.lower() for r in envelope.rcpt_tos}:
            app.spawn(bymail.handle(app, content, sender=authors.from_[0].address, trusted=True))
    return reply


async def _deliver_local_and_queue(
    server: SMTPSession, session: CTSession, envelope: CTEnvelope, final: bytes, queue_id: str, utf8: bool, *,
    folder: str = "INBOX", remote_raw: bytes | None = None, auth: dict[str, str] | None = None,
) -> str:
    """The content pipeline, then local delivery of ``final`` and queueing of ``remote_raw``
    (DKIM-signed here) for the remote recipients; the reply to DATA."""
    app = server.app
    settings = app.settings
    local = [r for r in envelope.recipients if r.mailbox_id is not None]
    remote = [r for r in envelope.recipients if r.mailbox_id is None]
    analysis = await delivery.analyse(app, final if local or remote_raw is None else remote_raw,
                                      settings.smtp.analysis_processes)
    # The content pipeline (Điều 7.8, 8.1, 9.9, 13.3): refuse, defer, hold, or deliver
    # (to Junk) with the scan's trace fields, for which the message is analysed again.
    decision = await pipeline.check(app, pipeline.Message(
        server.door, final if local or remote_raw is None else remote_raw, analysis, envelope.sender,
        [(r.address, r.mailbox_id) for r in envelope.recipients], peer=session.peer_ip,
        helo=session.host_name or "", user=session.mailbox.address if session.mailbox else "",
        queue_id=queue_id, auth=auth or {}, utf8=utf8))
    if decision.reply:
        return decision.reply
    folder = decision.folder or folder
    if decision.header:
        final = decision.header + final
        analysis = await delivery.analyse(app, final, settings.smtp.analysis_processes)
    delivered: list[str] = []
    deferred: list[Recipient] = []
    failed: list[RecipientStatus] = []
    temp_reasons: list[str] = []
    if local:
        results = await delivery.deliver(
            app, final, [r.mailbox_id for r in local if r.mailbox_id is not None], analysis=analysis,
            folder=folder, usage={r.mailbox_id: (r.used + len(final), r.quota) for r in local if r.mailbox_id},
        )
        by_id = {res.mailbox_id: res for res in results}
        for rcpt in local:
            res = by_id.get(rcpt.mailbox_id or 0)
            if res is not None and res.ok:
                delivered.append(rcpt.address)
                addresses.note_delivered(app, rcpt.address, len(final))
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
        if signer_domain not in addresses.local_domains(app):
            signer_domain = settings.system.domain
        signed = await dkimsign.sign(app, remote_raw, signer_domain)
        await queue.enqueue(app, signed, envelope.sender, [(r.address, None) for r in remote],
                            mailbox_id=session.mailbox.id if session.mailbox else None)
    if deferred:
        await queue.enqueue(app, final, envelope.sender, [(r.address, r.mailbox_id) for r in deferred],
                            delay=settings.smtp.retry_first_seconds)
    if failed and envelope.sender:
        await queue.send_dsn(app, envelope.sender, final, failed, "failed", datetime.now(utcnow().tzinfo))
    event("smtp.accepted", door=server.door, id=queue_id, peer=session.peer_ip, mail_from=envelope.sender,
          user=session.mailbox.address if session.mailbox else "", size=len(final),
          delivered=len(delivered), queued=len(remote), deferred=len(deferred), bounced=len(failed))
    return f"250 2.0.0 Đã nhận thư / message accepted, id {queue_id}"
