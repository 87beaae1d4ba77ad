"""The submission checks (RFC 6409) and the submission of a message, for every door that
submits: ports 587/465 (``cmd_mail``, ``cmd_data``) and the webmail (``submit``), so both
refuse the same things with the same replies and deliver the same way (``accept``).

The checks, in the order an SMTP transaction makes them:
  sender      the user's or delegated to them (``congthu.delegation.can_send_as``);
              ``smtp.messages_per_hour`` per user (``ratelimit``)
  recipients  at most ``smtp.max_recipients``; a local address must exist and have room
              (Điều 8.1); a remote one passes Điều 7.7 (``congthu.content.rules``)
  content     ``message_max_bytes``; line rules (``wire.check_content``); every author
              field the user's or delegated; one From, at most one Sender; Date and
              Message-ID added if missing (section 8); then the content pipeline,
              delivery and the queue (``accept``); the sent count; Điều 4.1 requests.

``submit`` runs them all for a message that comes whole (the webmail): its ``Outcome``
holds the reply an SMTP client would have got.
"""

from __future__ import annotations

import email.utils
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from congthu.content import rules
from congthu.delegation import can_send_as
from congthu.log import event
from congthu.mime.authors import Authors, read_authors
from congthu.mime.headers import has_field
from congthu.requests import bymail
from congthu.smtp import addresses, delivery, ratelimit, wire
from congthu.smtp.accept import Arrival, deliver_local_and_queue
from congthu.smtp.errors import too_big
from congthu.smtp.session import Recipient
from congthu.store import Mailbox, normalise_address

if TYPE_CHECKING:
    from congthu.app import App

__all__ = ["Outcome", "check_recipient", "check_sender", "malformed_authors", "submission", "submit"]


@dataclass(frozen=True)
class Outcome:
    """The reply to a submitted message, as an SMTP client would get it."""

    reply: str

    @property
    def ok(self) -> bool:
        return self.reply.startswith("2")

    @property
    def temporary(self) -> bool:
        return self.reply.startswith("4")

    @property
    def text(self) -> str:
        """The words of the reply, without its codes ("Vietnamese / English")."""
        parts = self.reply.split(" ", 2)
        if len(parts) == 3 and parts[1][:1].isdigit() and "." in parts[1]:
            return parts[2]
        return self.reply.partition(" ")[2]

    @property
    def vietnamese(self) -> str:
        return self.text.split(" / ", 1)[0]


async def check_sender(app: App, mailbox: Mailbox, sender: str) -> str | None:
    """MAIL on a submission door: the refusal, or None."""
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
    return None


async def check_recipient(app: App, address: str, accepted: Sequence[Recipient], *, door: str,
                          authenticated: bool, user: str, sender: str, size_hint: int,
                          utf8: bool, peer: str = "") -> tuple[str, Recipient | None]:
    """RCPT on any door: the reply, and the recipient to add (None when refused or
    already there)."""
    settings = app.settings
    if address.lower() == "postmaster":  # RFC 5321 section 4.1.1.3
        address = f"postmaster@{settings.system.domain}"
    if not addresses.valid_mailbox(address, utf8):
        return "553 5.1.3 Địa chỉ người nhận không hợp lệ / invalid recipient address", None
    limit = settings.smtp.mx_max_recipients if door == "mx" else settings.smtp.max_recipients
    if len(accepted) >= limit:
        return (f"452 4.5.3 Quá nhiều người nhận (tối đa {limit} mỗi thư) / "
                f"too many recipients (at most {limit} per message)"), None
    if addresses.is_local(app, address):
        address = normalise_address(address)
        if any(r.address == address for r in accepted):
            return "250 2.1.5 OK", None
        try:
            found = await addresses.lookup(app, address)
        except addresses.RecipientRefused as exc:  # an alias to foreign free-mail (Điều 7.7)
            rules.log_refusal(exc.refusal, user=user, recipient=address, door=door)
            return exc.refusal.smtp_reply(utf8), None
        if found is None:
            return f"550 5.1.1 Không có hộp thư {address} / no such mailbox: {address}", None
        mailbox_id, used, quota = found
        if size_hint > quota:
            return (f"552 5.2.2 Thư lớn hơn dung lượng hộp thư {address} / "
                    f"message larger than the mailbox quota of {address}"), None
        if used + max(size_hint, 1) > quota:
            return (f"452 4.2.2 Hộp thư {address} đã đầy (Điều 8.1) / mailbox full: {address}"), None
        return "250 2.1.5 OK", Recipient(address, mailbox_id, used, quota)
    if door == "mx" or not authenticated:
        event("smtp.relay_denied", peer=peer, mail_from=sender, rcpt=address)
        return "554 5.7.1 Không chuyển tiếp thư đến tên miền khác / relay access denied", None
    if any(r.address == address for r in accepted):
        return "250 2.1.5 OK", None
    refusal = rules.check_recipient(settings, address)
    if refusal is not None:
        rules.log_refusal(refusal, user=user, recipient=address)
        return refusal.smtp_reply(utf8), None
    return "250 2.1.5 OK", Recipient(address, None)


def malformed_authors(authors: Authors) -> str | None:
    """RFC 5322 section 3.6: one From and at most one Sender field. Several From fields
    leave the author to the reader's choice: refused (RFC 7489 section 6.6.1)."""
    if authors.overflow:
        return "554 5.6.0 Phần đầu thư quá lớn / message header too large to check"
    if authors.count("from") > 1 or authors.count("sender") > 1:
        return ("554 5.6.0 Thư có nhiều trường From hoặc Sender / "
                "message has more than one From or Sender field")
    return None


async def submission(app: App, arrival: Arrival, content: bytes, trace: bytes, queue_id: str) -> str:
    """DATA on a submission door, once the bytes are read and checked: the author
    fields, Date and Message-ID, then delivery; the reply. ``trace`` is the Received
    field for ``queue_id``."""
    settings = app.settings
    mailbox = arrival.mailbox
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
        domain = addresses.domain_of(arrival.sender) or settings.system.domain
        added += f"Message-ID: {email.utils.make_msgid(domain=domain if domain.isascii() else None)}\r\n".encode("ascii")
    content = added + content
    reply = await deliver_local_and_queue(app, arrival, delivery.return_path(arrival.sender) + trace + content,
                                          queue_id, remote_raw=trace + content, sent=content)
    if reply.startswith("250"):
        await ratelimit.count_sent(app, mailbox.id)
        # Điều 4.1: a request mailed to admin@ from an organisation's mailbox is filed
        # (congthu.requests.bymail); the sender is proven: it logged in, and every author
        # field passed can_send_as above.
        admin = f"{settings.system.admin_address}@{settings.system.domain}".lower()
        if admin in {r.address.lower() for r in arrival.recipients}:
            app.spawn(bymail.handle(app, content, sender=authors.from_[0].address, trusted=True))
    return reply


async def submit(app: App, mailbox: Mailbox, envelope_from: str, recipients: Sequence[str], content: bytes, *,
                 client_ip: str, door: str = "web", secure: bool = False) -> Outcome:
    """Submit a whole message as an authenticated SMTP client would on port 587: every
    check of MAIL, RCPT and DATA in turn, the first refusal ends it (an SMTP client would
    not send DATA without an accepted recipient, and the webmail sends nothing when one
    recipient is refused). ``content`` uses CRLF line ends."""
    settings = app.settings
    utf8 = True
    refusal = await check_sender(app, mailbox, envelope_from)
    if refusal is not None:
        return Outcome(refusal)
    if len(content) > settings.message_max_bytes:
        return Outcome(too_big(settings.message_max_bytes))
    accepted: list[Recipient] = []
    for address in recipients:
        reply, recipient = await check_recipient(
            app, address, accepted, door=door, authenticated=True, user=mailbox.address, sender=envelope_from,
            size_hint=len(content), utf8=utf8, peer=client_ip)
        if not reply.startswith("2"):
            return Outcome(reply)
        if recipient is not None:
            accepted.append(recipient)
    if not accepted:
        return Outcome("503 5.5.1 Chưa có người nhận (RCPT) / need RCPT command")
    problem = wire.check_content(content, settings.smtp.max_line_length)
    if problem is not None:
        return Outcome(problem)
    queue_id = delivery.new_id()
    trace = delivery.received(app, helo=door, ip=client_ip, protocol="HTTPS" if secure else "HTTP",
                              queue_id=queue_id, for_addr=accepted[0].address if len(accepted) == 1 else "")
    arrival = Arrival(door, client_ip, door, envelope_from, accepted, utf8, mailbox)
    return Outcome(await submission(app, arrival, content, trace, queue_id))
