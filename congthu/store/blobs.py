"""Content-addressed blob store on disk: ``blobs/ab/cd/<sha256>``.

A blob is written to a temporary file, fsynced, renamed into place and its directory
fsynced, so that after a crash a blob is either whole or absent. Blobs are immutable; the
same bytes are stored once. Unreferenced blobs are removed by ``collect_garbage`` after a
grace period, so that a delivery whose metadata is not yet committed never loses its blob.
"""

from __future__ import annotations

import errno
import hashlib
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path


class StorageFull(OSError):
    """No space left for a blob: the delivery is refused temporarily, nothing is half written."""


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest[2:4] / digest

    def exists(self, digest: str) -> bool:
        return self.path(digest).exists()

    def put(self, data: bytes | memoryview) -> str:
        """Store bytes durably and return their SHA-256 (hex). Blocking: run in a thread."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.tmp / f"{digest}.{os.getpid()}.{time.monotonic_ns()}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, target)
            _fsync_dir(target.parent)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFull(exc.errno, "không còn chỗ lưu thư / no space left for mail") from exc
            raise
        return digest

    def get(self, digest: str) -> bytes:
        return self.path(digest).read_bytes()

    def read(self, segments: Iterable[tuple[str, int]]) -> bytes:
        """The concatenation of the given blobs."""
        return b"".join(self.get(digest) for digest, _length in segments)

    def all_digests(self) -> Iterator[str]:
        for first in self.root.iterdir():
            if len(first.name) != 2 or not first.is_dir():
                continue
            for second in first.iterdir():
                for blob in second.iterdir():
                    yield blob.name

    def delete(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)

    def size_on_disk(self) -> int:
        return sum(self.path(d).stat().st_size for d in self.all_digests())

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


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
