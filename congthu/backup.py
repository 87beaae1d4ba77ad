"""Backup of a running system and restore into an empty data directory.

Consistency: the metadata is snapshotted first (SQLite's online backup API, or pg_dump),
then the blobs are copied. Blobs are immutable and written before the metadata that
refers to them, and the blob store's garbage collection does not run while a backup
holds the lease ``store.blobs`` (``congthu.store.jobs``; the backup waits for a
collection in progress), so every blob the snapshot refers to is there while we copy:
the backup is a consistent state even while mail is being delivered and deleted.

The blobs are read through the store (``app.store.blobs``), from disk or from S3, and
written in the disk store's layout; a data directory restored for an S3 store puts them
back into its bucket with ``congthu blobs migrate --to s3`` (docs/object-storage.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from congthu import __version__, config
from congthu.app import App
from congthu.cluster.leases import LeaseBusy, holding
from congthu.config.template import render
from congthu.db import SQLITE_FILE
from congthu.store.blobs import BlobMissing, BlobStore, blob_name
from congthu.store.jobs import BLOBS_LEASE

MANIFEST = "congthu-backup.json"
PG_DUMP = "meta.pgdump"
GC_WAIT_SECONDS = 3600.0  # a backup waits this long for a garbage collection to end


class BackupError(Exception):
    pass


def _copy_blobs(blobs: BlobStore, dest: Path, previous: Path | None = None) -> tuple[int, int]:
    """Copy every blob, streamed, to ``dest/ab/cd/<sha256>`` (the disk store's layout,
    whichever backend holds them): (copied, linked). A blob the ``previous`` backup's
    ``blobs`` directory holds already is hard-linked from there instead: its name is the
    SHA-256 of its bytes and backups are never changed, so the same name is the same
    bytes, and a daily backup costs only the day's new mail."""
    copied = linked = 0
    for digest in blobs.all_digests():
        target = dest / blob_name(digest)
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if previous is not None and (earlier := previous / blob_name(digest)).is_file():
            try:
                os.link(earlier, target)
                linked += 1
                continue
            except OSError:  # another file system, or no hard links there: copy it
                pass
        partial = target.with_name(target.name + ".part")
        try:
            with partial.open("wb") as f:
                for chunk in blobs.chunks(digest):
                    f.write(chunk)
        except BlobMissing:  # collected meanwhile: it was unreferenced
            partial.unlink(missing_ok=True)
            continue
        partial.replace(target)
        copied += 1
    return copied, linked


def _sqlite_snapshot(source: Path, target: Path) -> None:
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


async def backup(app: App, dest: Path, *, previous: Path | None = None) -> dict[str, Any]:
    """A consistent backup of the running system into the empty or new ``dest``; blobs
    that ``previous`` (an earlier backup) holds are hard-linked from it."""
    if dest.exists() and any(dest.iterdir()):
        raise BackupError(f"Thư mục đích không trống / destination not empty: {dest}")
    dest.mkdir(parents=True, exist_ok=True)
    try:
        async with holding(app.db, BLOBS_LEASE, wait=GC_WAIT_SECONDS):
            return await _backup(app, dest, previous)
    except LeaseBusy:
        raise BackupError("Bộ thu gom blob đang chạy quá lâu, hãy thử lại sau / the blob garbage "
                          f"collection held the store for {GC_WAIT_SECONDS:.0f} s: try again later") from None


async def _backup(app: App, dest: Path, previous: Path | None) -> dict[str, Any]:
    data = app.data_dir
    engine = "sqlite" if app.db.is_sqlite else "postgresql"
    if app.db.is_sqlite:
        await asyncio.to_thread(_sqlite_snapshot, data / SQLITE_FILE, dest / SQLITE_FILE)
    else:
        url = app.settings.database.url.replace("postgresql+asyncpg://", "postgresql://")
        await asyncio.to_thread(
            subprocess.run, ["pg_dump", "-Fc", "-f", str(dest / PG_DUMP), url], check=True
        )
    blobs, linked = await asyncio.to_thread(_copy_blobs, app.store.blobs, dest / "blobs",
                                            previous / "blobs" if previous else None)
    for name in (config.CONFIG_FILE,):
        if (data / name).exists():
            shutil.copy2(data / name, dest / name)
    for rel in (app.settings.tls.cert, app.settings.tls.key, app.settings.smtp.dkim_key):
        if (data / rel).exists():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(data / rel, dest / rel)
    summary = {"version": __version__, "time": datetime.now(UTC).isoformat(), "engine": engine,
               "blobs": blobs, "blobs_linked": linked}
    # Written last: a directory with its manifest is a whole backup (``rotate`` relies on it).
    (dest / MANIFEST).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def _whole_backups(into: Path) -> list[Path]:
    """The whole backups in ``into`` (those with a manifest), oldest first."""
    return sorted(p for p in into.iterdir() if p.is_dir() and (p / MANIFEST).is_file())


async def rotate(app: App, into: Path, keep: int) -> dict[str, Any]:
    """The scheduled backup (the ``congthu-backup.timer`` of ``congthu quickstart``): a new
    backup in ``into/<UTC time>``, its blobs linked from the newest whole backup there,
    then only the newest ``keep`` whole backups kept, and what an interrupted run left
    (a directory without a manifest) removed."""
    if keep < 1:
        raise BackupError("--keep phải từ 1 trở lên / --keep must be at least 1")
    into.mkdir(mode=0o700, parents=True, exist_ok=True)
    earlier = _whole_backups(into)
    dest = into / datetime.now(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    summary = await backup(app, dest, previous=earlier[-1] if earlier else None)
    whole = _whole_backups(into)
    removed = [p for p in into.iterdir() if p.is_dir() and p != dest and not (p / MANIFEST).is_file()]
    removed += whole[:-keep]
    for path in removed:
        await asyncio.to_thread(shutil.rmtree, path)
    return {**summary, "path": str(dest), "removed": [p.name for p in removed]}


def _retarget(data_dir: Path, database_url: str | None, s3_bucket: str | None) -> None:
    """Point the restored configuration at another database or bucket (a fresh one on a
    new or promoted server, docs/cluster.md), checked as any configuration is."""
    settings = config.load(data_dir)
    if database_url is not None:
        settings.database.url = database_url
    if s3_bucket is not None:
        if settings.blobs.backend != "s3" and not settings.blobs.s3_endpoint:
            raise BackupError("--s3-bucket: cấu hình không dùng S3 / the configuration has no S3 store")
        settings.blobs.s3_bucket = s3_bucket
    path = data_dir / config.CONFIG_FILE
    path.write_text(render(settings), encoding="utf-8")
    try:
        config.load(data_dir)
    except config.ConfigError as exc:
        raise BackupError(str(exc)) from None


def restore(src: Path, data_dir: Path, *, database_url: str | None = None,
            s3_bucket: str | None = None) -> dict[str, Any]:
    """Restore the backup ``src`` into the empty ``data_dir``: files, the database
    (SQLite's file, or ``pg_restore`` into the configuration's PostgreSQL database, which
    must exist and be empty), and the blobs in the disk layout (for an S3 store
    ``congthu blobs migrate --to s3`` puts them into its bucket). ``database_url`` and
    ``s3_bucket`` replace those of the backed-up configuration first: restoring into a
    new database or bucket while the old ones still exist."""
    manifest = src / MANIFEST
    if not manifest.exists():
        raise BackupError(f"Không phải bản sao lưu / not a backup (no {MANIFEST}): {src}")
    if data_dir.exists() and any(data_dir.iterdir()):
        raise BackupError(f"Thư mục dữ liệu không trống / data directory not empty: {data_dir}")
    summary = json.loads(manifest.read_text(encoding="utf-8"))
    data_dir.mkdir(parents=True, exist_ok=True)
    for path in src.rglob("*"):
        if path.is_file() and path.name not in (MANIFEST, PG_DUMP):
            target = data_dir / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    if database_url is not None or s3_bucket is not None:
        _retarget(data_dir, database_url, s3_bucket)
    if (src / PG_DUMP).exists():
        settings = config.load(data_dir)
        url = settings.database.url.replace("postgresql+asyncpg://", "postgresql://")
        try:  # pg_restore prints its own reasons on stderr
            subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", "-d", url, str(src / PG_DUMP)],
                           check=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise BackupError(f"pg_restore không được / failed: {exc}") from None
    (data_dir / "blobs" / "tmp").mkdir(parents=True, exist_ok=True)
    os.sync()
    return summary
