"""The SMTP package's replies and errors in one place.

* Every reply carries an enhanced status code (RFC 2034, RFC 3463); ``with_enhanced``
  adds the default one of its class to a reply that has none.
* Reply texts are Vietnamese then English, like every message of the system; without
  SMTPUTF8 (RFC 6531) they are sent as ASCII (``ascii_text``: accents stripped).
* aiosmtpd answers some commands itself (parsing errors of MAIL and RCPT, unknown
  commands, HELO before EHLO...) in English only: ``translate`` gives the bilingual reply
  of each of those texts, so both doors answer alike whoever wrote the reply.
* A 421 reply closes the channel (RFC 5321 section 3.8): ``closes``.
* ``wire_reply``: all of that for one reply as the session sends it, remembered (the
  same few replies go to every session: translating, and stripping the accents for a
  client without SMTPUTF8, cost more than sending them). A reply that ends in an
  identifier of its own (the 250 to a message, with its queue id) is an ``IdReply``:
  what comes before the identifier is remembered, the identifier added (``reply_bytes``).
"""

from __future__ import annotations

import functools
import re

from congthu.text import unaccent

__all__ = [
    "DATA_TIMEOUT", "DeadlineExceeded", "IdReply", "TEMPORARY", "UNAVAILABLE", "ascii_text", "closes",
    "reply_bytes", "syntax_error", "too_big", "translate", "wire_reply", "with_enhanced",
]


class DeadlineExceeded(Exception):
    """The client took longer than ``smtp.data_timeout`` to send its data (``wire``); the
    session answers ``DATA_TIMEOUT`` and ends."""


_ENHANCED = re.compile(r"^\d{3}[ -]\d\.\d{1,3}\.\d{1,3}(?:\s|$)")
# Default enhanced codes for replies that have none (aiosmtpd's own replies).
_DEFAULT_ENHANCED = {
    "221": "2.0.0", "235": "2.7.0", "250": "2.0.0", "251": "2.1.5", "252": "2.5.0",
    "421": "4.7.0", "450": "4.2.0", "451": "4.3.0", "452": "4.3.1", "454": "4.7.0",
    "500": "5.5.2", "501": "5.5.4", "502": "5.5.1", "503": "5.5.1", "504": "5.5.4",
    "530": "5.7.0", "534": "5.7.9", "535": "5.7.8", "538": "5.7.11", "550": "5.0.0",
    "552": "5.3.4", "553": "5.1.3", "554": "5.0.0", "555": "5.5.4",
}

# aiosmtpd's own English replies (patterns on the whole reply) and ours for them.
_AIOSMTPD: list[tuple[re.Pattern[str], str]] = [(re.compile(p), r) for p, r in (
    (r'500 Error: command "([^"]*)" not recognized',
     r'500 5.5.2 Lệnh "\1" không được hỗ trợ / command "\1" not recognized'),
    (r"500 Error: command 'AUTH' not recognized",
     "503 5.5.1 Cổng này không nhận đăng nhập / AUTH not available here"),
    (r"502 5\.5\.1 Too many unrecognized commands, goodbye\.",
     "421 4.7.0 Quá nhiều lệnh không hợp lệ, đóng kết nối / too many unrecognized commands, closing"),
    (r"421 4\.7\.0 (\S+) sent too many times",
     r"421 4.7.0 Lệnh \1 được gửi quá nhiều lần, đóng kết nối / \1 sent too many times, closing"),
    (r"500 Error: bad syntax", "500 5.5.2 Lệnh sai cú pháp / syntax error"),
    (r"500 Command line too long", "500 5.5.6 Dòng lệnh quá dài / command line too long"),
    (r"500 Error: strict ASCII mode", "500 5.5.2 Chỉ chấp nhận ký tự ASCII / ASCII only"),
    (r"503 Error: send (\S+) first", r"503 5.5.1 Hãy gửi \1 trước / send \1 first"),
    (r"530 5\.7\.0 Authentication required", "530 5.7.0 Cần đăng nhập / authentication required"),
    (r"530 Must issue a STARTTLS command first",
     "530 5.7.0 Hãy dùng STARTTLS trước / must issue a STARTTLS command first"),
    (r"554 Command refused due to lack of security",
     "554 5.7.0 Kết nối chưa được mã hóa / command refused due to lack of security"),
    (r"501 Syntax: (.*)", r"501 5.5.4 Cú pháp / syntax: \1"),
    (r"501 Error: (.*)", r"501 5.5.4 Lỗi cú pháp / syntax error: \1"),
    (r"553 5\.1\.3 Error: malformed address", "553 5.1.3 Địa chỉ không hợp lệ / malformed address"),
    (r"503 Error: nested MAIL command", "503 5.5.1 Đã có lệnh MAIL / nested MAIL command"),
    (r"503 Error: need MAIL command", "503 5.5.1 Chưa có lệnh MAIL / need MAIL command"),
    (r"503 Error: need RCPT command", "503 5.5.1 Chưa có người nhận (RCPT) / need RCPT command"),
    (r"454 TLS not available", "454 4.7.0 TLS không sẵn sàng / TLS not available"),
    (r"221 Bye", "221 2.0.0 Tạm biệt / bye"),
    (r"250 OK", "250 2.0.0 OK"),
)]

TEMPORARY = "451 4.3.0 Lỗi tạm thời, hãy thử lại sau / temporary error, try again later"
UNAVAILABLE = ("451 4.3.0 Hệ thống tạm thời không sẵn sàng, hãy thử lại sau / "
               "temporarily unavailable, try again later")
DATA_TIMEOUT = "451 4.4.2 Quá thời gian gửi dữ liệu, đóng kết nối / data timeout, closing"


def syntax_error(usage: str) -> str:
    return f"501 5.5.4 Cú pháp / syntax: {usage}"


def too_big(limit: int) -> str:
    mb = limit // (1024 * 1024)
    return f"552 5.3.4 Thư vượt quá kích thước tối đa {mb} MB / message exceeds the maximum size of {mb} MB"


def ascii_text(text: str) -> str:
    """Reply text without SMTPUTF8: accents stripped, anything else non-ASCII replaced."""
    return unaccent(text).encode("ascii", "replace").decode("ascii")


# The same by reply code (each pattern starts with its code): a reply is tried against
# the few patterns of its code, not all of them (every reply of every session is).
_AIOSMTPD_BY_CODE: dict[str, list[tuple[re.Pattern[str], str]]] = {}
for _entry in _AIOSMTPD:
    _AIOSMTPD_BY_CODE.setdefault(_entry[0].pattern[:3], []).append(_entry)


def translate(text: str) -> str:
    """The bilingual reply for one of aiosmtpd's own English replies; others unchanged."""
    if len(text) < 4 or not text[:3].isdigit() or " / " in text:
        return text
    for pattern, ours in _AIOSMTPD_BY_CODE.get(text[:3], ()):
        match = pattern.fullmatch(text)
        if match:
            return match.expand(ours)
    return text


def with_enhanced(text: str) -> str:
    """The reply with an enhanced status code (RFC 2034) if its class takes one."""
    if len(text) >= 4 and text[:3].isdigit() and text[0] in "245" and not _ENHANCED.match(text):
        code = _DEFAULT_ENHANCED.get(text[:3], f"{text[0]}.0.0")
        return f"{text[:3]}{text[3:4]}{code} {text[4:]}"
    return text


def closes(text: str) -> bool:
    """Does this reply end the session? 421 does (RFC 5321 section 3.8)."""
    return text.startswith("421")


@functools.lru_cache(maxsize=2048)
def wire_reply(text: str, ours: bool, utf8: bool, smtputf8: bool) -> tuple[bytes, bool]:
    """A reply's bytes and whether it closes the channel: ``ours`` (all but EHLO's
    extension lines) bilingual with an enhanced code, ASCII unless the transaction is
    ``utf8`` (RFC 6531), encoded as UTF-8 when the session offers ``smtputf8``."""
    closing = False
    if ours:
        text = with_enhanced(translate(text))
        closing = closes(text)
    if not utf8 and not text.isascii():
        text = ascii_text(text)
    return text.encode("utf-8" if smtputf8 else "ascii"), closing


class IdReply(str):
    """A reply of ours (enhanced code, bilingual) ending in an ASCII identifier of its own,
    such as the queue id in the 250 to a message: ``head`` is the text before it. Nothing
    in the identifier is translated or stripped, so the reply's bytes are those of
    ``head`` (remembered: the same for every message) followed by the identifier's, where
    remembering the whole text would miss for every message."""

    head: str

    def __new__(cls, head: str, ident: str) -> IdReply:
        if not (ident.isascii() and _ENHANCED.match(head) and " / " in head):
            raise ValueError(f"not a reply with an identifier: {head!r} {ident!r}")
        reply = super().__new__(cls, head + ident)
        reply.head = head
        return reply

    def __reduce__(self) -> tuple[type[IdReply], tuple[str, str]]:
        return IdReply, (self.head, self[len(self.head):])


def reply_bytes(text: str, ours: bool, utf8: bool, smtputf8: bool) -> tuple[bytes, bool]:
    """``wire_reply`` of ``text``, an ``IdReply`` from its head."""
    if type(text) is IdReply:
        head, closing = wire_reply(text.head, ours, utf8, smtputf8)
        return head + text[len(text.head):].encode("ascii"), closing
    return wire_reply(text, ours, utf8, smtputf8)
