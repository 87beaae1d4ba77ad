"""Delivery status notifications (RFC 3464 format, RFC 6522 multipart/report): the
bounce sent to the sender when delivery failed for good or the queue lifetime ran out,
and the delay notice after ``smtp.delay_notice_hours``.

The human-readable part is Vietnamese then English; the machine-readable part is
message/delivery-status; the original header follows as text/rfc822-headers. A DSN has
the null sender (RFC 5321 section 4.5.5), so it never causes another one.
"""

from __future__ import annotations

import email.header
import email.utils
import secrets
from base64 import encodebytes
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from congthu.mime.headers import lenient_fields
from congthu.mime.words import clean, decode_words
from congthu.text import unaccent

if TYPE_CHECKING:
    from congthu.app import App


@dataclass(frozen=True)
class RecipientStatus:
    address: str
    status: str  # RFC 3463, e.g. "5.1.1"
    diagnostic: str = ""  # the remote reply or our reason
    remote_mta: str = ""


def _ascii(text: str, limit: int = 900) -> str:
    text = unaccent(text).encode("ascii", "replace").decode("ascii")
    return " ".join(text.split())[:limit]


def _original_header(raw: bytes) -> bytes:
    end = raw.find(b"\r\n\r\n")
    return raw[: end + 2] if end >= 0 else raw[:65536]


def _subject(raw: bytes) -> str:
    """The original Subject, decoded (the header read as ``mime.headers`` reads it)."""
    fields, _overflow = lenient_fields(_original_header(raw))
    return next((clean(decode_words(value)) for name, value in fields if name == "subject"), "")


def build(app: App, *, to: str, original: bytes, recipients: list[RecipientStatus], action: str,
          arrival: datetime, lifetime_hours: float | None = None) -> bytes:
    """A DSN to ``to`` about ``recipients``; ``action`` is "failed" or "delayed"."""
    settings = app.settings
    domain = settings.system.domain
    hostname = settings.system.hostname
    subject = _subject(original)
    if action == "failed":
        title_vi, title_en = "Thư không gửi được", "Undelivered mail"
        intro_vi = "Thư của bạn không gửi được đến những người nhận sau:"
        intro_en = "Your message could not be delivered to the following recipients:"
        outro_vi = "Hệ thống đã ngừng gửi thư này."
        outro_en = "The system has stopped trying to deliver it."
    else:
        title_vi, title_en = "Thư đang bị chậm", "Delivery delayed"
        intro_vi = "Thư của bạn chưa gửi được đến những người nhận sau; hệ thống vẫn đang thử lại:"
        intro_en = "Your message has not yet been delivered to the following recipients; the system keeps trying:"
        hours = lifetime_hours or settings.smtp.queue_lifetime_hours
        outro_vi = f"Bạn chưa cần gửi lại. Hệ thống sẽ thử trong tối đa {hours:g} giờ kể từ khi nhận thư."
        outro_en = f"You need not send it again. The system will keep trying for up to {hours:g} hours."
    lines_vi = [f"  {r.address}: {r.diagnostic or r.status}" for r in recipients]
    text = "\n".join([
        intro_vi, *lines_vi, "", outro_vi, "", "---", "", intro_en, *lines_vi, "", outro_en, "",
        f"Tiêu đề / Subject: {subject}", "",
        f"-- {hostname}",
    ]) + "\n"
    boundary = "=_ct_dsn_" + secrets.token_hex(12)
    now = email.utils.format_datetime(datetime.now().astimezone())
    arrival_s = email.utils.format_datetime(arrival.astimezone())
    status_lines = [f"Reporting-MTA: dns; {hostname}", f"Arrival-Date: {arrival_s}", ""]
    for r in recipients:
        status_lines += [
            f"Final-Recipient: rfc822; {r.address if r.address.isascii() else _ascii(r.address)}",
            f"Action: {action}",
            f"Status: {r.status}",
        ]
        if r.remote_mta:
            status_lines.append(f"Remote-MTA: dns; {_ascii(r.remote_mta, 200)}")
        if r.diagnostic:
            status_lines.append(f"Diagnostic-Code: smtp; {_ascii(r.diagnostic)}")
        status_lines.append(f"Last-Attempt-Date: {now}")
        if action == "delayed":
            status_lines.append(f"Will-Retry-Until: {email.utils.format_datetime(arrival.astimezone() + timedelta(hours=settings.smtp.queue_lifetime_hours))}")
        status_lines.append("")
    subject_field = email.header.Header(f"{title_vi} / {title_en}: {subject}"[:300], "utf-8").encode()
    from_field = email.utils.formataddr(("Hệ thống thư điện tử / Mail Delivery System", f"MAILER-DAEMON@{domain}"),
                                        charset="utf-8")
    head = [
        f"From: {from_field}",
        f"To: <{to}>",
        f"Subject: {subject_field}",
        f"Date: {now}",
        f"Message-ID: {email.utils.make_msgid(domain=domain)}",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
        "",
        "This is a delivery status notification (RFC 3464).",
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: base64",
        "",
        encodebytes(text.encode("utf-8")).decode("ascii").rstrip("\n"),
        f"--{boundary}",
        "Content-Type: message/delivery-status",
        "",
        *status_lines,
        f"--{boundary}",
        "Content-Type: text/rfc822-headers",
        "",
    ]
    body = "\r\n".join(head).encode("utf-8") + b"\r\n"
    original_head = _original_header(original)
    if not original_head.endswith(b"\r\n"):
        original_head += b"\r\n"
    return body + original_head + f"\r\n--{boundary}--\r\n".encode("ascii")
