"""Accepting a message whose envelope and content were checked: the content pipeline
(``congthu.content.pipeline``), local delivery, the durable queue (DKIM-signed for remote
recipients), DSNs; the reply to DATA.

Shared by the MX (``cmd_data``) and every submission door (``submit``: ports 587/465 and
the webmail), so a message is delivered one way whatever door it came in by.

Nothing accepted is lost and nothing is delivered twice: the reply is 250 once every
recipient is either delivered, queued (a local mailbox full since RCPT waits in the
queue) or bounced with a DSN; only when no recipient could take the message is it
refused as a whole (so the client's retry duplicates nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from congthu.content import pipeline
from congthu.journal.entries import Sent, record_sent
from congthu.log import event
from congthu.mailrules.delivered import after_delivery
from congthu.smtp import addresses, delivery, dkimsign, queue
from congthu.smtp.dsn import RecipientStatus, wants
from congthu.smtp.errors import IdReply
from congthu.smtp.session import Recipient
from congthu.store import Mailbox, QuotaExceeded, utcnow

if TYPE_CHECKING:
    from congthu.app import App

__all__ = ["Arrival", "deliver_local_and_queue"]


@dataclass
class Arrival:
    """Where a message came from: the door ("mx", "submission", "web"), the client and,
    on the submission doors, the signed-in mailbox."""

    door: str
    peer: str
    helo: str
    sender: str
    recipients: list[Recipient]
    utf8: bool
    mailbox: Mailbox | None = None
    ret: str = ""  # RFC 3461 RET and ENVID of MAIL (the recipients hold NOTIFY and ORCPT)
    envid: str = ""

    @property
    def content_door(self) -> str:
        """The door as the content rules know it: the webmail is a submission door."""
        return "mx" if self.door == "mx" else "submission"


async def deliver_local_and_queue(
    app: App, arrival: Arrival, final: bytes, queue_id: str, *,
    folder: str = "INBOX", remote_raw: bytes | None = None, auth: dict[str, str] | None = None,
    sent: bytes | None = None,
) -> str:
    """The content pipeline, then local delivery of ``final`` and queueing of ``remote_raw``
    (DKIM-signed here) for the remote recipients; the reply to DATA. ``sent``: on a
    submission door, the message as sent (without trace fields), for the journal."""
    settings = app.settings
    user = arrival.mailbox.address if arrival.mailbox else ""
    local = [r for r in arrival.recipients if r.mailbox_id is not None]
    remote = [r for r in arrival.recipients if r.mailbox_id is None]
    checked = final if local or remote_raw is None else remote_raw
    # The one analysis of the message: the content rules read its structure and text.
    analysis = await delivery.analyse(app, checked, settings.smtp.analysis_processes)
    # The content pipeline (Điều 7.8, 8.1, 9.9, 13.3): refuse, defer, hold, or deliver
    # (to Junk) with the scan's trace fields, for which the message is analysed again.
    decision = await pipeline.check(app, pipeline.Message(
        arrival.content_door, checked, analysis, arrival.sender,
        [(r.address, r.mailbox_id) for r in arrival.recipients], peer=arrival.peer,
        helo=arrival.helo, user=user, queue_id=queue_id, auth=auth or {}, utf8=arrival.utf8))
    sender_id = arrival.mailbox.id if arrival.mailbox else None
    # The reports' counters (Điều 9.13): spam, viruses, "Mật" stopped.
    app.reports.verdict(decision.outcome, decision.rule, sender_id, [r.mailbox_id for r in local])
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
                failed.append(RecipientStatus(rcpt.address, "5.2.2", str(res.error), original=rcpt.orcpt))
            else:
                deferred.append(rcpt)
                temp_reasons.append(str(res.error) if res is not None else "not delivered")
        # Per-mailbox rules (congthu.mailrules): forwarding, the vacation reply (RFC 3834).
        await after_delivery(app, arrival.sender, final, folder, results,
                             {r.mailbox_id: r.address for r in local if r.mailbox_id})
    if not delivered and not remote:
        # Nobody took it: refuse the whole message, the client keeps it (no duplicate).
        if deferred:
            return f"452 4.2.2 {temp_reasons[0]}"
        return f"552 5.2.2 {failed[0].diagnostic}" if failed else "451 4.3.0 Lỗi tạm thời / temporary error"
    if remote:
        assert remote_raw is not None
        signer_domain = addresses.domain_of(arrival.sender)
        if signer_domain not in addresses.local_domains(app):
            signer_domain = settings.system.domain
        signed = await dkimsign.sign(app, remote_raw, signer_domain)
        await queue.enqueue(app, signed, arrival.sender, [(r.address, None) for r in remote],
                            mailbox_id=arrival.mailbox.id if arrival.mailbox else None,
                            dsn=queue.DSNRequest.of(arrival.ret, arrival.envid, remote))
    if deferred:
        await queue.enqueue(app, final, arrival.sender, [(r.address, r.mailbox_id) for r in deferred],
                            delay=settings.smtp.retry_first_seconds,
                            dsn=queue.DSNRequest.of(arrival.ret, arrival.envid, deferred))
    # RFC 3461: the notices each recipient's NOTIFY asks for (failures by default).
    notify = {r.address: r.notify for r in arrival.recipients}
    failed_notice = [f for f in failed if wants(notify.get(f.address, ""), "FAILURE")]
    success_notice = [RecipientStatus(r.address, "2.0.0", original=r.orcpt) for r in local
                      if r.address in delivered and wants(r.notify, "SUCCESS")]
    for action, group in (("failed", failed_notice), ("delivered", success_notice)):
        if group and arrival.sender:
            await queue.send_dsn(app, arrival.sender, final, group, action, datetime.now(utcnow().tzinfo),
                                 envid=arrival.envid, ret=arrival.ret)
    # The reports' counters: sent by a local mailbox, received by each local one that took it.
    taken = set(delivered)
    app.reports.mail(sender_id, arrival.sender, [(r.address, r.mailbox_id) for r in local if r.address in taken]
                     + [(r.address, None) for r in remote], decision.document_type)
    if sent is not None:
        # Điều 7.3–7.5: mail between organisation mailboxes kept as sent (congthu.journal).
        await record_sent(app, Sent(sent, arrival.door, queue_id, arrival.sender,
                                    [(r.address, r.mailbox_id) for r in arrival.recipients], user,
                                    sender_id, decision.document_type))
    event("smtp.accepted", door=arrival.door, id=queue_id, peer=arrival.peer, mail_from=arrival.sender,
          user=user, size=len(final), delivered=len(delivered), queued=len(remote), deferred=len(deferred),
          bounced=len(failed))
    return IdReply("250 2.0.0 Đã nhận thư / message accepted, id ", queue_id)
