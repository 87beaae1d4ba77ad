"""The vacation auto-reply (RFC 3834): what a mailbox answers while its owner is away.

When a reply is sent (``reply_reason`` says why not, or None):
* the reply is switched on and today (the system's time zone) is within its dates;
* the message was delivered to the Inbox (not Junk, not quarantined);
* never to a null or MAILER-DAEMON return path, ``owner-*``, ``*-request`` (section 2),
  nor to our own address;
* never to mail that says it is automatic: ``Auto-Submitted`` other than "no" (section
  2, RFC 3834 section 5), ``Precedence: bulk / list / junk``, any ``List-*`` field (RFC
  2369, 2919), Microsoft's ``X-Auto-Response-Suppress`` (OOF, AutoReply, All);
* only if the mailbox's address (or the alias it arrived by) is in To or Cc (section 2:
  not to mail that reached us as Bcc or through a list);
* never to a foreign free-mail address (Điều 7.7, issue 17: no automatic mail to such
  services, whatever ``policy.foreign_freemail_action`` says);
* at most once per sender in ``mailrules.vacation_days`` (section 4.2), counted in
  ``mailrules_vacation_replies`` (emptied when the reply is saved again).

The reply (section 3): to the return path (section 3.1.1), with a null return path
itself (section 3.3), ``Auto-Submitted: auto-replied`` (section 5), ``In-Reply-To`` and
``References`` (section 3.1.4), the subject "Trả lời tự động: " and the owner's subject
or the original one (section 3.1.5), From the mailbox (section 3.1.3).
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from congthu.audit import append as audit_append
from congthu.content.rules import automatic_forwarding_refusal
from congthu.mailrules.errors import RuleRefused
from congthu.mailrules.kept import rules_key
from congthu.mailrules.tables import vacation_replies, vacations
from congthu.mime.addresses import parse_addresses
from congthu.mime.words import decode_words
from congthu.store import Mailbox, normalise_address
from congthu.store.changes import account_changed
from congthu.text import nfc

if TYPE_CHECKING:
    from congthu.config import Settings

SUBJECT_PREFIX = "Trả lời tự động: "
MAX_SUBJECT = 200
MAX_BODY = 8000
_AUTOMATIC_PRECEDENCE = {"bulk", "list", "junk"}


@dataclass(frozen=True)
class Vacation:
    """A mailbox's auto-reply as saved."""

    enabled: bool = False
    subject: str = ""
    body: str = ""
    start: date | None = None
    end: date | None = None

    def active_on(self, day: date) -> bool:
        return (self.enabled and bool(self.body.strip()) and (self.start is None or self.start <= day)
                and (self.end is None or day <= self.end))


def today(settings: Settings, now: datetime) -> date:
    """The day of ``now`` in the system's time zone (the dates users type are local)."""
    return now.astimezone(ZoneInfo(settings.system.timezone)).date()


# -- reading and saving ------------------------------------------------------------------


def read_vacation(conn: Connection, mailbox_id: int) -> Vacation:
    row = conn.execute(select(vacations).where(vacations.c.mailbox_id == mailbox_id)).first()
    if row is None:
        return Vacation()
    return Vacation(row.enabled, row.subject, row.body, row.start_date, row.end_date)


def check_vacation(vacation: Vacation) -> Vacation:
    """The reply made tidy, or ``RuleRefused`` for dates in the wrong order, a reply
    switched on without text, or text too long."""
    subject = " ".join(nfc(vacation.subject).split())
    body = nfc(vacation.body).replace("\r\n", "\n").replace("\r", "\n")
    if len(subject) > MAX_SUBJECT:
        raise RuleRefused(f"Tiêu đề dài quá {MAX_SUBJECT} ký tự",
                          f"the subject is longer than {MAX_SUBJECT} characters")
    if len(body) > MAX_BODY:
        raise RuleRefused(f"Nội dung dài quá {MAX_BODY} ký tự",
                          f"the text is longer than {MAX_BODY} characters")
    if vacation.enabled and not body.strip():
        raise RuleRefused("Hãy nhập nội dung thư trả lời tự động", "write the text of the automatic reply")
    if vacation.start and vacation.end and vacation.end < vacation.start:
        raise RuleRefused("Ngày kết thúc trước ngày bắt đầu", "the end date is before the start date")
    return Vacation(vacation.enabled, subject, body, vacation.start, vacation.end)


def save_vacation(conn: Connection, mailbox_id: int, vacation: Vacation, *, at: datetime, actor: str,
                  target: str, client: str = "") -> Vacation:
    """Save the mailbox's reply (checked), forget whom it answered (a new reply goes to
    everyone again), and audit the change, in the caller's transaction."""
    vacation = check_vacation(vacation)
    values = {"enabled": vacation.enabled, "subject": vacation.subject, "body": vacation.body,
              "start_date": vacation.start, "end_date": vacation.end, "updated_at": at}
    done = conn.execute(update(vacations).where(vacations.c.mailbox_id == mailbox_id).values(**values))
    if not done.rowcount:
        conn.execute(insert(vacations).values(mailbox_id=mailbox_id, **values))
    conn.execute(delete(vacation_replies).where(vacation_replies.c.mailbox_id == mailbox_id))
    # Every process and node drops what it kept of this mailbox's rules (``kept.py``).
    account_changed(conn, rules_key(mailbox_id))
    audit_append(conn, at=at, action="mailrules.vacation", actor=actor, target=target, client=client,
                 details={"enabled": vacation.enabled,
                          "start": vacation.start.isoformat() if vacation.start else None,
                          "end": vacation.end.isoformat() if vacation.end else None})
    return vacation


def claim_reply(conn: Connection, mailbox_id: int, sender: str, now: datetime, period: timedelta) -> bool:
    """RFC 3834 section 4.2: may ``sender`` be answered now? If so, note it. Both steps
    are conditional writes (insert if absent, else update if older than the period), so
    two deliveries at once, on any node, answer once."""
    sender = sender.lower()
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    added = conn.execute(dialect_insert(vacation_replies).values(
        mailbox_id=mailbox_id, sender=sender, sent_at=now).on_conflict_do_nothing())
    if added.rowcount:
        return True
    renewed = conn.execute(update(vacation_replies).where(
        vacation_replies.c.mailbox_id == mailbox_id, vacation_replies.c.sender == sender,
        vacation_replies.c.sent_at <= now - period).values(sent_at=now))
    return bool(renewed.rowcount)


# -- the decision -------------------------------------------------------------------------


def automatic(fields: list[tuple[str, str]]) -> str | None:
    """Why the message is automatic or from a list (RFC 3834 section 2), or None."""
    for name, value in fields:
        low = value.strip().lower()
        if name == "auto-submitted" and low.split(";")[0].strip() != "no":
            return "auto-submitted"
        if name == "precedence" and low in _AUTOMATIC_PRECEDENCE:
            return "precedence"
        if name.startswith("list-"):
            return "list"
        if name == "x-auto-response-suppress" and any(w in low for w in ("oof", "autoreply", "all")):
            return "suppressed"
    return None


def sender_unsuitable(settings: Settings, sender: str) -> str | None:
    """Why the return path gets no reply (RFC 3834 section 2, Điều 7.7), or None."""
    if not sender or "@" not in sender:
        return "null return path"
    local = sender.rpartition("@")[0].lower()
    if local == "mailer-daemon" or local.startswith("owner-") or local.endswith("-request"):
        return "list or daemon"
    if automatic_forwarding_refusal(settings, sender) is not None:
        return "foreign free-mail (Điều 7.7)"
    return None


def addressed_to(fields: list[tuple[str, str]], own: set[str]) -> bool:
    """Is one of ``own`` (normalised) in To or Cc (RFC 3834 section 2)?"""
    for name, value in fields:
        if name not in ("to", "cc"):
            continue
        for _name, _route, local, host in parse_addresses(value) or []:
            if local and host and normalise_address(f"{local}@{host}") in own:
                return True
    return False


def reply_reason(settings: Settings, vacation: Vacation, fields: list[tuple[str, str]], sender: str,
                 own: set[str], day: date) -> str | None:
    """Why no reply goes to this message, or None when one does (before the once-per-
    period check, which needs the database)."""
    if not vacation.active_on(day):
        return "not active"
    if normalise_address(sender) in own if sender else False:
        return "own address"
    return (sender_unsuitable(settings, sender) or automatic(fields)
            or (None if addressed_to(fields, own) else "not in To or Cc"))


def build_reply(vacation: Vacation, mailbox: Mailbox, fields: list[tuple[str, str]], to: str) -> bytes:
    """The reply's bytes (CRLF), RFC 3834 section 3."""
    values = {name: value for name, value in reversed(fields)}  # the first field of each name
    original = " ".join(decode_words(values.get("subject", "")).split())
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = email.utils.formataddr((mailbox.display_name, mailbox.address)) if mailbox.display_name \
        else mailbox.address
    msg["To"] = to
    msg["Subject"] = SUBJECT_PREFIX + (vacation.subject or original)[:MAX_SUBJECT]
    msg["Date"] = email.utils.formatdate(localtime=True)
    domain = mailbox.address.rpartition("@")[2]
    msg["Message-ID"] = email.utils.make_msgid(domain=domain if domain.isascii() else None)
    message_id = values.get("message-id", "").strip()
    if message_id.startswith("<") and message_id.endswith(">") and len(message_id) < 1000:
        msg["In-Reply-To"] = message_id
        references = values.get("references", "").split()[-20:]
        msg["References"] = " ".join([r for r in references if r.startswith("<")] + [message_id])
    msg["Auto-Submitted"] = "auto-replied"
    msg.set_content(vacation.body, charset="utf-8", cte="quoted-printable")
    return msg.as_bytes()
