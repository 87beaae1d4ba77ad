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

Submission (587 STARTTLS, 465 TLS), RFC 6409: ``submit.submission``, the same checks
the webmail's messages pass (every author address the user's or delegated to them; one
From, at most one Sender; Date and Message-ID added if missing; the content rules);
local recipients delivered at once, remote ones DKIM-signed into the durable queue
(``accept``); then 250.
"""

from __future__ import annotations

from aiosmtpd.smtp import syntax

from congthu.log import event
from congthu.mime.authors import normal_domain, read_authors
from congthu.smtp import addresses, authres, delivery, submit, wire
from congthu.smtp.accept import Arrival, deliver_local_and_queue
from congthu.smtp.errors import DATA_TIMEOUT, DeadlineExceeded, syntax_error, too_big
from congthu.smtp.session import CTEnvelope, CTSession, SMTPSession, tls_description
from congthu.smtp.submit import malformed_authors

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
    return await deliver_local_and_queue(
        app, _arrival(server, session, envelope), final, queue_id, folder="Junk" if quarantine else "INBOX",
        auth={"spf": verdict.spf, "dkim": ",".join(r for r, _d in verdict.dkim) or "none", "dmarc": verdict.dmarc},
    )


async def _submission(server: SMTPSession, session: CTSession, envelope: CTEnvelope, content: bytes) -> str:
    queue_id = delivery.new_id()
    return await submit.submission(server.app, _arrival(server, session, envelope), content,
                                   _received(server, session, envelope, queue_id), queue_id)


def _arrival(server: SMTPSession, session: CTSession, envelope: CTEnvelope) -> Arrival:
    return Arrival(server.door, session.peer_ip, session.host_name or "", envelope.sender, envelope.recipients,
                   bool(envelope.smtp_utf8), session.mailbox, envelope.dsn_ret, envelope.dsn_envid)
