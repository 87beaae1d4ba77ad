"""``congthu blobs migrate``: copy every blob of one store to another (disk to S3, S3 to
disk), name for name, resumable and verified by SHA-256.

* **Resumable**: the target is listed once; a blob already there with the right length is
  skipped, so a run stopped anywhere (Ctrl-C, a crash, a lost connection) is simply run
  again. A blob appears under its name only whole (``BlobStore.write``: renamed into
  place on disk; on S3 the PUT or the multipart upload completes last), so a stopped run
  leaves no partial blob, only what garbage collection removes.
* **Verified**: the bytes are hashed on their way; a blob whose bytes do not hash to its
  name is not stored (the PUT is never completed) and is reported as corrupt in the
  source. ``verify`` also reads every target blob back and hashes it.
* Blobs are copied by several threads side by side (object stores answer each request
  in milliseconds; one at a time would take hours for a province).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from congthu.store.blobs import BlobCorrupt, BlobInfo, BlobMissing, BlobStore


@dataclass
class Migration:
    """What a run did (and, while it runs, has done so far)."""

    listed: int = 0  # blobs in the source
    copied: int = 0
    copied_bytes: int = 0
    skipped: int = 0  # already in the target with the right length
    verified: int = 0  # read back from the target and hashed (``verify``)
    corrupt: list[str] = field(default_factory=list)  # source bytes do not hash to the name
    bad_target: list[str] = field(default_factory=list)  # read back wrong from the target
    vanished: list[str] = field(default_factory=list)  # removed from the source meanwhile (GC)

    @property
    def ok(self) -> bool:
        return not self.corrupt and not self.bad_target


def _sha256_of(store: BlobStore, digest: str) -> tuple[str, int]:
    found = hashlib.sha256()
    size = 0
    for chunk in store.chunks(digest):
        found.update(chunk)
        size += len(chunk)
    return found.hexdigest(), size


def migrate_blobs(source: BlobStore, target: BlobStore, *, verify: bool = False, jobs: int = 8,
                  progress: Callable[[Migration], None] | None = None,
                  progress_seconds: float = 2.0) -> Migration:
    """Copy what ``target`` lacks from ``source``; see the module. ``progress`` is called
    every ``progress_seconds`` (and may raise to stop the run)."""
    present = {found.digest: found.size for found in target.listing()}
    done = Migration()

    def copy(blob: BlobInfo) -> tuple[str, BlobInfo]:
        if present.get(blob.digest) != blob.size:
            try:
                target.write(blob.digest, blob.size, source.chunks(blob.digest))
            except BlobCorrupt:
                return "corrupt", blob
            except BlobMissing:
                return "vanished", blob
            outcome = "copied"
        else:
            outcome = "skipped"
        if verify:
            sha, size = _sha256_of(target, blob.digest)
            if sha != blob.digest or size != blob.size:
                return "bad_target", blob
        return outcome, blob

    def account(future: Future[tuple[str, BlobInfo]]) -> None:
        outcome, blob = future.result()
        if outcome == "copied":
            done.copied += 1
            done.copied_bytes += blob.size
        elif outcome == "skipped":
            done.skipped += 1
        else:
            getattr(done, outcome).append(blob.digest)
        if verify and outcome in ("copied", "skipped"):
            done.verified += 1

    last = time.monotonic()
    pool = ThreadPoolExecutor(max(1, jobs), thread_name_prefix="congthu-migrate")
    try:
        running: set[Future[tuple[str, BlobInfo]]] = set()
        for blob in source.listing():
            done.listed += 1
            running.add(pool.submit(copy, blob))
            if len(running) >= jobs * 4:  # a bounded window: the listing may be millions long
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    account(future)
            if progress is not None and time.monotonic() - last >= progress_seconds:
                last = time.monotonic()
                progress(done)
        for future in running:
            account(future)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return done
