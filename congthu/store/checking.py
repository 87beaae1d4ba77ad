"""Checking the store's bytes against its metadata (``congthu check``): the blobs every
message needs are there, and, with ``deep``, every blob's bytes still hash to its name
(SHA-256, the name it was stored under) and have the length its messages record.

What is found, and what a repair would do (nothing is changed here):

* a **missing** blob (a content row names it, the file is gone) and a **corrupt** blob
  (its bytes no longer hash to its name, or its length is not the recorded one): the
  messages holding it can no longer be read as received (Điều 7.3-7.5). The repair puts
  back a blob with the same name from a backup (``congthu restore`` into a scratch
  directory, then copy ``blobs/ab/cd/<sha256>``, on S3 to the object of that name);
  a corrupt one is first moved aside.
  Each is reported with the messages (mailbox, folder, UID) that need it.
* an **unreferenced** blob (on disk, named by no content row nor by another package's
  blob column, e.g. the SMTP queue): what a crash between the blob write and the commit
  leaves behind. Garbage collection (``MailStore.collect_garbage``) removes it once it is
  older than the grace period.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.engine import Connection

from congthu.store.base import StoreBase
from congthu.store.blobs import BlobMissing, BlobStore
from congthu.store.tables import contents, folders, mailboxes, messages


@dataclass(frozen=True)
class MessagePlace:
    """Where a message is: its mailbox's address, its folder's name, its UID."""

    address: str
    folder: str
    uid: int

    def __str__(self) -> str:
        return f"{self.address} {self.folder} UID {self.uid}"


@dataclass
class StoreCheck:
    """What ``MailStore.check`` found."""

    deep: bool
    blobs_on_disk: int = 0
    referenced: int = 0
    contents: int = 0
    # blob digest -> the messages that need it
    missing: dict[str, list[MessagePlace]] = field(default_factory=dict)
    corrupt: dict[str, list[MessagePlace]] = field(default_factory=dict)
    # digest -> why it is corrupt ("SHA-256 is …", "length 10, messages expect 12")
    corrupt_why: dict[str, str] = field(default_factory=dict)
    unreferenced: list[str] = field(default_factory=list)
    # Contents stored by an older version, to analyse again (``congthu store reindex``).
    to_reindex: int = 0

    @property
    def ok(self) -> bool:
        """No message has lost bytes (unreferenced blobs are only waste)."""
        return not self.missing and not self.corrupt

    def problems(self) -> list[str]:
        """One line per finding, with what a repair would do (Vietnamese / English)."""
        lines = []
        for digest, places in sorted(self.missing.items()):
            lines.append(
                f"blob thiếu / missing blob {digest}: {_places(places)}; "
                f"sửa / repair: chép lại blob cùng tên từ bản sao lưu / copy the blob of that name back "
                f"from a backup")
        for digest, places in sorted(self.corrupt.items()):
            lines.append(
                f"blob hỏng / corrupt blob {digest} ({self.corrupt_why.get(digest, '')}): {_places(places)}; "
                f"sửa / repair: chuyển blob hỏng sang bên rồi chép lại từ bản sao lưu / move it aside, then "
                f"copy the blob of that name back from a backup")
        return lines

    def notes(self) -> list[str]:
        out = []
        if self.to_reindex:
            out.append(f"{self.to_reindex} thư lưu bởi phiên bản cũ cần phân tích lại / messages stored by an "
                       f"older version to analyse again: congthu store reindex")
        if not self.unreferenced:
            return out
        return out + [f"{len(self.unreferenced)} blob không được tham chiếu / unreferenced blobs, e.g. "
                f"{self.unreferenced[0]}; sửa / repair: thu gom rác xóa chúng sau thời gian chờ / "
                f"garbage collection removes them after the grace period"]


def _places(places: list[MessagePlace]) -> str:
    if not places:
        return "không thư nào / no message"
    shown = "; ".join(str(p) for p in places[:5])
    more = f" (+{len(places) - 5})" if len(places) > 5 else ""
    return f"{len(places)} thư / messages: {shown}{more}"


def _hash_blob(blobs: BlobStore, digest: str) -> tuple[str, int] | None:
    """(SHA-256 hex, length) of a blob's bytes, read as a stream; None if it is gone."""
    found = hashlib.sha256()
    size = 0
    try:
        for chunk in blobs.chunks(digest):
            found.update(chunk)
            size += len(chunk)
    except BlobMissing:
        return None
    return found.hexdigest(), size


class CheckMethods(StoreBase):
    if TYPE_CHECKING:  # from ContentMethods and ReindexMethods
        async def referenced_blobs(self) -> set[str]: ...
        async def reindex_pending(self) -> int: ...

    async def check(self, *, deep: bool = False) -> StoreCheck:
        """Every blob a content row names exists; with ``deep``, every blob on disk hashes
        to its name and has the length the content rows record. See the module."""
        report = StoreCheck(deep=deep)
        report.to_reindex = await self.reindex_pending()
        referenced = await self.referenced_blobs()
        report.referenced = len(referenced)

        def read(conn: Connection) -> list[tuple[int, list[tuple[str, int]]]]:
            return [(int(r.id), [(d, int(n)) for d, n in json.loads(r.segments)])
                    for r in conn.execute(select(contents.c.id, contents.c.segments))]

        segments_of = await self._ro(read)
        report.contents = len(segments_of)
        expected: dict[str, int] = {}
        for _cid, segments in segments_of:
            for digest, length in segments:
                expected.setdefault(digest, length)

        def scan() -> tuple[list[str], dict[str, str], set[str]]:
            on_disk = list(self.blobs.all_digests())
            corrupt: dict[str, str] = {}
            gone: set[str] = set()
            if deep:
                for digest in on_disk:
                    found = _hash_blob(self.blobs, digest)
                    if found is None:  # removed meanwhile (garbage collection)
                        gone.add(digest)
                        continue
                    sha, size = found
                    if sha != digest:
                        corrupt[digest] = f"SHA-256 {sha[:16]}…"
                    elif digest in expected and size != expected[digest]:
                        corrupt[digest] = f"{size} bytes, {expected[digest]} expected"
            return on_disk, corrupt, gone

        on_disk, corrupt, gone = await asyncio.to_thread(scan)
        present = set(on_disk) - gone
        report.blobs_on_disk = len(present)
        missing = {d for d in referenced if d not in present}
        report.unreferenced = sorted(present - referenced)
        bad = missing | set(corrupt)
        places = await self._places_of(
            [cid for cid, segments in segments_of if any(d in bad for d, _n in segments)])
        for cid, segments in segments_of:
            for digest, _n in segments:
                if digest in missing:
                    report.missing.setdefault(digest, []).extend(places.get(cid, []))
                elif digest in corrupt:
                    report.corrupt.setdefault(digest, []).extend(places.get(cid, []))
        for digest in missing:  # named by another package's column only (the SMTP queue)
            report.missing.setdefault(digest, [])
        for digest, why in corrupt.items():
            report.corrupt.setdefault(digest, [])
            report.corrupt_why[digest] = why
        return report

    async def _places_of(self, content_ids: list[int]) -> dict[int, list[MessagePlace]]:
        """The messages holding each of these contents."""
        if not content_ids:
            return {}

        def read(conn: Connection) -> dict[int, list[MessagePlace]]:
            out: dict[int, list[MessagePlace]] = {}
            for start in range(0, len(content_ids), 500):
                rows = conn.execute(
                    select(messages.c.content_id, messages.c.uid, folders.c.name, mailboxes.c.address)
                    .join(folders, folders.c.id == messages.c.folder_id)
                    .join(mailboxes, mailboxes.c.id == folders.c.mailbox_id)
                    .where(messages.c.content_id.in_(content_ids[start:start + 500]))
                    .order_by(mailboxes.c.address, folders.c.name, messages.c.uid))
                for r in rows:
                    out.setdefault(int(r.content_id), []).append(MessagePlace(r.address, r.name, int(r.uid)))
            return out

        return await self._ro(read)
