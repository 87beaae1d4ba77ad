"""Delivery status notifications (RFC 3464 format, RFC 6522 multipart/report) and the
DSN extension of SMTP (RFC 3461).

A notice goes to the envelope sender when delivery failed for good or the queue
lifetime ran out ("failed"), after ``smtp.delay_notice_hours`` ("delayed"), and, when the
sender asked with NOTIFY=SUCCESS, on delivery ("delivered": into a mailbox here) or when
the message was handed to a server that does not take the DSN extension ("relayed";
one that takes it gets the parameters and reports itself, RFC 3461 section 4.1).

The SMTP parameters (RFC 3461 section 4), read by ``mail_parameters`` and
``rcpt_parameters`` on every door that offers DSN in its EHLO, kept with the queue's
message and recipients:

* ``NOTIFY`` (RCPT): NEVER, or any of SUCCESS, FAILURE, DELAY; without it, failures and
  delays are reported (section 4.1 leaves it to the MTA), never successes;
* ``ORCPT`` (RCPT): the original recipient, ``addr-type;xtext``, given back decoded in the
  ``Original-Recipient`` field (RFC 3464 section 2.3.1);
* ``RET`` (MAIL): FULL returns the whole message in a failure notice, HDRS (and the
  default) its header only; other notices carry the header only (section 4.3);
* ``ENVID`` (MAIL): given back in ``Original-Envelope-Id`` (RFC 3464 section 2.2.1).

Malformed or repeated parameters are refused with ``501 5.5.4``, as Postfix does.

The human-readable part is Vietnamese then English; the machine-readable part is
message/delivery-status; the original header follows as text/rfc822-headers (or the
whole message as message/rfc822). A DSN has the null sender (RFC 5321 section 4.5.5), so
it never causes another one.
"""

from __future__ import annotations

import email.header
import email.utils
import re
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
    original: str = ""  # RFC 3461 ORCPT, decoded: "rfc822;user@example.com"


# -- the SMTP parameters (RFC 3461 section 4) --------------------------------------------------

NOTIFY_VALUES = frozenset({"SUCCESS", "FAILURE", "DELAY"})
_XTEXT_HEX = re.compile(r"\+([0-9A-F]{2})")
_ATOM = re.compile(r"^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]+$")


def _bad(name: str) -> str:
    return f"501 5.5.4 Tham số {name} không hợp lệ / invalid {name} parameter (RFC 3461)"


def _repeated(name: str) -> str:
    return f"501 5.5.4 Tham số {name} bị lặp / repeated {name} parameter (RFC 3461)"


def xtext_decode(text: str) -> str | None:
    """RFC 3461 section 4: "+" and two upper-case hex digits stand for a byte; the rest
    is printable ASCII. (An "=" inside, which the RFC leaves out of xtext, is taken as
    itself, as Postfix takes it.) None if malformed."""
    if not all(33 <= ord(c) <= 126 for c in text):
        return None
    if "+" in _XTEXT_HEX.sub("", text):
        return None
    return _XTEXT_HEX.sub(lambda m: chr(int(m.group(1), 16)), text)


def xtext_encode(text: str) -> str:
    """The xtext of ``text`` (characters outside printable ASCII, "+" and "=" as "+XX";
    non-ASCII as their UTF-8 bytes)."""
    out = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        out.append(char if 33 <= byte <= 126 and char not in "+=" else f"+{byte:02X}")
    return "".join(out)


def _split(arg: str, names: tuple[str, ...]) -> tuple[str, dict[str, str], str | None]:
    """``arg`` of MAIL or RCPT without the named parameters, those parameters (name in
    upper case -> value as written), or the refusal."""
    head, _sep, params = arg.partition(">")
    kept: list[str] = []
    found: dict[str, str] = {}
    for word in params.split():
        name, equals, value = word.partition("=")
        upper = name.upper()
        if upper not in names:
            kept.append(word)
            continue
        if upper in found:
            return arg, {}, _repeated(upper)
        if not equals or not value:
            return arg, {}, _bad(upper)
        found[upper] = value
    if not found:
        return arg, {}, None
    return head + ">" + "".join(" " + k for k in kept), found, None


def mail_parameters(arg: str) -> tuple[str, str, str, str | None]:
    """MAIL's RET and ENVID: (the argument without them, RET, ENVID decoded, refusal)."""
    rest, found, refusal = _split(arg, ("RET", "ENVID"))
    if refusal is not None:
        return arg, "", "", refusal
    ret = found.get("RET", "").upper()
    if ret not in ("", "FULL", "HDRS"):
        return arg, "", "", _bad("RET")
    envid = ""
    if "ENVID" in found:
        decoded = xtext_decode(found["ENVID"])
        if decoded is None or len(found["ENVID"]) > 100:
            return arg, "", "", _bad("ENVID")
        envid = decoded
    return rest, ret, envid, None


def rcpt_parameters(arg: str) -> tuple[str, str, str, str | None]:
    """RCPT's NOTIFY and ORCPT: (the argument without them, NOTIFY in upper case and
    comma-separated, ORCPT decoded as "addr-type;address", refusal)."""
    rest, found, refusal = _split(arg, ("NOTIFY", "ORCPT"))
    if refusal is not None:
        return arg, "", "", refusal
    notify = ""
    if "NOTIFY" in found:
        values = [v.upper() for v in found["NOTIFY"].split(",")]
        if not (values == ["NEVER"] or (values and set(values) <= NOTIFY_VALUES and len(set(values)) == len(values))):
            return arg, "", "", _bad("NOTIFY")
        notify = ",".join(values)
    orcpt = ""
    if "ORCPT" in found:
        kind, semicolon, address = found["ORCPT"].partition(";")
        decoded = xtext_decode(address)
        if (not semicolon or not _ATOM.match(kind) or decoded is None or not decoded
                or len(found["ORCPT"]) > 500):
            return arg, "", "", _bad("ORCPT")
        orcpt = f"{kind.lower()};{decoded}"
    return rest, notify, orcpt, None


def wants(notify: str, event: str) -> bool:
    """Does a recipient's NOTIFY ("" when not given) ask for a notice of ``event``
    ("SUCCESS", "FAILURE", "DELAY")? Without NOTIFY: failures and delays."""
    if not notify:
        return event in ("FAILURE", "DELAY")
    return event in notify.split(",")


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
          arrival: datetime, lifetime_hours: float | None = None, envid: str = "", ret: str = "") -> bytes:
    """A DSN to ``to`` about ``recipients``; ``action`` is "failed", "delayed",
    "delivered" or "relayed" (RFC 3464 section 2.3.3). ``envid``: the sender's ENVID;
    ``ret``: "FULL" returns the whole message with a failure (RFC 3461 section 4.3)."""
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
    elif action == "delivered":
        title_vi, title_en = "Thư đã được chuyển đến hộp thư", "Delivered"
        intro_vi = "Thư của bạn đã được chuyển đến hộp thư của những người nhận sau:"
        intro_en = "Your message was delivered to the mailboxes of the following recipients:"
        outro_vi = "Bạn nhận được thông báo này vì đã yêu cầu (NOTIFY=SUCCESS)."
        outro_en = "You receive this notice because you asked for it (NOTIFY=SUCCESS)."
    elif action == "relayed":
        title_vi, title_en = "Thư đã được chuyển tiếp", "Relayed"
        intro_vi = ("Thư của bạn đã được chuyển đến máy chủ của những người nhận sau; máy chủ đó không gửi "
                    "thông báo giao thư:")
        intro_en = ("Your message was handed to the mail servers of the following recipients, which send "
                    "no delivery notices:")
        outro_vi = "Bạn nhận được thông báo này vì đã yêu cầu (NOTIFY=SUCCESS)."
        outro_en = "You receive this notice because you asked for it (NOTIFY=SUCCESS)."
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
    status_lines = [f"Reporting-MTA: dns; {hostname}"]
    if envid:
        status_lines.append(f"Original-Envelope-Id: {envid if envid.isascii() else xtext_encode(envid)}")
    status_lines += [f"Arrival-Date: {arrival_s}", ""]
    for r in recipients:
        if r.original:
            kind, _sep, address = r.original.partition(";")
            status_lines.append(f"Original-Recipient: {kind};{address if address.isascii() else xtext_encode(address)}")
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
    ]
    full = action == "failed" and ret == "FULL"
    if full:  # RFC 2046 section 5.2.1: 7bit, 8bit or binary only
        head += ["Content-Type: message/rfc822", *([] if original.isascii() else ["Content-Transfer-Encoding: 8bit"])]
    else:
        head.append("Content-Type: text/rfc822-headers")
    head.append("")
    body = "\r\n".join(head).encode("utf-8") + b"\r\n"
    returned = original if full else _original_header(original)
    if not returned.endswith(b"\r\n"):
        returned += b"\r\n"
    return body + returned + f"\r\n--{boundary}--\r\n".encode("ascii")
