"""The MIME structure of a message for FETCH: ENVELOPE, BODYSTRUCTURE, BODY[section]
and BINARY[section] (RFC 9051 sections 6.4.5 and 7.5.2, RFC 3516, RFC 2045-2046).

TEMPORARY: this module parses the raw message itself (byte offsets of every part, with
the email package's address parser for ENVELOPE) until ``congthu.mime.structure``
provides ``load_structure``/``envelope``/``bodystructure``/``section_range`` from the
structure stored at delivery. It is the only place in the IMAP server that looks inside
a message, so the switch is local to this file.

Part numbering (RFC 9051 6.4.5): the parts of a multipart are 1, 2, ...; a non-multipart
message has one part, 1, its body; a message/rfc822 part's number designates the whole
enclosed message, and "n.1" the first part of that message's body.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from dataclasses import dataclass, field
from email.utils import getaddresses
from typing import Any

from congthu.imap.parser import Section
from congthu.imap.response import encode

__all__ = ["Part", "parse", "envelope", "bodystructure", "section_bytes", "binary_bytes",
           "UnknownEncoding"]

_MAX_DEPTH = 20
_MAX_PARTS = 2000


class UnknownEncoding(Exception):
    """BINARY of a part whose transfer encoding we cannot decode (RFC 3516 [UNKNOWN-CTE])."""


@dataclass
class Part:
    start: int  # first byte of the header (of the MIME header for a body part)
    body: int  # first byte of the body
    end: int  # end of the body
    fields: list[tuple[str, bytes]]  # (lower-case name, the whole raw field with its line end)
    maintype: str = "text"
    subtype: str = "plain"
    params: list[tuple[str, str]] = field(default_factory=list)
    children: list[Part] = field(default_factory=list)
    message: Part | None = None  # the enclosed message of a message/rfc822 part

    def header(self, name: str) -> str | None:
        """An unfolded header value (first occurrence), or None."""
        for n, raw in self.fields:
            if n == name:
                value = raw.split(b":", 1)[1] if b":" in raw else b""
                text = re.sub(rb"\r?\n", b"", value).strip()
                return text.decode("utf-8", "surrogateescape")
        return None

    @property
    def is_multipart(self) -> bool:
        return self.maintype == "multipart" and bool(self.children)


def _split_header(raw: bytes, start: int, end: int) -> tuple[list[tuple[str, bytes]], int]:
    """The header fields from ``start``, and where the body begins (after the blank line)."""
    fields: list[tuple[str, bytes]] = []
    pos = start
    current: list[bytes] = []

    def close() -> None:
        if current:
            whole = b"".join(current)
            name = whole.split(b":", 1)[0].strip().lower().decode("ascii", "replace")
            fields.append((name, whole))
            current.clear()

    while pos < end:
        nl = raw.find(b"\n", pos, end)
        line_end = end if nl < 0 else nl + 1
        line = raw[pos:line_end]
        if line in (b"\r\n", b"\n"):
            close()
            return fields, line_end
        if line[:1] in (b" ", b"\t") and current:
            current.append(line)
        else:
            close()
            if b":" not in line:  # not a header line: the body starts here (lenient)
                return fields, pos
            current.append(line)
        pos = line_end
    close()
    return fields, end


def _params(value: str) -> tuple[str, list[tuple[str, str]]]:
    """Split "text/plain; charset=utf-8; name="a;b"" into the value and its parameters."""
    items: list[str] = []
    buf: list[str] = []
    quoted = escaped = False
    for ch in value:
        if escaped:
            buf.append(ch)
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == ";" and not quoted:
            items.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    items.append("".join(buf))
    head = items[0].strip()
    params: list[tuple[str, str]] = []
    for item in items[1:]:
        if "=" in item:
            k, v = item.split("=", 1)
            params.append((k.strip().upper(), v.strip()))
    return head, params


def parse(raw: bytes) -> Part:
    counter = [0]
    return _parse(raw, 0, len(raw), 0, counter, default=("text", "plain"))


def _parse(raw: bytes, start: int, end: int, depth: int, counter: list[int],
           default: tuple[str, str]) -> Part:
    counter[0] += 1
    fields, body = _split_header(raw, start, end)
    part = Part(start, body, end, fields, *default)
    ctype = part.header("content-type")
    if ctype:
        head, params = _params(ctype)
        if "/" in head:
            main, _, sub = head.partition("/")
            part.maintype, part.subtype = main.strip().lower() or "text", sub.strip().lower() or "plain"
        part.params = params
    elif default == ("text", "plain"):
        part.params = [("CHARSET", "us-ascii")]
    if depth >= _MAX_DEPTH or counter[0] >= _MAX_PARTS:
        return part
    if part.maintype == "multipart":
        boundary = dict(part.params).get("BOUNDARY", "")
        if boundary:
            child_default = ("message", "rfc822") if part.subtype == "digest" else ("text", "plain")
            for s, e in _multipart_bodies(raw, body, end, boundary.encode("utf-8", "surrogateescape")):
                part.children.append(_parse(raw, s, e, depth + 1, counter, child_default))
    elif (part.maintype, part.subtype) in (("message", "rfc822"), ("message", "global")):
        part.message = _parse(raw, body, end, depth + 1, counter, ("text", "plain"))
    return part


def _multipart_bodies(raw: bytes, start: int, end: int, boundary: bytes) -> list[tuple[int, int]]:
    """(start, end) of each body part between the boundary delimiters (RFC 2046 5.1.1):
    the CRLF before a delimiter belongs to the delimiter."""
    delim = re.compile(rb"(?:\r?\n|^)--" + re.escape(boundary) + rb"(--)?[ \t]*(?:\r?\n|$)", re.M)
    bodies: list[tuple[int, int]] = []
    pos = None
    for m in delim.finditer(raw, start, end):
        if m.start() < start:
            continue
        if pos is not None:
            bodies.append((pos, m.start()))
        if m.group(1):
            return bodies
        pos = m.end()
    if pos is not None:  # missing close delimiter: the last part runs to the end
        bodies.append((pos, end))
    return bodies


# -- ENVELOPE (RFC 9051 section 7.5.2) ----------------------------------------------------

def _addresses(value: str | None) -> list[list[Any]] | None:
    if not value:
        return None
    out: list[list[Any]] = []
    for name, addr in getaddresses([value]):
        if not addr and not name:
            continue
        local, _, host = addr.rpartition("@") if "@" in addr else (addr, "", "")
        out.append([name or None, None, local or None, host or None])
    return out or None


def envelope(part: Part) -> list[Any]:
    sender_from = _addresses(part.header("from"))
    return [
        part.header("date"), part.header("subject"), sender_from,
        _addresses(part.header("sender")) or sender_from,
        _addresses(part.header("reply-to")) or sender_from,
        _addresses(part.header("to")), _addresses(part.header("cc")), _addresses(part.header("bcc")),
        part.header("in-reply-to"), part.header("message-id"),
    ]


# -- BODYSTRUCTURE --------------------------------------------------------------------------

def _param_list(params: list[tuple[str, str]], skip: tuple[str, ...] = ()) -> list[str] | None:
    flat: list[str] = []
    for k, v in params:
        if k in skip:
            continue
        flat += [k, v]
    return flat or None


def _disposition(part: Part) -> list[Any] | None:
    value = part.header("content-disposition")
    if not value:
        return None
    head, params = _params(value)
    return [head.upper() or "ATTACHMENT", _param_list(params)]


def _language(part: Part) -> list[str] | None:
    value = part.header("content-language")
    if not value:
        return None
    return [v.strip() for v in value.split(",") if v.strip()] or None


def bodystructure(raw: bytes, part: Part, extended: bool, *, utf8: bool = False) -> bytes:
    """BODYSTRUCTURE (extended) or BODY (not) of a part, on the wire (RFC 9051 7.5.2);
    a multipart's parts are concatenated: "(part1)(part2) "MIXED" ..."."""
    if part.is_multipart:
        children = b"".join(bodystructure(raw, c, extended, utf8=utf8) for c in part.children)
        rest: list[Any] = [part.subtype.upper()]
        if extended:
            rest += [_param_list(part.params), _disposition(part), _language(part),
                     part.header("content-location")]
        return b"(" + children + b" " + b" ".join(encode(v, utf8=utf8) for v in rest) + b")"
    size = part.end - part.body
    encoding = (part.header("content-transfer-encoding") or "7BIT").upper()
    params = _param_list(part.params, ("BOUNDARY",) if part.maintype == "multipart" else ())
    items = [encode(v, utf8=utf8) for v in (
        part.maintype.upper(), part.subtype.upper(), params,
        part.header("content-id"), part.header("content-description"), encoding, size)]
    if part.message is not None:
        items += [encode(envelope(part.message), utf8=utf8),
                  bodystructure(raw, part.message, extended, utf8=utf8),
                  b"%d" % raw.count(b"\n", part.body, part.end)]
    elif part.maintype == "text":
        items.append(b"%d" % raw.count(b"\n", part.body, part.end))
    if extended:
        items += [encode(v, utf8=utf8) for v in (
            part.header("content-md5"), _disposition(part), _language(part),
            part.header("content-location"))]
    return b"(" + b" ".join(items) + b")"


# -- sections -------------------------------------------------------------------------------

def find_part(root: Part, path: tuple[int, ...]) -> Part | None:
    node = root
    entity = True  # node stands for a message (root or enclosed), not yet one of its parts
    for k in path:
        if not entity and node.message is not None:
            node, entity = node.message, True
        if node.is_multipart:
            if k > len(node.children):
                return None
            node, entity = node.children[k - 1], False
        elif entity and k == 1:
            entity = False
        else:
            return None
    return node


def _header_fields(raw: bytes, fields: list[tuple[str, bytes]], names: tuple[str, ...], negate: bool) -> bytes:
    wanted = {n.lower() for n in names}
    kept = [whole for name, whole in fields if (name in wanted) != negate]
    out = b"".join(w if w.endswith(b"\n") else w + b"\r\n" for w in kept)
    return out + b"\r\n"


def section_bytes(raw: bytes, root: Part, section: Section) -> bytes | None:
    """The bytes of BODY[section], or None if the part does not exist (then the
    response is an empty string, as RFC 9051 6.4.5 leaves to the server)."""
    if not section.part:
        if section.text == "":
            return raw
        target: Part | None = root
    else:
        node = find_part(root, section.part)
        if node is None:
            return None
        if section.text == "":
            return raw[node.body:node.end]
        if section.text == "MIME":
            return raw[node.start:node.body]
        target = node.message  # HEADER / TEXT of a part: its enclosed message
        if target is None:
            return None
    assert target is not None
    if section.text == "HEADER":
        return raw[target.start:target.body]
    if section.text == "TEXT":
        return raw[target.body:target.end]
    return _header_fields(raw, target.fields, section.fields, section.text == "HEADER.FIELDS.NOT")


def binary_bytes(raw: bytes, root: Part, path: tuple[int, ...]) -> bytes | None:
    """The decoded content of a leaf part (RFC 3516 BINARY[part])."""
    if not path:
        return raw
    node = find_part(root, path)
    if node is None:
        return None
    body = raw[node.body:node.end]
    if node.is_multipart or node.message is not None:
        return body
    encoding = (node.header("content-transfer-encoding") or "7bit").strip().lower()
    if encoding in ("7bit", "8bit", "binary", ""):
        return body
    if encoding == "base64":
        try:
            return base64.b64decode(re.sub(rb"[^A-Za-z0-9+/=]", b"", body) + b"==")
        except (binascii.Error, ValueError):
            raise UnknownEncoding(encoding) from None
    if encoding == "quoted-printable":
        return quopri.decodestring(body)
    raise UnknownEncoding(encoding)
