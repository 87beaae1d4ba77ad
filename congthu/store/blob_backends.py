"""Opening the blob store ``[blobs] backend`` names: the disk store of the data directory
(``blobs_disk.py``) or a bucket of an S3-compatible object store (``blobs_s3.py``)."""

from __future__ import annotations

from pathlib import Path

from congthu.config.settings import BlobSettings
from congthu.store.blobs import BlobStore
from congthu.store.blobs_disk import DiskBlobStore

BACKENDS = ("disk", "s3")


def open_blob_store(settings: BlobSettings, data_dir: Path, backend: str | None = None) -> BlobStore:
    """The configured store, or the one ``backend`` names (``congthu blobs migrate``
    opens both). Opening sends no request: an unreachable object store shows at the
    first use (StorageUnavailable) and in /healthz, so the server starts anyway."""
    chosen = backend or settings.backend
    if chosen == "disk":
        return DiskBlobStore(data_dir / "blobs")
    if chosen == "s3":
        # Imported here for start-up time: minio and its cipher library cost every
        # process (each `congthu` command) a third of a second, and most use the disk.
        from congthu.store.blobs_s3 import S3BlobStore

        return S3BlobStore(
            endpoint=settings.s3_endpoint, bucket=settings.s3_bucket, access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key, region=settings.s3_region, timeout=settings.s3_timeout,
            multipart_threshold=settings.multipart_threshold_mib << 20,
            cache_bytes=settings.cache_mib << 20, cache_max_blob=settings.cache_max_blob_kib << 10)
    raise ValueError(f"unknown blob store backend {chosen!r}")
