"""Byte-exact MIME structure parser over the raw message (RFC 5322, RFC 2045-2049).

Python's ``email`` package is not used here: IMAP needs the exact offsets of every header
and body in the bytes as stored (RFC 9051 section 6.4.5), which it does not give.

* Header sections: ``headers.scan_header`` (RFC 5322 section 2.2).
* Content-Type and defaults: RFC 2045 section 5.2 (text/plain; charset=us-ascii when
  absent or invalid), RFC 2046 section 5.1.5 (message/rfc822 inside multipart/digest).
* Multipart bodies (RFC 2046 section 5.1.1): delimiter lines "--boundary" with optional
  transport padding, the preceding line break belonging to the delimiter; the preamble
  and epilogue belong to no part; a missing close delimiter ends the last part at the end
  of the enclosing body; a multipart without boundary or without any delimiter is read
  as text/plain.
* message/rfc822 and message/global (RFC 2046 section 5.2.1, RFC 6532): the body is
  parsed as a message of its own, with its envelope.
* CRLF and bare LF line ends both work; offsets always refer to the bytes as given.

Never raises: hostile or broken input gives a best-effort structure. Nesting deeper than
``MAX_DEPTH`` and parts beyond ``MAX_PARTS`` are not descended into (read as text/plain).
Large bodies are never looped over in Python: only ``bytes.find``/``count`` and regexes.
"""

from __future__ import annotations

import re

from congthu.mime.envelope import Envelope, cap_string
from congthu.mime.headers import Header, scan_header
from congthu.mime.params import Param, display_params, imap_params, join_params, parse_value, split_type
from congthu.mime.part import Part

__all__ = ["parse", "MAX_DEPTH", "MAX_PARTS"]

MAX_DEPTH = 50
MAX_PARTS = 2000

_TEXT = ("text", "plain")
_RFC822 = ("message", "rfc822")
# What may follow "--boundary" on a delimiter line: "--" (close), transport padding, EOL.
_TAIL = re.compile(rb"(--)?[ \t]*\r?(?:\n|\Z)")
_COMMENT = re.compile(r"\([^()]*\)")
# The fields ``_Parser.entity`` reads: a part's MIME fields (RFC 2045, 2183, 3066, 2557),
# and for a message its envelope's too (RFC 9051 section 7.5.2); no other is unfolded.
_PART_FIELDS = frozenset({
    b"content-type", b"content-transfer-encoding", b"content-id", b"content-description", b"content-md5",
    b"content-location", b"content-language", b"content-disposition"})
_MESSAGE_FIELDS = _PART_FIELDS | frozenset({
    b"date", b"subject", b"from", b"sender", b"reply-to", b"to", b"cc", b"bcc", b"in-reply-to", b"message-id"})


def parse(raw: bytes) -> Part:
    """Parse a whole message; the root part carries the envelope."""
    try:
        return _Parser(raw).entity(0, len(raw), 0, _TEXT, message=True)
    except Exception:  # a bug here must not stop delivery: whole message as text
        part = Part(0, 0, len(raw), params=[("CHARSET", "US-ASCII")], envelope=Envelope())
        part.lines = _lines(raw, 0, len(raw))
        return part


def _lines(raw: bytes, start: int, end: int) -> int:
    """Line count of a body (RFC 9051 body-fld-lines): line ends, plus an unterminated last line."""
    if end <= start:
        return 0
    return raw.count(b"\n", start, end) + (raw[end - 1] != 0x0A)


def _token(value: str | None) -> str | None:
    if value is None:
        return None
    words = _COMMENT.sub("", value).split()
    return words[0].lower() if words else None


def _degrade(part: Part) -> None:
    """Read a part we cannot or will not descend into as text/plain (RFC 2045 section 5.2)."""
    part.type, part.subtype = _TEXT
    part.params = [("CHARSET", "US-ASCII")]
    part.charset = None
    part.children = []
    part.message = None


class _Parser:
    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.count = 0

    def entity(self, start: int, end: int, depth: int, default: tuple[str, str], message: bool) -> Part:
        self.count += 1
        raw = self.raw
        fields_start, fields_end, body_start = scan_header(raw, start, end, message)
        header = Header(raw, fields_start, fields_end, _MESSAGE_FIELDS if message else _PART_FIELDS)
        part = Part(start, body_start, end)
        joined = self._content_type(part, header, default)
        part.encoding = _token(header.get("content-transfer-encoding"))
        part.content_id = cap_string(header.get("content-id"))
        part.description = cap_string(header.get("content-description"))
        part.md5 = cap_string(header.get("content-md5"))
        part.location = cap_string(header.get("content-location"))
        language = header.get("content-language")
        if language is not None:
            part.language = [tag for tag in (t.strip() for t in _COMMENT.sub("", language).split(",")) if tag] or None
        disposition = header.get("content-disposition")
        if disposition is not None:
            main, params = parse_value(disposition)
            joined = join_params(params)
            part.disposition = main or None
            part.disposition_params = imap_params(joined)
            part.filename = display_params(joined).get("filename") or part.filename
        if message:
            part.envelope = Envelope.from_header(header)
        if part.type == "multipart":
            self._multipart(part, depth, joined)
        elif part.type == "message" and part.subtype in ("rfc822", "global"):
            if depth < MAX_DEPTH and self.count < MAX_PARTS:
                part.message = self.entity(body_start, end, depth + 1, _TEXT, message=True)
            else:
                _degrade(part)
        if part.type == "text" or part.message is not None:
            part.lines = _lines(raw, body_start, end)
        return part

    def _content_type(self, part: Part, header: Header, default: tuple[str, str]) -> list[Param]:
        """Type, subtype and parameters; returns the joined parameters (for the boundary)."""
        value = header.get("content-type")
        kind: tuple[str, str] | None = None
        params: list[tuple[str, str]] = []
        if value is not None:
            main, params = parse_value(value)
            kind = split_type(main)
        if kind is None:
            part.type, part.subtype = default
            part.params = [("CHARSET", "US-ASCII")] if default == _TEXT else []
            return []
        joined = join_params(params)
        part.type, part.subtype = kind
        part.params = imap_params(joined)
        shown = display_params(joined)
        part.charset = shown.get("charset")
        part.filename = shown.get("name")
        return joined

    def _multipart(self, part: Part, depth: int, joined: list[Param]) -> None:
        boundary = next((p.value for p in joined if p.name == "boundary"), "")
        delimiter = b"--" + boundary.rstrip(" ").encode("utf-8", "surrogateescape")
        if len(delimiter) == 2 or depth >= MAX_DEPTH or self.count >= MAX_PARTS:
            _degrade(part)
            return
        raw, start, end = self.raw, part.body_start, part.body_end
        default = _RFC822 if part.subtype == "digest" else _TEXT
        pos, child_start = start, None
        while True:
            found = raw.find(delimiter, pos, end)
            if found < 0:
                break
            pos = found + 1
            if found > start and raw[found - 1] != 0x0A:
                continue  # not at the start of a line
            tail = _TAIL.match(raw, found + len(delimiter), end)
            if tail is None:
                continue  # "--boundaryXYZ": not a delimiter
            cut = found  # the line break before the delimiter belongs to it
            if found > start:
                cut -= 1
                if cut > start and raw[cut - 1] == 0x0D:
                    cut -= 1
            if child_start is not None:
                part.children.append(self.entity(child_start, max(child_start, cut), depth + 1, default, False))
                if self.count >= MAX_PARTS:
                    child_start = None
                    break
            if tail.group(1):  # close delimiter: what follows is the epilogue
                child_start = None
                break
            child_start = pos = tail.end()
        if child_start is not None and (child_start < end or not part.children):  # no close delimiter
            part.children.append(self.entity(child_start, end, depth + 1, default, False))
        if not part.children:
            _degrade(part)
