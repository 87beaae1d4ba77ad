"""The blob store on S3-compatible object storage (Ceph's RADOS Gateway, MinIO, a cloud's
S3), shared by every node of a cluster (``blobs.py`` has the interface and the promises).

* **Names**: the disk store's, ``ab/cd/<sha256>``, as object keys of one bucket, so
  ``congthu blobs migrate`` copies one to the other name for name.
* **Durability**: a blob counts as stored when S3 answered its PUT (or completed its
  multipart upload): S3 answers only once the object is durably written (Ceph: on every
  replica of the placement group). ``flush`` sends the blobs of a group commit side by
  side, and the deliveries are acknowledged after that, as with fsync on disk.
* **Large blobs** (above ``[blobs] multipart_threshold_mib``) go by multipart upload, in
  parts of that size; an upload cut off by a crash leaves parts but no object, and
  ``collect_garbage`` aborts uploads older than the grace period.
* **Garbage**: unreferenced objects older than the grace period (by their LastModified,
  the object store's clock, the same for every node) are deleted; younger ones may
  belong to a delivery another node has not yet committed.
* **Reads** are streamed (``chunks``) or bounded by the length the message records
  (``read``); small blobs just written or read (headers, text bodies) are kept in a
  bounded in-memory LRU (``HotBlobs``), one per store, that is per App.
* **Failures**: an unreachable endpoint, a wrong key or a missing bucket raise
  ``StorageUnavailable`` with the endpoint, bucket and S3's own words; a delivery then
  gets a temporary SMTP 451 and nothing is lost.

Client: minio-py (synchronous, on urllib3); the store's methods are blocking and the
callers run them in threads, as for the disk store.
"""

from __future__ import annotations

import hashlib
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO, TypeVar, cast
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import MinioException, S3Error
from urllib3.util import Retry, Timeout

from congthu.store.blobs import (
    BlobCorrupt,
    BlobInfo,
    BlobMissing,
    Staged,
    StorageUnavailable,
    blob_name,
    is_digest,
)

T = TypeVar("T")
_READ_CHUNK = 1 << 20
_MISSING_CODES = frozenset({"NoSuchKey", "NoSuchObject", "ResourceNotFound"})
# Blobs sent side by side by one flush (a group commit), and connections kept open.
_UPLOAD_THREADS = 8


class HotBlobs:
    """A bounded LRU of small blobs' bytes: at most ``max_bytes`` in all, none above
    ``max_blob``. Thread-safe (the store's methods run in threads)."""

    def __init__(self, max_bytes: int, max_blob: int) -> None:
        self.max_bytes, self.max_blob = max_bytes, max_blob
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, digest: str) -> bytes | None:
        with self._lock:
            data = self._items.get(digest)
            if data is None:
                self.misses += 1
                return None
            self._items.move_to_end(digest)
            self.hits += 1
            return data

    def add(self, digest: str, data: bytes | memoryview) -> None:
        if len(data) > self.max_blob or len(data) > self.max_bytes:
            return
        with self._lock:
            if digest in self._items:
                self._items.move_to_end(digest)
                return
            self._items[digest] = bytes(data)
            self._bytes += len(data)
            while self._bytes > self.max_bytes:
                _old, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped)

    def drop(self, digest: str) -> None:
        with self._lock:
            data = self._items.pop(digest, None)
            if data is not None:
                self._bytes -= len(data)

    def __len__(self) -> int:
        return len(self._items)


class _ViewReader:
    """A file-like reader over bytes already in memory, without copying them whole."""

    def __init__(self, data: bytes | memoryview) -> None:
        self._view = memoryview(data).cast("B")
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._view) if size < 0 else min(len(self._view), self._pos + size)
        piece = bytes(self._view[self._pos:end])
        self._pos = end
        return piece


class _CheckedStream:
    """A file-like reader over a stream of chunks that raises BlobCorrupt when its bytes,
    once ``size`` of them are read, do not hash to ``digest``: raised before the last
    part is sent, so the object is never completed (minio aborts the multipart upload)."""

    def __init__(self, digest: str, size: int, chunks: Iterable[bytes]) -> None:
        self.digest, self.size = digest, size
        self._chunks = iter(chunks)
        self._buffer = bytearray()
        self._hash = hashlib.sha256()
        self._read = 0
        self._ended = False

    def read(self, size: int = -1) -> bytes:
        want = self.size - self._read if size < 0 else size
        while len(self._buffer) < want and not self._ended:
            chunk = next(self._chunks, None)
            if chunk is None:
                self._ended = True
            else:
                self._buffer += chunk
        piece = bytes(self._buffer[:want])
        del self._buffer[:want]
        self._hash.update(piece)
        self._read += len(piece)
        if self._read > self.size or (self._read == self.size and self._hash.hexdigest() != self.digest) or (
                self._ended and not self._buffer and self._read < self.size):
            raise BlobCorrupt(f"{self.digest}: bytes do not hash to the name or have not {self.size} bytes")
        return piece


class S3BlobStore:
    """Blobs as objects ``ab/cd/<sha256>`` of one bucket."""

    def __init__(self, *, endpoint: str, bucket: str, access_key: str, secret_key: str,
                 region: str = "us-east-1", timeout: float = 30.0, multipart_threshold: int = 16 << 20,
                 cache_bytes: int = 64 << 20, cache_max_blob: int = 256 << 10) -> None:
        url = urlsplit(endpoint)
        self.endpoint, self.bucket = endpoint.rstrip("/"), bucket
        self.multipart_threshold = multipart_threshold
        self.cache = HotBlobs(cache_bytes, cache_max_blob)

        def client(connect: float, read: float, retries: int) -> Minio:
            http = urllib3.PoolManager(
                timeout=Timeout(connect=connect, read=read), maxsize=_UPLOAD_THREADS * 2,
                # The system's CA store (an agency's own CA is added there), not certifi's.
                ssl_context=ssl.create_default_context() if url.scheme == "https" else None,
                retries=Retry(total=retries, connect=min(retries, 1), backoff_factor=0.2,
                              status_forcelist=[500, 502, 503, 504]))
            return Minio(url.netloc, access_key=access_key, secret_key=secret_key,
                         secure=url.scheme == "https", region=region, http_client=http)

        self._client = client(min(timeout, 10.0), timeout, 3)
        # /healthz asks often and must answer at once: short timeouts, no retries.
        self._probe = client(2.0, 2.0, 0)
        self._threads: ThreadPoolExecutor | None = None
        self._threads_lock = threading.Lock()

    def describe(self) -> str:
        return f"s3 {self.endpoint} bucket {self.bucket}"

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one S3 request; its failures as StorageUnavailable (or BlobMissing)."""
        try:
            return fn()
        except S3Error as exc:
            if exc.code in _MISSING_CODES:
                raise BlobMissing(f"blob thiếu / missing blob: {what}") from None
            raise self._unavailable(what, f"{exc.code}: {exc.message}") from exc
        except (MinioException, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            if isinstance(exc, BlobMissing | BlobCorrupt | StorageUnavailable):
                raise
            reason = getattr(exc, "reason", None) or exc
            raise self._unavailable(what, str(reason)) from exc

    def _unavailable(self, what: str, reason: str) -> StorageUnavailable:
        return StorageUnavailable(
            f"kho đối tượng không dùng được / object storage unavailable ({self.describe()}): {what}: {reason}")

    def _pool(self) -> ThreadPoolExecutor:
        with self._threads_lock:
            if self._threads is None:
                self._threads = ThreadPoolExecutor(_UPLOAD_THREADS, thread_name_prefix="congthu-s3")
            return self._threads

    # Writing

    def put(self, data: bytes | memoryview) -> str:
        digest, staged = self.stage(data)
        if staged is not None:
            self.flush([staged])
        return digest

    def stage(self, data: bytes | memoryview) -> tuple[str, Staged | None]:
        """Hash the bytes; unless the object exists, keep them for ``flush`` to send.
        Always asked of S3 (HEAD), never of the cache: another node's garbage collection
        may have removed an object this process still has in memory."""
        digest = hashlib.sha256(data).hexdigest()
        if self.exists(digest):
            return digest, None
        return digest, Staged(digest, data=data)

    def flush(self, staged: Sequence[Staged]) -> None:
        """Send the staged blobs side by side; return when S3 has answered every PUT.
        On an error the first is raised; blobs already stored stay (unreferenced, as
        after a crash) for garbage collection."""
        if len(staged) == 1:
            self._upload(staged[0])
            return
        futures = [self._pool().submit(self._upload, item) for item in staged]
        errors = [exc for exc in (f.exception() for f in futures) if exc is not None]
        if errors:
            raise errors[0]

    def _upload(self, item: Staged) -> None:
        data = item.data
        if data is None:  # staged by another backend: a caller's mistake
            raise ValueError(f"blob {item.digest} was not staged for S3")
        name = blob_name(item.digest)
        self._call(f"PUT {name}", lambda: self._client.put_object(
            self.bucket, name, cast(BinaryIO, _ViewReader(data)), len(data), part_size=self.multipart_threshold))
        self.cache.add(item.digest, data)

    def discard(self, staged: Iterable[Staged]) -> None:
        """Nothing was sent before ``flush``: nothing to remove."""

    def write(self, digest: str, size: int, chunks: Iterable[bytes]) -> None:
        name = blob_name(digest)
        stream = _CheckedStream(digest, size, chunks)
        self._call(f"PUT {name}", lambda: self._client.put_object(
            self.bucket, name, cast(BinaryIO, stream), size, part_size=self.multipart_threshold))

    # Reading

    def get(self, digest: str) -> bytes:
        return self._fetch(digest, None)

    def read(self, segments: Iterable[tuple[str, int]]) -> bytes:
        """A message's segments, each read no further than the length it records."""
        return b"".join(self._fetch(digest, length) for digest, length in segments)

    def _fetch(self, digest: str, length: int | None) -> bytes:
        cached = self.cache.get(digest)
        if cached is not None:
            return cached
        out = bytearray()
        for chunk in self.chunks(digest):
            out += chunk
            if length is not None and len(out) > length:  # never more than the message says
                raise BlobCorrupt(f"{digest}: longer than the {length} bytes recorded")
        data = bytes(out)
        self.cache.add(digest, data)
        return data

    def chunks(self, digest: str) -> Iterator[bytes]:
        name = blob_name(digest)
        response = self._call(f"GET {name}", lambda: self._client.get_object(self.bucket, name))
        try:
            stream = response.stream(_READ_CHUNK)
            while (chunk := self._call(f"GET {name}", lambda: next(stream, None))) is not None:
                yield chunk
        finally:
            response.close()
            response.release_conn()

    def exists(self, digest: str) -> bool:
        return self.info(digest) is not None

    def info(self, digest: str) -> BlobInfo | None:
        name = blob_name(digest)
        try:
            found = self._call(f"HEAD {name}", lambda: self._client.stat_object(self.bucket, name))
        except BlobMissing:
            return None
        modified = found.last_modified.timestamp() if found.last_modified else time.time()
        return BlobInfo(digest, int(found.size or 0), modified)

    def listing(self) -> Iterator[BlobInfo]:
        objects = self._call("LIST", lambda: self._client.list_objects(self.bucket, recursive=True))
        walk = iter(objects)
        while True:
            found = self._call("LIST", lambda: next(walk, None))
            if found is None:
                return
            digest = (found.object_name or "").rpartition("/")[2]
            if is_digest(digest):
                modified = found.last_modified.timestamp() if found.last_modified else time.time()
                yield BlobInfo(digest, int(found.size or 0), modified)

    def all_digests(self) -> Iterator[str]:
        return (found.digest for found in self.listing())

    def size(self) -> int:
        return sum(found.size for found in self.listing())

    # Removing

    def delete(self, digest: str) -> None:
        self.cache.drop(digest)
        name = blob_name(digest)
        self._call(f"DELETE {name}", lambda: self._client.remove_object(self.bucket, name))

    def collect_garbage(self, referenced: set[str], grace_seconds: float = 3600) -> int:
        """Delete unreferenced objects older than the grace period (by their LastModified),
        and abort multipart uploads begun before it (a crash in the middle of one)."""
        cutoff = time.time() - grace_seconds
        doomed = [found.digest for found in self.listing()
                  if found.digest not in referenced and found.modified < cutoff]
        for digest in doomed:
            self.cache.drop(digest)
        for start in range(0, len(doomed), 1000):  # DeleteObjects takes 1000 keys at most
            batch = [DeleteObject(blob_name(d)) for d in doomed[start:start + 1000]]

            def remove(batch: list[DeleteObject] = batch) -> list[Any]:
                return list(self._client.remove_objects(self.bucket, batch))

            errors = self._call("DELETE", remove)
            if errors:
                raise self._unavailable("DELETE", "; ".join(f"{e.name}: {e.code}" for e in errors[:3]))
        self._abort_stale_uploads(cutoff)
        return len(doomed)

    def _abort_stale_uploads(self, cutoff: float) -> None:
        # minio-py has no public call for ListMultipartUploads; its own (underscored)
        # methods are used, one page (1000 uploads) per collection.
        client: Any = self._client
        page = self._call("LIST uploads", lambda: client._list_multipart_uploads(self.bucket, max_uploads=1000))
        for upload in page.uploads:
            started = upload.initiated_time.timestamp() if upload.initiated_time else time.time()
            if started < cutoff:
                def abort(upload: Any = upload) -> None:
                    client._abort_multipart_upload(self.bucket, upload.object_name, upload.upload_id)

                self._call(f"ABORT {upload.object_name}", abort)

    # The store as a whole

    def health(self) -> str:
        try:
            found = self._probe.bucket_exists(self.bucket)
        except S3Error as exc:
            return f"error: {self.describe()}: {exc.code}: {exc.message}"
        except (MinioException, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            return f"error: {self.describe()}: {getattr(exc, 'reason', None) or exc}"
        return "ok" if found else f"error: {self.describe()}: no such bucket"

    def close(self) -> None:
        if self._threads is not None:
            self._threads.shutdown(wait=False)
            self._threads = None
