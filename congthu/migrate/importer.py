"""Importing mail kept in files (mbox, Maildir, .eml, a Zimbra export) into one mailbox.

Each message goes through ``MailStore.append``, the path of IMAP APPEND and of
``congthu migrate imap`` (quota charged, blobs shared, MODSEQ, change feed), with its
flags, keywords and internal date. The resume bookkeeping is the copier's
(``progress.py``): per source folder, ``last_uid`` is how many of its messages (in the
reader's order) have been dealt with, ``dest_uid`` our highest UID at that moment and
``old_uidvalidity`` a fingerprint of the identities of those first messages (byte
offsets in an mbox, file names in a Maildir, entry names in an archive). A run
continues after them when the fingerprint still matches; if the source was rewritten
it starts the folder over. Either way a message of ours above the checkpoint (or, when
starting over, anywhere in our folder) with the same SHA-256 is recognised and not added
again, so an interrupted or repeated run never makes a duplicate.

Nothing is dropped silently: an unreadable or empty message, one over the size limit, an
archive entry that is not mail, all are listed in the report with the reason; a damaged
archive stops the run at the damage (what came before stays imported and checkpointed)
with the command's exit status 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from congthu.migrate import progress
from congthu.migrate.copier import FolderReport, ProgressFn, UserReport, ensure_folder, ours_above
from congthu.migrate.files import FileFolder, FileMessage, FileSource, FileSourceError
from congthu.store import flags as flagbits
from congthu.store.model import QuotaExceeded, StoreError

if TYPE_CHECKING:
    from congthu.app import App

CHECKPOINT_EVERY = 50
IN_FLIGHT = 8  # messages read and not yet stored, at most


_Item = tuple[FileMessage, bytes | FileSourceError]


def fingerprint(digest: hashlib._Hash) -> int:
    """The stored form of the identities' hash: 56 bits, a positive BIGINT."""
    return int.from_bytes(digest.copy().digest()[:7], "big")


@dataclass
class _FolderState:
    folder: FileFolder
    key: progress.FolderKey
    dest: str
    folder_id: int
    result: FolderReport
    position: int
    dest_uid: int
    copied: int
    copied_bytes: int
    present: Counter[str]
    idents: hashlib._Hash = field(default_factory=hashlib.sha256)
    since_checkpoint: int = 0

    def checkpoint(self) -> progress.Checkpoint:
        return progress.Checkpoint(fingerprint(self.idents), self.position, self.dest_uid, self.copied,
                                   self.copied_bytes)


def _ident_hash(messages: list[FileMessage]) -> hashlib._Hash:
    digest = hashlib.sha256()
    for m in messages:
        digest.update(m.ident.encode("utf-8", "surrogateescape") + b"\n")
    return digest


async def _prepare(app: App, reader: FileSource, mailbox_id: int, folder: FileFolder, dest: str,
                   report: UserReport) -> _FolderState | None:
    result = FolderReport(folder.name, dest)
    report.folders.append(result)
    result.skipped.extend(folder.problems)
    key = progress.FolderKey(reader.source, "", mailbox_id, folder.name)
    saved = await app.db.run_read(progress.load, key)
    start, digest = 0, hashlib.sha256()
    if saved is not None and saved.last_uid <= len(folder.messages):
        prefix = _ident_hash(folder.messages[:saved.last_uid])
        if fingerprint(prefix) == saved.old_uidvalidity:
            start, digest = saved.last_uid, prefix
    try:
        folder_id = await ensure_folder(app, mailbox_id, dest)
    except StoreError as exc:
        result.skipped.append((folder.name, f"thư mục không tạo được / folder not created: {exc}"))
        report.error = report.error or f"{dest}: thư mục không tạo được / folder not created: {exc}"
        return None
    dest_uid = saved.dest_uid if saved is not None and start else 0
    result.found = len(folder.messages) - start
    return _FolderState(folder, key, dest, folder_id, result, start, dest_uid,
                        saved.copied if saved else 0, saved.copied_bytes if saved else 0,
                        await ours_above(app, folder_id, dest_uid), digest)


async def import_files(app: App, reader: FileSource, address: str, destination: Callable[[str], str],
                       on_progress: ProgressFn) -> UserReport:
    """Import every folder of ``reader`` into ``address``'s mailbox; ``destination``
    gives our folder name for a source folder's."""
    report = UserReport(reader.source, address)
    mailbox = await app.store.get_mailbox(address)
    if mailbox is None:
        report.error = "không có hộp thư / no such mailbox here (create it first)"
        return report
    try:
        folders = await asyncio.to_thread(reader.folders)
    except FileSourceError as exc:
        report.error = str(exc)
        return report
    states: dict[int, _FolderState] = {}
    wanted: list[tuple[FileFolder, FileMessage]] = []
    for folder in folders:
        state = await _prepare(app, reader, mailbox.id, folder, destination(folder.name), report)
        if state is None:
            continue
        states[id(folder)] = state
        wanted.extend((folder, m) for m in folder.messages[state.position:])
    counts = [0, len(wanted)]
    limit = app.settings.message_max_bytes

    async def save(state: _FolderState) -> None:
        await app.db.run_write(progress.save, state.key, state.dest, state.checkpoint())
        state.since_checkpoint = 0

    stop = asyncio.Event()  # the mailbox is full: nothing more is added
    in_flight = asyncio.Semaphore(IN_FLIGHT)

    async def one(state: _FolderState, message: FileMessage, raw: bytes | FileSourceError) -> None:
        result = state.result
        if isinstance(raw, FileSourceError):
            result.skipped.append((message.ident, str(raw)))
        elif len(raw) > limit:
            result.skipped.append((message.ident, f"quá lớn / too large ({len(raw)} > {limit} bytes)"))
        elif state.present[digest := hashlib.sha256(raw).hexdigest()] > 0:
            state.present[digest] -= 1
            result.already += 1
        else:
            bits, keywords = flagbits.from_names(list(message.flags))
            try:
                state.dest_uid = await app.store.append(state.folder_id, raw, flags=bits, keywords=keywords,
                                                        internal_date=message.internal_date)
            except QuotaExceeded as exc:
                result.skipped.append((message.ident, f"hộp thư đầy / mailbox full: {exc}"))
                report.error = ("hộp thư đầy, tăng hạn mức rồi chạy lại / mailbox full: raise the "
                                "quota and run again")
                stop.set()
                return  # not counted as done: the next run tries it again
            result.copied += 1
            result.copied_bytes += len(raw)
            state.copied += 1
            state.copied_bytes += len(raw)
        state.position += 1
        state.idents.update(message.ident.encode("utf-8", "surrogateescape") + b"\n")
        state.since_checkpoint += 1
        counts[0] += 1
        if state.since_checkpoint >= CHECKPOINT_EVERY:
            await save(state)
            on_progress(report, counts[0], counts[1])

    async def folder_worker(state: _FolderState, queue: asyncio.Queue[_Item | None]) -> None:
        """The messages of one folder, in their order (our UIDs follow the source's)."""
        while (item := await queue.get()) is not None:
            try:
                if not stop.is_set():
                    await one(state, *item)
            finally:
                in_flight.release()

    queues: dict[int, asyncio.Queue[_Item | None]] = {key: asyncio.Queue() for key in states}
    bodies = reader.bodies(wanted)
    try:
        # Folders are filled side by side (their transactions share the store's group
        # commit); within a folder one message after the other.
        async with asyncio.TaskGroup() as group:
            for key, state in states.items():
                group.create_task(folder_worker(state, queues[key]))
            try:
                while not stop.is_set():
                    await in_flight.acquire()  # bounded memory whatever the sizes
                    try:
                        item = await asyncio.to_thread(next, bodies, None)
                    except FileSourceError as exc:
                        in_flight.release()
                        report.error = str(exc)
                        break
                    if item is None:
                        in_flight.release()
                        report.error = report.error or reader.damage
                        break
                    folder, message, raw = item
                    queues[id(folder)].put_nowait((message, raw))
            finally:
                for queue in queues.values():
                    queue.put_nowait(None)
    except BaseExceptionGroup as failed:  # a worker's error, as it was raised
        raise failed.exceptions[0] from None
    finally:
        # (Still running in its thread only when a worker failed: then left to end.)
        with contextlib.suppress(ValueError):
            bodies.close()
        for state in states.values():
            await save(state)
    on_progress(report, counts[0], counts[1])
    return report
