"""Copying one user's mail from the old server into their mailbox, and the report of it.

Each old folder is examined read-only; the messages above the checkpoint's old UID are
fetched in batches and added with ``MailStore.append`` (the path of IMAP APPEND: quota
charged, blobs shared, MODSEQ, change feed) with their flags, keywords and internal
date. After each batch the checkpoint (old UIDVALIDITY, last old UID, our last UID) is
written. A crash between an append and its checkpoint leaves a few messages of ours
above the checkpoint's UID: on the next run they are recognised by the SHA-256 of their
bytes (the store's content address; stronger than Message-ID and size) and not added
again. A new old UIDVALIDITY (RFC 9051 section 2.3.1.1) starts the folder over,
recognising every message already in our folder the same way.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from congthu.migrate import progress
from congthu.migrate.folders import destination
from congthu.migrate.source import OldFolder, OldMessage, OldServer, SourceError, SourceURL
from congthu.store import flags as flagbits
from congthu.store.model import AlreadyExists, QuotaExceeded, StoreError

if TYPE_CHECKING:
    from congthu.app import App

BATCH_MESSAGES = 50
BATCH_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class UserJob:
    old_login: str
    password: str
    address: str


@dataclass
class FolderReport:
    old: str
    dest: str
    found: int = 0  # messages above the checkpoint on the old server
    copied: int = 0
    copied_bytes: int = 0
    already: int = 0  # found in our folder (a crash before the checkpoint)
    skipped: list[tuple[int | str, str]] = field(default_factory=list)  # (old UID or file entry, why)


@dataclass
class UserReport:
    old_login: str
    address: str
    folders: list[FolderReport] = field(default_factory=list)
    error: str = ""

    @property
    def copied(self) -> int:
        return sum(f.copied for f in self.folders)

    @property
    def copied_bytes(self) -> int:
        return sum(f.copied_bytes for f in self.folders)

    @property
    def skipped(self) -> int:
        return sum(len(f.skipped) for f in self.folders)

    def as_dict(self) -> dict[str, object]:
        return {"old_login": self.old_login, "address": self.address, "error": self.error,
                "copied": self.copied, "copied_bytes": self.copied_bytes, "skipped": self.skipped,
                "folders": [{"old": f.old, "dest": f.dest, "found": f.found, "copied": f.copied,
                             "copied_bytes": f.copied_bytes, "already_present": f.already,
                             "skipped": [{"uid": u, "reason": r} for u, r in f.skipped]}
                            for f in self.folders]}


@dataclass(frozen=True)
class Options:
    source: SourceURL
    verify_tls: bool = True
    allow_plaintext: bool = False


# Called after each batch: (user's report, messages of the user done, of the user found).
ProgressFn = Callable[[UserReport, int, int], None]


class _Stop(Exception):
    """The user's mailbox is full: nothing more fits (Điều 8.1)."""


async def migrate_user(app: App, options: Options, job: UserJob, on_progress: ProgressFn) -> UserReport:
    report = UserReport(job.old_login, job.address)
    mailbox = await app.store.get_mailbox(job.address)
    if mailbox is None:
        report.error = "không có hộp thư / no such mailbox here (create it first)"
        return report
    try:
        old = await asyncio.to_thread(OldServer, options.source, job.old_login, job.password,
                                      verify=options.verify_tls, allow_plaintext=options.allow_plaintext)
    except SourceError as exc:
        report.error = str(exc)
        return report
    counts = [0, 0]  # done, found

    def tick() -> None:
        on_progress(report, counts[0], counts[1])

    try:
        folders = await asyncio.to_thread(old.folders)
        for folder in folders:
            if folder.attributes & {"\\noselect", "\\nonexistent"}:
                continue
            key = progress.FolderKey(options.source.text, job.old_login, mailbox.id, folder.name)
            await _copy_folder(app, old, key, folder, report, counts, tick)
    except _Stop:
        pass
    except (SourceError, OSError) as exc:
        report.error = f"{options.source.text}: {exc}"
    finally:
        await asyncio.to_thread(old.close)
    return report


async def ensure_folder(app: App, mailbox_id: int, name: str) -> int:
    folder = await app.store.get_folder(mailbox_id, name)
    if folder is None:
        try:
            folder = await app.store.create_folder(mailbox_id, name)
        except AlreadyExists:
            folder = await app.store.get_folder(mailbox_id, name)
    assert folder is not None
    return folder.id


async def ours_above(app: App, folder_id: int, dest_uid: int) -> Counter[str]:
    """SHA-256 of each message of ours above ``dest_uid``: those a lost checkpoint hides."""
    above = [m for m in await app.store.folder_index(folder_id) if m.uid > dest_uid]
    contents = await app.store.get_contents([m.content_id for m in above]) if above else {}
    return Counter(contents[m.content_id].sha256 for m in above)


def _batches(messages: list[OldMessage]) -> list[list[OldMessage]]:
    out: list[list[OldMessage]] = []
    size = 0
    for m in messages:
        if not out or len(out[-1]) >= BATCH_MESSAGES or size + m.size > BATCH_BYTES:
            out.append([])
            size = 0
        out[-1].append(m)
        size += m.size
    return out


async def _copy_folder(app: App, old: OldServer, key: progress.FolderKey, folder: OldFolder,
                       report: UserReport, counts: list[int], tick: Callable[[], None]) -> None:
    dest_name = destination(folder)
    result = FolderReport(folder.name, dest_name)
    report.folders.append(result)
    uidvalidity = await asyncio.to_thread(old.examine, folder.name)
    saved = await app.db.run_read(progress.load, key)
    if saved is None or saved.old_uidvalidity != uidvalidity:
        # New, or the old server renumbered the folder: start over; whatever is already
        # in our folder is recognised by its bytes.
        saved = progress.Checkpoint(uidvalidity, 0, 0, saved.copied if saved else 0,
                                    saved.copied_bytes if saved else 0)
    try:
        folder_id = await ensure_folder(app, key.mailbox_id, dest_name)
    except StoreError as exc:
        result.skipped.append((0, f"thư mục không tạo được / folder not created: {exc}"))
        return
    messages = await asyncio.to_thread(old.messages_after, saved.last_uid)
    result.found = len(messages)
    counts[1] += len(messages)
    present = await ours_above(app, folder_id, saved.dest_uid)
    last_uid, dest_uid = saved.last_uid, saved.dest_uid
    copied, copied_bytes = saved.copied, saved.copied_bytes
    limit = app.settings.message_max_bytes
    if not messages:
        await app.db.run_write(progress.save, key, dest_name, saved)
    for batch in _batches(messages):
        wanted = [m.uid for m in batch if m.size <= limit]
        bodies = await asyncio.to_thread(old.bodies, wanted) if wanted else {}
        for m in batch:
            raw = bodies.get(m.uid)
            counts[0] += 1
            if m.size > limit:
                result.skipped.append((m.uid, f"quá lớn / too large ({m.size} > {limit} bytes)"))
            elif raw is None:
                result.skipped.append((m.uid, "đã bị xóa trên máy chủ cũ / gone from the old server"))
            elif present[digest := hashlib.sha256(raw).hexdigest()] > 0:
                present[digest] -= 1
                result.already += 1
            else:
                bits, keywords = flagbits.from_names([f for f in m.flags if f.lower() != "\\recent"])
                try:
                    dest_uid = await app.store.append(folder_id, raw, flags=bits, keywords=keywords,
                                                      internal_date=m.internal_date)
                except QuotaExceeded as exc:
                    result.skipped.append((m.uid, f"hộp thư đầy / mailbox full: {exc}"))
                    report.error = ("hộp thư đầy, tăng hạn mức rồi chạy lại / mailbox full: raise the "
                                    "quota and run again")
                    await app.db.run_write(progress.save, key, dest_name, progress.Checkpoint(
                        uidvalidity, last_uid, dest_uid, copied, copied_bytes))
                    raise _Stop from None
                result.copied += 1
                result.copied_bytes += len(raw)
                copied += 1
                copied_bytes += len(raw)
            last_uid = m.uid
        await app.db.run_write(progress.save, key, dest_name, progress.Checkpoint(
            uidvalidity, last_uid, dest_uid, copied, copied_bytes))
        tick()
