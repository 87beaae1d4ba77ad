"""What the reading page shows of one message, from the structure stored at delivery.

The structure and decoded headers are those of ``congthu.mime`` (the reader behind IMAP's
ENVELOPE and BODYSTRUCTURE), so the webmail shows what every client sees:

- the body: the first text/html part that is not an attachment (sanitised, see
  ``sanitise.py``), else the first text/plain one; parts inside an attached message are
  that message's, not this one's;
- the attachments: every leaf part ``Part.is_attachment`` calls one (an attached message
  as one file), with its IMAP section number (the download route's key), its decoded
  size and its file name decoded from RFC 2231 / RFC 2047, NFC;
- ``content_disposition``: the header of a download, RFC 6266 with ``filename*``
  (RFC 8187) so Vietnamese names arrive intact, and a plain ASCII fallback.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import quote

from congthu.mime import (
    MessageStructure,
    Part,
    body_text,
    decode_words,
    decoded_size,
    load_structure,
    parse_structure,
)
from congthu.text import unaccent

# Text bodies longer than this (characters) are cut before showing.
MAX_BODY_CHARS = 2_000_000
MAX_FILENAME = 180
# A part's IMAP section number (RFC 9051 section 6.4.5) as the routes take it.
SECTION = re.compile(r"^[1-9][0-9]{0,3}(\.[1-9][0-9]{0,3}){0,9}$")
# Control characters, quotes, path and shell characters, and the bidirectional controls
# (U+202E RIGHT-TO-LEFT OVERRIDE makes "hóa\u202efdp.exe" look like "hóaexe.pdf").
_UNSAFE_NAME = re.compile('[\x00-\x1f\x7f-\x9f"\\\\/:*?<>|;\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]+')


@dataclass
class Attachment:
    section: str
    filename: str
    media_type: str
    size: int

    @property
    def preview(self) -> str:
        """"image" or "pdf" when the page may offer a preview (the bytes are checked
        again when served, ``previews``), else ""."""
        name = self.filename.lower()
        if self.media_type in ("image/png", "image/jpeg", "image/gif", "image/webp") or (
                self.media_type == "application/octet-stream" and name.endswith((".png", ".jpg", ".jpeg", ".gif", ".webp"))):
            return "image"
        if self.media_type in ("application/pdf", "application/x-pdf") or (
                self.media_type == "application/octet-stream" and name.endswith(".pdf")):
            return "pdf"
        return ""


@dataclass
class MessageView:
    html_part: Part | None
    text_part: Part | None
    attachments: list[Attachment] = field(default_factory=list)


def structure_of(stored: dict[str, object], raw: bytes) -> MessageStructure:
    """The stored structure, or the message parsed again if stored by an older version."""
    try:
        return load_structure(stored)
    except ValueError:
        return parse_structure(raw)


def view_of(structure: MessageStructure, raw: bytes) -> MessageView:
    view = MessageView(None, None)
    inside_attached: list[str] = []
    for section, part in structure.walk():
        if any(section.startswith(prefix + ".") for prefix in inside_attached):
            continue
        if part.children:
            continue
        if part.is_attachment:
            if part.message is not None:
                inside_attached.append(section)
            view.attachments.append(Attachment(section, attachment_name(part, len(view.attachments) + 1),
                                               part.media_type, decoded_size(raw, part)))
        elif part.type == "text" and part.subtype == "html" and view.html_part is None:
            view.html_part = part
        elif part.type == "text" and part.subtype != "html" and view.text_part is None:
            view.text_part = part
    return view


def inline_images(structure: MessageStructure) -> dict[str, str]:
    """Content-ID (lower case, without angle brackets) -> section of each image part of
    the message itself (not of an attached message): what ``cid:`` URLs may name (RFC
    2392). Whether the bytes are an image the page may show is checked when served."""
    found: dict[str, str] = {}
    inside_attached: list[str] = []
    for section, part in structure.walk():
        if any(section.startswith(prefix + ".") for prefix in inside_attached):
            continue
        if part.message is not None:
            inside_attached.append(section)
        elif part.type == "image" and part.content_id and not part.children:
            key = part.content_id.strip().strip("<>").lower()
            if key and len(key) <= 250:
                found.setdefault(key, section)
    return found


def image_part(structure: MessageStructure, raw: bytes, section: str) -> Part | None:
    """The part ``section`` if it is an image part of the message itself: an inline
    image (``inline_images``) or an attachment the reading page lists."""
    if section in inline_images(structure).values():
        return structure.part(section)
    chosen = attachment_by_section(structure, raw, section)
    return chosen[1] if chosen is not None else None


def attachment_by_section(structure: MessageStructure, raw: bytes, section: str) -> tuple[Attachment, Part] | None:
    """The attachment with this section number, if it is one the reading page lists."""
    view = view_of(structure, raw)
    for attachment in view.attachments:
        if attachment.section == section:
            part = structure.part(section)
            if part is not None:
                return attachment, part
    return None


def part_text(raw: bytes, part: Part) -> tuple[str, bool]:
    """(text, cut) of a text part, decoded (transfer encoding, charset, NFC)."""
    text = body_text(raw, part, limit=MAX_BODY_CHARS)
    if len(text) > MAX_BODY_CHARS:
        return text[:MAX_BODY_CHARS], True
    return text, False


def safe_filename(name: str) -> str:
    """A file name that names one file: no path, no control character, no quote; NFC."""
    name = unicodedata.normalize("NFC", name)
    name = re.sub(r"\.{2,}", ".", _UNSAFE_NAME.sub("_", name)).strip(" ._")
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        name = (stem[:MAX_FILENAME - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else name[:MAX_FILENAME]
    return name or "tep-dinh-kem"


def attachment_name(part: Part, number: int) -> str:
    if part.filename:
        return safe_filename(part.filename)
    if part.message is not None:
        subject = part.message.envelope.subject if part.message.envelope else None
        return safe_filename(decode_words(subject or "") or "thu") + ".eml"
    return f"tep-dinh-kem-{number}"


def content_disposition(filename: str, *, inline: bool = False) -> str:
    """``attachment; filename="ascii"; filename*=UTF-8''...`` (RFC 6266 section 4.3);
    ``inline`` for what the page shows (images)."""
    ascii_name = unaccent(filename).encode("ascii", "replace").decode("ascii")
    ascii_name = re.sub(r"\.{2,}", ".", re.sub(r"[^A-Za-z0-9._ -]+", "_", ascii_name)).strip(" ._") or "tep-dinh-kem"
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
