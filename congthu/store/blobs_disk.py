"""The blob store on local disk: ``<data>/blobs/ab/cd/<sha256>`` (``blobs.py`` has the interface).

A blob is written to a temporary file, fsynced, renamed into place and its directory
fsynced, so that after a crash a blob is either whole or absent. Blobs are immutable; the
same bytes are stored once. Unreferenced blobs are removed by ``collect_garbage`` after a
grace period, so that a delivery whose metadata is not yet committed never loses its blob.

For many blobs at once (a group commit of deliveries), ``stage`` writes each to its
temporary file without waiting, and ``flush`` then makes all of them durable together:
every file fsynced, renamed into place, and each directory touched fsynced once. The
rule is the same as ``put``'s (a blob is visible under its name only once its bytes are
on disk); the journal commits of many deliveries are merged into a few.
"""

from __future__ import annotations

import errno
import hashlib
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NoReturn

from congthu.store.blobs import (
    BlobCorrupt,
    BlobInfo,
    BlobMissing,
    Staged,
    StorageFull,
    is_digest,
    read_segments,
)

_READ_CHUNK = 1 << 20


def _raise_storage_error(exc: OSError) -> NoReturn:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        raise StorageFull(exc.errno, "không còn chỗ lưu thư / no space left for mail") from exc
    raise exc


class DiskBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        # Threads that fsync many files side by side (``flush``), made on first use.
        self._fsync_threads: ThreadPoolExecutor | None = None
        self._fsync_lock = threading.Lock()

    def describe(self) -> str:
        return f"disk {self.root}"

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest[2:4] / digest

    def exists(self, digest: str) -> bool:
        return self.path(digest).exists()

    def put(self, data: bytes | memoryview) -> str:
        """Store bytes durably and return their SHA-256 (hex). Blocking: run in a thread."""
        digest, staged = self.stage(data)
        if staged is not None:
            self.flush([staged])
        return digest

    def stage(self, data: bytes | memoryview) -> tuple[str, Staged | None]:
        """Hash the bytes and, unless the blob is stored already, write them to a temporary
        file (no fsync); ``flush`` makes them durable. Blocking: run in a thread."""
        digest = hashlib.sha256(data).hexdigest()
        if self.path(digest).exists():
            return digest, None
        return digest, Staged(digest, self._write_tmp(digest, [data]))

    def _write_tmp(self, digest: str, pieces: Iterable[bytes | memoryview],
                   check: hashlib._Hash | None = None) -> Path:
        tmp = self.tmp / f"{digest}.{os.getpid()}.{threading.get_ident()}.{time.monotonic_ns()}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            try:
                for piece in pieces:
                    if check is not None:
                        check.update(piece)
                    view = memoryview(piece)
                    while view:
                        written = os.write(fd, view)
                        view = view[written:]
            finally:
                os.close(fd)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            _raise_storage_error(exc)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp

    def write(self, digest: str, size: int, chunks: Iterable[bytes]) -> None:
        """Store a blob of known name from a stream, checking its SHA-256 and length."""
        check = hashlib.sha256()
        tmp = self._write_tmp(digest, chunks, check)
        found = check.hexdigest()
        if found != digest or tmp.stat().st_size != size:
            tmp.unlink(missing_ok=True)
            raise BlobCorrupt(f"{digest}: SHA-256 {found}, {size} bytes expected")
        self.flush([Staged(digest, tmp)])

    def flush(self, staged: Sequence[Staged]) -> None:
        """Make staged blobs durable and visible: fsync each file, rename it into place,
        then fsync each directory that changed, once. The fsyncs of many files run
        side by side, so the file system commits them together instead of one after
        the other. On an error the blobs not yet in place are removed and the error
        raised (StorageFull when the disk is full)."""
        done = 0
        try:
            self._fsync_all([_tmp_of(item) for item in staged], directory=False)
            dirs: dict[Path, None] = {}
            for item in staged:
                target = self.path(item.digest)
                if not target.parent.is_dir():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    # New directories: their own entries must be durable too.
                    dirs[target.parent.parent] = None
                    dirs[self.root] = None
                os.replace(_tmp_of(item), target)
                done += 1
                dirs[target.parent] = None
            self._fsync_all(list(dirs), directory=True)
        except OSError as exc:
            self.discard(staged[done:])
            _raise_storage_error(exc)

    def close(self) -> None:
        """Let the fsync threads go (the App closes)."""
        if self._fsync_threads is not None:
            self._fsync_threads.shutdown(wait=False)
            self._fsync_threads = None

    def _fsync_all(self, paths: list[Path], *, directory: bool) -> None:
        """fsync several files (or directories) at once, from a few threads."""
        if len(paths) <= 1:
            for path in paths:
                _fsync_path(path, directory)
            return
        with self._fsync_lock:
            if self._fsync_threads is None:
                self._fsync_threads = ThreadPoolExecutor(8, thread_name_prefix="congthu-fsync")
        for future in [self._fsync_threads.submit(_fsync_path, path, directory) for path in paths]:
            future.result()

    def discard(self, staged: Iterable[Staged]) -> None:
        """Remove staged temporary files that will not be flushed."""
        for item in staged:
            _tmp_of(item).unlink(missing_ok=True)

    def get(self, digest: str) -> bytes:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            raise BlobMissing(f"blob thiếu / missing blob {digest}") from None

    def read(self, segments: Iterable[tuple[str, int]]) -> bytes:
        """The concatenation of the given blobs."""
        return read_segments(self, segments)

    def chunks(self, digest: str) -> Iterator[bytes]:
        try:
            f = self.path(digest).open("rb")
        except FileNotFoundError:
            raise BlobMissing(f"blob thiếu / missing blob {digest}") from None
        with f:
            while chunk := f.read(_READ_CHUNK):
                yield chunk

    def info(self, digest: str) -> BlobInfo | None:
        try:
            st = self.path(digest).stat()
        except FileNotFoundError:
            return None
        return BlobInfo(digest, st.st_size, st.st_mtime)

    def listing(self) -> Iterator[BlobInfo]:
        for digest in self.all_digests():
            found = self.info(digest)
            if found is not None:
                yield found

    def all_digests(self) -> Iterator[str]:
        for first in self.root.iterdir():
            if len(first.name) != 2 or not first.is_dir():
                continue
            for second in first.iterdir():
                for blob in second.iterdir():
                    if is_digest(blob.name):
                        yield blob.name

    def delete(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)

    def size(self) -> int:
        return sum(found.size for found in self.listing())

    def health(self) -> str:
        return "ok" if self.tmp.is_dir() and os.access(self.tmp, os.W_OK) else f"error: {self.tmp} missing"

    def collect_garbage(self, referenced: set[str], grace_seconds: float = 3600) -> int:
        """Delete blobs not in ``referenced`` and older than the grace period."""
        removed = 0
        cutoff = time.time() - grace_seconds
        for digest in list(self.all_digests()):
            if digest in referenced:
                continue
            path = self.path(digest)
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
        for tmp in self.tmp.iterdir():
            if tmp.stat().st_mtime < cutoff:
                tmp.unlink(missing_ok=True)
        return removed


def _tmp_of(item: Staged) -> Path:
    if item.tmp is None:  # staged by another backend: a caller's mistake
        raise ValueError(f"blob {item.digest} was not staged on disk")
    return item.tmp


def _fsync_path(path: Path, directory: bool) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
