"""Header sections at the byte level (RFC 5322 sections 2.2 and 3.6, RFC 2045 section 3).

``scan_header`` finds where a header section ends in the raw message: after the field
lines, the blank line (CRLF, or a bare LF) that separates it from the body belongs to the
header, as IMAP's BODY[HEADER] and BODY[x.MIME] include it (RFC 9051 section 6.4.5).
A line that is neither a field nor a continuation ends the header without a blank line;
the body then starts at that line (best effort on broken input).

``Header`` gives the unfolded values of fields as ``str`` decoded from the raw bytes with
``surrogateescape``: UTF-8 (RFC 6532) comes out as text, any other byte survives and is
recovered exactly by ``value.encode("utf-8", "surrogateescape")``.
"""

from __future__ import annotations

import re

__all__ = ["Header", "field_spans", "has_field", "lenient_fields", "may_have_field", "scan_header", "wire"]

# The start of a field line: name (printable US-ASCII except ":"), optional obsolete white
# space, ":" (RFC 5322 sections 2.2 and 4.5.3); a line starting with white space continues
# the field before it (folding, RFC 5322 2.2.3).
_FIELD_START = re.compile(rb"[!-9;-~]+[ \t]*:")
_NOT_FIELD_LINE = re.compile(rb"\n(?![!-9;-~]+[ \t]*:|[ \t])")
_FIELD = re.compile(rb"([!-9;-~]+)[ \t]*:([^\n]*(?:\n[ \t][^\n]*)*)")
_FIELD_LINES = re.compile(rb"([!-9;-~]+)[ \t]*:[^\n]*(?:\n[ \t][^\n]*)*(?:\n|\Z)")
_MBOX_FROM = re.compile(rb"From [^\n]*(?:\n|\Z)")
_FOLD = re.compile(rb"\r?\n")

# Hostile messages: fields beyond this many are not looked at (they stay in the bytes).
MAX_FIELDS = 5000


def wire(value: str) -> bytes:
    """The raw bytes of a header string from this package (undoes surrogateescape)."""
    return value.encode("utf-8", "surrogateescape")


def _blank_lines(raw: bytes, start: int, end: int) -> tuple[int, int]:
    """Where "\n\r\n" and "\n\n" first occur in raw[start:end] (-1 if not): the line
    break before a blank line. "\n\n" is searched only before the first "\n\r\n": in a
    CRLF message it never occurs, and searching a long run of CRLF lines for it is slow
    (about 2 ms a megabyte, against microseconds for the other)."""
    crlf = raw.find(b"\n\r\n", start, end)
    lf = raw.find(b"\n\n", start, crlf + 2 if crlf >= 0 else end)
    return crlf, lf


def scan_header(raw: bytes, start: int, end: int, message: bool = False) -> tuple[int, int, int]:
    """Return (start, end of the field lines, end of the header including its blank line).

    ``message``: the entity is a message, which may start with an mbox "From " line.
    """
    pos = start
    if message and raw.startswith(b"From ", start):
        mbox = _MBOX_FROM.match(raw, start, end)
        if mbox:
            pos = mbox.end()
    for blank in (b"\r\n", b"\n"):  # no field at all: the blank line comes first
        if raw.startswith(blank, pos) and pos + len(blank) <= end:
            return pos, pos, pos + len(blank)
    if not _FIELD_START.match(raw, pos, end):
        return pos, pos, pos
    # Find the blank line with bytes.find, then check the lines before it with one regex
    # search (no Python loop over lines: a hostile header may have millions).
    found = [i for i in _blank_lines(raw, pos, end) if i >= 0]
    blank_at = min(found) + 1 if found else end
    bad = _NOT_FIELD_LINE.search(raw, pos, blank_at - 1 if found else end)
    if bad is not None:
        return pos, bad.start() + 1, bad.start() + 1
    if not found:
        return pos, end, end
    return pos, blank_at, blank_at + (2 if raw.startswith(b"\r", blank_at) else 1)


def field_spans(raw: bytes, start: int, end: int) -> list[tuple[str, int, int]]:
    """The fields of a header section as (lower-case name, start, end) byte ranges.

    Each range holds the field with its continuation lines and final line break, exactly
    as in the message: what BODY[HEADER.FIELDS (...)] and BODY[HEADER.FIELDS.NOT (...)]
    return for the fields they keep, followed by the blank line (RFC 9051 section 6.4.5).
    ``start``/``end``: a header range from ``section_range(..., "HEADER")`` or "x.MIME".
    """
    spans: list[tuple[str, int, int]] = []
    pos = start
    while pos < end and len(spans) < MAX_FIELDS:
        match = _FIELD_LINES.match(raw, pos, end)
        if match is None:
            if raw.startswith((b"\r\n", b"\n"), pos):
                break  # the blank line ending the header
            newline = raw.find(b"\n", pos, end)  # not a field (an mbox "From " line): skip it
            pos = end if newline < 0 else newline + 1
            continue
        spans.append((match.group(1).decode("ascii").lower(), pos, match.end()))
        pos = match.end()
    return spans


class Header:
    """The fields of one header section, by lower-case name, in order of appearance.

    ``wanted``: the lower-case names of the fields the caller reads (as bytes); the
    others are not unfolded nor decoded (a header of Received and DKIM-Signature
    fields is mostly fields the structure parser never reads)."""

    def __init__(self, raw: bytes, start: int, end: int, wanted: frozenset[bytes] | None = None) -> None:
        self.fields: dict[str, list[str]] = {}
        for count, match in enumerate(_FIELD.finditer(raw, start, end)):
            if count >= MAX_FIELDS:
                break
            name = match.group(1).lower()
            if wanted is not None and name not in wanted:
                continue
            value = match.group(2)
            if b"\n" in value:  # folded: unfold (most values are one line)
                value = _FOLD.sub(b"", value)
            self.fields.setdefault(name.decode("ascii"), []).append(
                value.strip(b" \t\r\n").decode("utf-8", "surrogateescape"))

    def get(self, name: str) -> str | None:
        """The first field of that name, unfolded (RFC 5322 2.2.3), or None."""
        values = self.fields.get(name)
        return values[0] if values else None

    def get_all(self, name: str) -> list[str]:
        return self.fields.get(name, [])


# -- the lenient reading of checks -----------------------------------------------------

_LENIENT_FIELD = re.compile(rb"([!-9;-~]+)[ \t]*:")
_LINE_END = re.compile(rb"\r?\n")
# Hostile messages: a header is read up to this many bytes (``lenient_fields`` then says
# it overflowed).
MAX_LENIENT_HEADER = 1 << 20


def _lenient_end(raw: bytes) -> tuple[int, bool]:
    """Where ``lenient_fields`` stops reading (the line break before the first blank
    line stays in), and whether that is ``MAX_LENIENT_HEADER`` (the header overflowed)."""
    ends = [i + 1 for i in _blank_lines(raw, 0, len(raw)) if i >= 0]
    end = min(ends) if ends else len(raw)
    if end > MAX_LENIENT_HEADER:
        return MAX_LENIENT_HEADER, True
    return end, False


def lenient_fields(raw: bytes) -> tuple[list[tuple[str, str]], bool]:
    """(lower-case name, unfolded value) of every field of a message's header, read as
    leniently as the most lenient mail client, and whether the header was too large.

    For the checks that must see every field a client may show (``mime.authors``): the
    header is every line up to the first empty line; a line that is neither a field nor a
    continuation is skipped (``scan_header`` ends the header there instead); white space
    before the colon is allowed (RFC 5322 section 4.5); unfolding removes only the line
    breaks (section 2.2.3); CRLF or bare LF. Values are ``str`` decoded from UTF-8 with
    ``surrogateescape``, like ``Header``'s."""
    if raw.startswith((b"\r\n", b"\n")):
        return [], False
    end, overflow = _lenient_end(raw)
    fields: list[tuple[bytes, bytearray]] = []
    current: bytearray | None = None
    for line in _LINE_END.split(raw[:end]):
        if line[:1] in (b" ", b"\t"):
            if current is not None:
                current += line  # unfolding: the line break goes, the white space stays
            continue
        match = _LENIENT_FIELD.match(line)
        if match is None:
            current = None  # not a field: skipped, and it ends the field before it
            continue
        current = bytearray(line[match.end():])
        fields.append((match.group(1).lower(), current))
        if len(fields) > MAX_FIELDS:
            overflow = True
            break
    return [(name.decode("ascii"), bytes(value).decode("utf-8", "surrogateescape").strip(" \t\r"))
            for name, value in fields], overflow


def may_have_field(raw: bytes, name: str) -> bool:
    """False when the header ``lenient_fields`` reads cannot have a field ``name``: the
    name, in any case, is nowhere in it (one search in C; most messages have none of
    the rare fields a check looks for, and reading every field costs a Python loop)."""
    if raw.startswith((b"\r\n", b"\n")):
        return False
    end, _overflow = _lenient_end(raw)
    return name.lower().encode("ascii") in raw[:end].lower()


def has_field(raw: bytes, name: str) -> bool:
    """Does the message's header have a field ``name`` (any case), read leniently?"""
    wanted = name.lower()
    return may_have_field(raw, name) and any(found == wanted for found, _value in lenient_fields(raw)[0])
