"""Backup of a running system and restore into an empty data directory.

Consistency: the metadata is snapshotted first (SQLite's online backup API, or pg_dump),
then the blobs are copied. Blobs are immutable and written before the metadata that
refers to them, and garbage collection keeps unreferenced blobs for an hour, so every
blob the snapshot refers to is on disk while we copy: the backup is a consistent state
even while mail is being delivered.

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
from congthu.db import SQLITE_FILE
from congthu.store.blobs import BlobMissing, BlobStore, blob_name

MANIFEST = "congthu-backup.json"
PG_DUMP = "meta.pgdump"


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


def restore(src: Path, data_dir: Path) -> dict[str, Any]:
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
    if (src / PG_DUMP).exists():
        settings = config.load(data_dir)
        url = settings.database.url.replace("postgresql+asyncpg://", "postgresql://")
        subprocess.run(["pg_restore", "--no-owner", "-d", url, str(src / PG_DUMP)], check=True)
    (data_dir / "blobs" / "tmp").mkdir(parents=True, exist_ok=True)
    os.sync()
    return summary
