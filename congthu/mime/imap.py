"""What IMAP FETCH needs, from the stored structure, without re-parsing the message.

* ``MessageStructure.envelope`` / ``.envelope.imap()``: ENVELOPE (RFC 9051 section 7.5.2);
* ``MessageStructure.bodystructure(extended)``: BODY (basic) or BODYSTRUCTURE (extended),
  RFC 9051 section 7.5.2 / RFC 3501 section 7.4.2, as nested lists;
* ``section_range(structure, section)``: the bytes of BODY[section] (RFC 9051 6.4.5).

Serialising (by the IMAP package): ``None`` is NIL, ``str`` a string (quoted, or a literal
when it has 8-bit or CR/LF; header strings may carry surrogate-escaped raw bytes, see
``headers.wire``), ``int`` a number, ``list`` a parenthesised list. One exception to a
plain space-separated list: in a multipart ``body-type-mpart = 1*body SP media-subtype``,
so the leading child bodies are written one after the other with no space between them
(RFC 9051 section 9: ``(("TEXT" ...)("TEXT" ...) "MIXED")``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from congthu.mime import structure as _structure
from congthu.mime.envelope import Envelope
from congthu.mime.part import Part

__all__ = ["MessageStructure", "parse_structure", "load_structure", "section_range", "FORMAT"]

FORMAT = 1  # version of the JSON layout in the store's contents.structure column
_NUMBER = re.compile(r"([1-9][0-9]{0,8})(?:\.|$)")


@dataclass
class MessageStructure:
    """A parsed message: its root part (with envelope) and total size in octets."""

    root: Part
    size: int

    @property
    def envelope(self) -> Envelope:
        return self.root.envelope or Envelope()

    def bodystructure(self, extended: bool = True) -> list[Any]:
        """BODYSTRUCTURE (``extended``) or BODY (basic form) as nested lists."""
        return _body(self.root, extended)

    def part(self, section: str) -> Part | None:
        """The part numbered like "1.2" (RFC 9051 section 6.4.5), or None."""
        parsed = _numbers(section)
        if parsed is None or parsed[1] or not parsed[0]:
            return None
        return _resolve(self.root, parsed[0])

    def walk(self) -> Iterator[tuple[str, Part]]:
        """(section number, part) for every part, depth first, as ``Part.walk``."""
        return self.root.walk()

    def to_json(self) -> str:
        # ensure_ascii: surrogate-escaped bytes and NUL stay valid in a SQL text column.
        return json.dumps({"v": FORMAT, "size": self.size, "root": self.root.to_json()},
                          separators=(",", ":"))


def parse_structure(raw: bytes) -> MessageStructure:
    """Parse a raw message (``structure.parse``); never raises."""
    return MessageStructure(_structure.parse(raw), len(raw))


def load_structure(data: str | bytes | Mapping[str, Any]) -> MessageStructure:
    """The structure stored by ``analyse`` (JSON text, or the dict ``Content.structure``).

    Raises ValueError for data not written by this version (e.g. "{}" from before the
    parser existed): re-parse the raw message with ``parse_structure`` then.
    """
    loaded = json.loads(data) if isinstance(data, str | bytes) else data
    if not isinstance(loaded, Mapping) or loaded.get("v") != FORMAT:
        raise ValueError("not a congthu.mime structure")
    try:
        return MessageStructure(Part.from_json(loaded["root"]), int(loaded["size"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"bad congthu.mime structure: {exc}") from None


# -- BODYSTRUCTURE ----------------------------------------------------------------------


def _params(params: list[tuple[str, str]]) -> list[str] | None:
    return [item for pair in params for item in pair] or None


def _extension(part: Part) -> list[Any]:
    """body-fld-dsp, body-fld-lang, body-fld-loc (RFC 9051 section 7.5.2)."""
    disposition = [part.disposition.upper(), _params(part.disposition_params)] if part.disposition else None
    language: Any = None
    if part.language:
        language = part.language[0] if len(part.language) == 1 else list(part.language)
    return [disposition, language, part.location]


def _body(part: Part, extended: bool) -> list[Any]:
    if part.children:
        out: list[Any] = [_body(child, extended) for child in part.children]
        out.append(part.subtype.upper())
        if extended:  # body-ext-mpart
            out.append(_params(part.params))
            out.extend(_extension(part))
        return out
    out = [
        part.type.upper(), part.subtype.upper(), _params(part.params), part.content_id,
        part.description, (part.encoding or "7bit").upper(), part.size,
    ]
    if part.message is not None:  # body-type-msg
        inner = part.message
        out += [(inner.envelope or Envelope()).imap(), _body(inner, extended), part.lines or 0]
    elif part.type == "text":  # body-type-text
        out.append(part.lines or 0)
    if extended:  # body-ext-1part
        out.append(part.md5)
        out.extend(_extension(part))
    return out


# -- sections -----------------------------------------------------------------------------


def _numbers(section: str) -> tuple[list[int], str] | None:
    """Split "1.2.MIME" into ([1, 2], "MIME"); None if malformed."""
    numbers: list[int] = []
    pos = 0
    section = section.strip()
    while match := _NUMBER.match(section, pos):
        numbers.append(int(match.group(1)))
        pos = match.end()
        if not match.group().endswith("."):
            return numbers, ""
    rest = section[pos:]
    if pos and not rest:  # "1." dangling dot
        return None
    return numbers, rest.upper()


def _resolve(root: Part, numbers: list[int]) -> Part | None:
    """The part a list of part numbers designates (RFC 9051 section 6.4.5)."""
    part: Part | None = None
    entity = root
    for number in numbers:
        if part is not None:
            if part.message is not None:
                entity = part.message
            elif part.children:
                entity = part
            else:
                return None
        if entity.children:
            if number > len(entity.children):
                return None
            part = entity.children[number - 1]
        elif number == 1:
            part = entity  # a non-multipart message has just part 1, its body
        else:
            return None
    return part


def section_range(structure: MessageStructure, section: str) -> tuple[int, int] | None:
    """Byte range (start, end) in the raw message of BODY[section], or None if no such part.

    ``section`` is what is between the brackets: "" (whole message), "HEADER", "TEXT",
    "1", "1.2", "1.2.MIME", "2.HEADER", "2.TEXT", "HEADER.FIELDS (From To)", ... The
    HEADER.FIELDS[.NOT] forms give the whole header's range: picking the fields is the
    IMAP package's job. HEADER and TEXT after part numbers need a message/rfc822 (or
    message/global) part; MIME needs part numbers (RFC 9051 section 6.4.5).
    """
    parsed = _numbers(section)
    if parsed is None:
        return None
    numbers, text = parsed
    if not numbers:
        entity = structure.root
        if text == "":
            return 0, structure.size
    else:
        part = _resolve(structure.root, numbers)
        if part is None:
            return None
        if text == "":
            return part.body_start, part.body_end
        if text == "MIME":
            return part.header_start, part.body_start
        if part.message is None:
            return None
        entity = part.message
    if text == "TEXT":
        return entity.body_start, entity.body_end
    if text == "HEADER" or text.startswith(("HEADER.FIELDS ", "HEADER.FIELDS.NOT ", "HEADER.FIELDS(")):
        return entity.header_start, entity.body_start
    return None
