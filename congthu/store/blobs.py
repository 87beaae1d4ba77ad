"""The blob store's interface: content-addressed, immutable blobs named by their SHA-256.

Two backends keep the same names (``ab/cd/<sha256>``) and the same promises:
``blobs_disk.py``, a directory of the data directory, and ``blobs_s3.py``, a bucket of an
S3-compatible object store (Ceph's RADOS Gateway, MinIO, a cloud's S3) shared by every
node. ``blob_backends.open_blob_store`` opens the one ``[blobs] backend`` names.

The promises every backend keeps (the store's callers rely on them):

* ``put`` (or ``stage`` then ``flush``) returns only once the bytes are durably stored
  under their name: on disk renamed into place and fsynced with its directory, on S3 the
  PUT (or the multipart upload's completion) answered; a delivery is acknowledged after
  that.
* A blob is whole or absent under its name once ``flush`` has returned; a crash leaves at
  most unreferenced blobs (and temporary files or unfinished multipart uploads; on disk,
  after a power cut, possibly a blob shorter than its bytes, which ``stage`` writes
  again), which ``collect_garbage`` removes once older than the grace period (another
  node may be mid-delivery).
* Failures are ``StorageFull`` (no space: the delivery is refused temporarily),
  ``StorageUnavailable`` (the object store cannot be reached or refuses our key: the
  same) or ``BlobMissing`` (a name with no blob). Callers run these blocking methods in
  threads (``asyncio.to_thread``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

HEX = frozenset("0123456789abcdef")


class StorageFull(OSError):
    """No space left for a blob: the delivery is refused temporarily, nothing is half written."""


class StorageUnavailable(OSError):
    """The object store cannot be used now (unreachable, a wrong key, a missing bucket):
    the delivery is refused temporarily (SMTP 451) and the sender tries again."""


class BlobMissing(FileNotFoundError):
    """No blob has this name (removed, or never stored)."""


class BlobCorrupt(ValueError):
    """Bytes offered under a name they do not hash to (``write``), or a stored blob whose
    bytes no longer do."""


@dataclass(frozen=True)
class Staged:
    """A blob ``stage`` prepared, not yet durable nor visible: its temporary file (disk)
    or its bytes waiting for the PUT (S3); on disk also a blob found in place (neither),
    which ``flush`` fsyncs, as it may not be durable yet (``blobs_disk.py``)."""

    digest: str
    tmp: str | None = None  # its temporary file's path
    data: bytes | memoryview | None = None


@dataclass(frozen=True)
class BlobInfo:
    """A stored blob: its name, its length and when it was stored (seconds since the epoch)."""

    digest: str
    size: int
    modified: float


def blob_name(digest: str) -> str:
    """A blob's name under the store's root or bucket: ``ab/cd/<sha256>``."""
    return f"{digest[:2]}/{digest[2:4]}/{digest}"


def is_digest(name: str) -> bool:
    """A SHA-256 in lowercase hex: what every blob's name ends with."""
    return len(name) == 64 and set(name) <= HEX


def sha256_hex(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobStore(Protocol):
    """What both backends offer (``DiskBlobStore``, ``S3BlobStore``). Blocking methods."""

    def describe(self) -> str:
        """Where the blobs are, for messages and logs ("disk /srv/data/blobs")."""
        ...

    def put(self, data: bytes | memoryview) -> str:
        """Store bytes durably and return their SHA-256 (hex)."""
        ...

    def stage(self, data: bytes | memoryview) -> tuple[str, Staged | None]:
        """Hash the bytes and, unless stored already, prepare them; ``flush`` stores them."""
        ...

    def flush(self, staged: Sequence[Staged]) -> None:
        """Make staged blobs durable and visible, many at once; on an error the ones not
        stored are discarded and the error raised."""
        ...

    def discard(self, staged: Iterable[Staged]) -> None:
        """Forget staged blobs that will not be flushed."""
        ...

    def write(self, digest: str, size: int, chunks: Iterable[bytes]) -> None:
        """Store a blob whose name is known from a stream of its bytes (a migration, a
        restore): BlobCorrupt, and nothing stored, if they do not hash to ``digest``."""
        ...

    def get(self, digest: str) -> bytes:
        """A blob's bytes (BlobMissing if there is none)."""
        ...

    def read(self, segments: Iterable[tuple[str, int]]) -> bytes:
        """The concatenation of the given blobs (a message's segments)."""
        ...

    def chunks(self, digest: str) -> Iterator[bytes]:
        """A blob's bytes piece by piece, for blobs too large to hold (BlobMissing)."""
        ...

    def exists(self, digest: str) -> bool:
        ...

    def info(self, digest: str) -> BlobInfo | None:
        ...

    def listing(self) -> Iterator[BlobInfo]:
        """Every stored blob, in no particular order."""
        ...

    def all_digests(self) -> Iterator[str]:
        ...

    def delete(self, digest: str) -> None:
        ...

    def size(self) -> int:
        """Bytes of all blobs together."""
        ...

    def collect_garbage(self, referenced: set[str], grace_seconds: float = 3600) -> int:
        """Delete blobs not in ``referenced`` and older than the grace period, and what
        an interrupted write left behind; how many blobs were deleted."""
        ...

    def health(self) -> str:
        """"ok", or why the store cannot be used now (for /healthz)."""
        ...

    def close(self) -> None:
        """Let threads and connections go (the App closes)."""
        ...


def read_segments(store: BlobStore, segments: Iterable[tuple[str, int]]) -> bytes:
    """``BlobStore.read`` from ``get``: the blobs one after the other."""
    return b"".join(store.get(digest) for digest, _length in segments)
