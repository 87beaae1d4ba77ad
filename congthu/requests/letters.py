"""The scanned letter of a paper request (Điều 4.1: a request may come "bằng văn bản",
and the IT Center enters it with the letter scanned), checked, kept and read back.

Whatever the upload claims, a letter is:

* a PDF, JPEG or PNG told by its first bytes (``%PDF-``, ``FF D8 FF``, the PNG
  signature), never by its name or the type the browser sent; anything else is refused;
* at most ``[requests] letter_max_mb``, and not empty;
* named by a hostile party: only the name's last component is kept, without control,
  format (bidirectional overrides) or private characters, NFC, at most 200 characters.
  It is shown on the request's page (escaped), never used as a path, and the download is
  named after the request (``yeu-cau-12-cong-van-3.pdf``).

The bytes are a blob of the store's content-addressed blob store (``app.store.blobs``:
durable once ``put`` returns, on disk or S3 like the mail), referred to by
``request_letters.blob``, a column marked as a blob reference, so the store's garbage
collection keeps it as long as the row is there. The row is written by the workflow
(``workflow.add_letter``) in the transaction of the request it belongs to, with its
history line and audit record.
"""

from __future__ import annotations

import asyncio
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from congthu.requests.tables import request_letters

if TYPE_CHECKING:
    from congthu.app import App

PDF, JPEG, PNG = "application/pdf", "image/jpeg", "image/png"
# The first bytes of each kind a letter may be (ISO 32000-1 section 7.5.2, JFIF/EXIF's SOI
# and marker, PNG's signature: RFC 2083 section 3.1).
MAGIC = ((b"%PDF-", PDF), (b"\xff\xd8\xff", JPEG), (b"\x89PNG\r\n\x1a\n", PNG))
SUFFIX = {PDF: ".pdf", JPEG: ".jpg", PNG: ".png"}
MAX_NAME = 200


class LetterError(ValueError):
    """A file that cannot be a request's letter; the text (Vietnamese / English) is for the user."""


@dataclass(frozen=True)
class Letter:
    """A checked letter, not yet kept."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class KeptLetter:
    """A letter kept with a request."""

    id: int
    request_id: int
    blob: str
    size: int
    content_type: str
    filename: str
    added_by: str
    added_at: datetime

    @property
    def download_name(self) -> str:
        """The download's name: the request's and the letter's numbers, the type's suffix."""
        return f"yeu-cau-{self.request_id}-cong-van-{self.id}{SUFFIX.get(self.content_type, '.bin')}"


def max_bytes(app: App) -> int:
    return app.settings.requests.letter_max_mb * 1024 * 1024


def clean_name(name: str) -> str:
    """A hostile file name made harmless to show: its last component, without control,
    format, surrogate, private or unassigned characters, NFC, spaces collapsed, at most
    ``MAX_NAME`` characters ("cong-van" if nothing is left)."""
    last = name.replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(ch for ch in unicodedata.normalize("NFC", last) if not unicodedata.category(ch).startswith("C"))
    kept = " ".join(kept.split()).lstrip(".")
    return kept[:MAX_NAME] or "cong-van"


def kind_of(data: bytes) -> str | None:
    """The letter's type told by its first bytes, None if it is none of PDF, JPEG, PNG."""
    for magic, kind in MAGIC:
        if data.startswith(magic):
            return kind
    return None


def check(data: bytes, filename: str, limit: int) -> Letter:
    """The upload as a letter, or LetterError saying why it cannot be one."""
    if not data:
        raise LetterError("Tệp công văn rỗng / the letter's file is empty")
    if len(data) > limit:
        raise LetterError(f"Tệp công văn lớn quá {limit // (1024 * 1024)} MB / the letter is larger than "
                          f"{limit // (1024 * 1024)} MB")
    kind = kind_of(data)
    if kind is None:
        raise LetterError("Công văn phải là tệp PDF, JPEG hoặc PNG (theo nội dung tệp, không theo tên) / the letter "
                          "must be a PDF, JPEG or PNG file (by its content, not its name)")
    return Letter(clean_name(filename), kind, data)


async def put(app: App, letter: Letter) -> str:
    """The letter's bytes into the blob store, durable on return; their SHA-256."""
    return await asyncio.to_thread(app.store.blobs.put, letter.data)


async def read(app: App, kept: KeptLetter) -> bytes:
    return await asyncio.to_thread(app.store.blobs.get, kept.blob)


def _kept(row: Any) -> KeptLetter:
    added = row.added_at if row.added_at.tzinfo else row.added_at.replace(tzinfo=UTC)
    return KeptLetter(row.id, row.request_id, row.blob, row.size, row.content_type, row.filename, row.added_by,
                      added)


def letters_of(conn: Connection, request_id: int) -> list[KeptLetter]:
    rows = conn.execute(select(request_letters).where(request_letters.c.request_id == request_id)
                        .order_by(request_letters.c.id))
    return [_kept(r) for r in rows]


def letter_of(conn: Connection, request_id: int, letter_id: int) -> KeptLetter | None:
    """A letter of this request (None for another request's: its id reveals nothing)."""
    row = conn.execute(select(request_letters).where(request_letters.c.id == letter_id,
                                                     request_letters.c.request_id == request_id)).first()
    return _kept(row) if row is not None else None
