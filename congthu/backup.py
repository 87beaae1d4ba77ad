"""Backup of a running system and restore into an empty data directory.

Consistency: the metadata is snapshotted first (SQLite's online backup API, or pg_dump),
then the blobs are copied. Blobs are immutable and written before the metadata that
refers to them, and garbage collection keeps unreferenced blobs for an hour, so every
blob the snapshot refers to is on disk while we copy: the backup is a consistent state
even while mail is being delivered.
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

MANIFEST = "congthu-backup.json"
PG_DUMP = "meta.pgdump"


class BackupError(Exception):
    pass


def _copy_tree_files(src: Path, dest: Path) -> int:
    count = 0
    for path in src.rglob("*"):
        if path.is_file() and "tmp" not in path.relative_to(src).parts[:1]:
            target = dest / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                shutil.copy2(path, target)
                count += 1
    return count


def _sqlite_snapshot(source: Path, target: Path) -> None:
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


async def backup(app: App, dest: Path) -> dict[str, Any]:
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
    blobs = await asyncio.to_thread(_copy_tree_files, app.store.blobs.root, dest / "blobs")
    for name in (config.CONFIG_FILE,):
        if (data / name).exists():
            shutil.copy2(data / name, dest / name)
    for rel in (app.settings.tls.cert, app.settings.tls.key, app.settings.smtp.dkim_key):
        if (data / rel).exists():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(data / rel, dest / rel)
    summary = {"version": __version__, "time": datetime.now(UTC).isoformat(), "engine": engine,
               "blobs": blobs}
    (dest / MANIFEST).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


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
