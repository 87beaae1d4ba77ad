"""The one content pipeline of every message, in (MX) and out (submission), before it is
delivered or queued (``congthu.smtp.cmd_data``). Its steps, in order:

1. Size and attachment rules, markings in the subject and file names
   (Điều 8.1; Điều 7.8, 13.3): ``rules.check_message``. Refused: 552 5.3.4, 550 5.7.1.
2. Virus scan (Điều 9.9) by clamd's INSTREAM (``clamd.py``), when ``content.clamd`` is
   set: a virus is refused in the transaction (554 5.7.1, RFC 3463) or quarantined
   (``content.virus_action``; mail from our own users is always refused, so they know).
3. Spam scoring (Điều 9.9) by rspamd's /checkv2 (``rspamd.py``), when ``content.rspamd``
   is set, with our SPF/DKIM/DMARC results, the client's IP and HELO, the envelope and
   the authenticated user: "reject" is refused, delivered to Junk or quarantined
   (``content.spam_action``; outgoing spam is always refused); "add header" and
   "rewrite subject" go to Junk; "soft reject" is deferred (451 4.7.1).
4. Content rules: the classified stamp in the body and the attached documents' text
   (Điều 7.8, 13.3; ``classified.py``, ``extract.py``), when
   ``content.classified_in_content``: refused (550 5.7.1).
5. The outcome: deliver, deliver to Junk, quarantine (250 to the sender, the recipients
   told), refuse or defer in the SMTP transaction with the reason in Vietnamese and
   English. Every outcome but a plain delivery goes to the audit trail with its reason.
6. For a message delivered (to Junk too): the type of document it carries (Điều 7.1–7.2,
   ``doctypes.py``), once, in ``Decision.document_type``, for the reports and the
   journal. The attachments' text is extracted once for steps 4 and 6, from the
   message's one analysis (its structure, its body's first lines: ``extract.py``).

Both scanners are asked at once, each with ``content.timeout``. One that is down or slow
gives, by ``content.unavailable``, a temporary failure (451 4.3.0: the sender keeps the
message and retries; the default) or delivery with an ``X-CongThu-Scan`` field saying
what was not scanned. Never a silent loss, never a wait without end.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from congthu import audit, mime
from congthu.content import clamd, classified, doctypes, extract, quarantine, rspamd, rules
from congthu.content.errors import (
    ScannerUnavailable,
    classified_reply,
    spam_reply,
    spam_soft_reply,
    unavailable_reply,
    virus_reply,
)
from congthu.log import event
from congthu.text import unaccent

if TYPE_CHECKING:
    from congthu.app import App

__all__ = ["Decision", "Message", "check"]


@dataclass
class Message:
    """One message at the end of its SMTP transaction, and what the server knows of it."""

    door: str  # "mx" or "submission"
    raw: bytes
    analysis: mime.Analysis
    mail_from: str
    recipients: list[tuple[str, int | None]]  # (address, local mailbox id or None)
    peer: str = ""
    helo: str = ""
    user: str = ""  # the authenticated user (submission)
    queue_id: str = ""
    auth: dict[str, str] = field(default_factory=dict)  # "spf", "dkim", "dmarc" -> result
    utf8: bool = True  # SMTPUTF8: else replies are ASCII (RFC 5321 section 4.2)
    # The text of the body and attachments (``extract.documents``), once extracted.
    documents: list[extract.Document] | None = None


@dataclass
class Decision:
    """What to do with the message. ``reply`` set: the transaction's answer, nothing more
    to do (refused, deferred, or held in the quarantine); else deliver, to ``folder``,
    with ``header`` (trace fields of the scan) before the message."""

    outcome: str  # "deliver", "junk", "quarantine", "refuse", "tempfail"
    reply: str = ""
    rule: str = ""
    reason: str = ""
    header: bytes = b""
    # Điều 7.1–7.2: the key of the document type the message carries
    # (``doctypes.document_type``), for a message delivered; else None.
    document_type: str | None = None

    @property
    def folder(self) -> str | None:
        return "Junk" if self.outcome == "junk" else None


def _ascii(reply: str, utf8: bool) -> str:
    return reply if utf8 else unaccent(reply).encode("ascii", "replace").decode("ascii")


async def _virus(app: App, raw: bytes) -> clamd.VirusScan | ScannerUnavailable | None:
    settings = app.settings.content
    if not settings.clamd:
        return None
    try:
        return await clamd.instream(settings.clamd, raw, settings.timeout)
    except ScannerUnavailable as exc:
        return exc


async def _spam(app: App, message: Message) -> rspamd.SpamCheck | ScannerUnavailable | None:
    settings = app.settings.content
    if not settings.rspamd:
        return None
    try:
        return await rspamd.check(
            settings.rspamd, message.raw, seconds=settings.timeout, ip=message.peer, helo=message.helo,
            mail_from=message.mail_from, recipients=[a for a, _m in message.recipients], user=message.user,
            queue_id=message.queue_id, hostname=app.settings.system.hostname, auth=message.auth)
    except ScannerUnavailable as exc:
        return exc


# A message with attachments up to this size has them read on the event loop (about
# 0.15 ms for a 10 KB text attachment): a hop to a worker thread and back costs as much.
INLINE_EXTRACT = 32 * 1024


def _limits(app: App) -> extract.Limits:
    content = app.settings.content
    return extract.Limits(content.extract_max_mb * 1024 * 1024, content.extract_max_files,
                          content.extract_max_depth)


async def _documents(app: App, message: Message) -> list[extract.Document]:
    """The text of the message's body and attachments, once (bounded by the
    ``content.extract_max_*`` settings): the body's first lines are the analysis's
    (``Analysis.body_lines``), the message is not parsed again; attachments are read in
    a worker thread (small ones at once)."""
    if message.documents is None:
        analysis, limits = message.analysis, _limits(app)
        if len(message.raw) <= INLINE_EXTRACT or (analysis.root is not None
                                                  and not extract.reads_attachments(analysis.root)):
            message.documents = extract.documents(message.raw, limits, analysis)
        else:
            message.documents = await asyncio.to_thread(extract.documents, message.raw, limits, analysis)
    return message.documents


async def _document_type(app: App, message: Message) -> str | None:
    """Step 6 (Điều 7.1–7.2). Attachments are read for their heading only when there
    are some (a message without them costs no extraction)."""
    documents = await _documents(app, message) if message.analysis.attachments else []
    return doctypes.document_type(message.raw, message.analysis.subject, documents)


async def check(app: App, message: Message) -> Decision:
    """Run the pipeline on ``message``; the decision is audited (but plain deliveries)."""
    decision = await _decide(app, message)
    if decision.outcome in ("deliver", "junk"):
        decision.document_type = await _document_type(app, message)
    if decision.outcome == "quarantine":
        held_id = await quarantine.hold(
            app, message.raw, door=message.door, mail_from=message.mail_from, recipients=message.recipients,
            subject=message.analysis.subject, rule=decision.rule, reason=decision.reason)
        decision.reply = (f"250 2.0.0 Đã nhận thư, thư được giữ lại để kiểm tra / message accepted and held "
                          f"for review, id {message.queue_id}")
        decision.reason += f" (quarantine id {held_id})"
    if decision.outcome != "deliver" or decision.header:
        await audit.record(
            app, f"content.{decision.outcome}", message.user or message.mail_from or "<>",
            ",".join(a for a, _m in message.recipients)[:320],
            {"rule": decision.rule, "reason": decision.reason, "door": message.door, "id": message.queue_id,
             "subject": message.analysis.subject[:200], "mail_from": message.mail_from},
            client=message.peer)
    if decision.reply:
        decision.reply = _ascii(decision.reply, message.utf8)
    return decision


async def _decide(app: App, message: Message) -> Decision:
    settings = app.settings
    content = settings.content
    analysis = message.analysis
    outgoing = message.door == "submission"
    # 1. Điều 8.1; 7.8, 13.3 (subject, file names).
    refusal = rules.check_message(settings, analysis.subject, analysis.attachments)
    if refusal is not None:
        rules.log_refusal(refusal, door=message.door, peer=message.peer, mail_from=message.mail_from,
                          user=message.user, recipients=[a for a, _m in message.recipients],
                          subject=analysis.subject)
        return Decision("refuse", refusal.smtp_reply(), refusal.rule, refusal.english)
    # 2, 3. Điều 9.9: both scanners at once. Without scanners nothing is awaited: the
    # gather's two tasks would hand the event loop over twice (to every other session's
    # work) for two Nones.
    virus: clamd.VirusScan | ScannerUnavailable | None = None
    spam: rspamd.SpamCheck | ScannerUnavailable | None = None
    if content.clamd or content.rspamd:
        virus, spam = await asyncio.gather(_virus(app, message.raw), _spam(app, message))
    unscanned: list[str] = []
    for name, result in (("clamd", virus), ("rspamd", spam)):
        if isinstance(result, ScannerUnavailable):
            event("content.scanner_unavailable", scanner=name, error=str(result), id=message.queue_id)
            if content.unavailable == "tempfail":
                return Decision("tempfail", unavailable_reply(name), "9.9", f"{name} unavailable: {result}")
            unscanned.append(name)
    if isinstance(virus, clamd.VirusScan) and not virus.clean:
        reason = f"virus {virus.virus}"
        if content.virus_action == "quarantine" and not outgoing:
            return Decision("quarantine", rule="9.9 virus", reason=reason)
        return Decision("refuse", virus_reply(virus.virus), "9.9 virus", reason)
    folder_junk = False
    spam_header = b""
    spam_reason = ""
    if isinstance(spam, rspamd.SpamCheck):
        reason = f"spam: rspamd {spam.action}, score {spam.score:.2f}/{spam.required_score:.2f}"
        if spam.action == "reject":
            if outgoing or content.spam_action == "refuse":
                return Decision("refuse", spam_reply(), "9.9 spam", reason)
            if content.spam_action == "quarantine":
                return Decision("quarantine", rule="9.9 spam", reason=reason)
            folder_junk = True
        elif spam.action == "soft reject":
            return Decision("tempfail", spam_soft_reply(), "9.9 spam", reason)
        elif spam.action in ("add header", "rewrite subject") and not outgoing:
            folder_junk = True
        if folder_junk:
            spam_header, spam_reason = spam.header(), reason
    # 4. Điều 7.8, 13.3: the stamp in the body and the documents.
    if content.classified_in_content:
        found = classified.find_stamp(await _documents(app, message), settings.policy.classified_markings)
        if found is not None:
            marking, document = found
            where_vi = f"tệp {document.name}" if document.name else "nội dung thư"
            where_en = f"attachment {document.name}" if document.name else "message body"
            refusal = rules.Refusal("7.8", 550, "5.7.1", where_vi, f"classified stamp {marking} in {where_en}")
            rules.log_refusal(refusal, door=message.door, peer=message.peer, mail_from=message.mail_from,
                              user=message.user, recipients=[a for a, _m in message.recipients],
                              subject=analysis.subject, where=where_en)
            return Decision("refuse", classified_reply(marking, where_vi, where_en), "7.8",
                            f"classified stamp {unaccent(marking)} in {where_en}")
    # 5. Deliver (to Junk), saying what was not scanned.
    header = spam_header
    if unscanned:
        header += (f"X-CongThu-Scan: not scanned, unavailable: {', '.join(unscanned)}\r\n").encode("ascii")
    if folder_junk:
        return Decision("junk", rule="9.9 spam", reason=spam_reason, header=header)
    return Decision("deliver", rule="9.9" if unscanned else "",
                    reason=f"not scanned: {', '.join(unscanned)} unavailable" if unscanned else "", header=header)
