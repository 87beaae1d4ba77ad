"""IMAP URLs of one message or part (RFC 5092), as CATENATE's URL parts name them
(RFC 4469 section 3).

``parse(text)`` reads the forms a client sends in an APPEND:

- an absolute URL, ``imap://[user[;AUTH=...]@]host[:port]/mailbox[;UIDVALIDITY=n]/;UID=n
  [/;SECTION=s][/;PARTIAL=o[.l]]`` (RFC 5092 section 6, ``imapurl``);
- an absolute path with no server part, ``/mailbox[;UIDVALIDITY=n]/;UID=n...``, relative
  to the session's own server and user (RFC 5092 section 7.2, ``ipath-absolute``);
- ``;UID=n...``, relative to the selected mailbox (RFC 5092 section 7.2,
  ``ipath-empty`` with the selected mailbox as base, as Dovecot resolves it):
  ``mailbox`` is None, and the selected mailbox's UIDVALIDITY is the URL's.

It returns an ``ImapUrl`` or raises ``BadUrl``; it is pure (no I/O) so it can be fuzzed.
Whether the user, host, mailbox, UIDVALIDITY, UID and section exist and are the
session's own is the caller's check (``cmd_append``). URLAUTH (RFC 4467) is not offered:
an ``;URLAUTH=`` or ``;EXPIRE=`` part is a bad URL here.

Mailbox names and sections are percent-encoded UTF-8 (RFC 5092 sections 5 and 6:
``enc-mailbox``, ``enc-section``); ``%`` not followed by two hex digits, bytes that are
not UTF-8 and control characters make a bad URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from congthu.imap.errors import ParseError
from congthu.imap.parser import Parser, Section

__all__ = ["BadUrl", "ImapUrl", "parse"]

# RFC 5092 section 6 (and RFC 3986): the characters a URL may hold as they are.
_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/%\[\]]*")
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_NZ_NUMBER = re.compile(r"[1-9][0-9]{0,9}")
_NUMBER = re.compile(r"[0-9]{1,10}")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# A URL longer than this is not one of ours (an IMAP URL names a mailbox, a UID and a
# section: a few hundred bytes).
MAX_URL = 4096


class BadUrl(Exception):
    """The URL cannot be used (RFC 4469 section 5: the BADURL response code)."""


@dataclass(frozen=True)
class ImapUrl:
    """One message or part: ``user``/``host`` None when the URL did not name them,
    ``mailbox`` None for the selected mailbox."""

    mailbox: str | None
    uid: int
    uidvalidity: int | None = None
    section: Section = Section()
    partial: tuple[int, int | None] | None = None
    user: str | None = None
    host: str | None = None


def _decode(text: str, what: str) -> str:
    if _PERCENT.search(text):
        raise BadUrl(f"bad percent-encoding in {what}")
    try:
        value = unquote_to_bytes(text).decode("utf-8")
    except UnicodeDecodeError:
        raise BadUrl(f"{what} is not UTF-8") from None
    if _CONTROL.search(value):
        raise BadUrl(f"control character in {what}")
    return value


def _section(text: str) -> Section:
    """enc-section: the section-text of FETCH BODY[...] (RFC 5092 section 6)."""
    raw = _decode(text, "section").encode("utf-8")
    p = Parser([b"[" + raw + b"]"])
    try:
        section = p.section()
        p.end()
    except ParseError as exc:
        raise BadUrl(f"bad section: {exc}") from None
    return section


def _number(text: str, what: str, pattern: re.Pattern[str] = _NZ_NUMBER) -> int:
    if not pattern.fullmatch(text) or int(text) > 0xFFFFFFFF:
        raise BadUrl(f"bad {what} {text[:20]!r}")
    return int(text)


def parse(text: str) -> ImapUrl:
    """An IMAP URL of a message or part (see the module docstring)."""
    if not text or len(text) > MAX_URL or not text.isascii() or not _URL_CHARS.fullmatch(text):
        raise BadUrl("not an IMAP URL")
    user = host = None
    if text[:7].lower() == "imap://":
        rest = text[7:]
        server, slash, path = rest.partition("/")
        if not slash:
            raise BadUrl("no mailbox in the URL")
        if "@" in server:
            userinfo, _at, server = server.rpartition("@")
            name, _semi, auth = userinfo.partition(";")
            if auth and not auth.upper().startswith("AUTH="):
                raise BadUrl("bad user information")
            user = _decode(name, "user") if name else None
        host_part, _colon, port = server.partition(":")
        if not host_part or (port and not _NUMBER.fullmatch(port)):
            raise BadUrl("bad server")
        host = _decode(host_part, "host").lower()
        path = "/" + path
    elif text.startswith("/"):
        path = text
    elif text[:5].upper() == ";UID=":
        return _message(None, None, text.split("/"), user, host)
    else:
        raise BadUrl("not an IMAP URL")
    # "/" mailbox [";UIDVALIDITY=" n] "/;UID=" n ["/;SECTION=" s] ["/;PARTIAL=" o[.l]]
    # (the mailbox name holds no "/" of its own: a hierarchy "/" is sent as "%2F" or
    # as "/": both are taken, since only ";UID=" ends the mailbox part).
    segments = path[1:].split("/")
    i = next((n for n, segment in enumerate(segments) if segment[:5].upper() == ";UID="), None)
    if i is None:
        raise BadUrl("the URL names no message (;UID=)")
    if i == 0:
        raise BadUrl("no mailbox in the URL")
    mailbox_part = "/".join(segments[:i])
    uidvalidity = None
    name, semi, param = mailbox_part.partition(";")
    if semi:
        if param[:12].upper() != "UIDVALIDITY=":
            raise BadUrl("unknown mailbox parameter")
        uidvalidity = _number(param[12:], "UIDVALIDITY")
    if not name:
        raise BadUrl("no mailbox in the URL")
    return _message(_decode(name, "mailbox"), uidvalidity, segments[i:], user, host)


def _message(mailbox: str | None, uidvalidity: int | None, segments: list[str], user: str | None,
             host: str | None) -> ImapUrl:
    """The part after the mailbox: ";UID=n" ["/;SECTION=s"] ["/;PARTIAL=o[.l]"]."""
    uid = _number(segments[0][5:], "UID")
    section = Section()
    partial: tuple[int, int | None] | None = None
    rest = segments[1:]
    if rest and rest[0][:9].upper() == ";SECTION=":
        section = _section(rest[0][9:])
        rest = rest[1:]
    if rest and rest[0][:9].upper() == ";PARTIAL=":
        offset, dot, length = rest[0][9:].partition(".")
        partial = (_number(offset, "PARTIAL offset", _NUMBER), _number(length, "PARTIAL length") if dot else None)
        rest = rest[1:]
    if rest:
        # ;URLAUTH=, ;EXPIRE= (RFC 4467) and anything else: not offered.
        raise BadUrl(f"unsupported URL part {rest[0][:30]!r}")
    return ImapUrl(mailbox, uid, uidvalidity, section, partial, user, host)
