"""MIME analysis of a message, done once at delivery (RFC 5322, RFC 2045-2049, 2047, 2231).

``analyse(raw)`` returns everything the store keeps about a message besides its bytes:
header fields for listing and SORT, folded text for search, the JSON structure used by
IMAP FETCH (ENVELOPE, BODYSTRUCTURE, BODY[section]) and the byte ranges of large leaf
bodies, which the store keeps as blobs of their own so an attachment is stored once.

(Provisional implementation; the full structure parser replaces it with the same interface.)
"""

from __future__ import annotations

import email
import email.policy
import json
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime

from congthu.text import fold, nfc

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
    search_text: str = ""
    # JSON text for the store's ``contents.structure`` column.
    structure_json: str = "{}"
    # Sorted, non-overlapping (start, end) byte ranges of large leaf bodies in the raw message.
    split_ranges: list[tuple[int, int]] = field(default_factory=list)
    # (file name, decoded size) of each attachment, for the 15 MB rule (Điều 8.1).
    attachments: list[tuple[str, int]] = field(default_factory=list)


def analyse(raw: bytes) -> Analysis:
    msg = email.message_from_bytes(raw, policy=email.policy.default)

    def header(name: str) -> str:
        try:
            value = msg.get(name)
            return nfc(str(value)) if value is not None else ""
        except Exception:  # a malformed header must not stop delivery
            return ""

    sent: datetime | None = None
    try:
        sent = parsedate_to_datetime(header("Date")) if header("Date") else None
    except (TypeError, ValueError):
        sent = None
    texts = [header("Subject"), header("From"), header("To"), header("Cc")]
    attachments: list[tuple[str, int]] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        filename = part.get_filename()
        payload = part.get_payload(decode=True) or b""
        if filename or part.get_content_disposition() == "attachment":
            attachments.append((nfc(filename or ""), len(payload)))
        elif part.get_content_maintype() == "text":
            charset = part.get_content_charset() or "utf-8"
            try:
                texts.append(payload.decode(charset, errors="replace"))
            except LookupError:
                texts.append(payload.decode("utf-8", errors="replace"))
    return Analysis(
        subject=header("Subject"),
        from_addr=header("From"),
        to_addr=header("To"),
        cc_addr=header("Cc"),
        sent_date=sent,
        message_id=header("Message-ID"),
        search_text=fold(nfc(" ".join(texts))),
        structure_json=json.dumps({}),
        split_ranges=[],
        attachments=attachments,
    )
