"""``analyse(raw)``: the one MIME analysis of a message, done once at delivery
(RFC 5322, RFC 2045-2049, 2047, 2231), and ``Analysis``, what it finds: header fields for
listing and SORT, folded text for search, the structure IMAP FETCH reads, the byte
ranges of large leaf bodies and the first lines of the body's text for the content rules
(the package's docstring says which module does what). Each text part is decoded once,
for the search text, the preview's few characters aside."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from congthu.mime.body import decoded_size
from congthu.mime.imap import MessageStructure, parse_structure
from congthu.mime.lines import body_lines
from congthu.mime.part import Part
from congthu.mime.preview import preview
from congthu.mime.search import address_texts, search_text_prefix
from congthu.mime.words import clean, decode_words
from congthu.text import fold

__all__ = ["Analysis", "SPLIT_THRESHOLD", "analyse"]

T = TypeVar("T")

# Leaf bodies at least this large become blobs of their own.
SPLIT_THRESHOLD = 64 * 1024


@dataclass
class Analysis:
    subject: str = ""
    from_addr: str = ""
    to_addr: str = ""
    cc_addr: str = ""
    sent_date: datetime | None = None
    message_id: str = ""
    # The first INDEXED_CHARS characters of the folded search text, what the store keeps
    # (``congthu.mime.search.search_text_prefix``), and whether the text is longer.
    search_text: str = ""
    search_cut: bool = False
    # subject, from_addr, to_addr and cc_addr folded (``congthu.text.fold``): what IMAP
    # SEARCH SUBJECT / FROM / TO / CC match against, in SQL (``contents.subject_key``...).
    subject_key: str = ""
    from_key: str = ""
    to_key: str = ""
    cc_key: str = ""
    # RFC 8970 PREVIEW text (``congthu.mime.preview``), for ``contents.preview``.
    preview: str = ""
    # JSON text for the store's ``contents.structure`` column (``load_structure`` reads it).
    structure_json: str = "{}"
    # Sorted, non-overlapping (start, end) byte ranges of large leaf bodies in the raw message.
    split_ranges: list[tuple[int, int]] = field(default_factory=list)
    # (file name, decoded size) of each attachment, for the 15 MB rule (Điều 8.1).
    attachments: list[tuple[str, int]] = field(default_factory=list)
    # The first lines of each text part of the body, by its ``body_start``
    # (``congthu.mime.lines``), for the content rules (Điều 7.8, 13.3).
    body_lines: dict[int, list[str]] = field(default_factory=dict)
    # The parsed structure (``structure_json``'s), for the content rules' reading of the
    # attachments; not stored.
    root: Part | None = field(default=None, repr=False, compare=False)


def _date(value: str | None) -> datetime | None:
    """RFC 5322 section 3.3 date-time, leniently; aware, in UTC (a "-0000" zone is taken
    as UTC). In UTC because SQLite keeps a datetime's wall time without its zone: stored
    in its own zone, dates in different zones would compare wrongly (SORT DATE)."""
    if not value:
        return None
    try:
        sent = parsedate_to_datetime(value)
    except Exception:  # any malformed date: no date
        return None
    return sent.replace(tzinfo=UTC) if sent.tzinfo is None else sent.astimezone(UTC)


def _attachments(raw: bytes, part: Part) -> list[tuple[str, int]]:
    """(decoded file name, decoded size) of every attachment; attached messages count as one."""
    found: list[tuple[str, int]] = []
    stack = [part]
    while stack:
        current = stack.pop()
        if current.children:
            stack.extend(reversed(current.children))
        elif current.is_attachment:
            name = current.filename
            if name is None and current.message is not None:
                subject = (current.message.envelope.subject if current.message.envelope else None) or ""
                name = (clean(decode_words(subject)) or "message") + ".eml"
            found.append((clean(name or ""), decoded_size(raw, current)))
    return found


def _split_ranges(structure: MessageStructure) -> list[tuple[int, int]]:
    ranges = sorted(
        (p.body_start, p.body_end) for _, p in structure.walk()
        if p.is_leaf and p.size >= SPLIT_THRESHOLD
    )
    result: list[tuple[int, int]] = []
    for start, end in ranges:
        if (not result or start >= result[-1][1]) and 0 <= start < end <= structure.size:
            result.append((start, end))
    return result


def _safe(compute: Callable[[], T], default: T) -> T:
    try:
        return compute()
    except Exception:  # a bug on some odd message must not stop delivery
        return default


def analyse(raw: bytes) -> Analysis:
    """Analyse a raw message; never raises (malformed input gives a best-effort result)."""
    structure = parse_structure(raw)
    envelope = structure.envelope
    subject = _safe(lambda: clean(decode_words(envelope.subject or "")), "")
    # (addresses_text, address_key) of each list: each address decoded once.
    from_addr, from_key = _safe(lambda: address_texts(envelope.from_), ("", ""))
    to_addr, to_key = _safe(lambda: address_texts(envelope.to), ("", ""))
    cc_addr, cc_key = _safe(lambda: address_texts(envelope.cc), ("", ""))
    decoded: dict[int, str] = {}  # the text parts the search text decoded whole
    starts: dict[int, str] = {}  # and the start of a long one it decoded in part
    text, cut = _safe(lambda: search_text_prefix(raw, structure.root, decoded=decoded,
                                                 texts=(subject, from_key, to_key, cc_key),
                                                 starts=starts), ("", False))
    return Analysis(
        subject=subject, from_addr=from_addr, to_addr=to_addr, cc_addr=cc_addr,
        sent_date=_date(envelope.date),
        message_id=clean(envelope.message_id or ""),
        search_text=text, search_cut=cut,
        subject_key=fold(subject), from_key=_safe(lambda: fold(from_key), ""),
        to_key=_safe(lambda: fold(to_key), ""), cc_key=_safe(lambda: fold(cc_key), ""),
        preview=_safe(lambda: preview(raw, structure.root, decoded | starts), ""),
        structure_json=structure.to_json(),
        split_ranges=_safe(lambda: _split_ranges(structure), []),
        attachments=_safe(lambda: _attachments(raw, structure.root), []),
        body_lines=_safe(lambda: body_lines(raw, structure.root, decoded, starts), {}),
        root=structure.root,
    )
