"""The MIME structure of a message for FETCH: ENVELOPE, BODYSTRUCTURE, BODY[section]
and BINARY[section] (RFC 9051 sections 6.4.5 and 7.5.2, RFC 3516, RFC 2045-2046).

BINARY undoes the transfer encodings 7bit, 8bit, binary, quoted-printable and base64
(``KNOWN_ENCODINGS``); any other Content-Transfer-Encoding of the part asked for raises
``UnknownEncoding``, which FETCH turns into NO [UNKNOWN-CTE] (RFC 3516 section 4.1).

The structure is the one ``congthu.mime`` computed at delivery and the store keeps per
message content (``Content.structure``, read with ``mime.load_structure``): ENVELOPE and
BODYSTRUCTURE need no read of the message at all, and BODY[section] / BINARY[section]
read the raw bytes only to cut the section's byte range out of them. A content stored
before the structure existed (its structure is "{}") is parsed from its bytes with
``mime.parse_structure``: ``load`` returns None for it, and the caller reads the bytes.

Part numbering (RFC 9051 6.4.5, ``mime.section_range``): the parts of a multipart are
1, 2, ...; a non-multipart message has one part, 1, its body; a message/rfc822 part's
number designates the whole enclosed message, and "n.1" the first part of that message's
body. This is the only place in the IMAP server that looks inside a message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from congthu import mime
from congthu.imap.parser import Section
from congthu.imap.response import encode
from congthu.mime.headers import Header, scan_header

__all__ = [
    "MessageStructure", "UnknownEncoding", "HeaderFields", "load", "parse", "envelope",
    "bodystructure", "section_bytes", "binary_bytes", "binary_size", "binary_decodable",
    "header_fields", "header_spans", "pick_fields",
]

MessageStructure = mime.MessageStructure
UnknownEncoding = mime.UnknownEncoding

# The transfer encodings BINARY can undo (RFC 2045 section 6.1; None: no header, 7bit).
# ``congthu.mime.structure`` keeps the first word of the field, lower case, so
# "  Base64 " is base64; anything else (x-uuencode, garbage) is UNKNOWN-CTE.
KNOWN_ENCODINGS = (None, "7bit", "8bit", "binary", "quoted-printable", "base64")


def load(stored: Mapping[str, Any] | str | None) -> MessageStructure | None:
    """The structure stored at delivery, or None if there is none ("{}": parse the bytes)."""
    if not stored:
        return None
    try:
        return mime.load_structure(stored)
    except ValueError:
        return None


def parse(raw: bytes) -> MessageStructure:
    """The structure of a message parsed from its bytes (contents stored without one)."""
    return mime.parse_structure(raw)


# -- ENVELOPE and BODYSTRUCTURE (RFC 9051 section 7.5.2) ------------------------------------

def envelope(structure: MessageStructure, *, utf8: bool = False) -> bytes:
    """The ENVELOPE on the wire. Header strings are raw (RFC 2047 words left encoded);
    8-bit bytes survive as surrogate escapes, which ``encode`` turns back into bytes."""
    return _envelope(structure.envelope.imap(), utf8)


def _envelope(items: list[Any], utf8: bool) -> bytes:
    """``envelope`` of the grammar: an address list is ``"(" 1*address ")"``, the
    addresses following one another with no space between them (RFC 9051 section 9,
    env-from ... env-bcc; RFC 3501 the same): "((...)(...))", as Dovecot sends it."""
    out = []
    for n, item in enumerate(items):
        if 2 <= n <= 7 and isinstance(item, list):
            out.append(b"(" + b"".join(encode(address, utf8=utf8) for address in item) + b")")
        else:
            out.append(encode(item, utf8=utf8))
    return b"(" + b" ".join(out) + b")"


def bodystructure(structure: MessageStructure, extended: bool, *, utf8: bool = False) -> bytes:
    """BODYSTRUCTURE (``extended``) or BODY (not) on the wire."""
    return _body(structure.bodystructure(extended), utf8)


def _body(body: list[Any], utf8: bool) -> bytes:
    """One ``body`` of the grammar. In ``body-type-mpart = 1*body SP media-subtype`` the
    child bodies follow one another with no space between them (RFC 9051 section 9):
    "((...)(...) "MIXED" ...)". A message/rfc822 part's enclosed body (item 9) is a
    ``body`` too, with the same rule inside."""
    if body and isinstance(body[0], list):
        lead = next((n for n, item in enumerate(body) if not isinstance(item, list)), len(body))
        rest = b" ".join(encode(item, utf8=utf8) for item in body[lead:])
        return b"(" + b"".join(_body(child, utf8) for child in body[:lead]) + b" " + rest + b")"
    if len(body) > 9 and body[0] == "MESSAGE" and isinstance(body[8], list):
        items = [encode(item, utf8=utf8) for item in body]
        if isinstance(body[7], list):
            items[7] = _envelope(body[7], utf8)
        items[8] = _body(body[8], utf8)
        return b"(" + b" ".join(items) + b")"
    return encode(body, utf8=utf8)


# -- sections -------------------------------------------------------------------------------

def _spec(section: Section) -> str:
    """The section in ``mime.section_range``'s form; HEADER.FIELDS[.NOT] ask for the
    whole header, whose fields are then picked here."""
    text = "HEADER" if section.text.startswith("HEADER") else section.text
    return ".".join([str(n) for n in section.part] + ([text] if text else []))


def _path(structure: MessageStructure, path: tuple[int, ...]) -> tuple[int, ...]:
    """The part a part number names: as a message that is not multipart has a part 1,
    its body (RFC 9051 section 6.4.5), a leaf part of a multipart is taken as its own
    part 1, so "1.1" of a text part 1 is that part, as Dovecot answers (clients that
    count parts one level too deep get the part instead of nothing); the body of a
    message that is not multipart has no part 1.1."""
    for k in range(1, len(path)):
        parent = structure.root if k == 1 else structure.part(".".join(str(n) for n in path[:k - 1]))
        if parent is None:
            break
        if parent.message is not None:
            parent = parent.message
        if not parent.children:
            continue  # the part is a message's body (its implicit part 1): no collapsing
        part = structure.part(".".join(str(n) for n in path[:k]))
        if part is None:
            break
        if part.is_leaf:
            return path[:k] if all(n == 1 for n in path[k:]) else path
    return path


def section_bytes(raw: bytes, structure: MessageStructure, section: Section) -> bytes | None:
    """The bytes of BODY[section], or None if the part does not exist (then the
    response is NIL, as RFC 9051 6.4.5 leaves to the server)."""
    if section.part:
        section = section._replace(part=_path(structure, section.part))
    found = mime.section_range(structure, _spec(section))
    if found is None:
        return None
    start, end = found
    if section.text not in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        return raw[start:end]
    return pick_fields(raw, mime.field_spans(raw, start, end), section)


def header_spans(header: bytes) -> list[tuple[str, int, int]]:
    """The fields of a header section on its own (``mime.field_spans``), for
    ``pick_fields``."""
    return mime.field_spans(header, 0, len(header))


def pick_fields(raw: bytes, spans: list[tuple[str, int, int]], section: Section) -> bytes:
    """BODY[HEADER.FIELDS (...)] / BODY[HEADER.FIELDS.NOT (...)] of a header section
    whose fields are ``spans`` (``mime.field_spans`` over ``raw``): the fields kept, as
    they are in the message, then the blank line (RFC 9051 section 6.4.5)."""
    wanted = {name.lower() for name in section.fields}
    negate = section.text == "HEADER.FIELDS.NOT"
    kept = [raw[s:e] for name, s, e in spans if (name in wanted) != negate]
    return b"".join(f if f.endswith(b"\n") else f + b"\r\n" for f in kept) + b"\r\n"


def message_header(raw: bytes, structure: MessageStructure) -> bytes:
    """RFC822.HEADER (BODY.PEEK[HEADER])."""
    return raw[structure.root.header_start:structure.root.body_start]


def message_text(raw: bytes, structure: MessageStructure) -> bytes:
    """RFC822.TEXT (BODY[TEXT])."""
    return raw[structure.root.body_start:structure.root.body_end]


def binary_decodable(structure: MessageStructure, path: tuple[int, ...]) -> bool:
    """False if BINARY[path] would meet a transfer encoding we cannot undo (RFC 3516
    section 4.1: then the command ends in NO [UNKNOWN-CTE])."""
    part = structure.part(".".join(str(n) for n in _path(structure, path))) if path else None
    return part is None or not part.is_leaf or part.encoding in KNOWN_ENCODINGS


def binary_bytes(raw: bytes, structure: MessageStructure, path: tuple[int, ...]) -> bytes | None:
    """The content of a part with its transfer encoding undone (RFC 3516 BINARY[part]),
    or None if there is no such part. A multipart or message/rfc822 part is returned as
    it is; an encoding we cannot undo raises ``UnknownEncoding`` ([UNKNOWN-CTE])."""
    if not path:
        return raw
    part = structure.part(".".join(str(n) for n in _path(structure, path)))
    if part is None:
        return None
    if not part.is_leaf:
        return raw[part.body_start:part.body_end]
    if part.encoding not in KNOWN_ENCODINGS:
        raise UnknownEncoding(part.encoding or "")
    return mime.decode_body(raw, part)


def binary_size(raw: bytes, structure: MessageStructure, path: tuple[int, ...]) -> int | None:
    """BINARY.SIZE[part]: the decoded size, counted without decoding where possible
    (identity and base64 encodings); None if there is no such part. An encoding we
    cannot undo raises ``UnknownEncoding`` (RFC 9051 section 6.4.5: as for BINARY[])."""
    if not path:
        return structure.size
    part = structure.part(".".join(str(n) for n in _path(structure, path)))
    if part is None:
        return None
    if part.encoding not in KNOWN_ENCODINGS and part.is_leaf:
        raise UnknownEncoding(part.encoding or "")
    if not part.is_leaf or part.encoding in (None, "7bit", "8bit", "binary"):
        return part.size
    return mime.decoded_size(raw, part)


# -- header fields for SEARCH HEADER, BCC and THREAD ----------------------------------------

class HeaderFields:
    """The top-level header fields of a message, by lower-case name (unfolded values)."""

    def __init__(self, raw: bytes) -> None:
        start, end, _body = scan_header(raw, 0, len(raw), True)
        self._header = Header(raw, start, end)

    def header(self, name: str) -> str | None:
        """The first field of that name, unfolded (RFC 5322 2.2.3), or None."""
        return self._header.get(name)


def header_fields(raw: bytes) -> HeaderFields:
    return HeaderFields(raw)
