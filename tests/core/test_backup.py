"""Backup of a running system during deliveries, restore into an empty directory."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from congthu.app import App
from congthu.backup import BackupError, backup, restore, rotate


async def snapshot(app: App) -> dict[str, list[tuple[int, int, str, bytes]]]:
    result = {}
    for mailbox in await app.store.list_mailboxes():
        for folder in await app.store.list_folders(mailbox.id):
            rows = []
            for meta in await app.store.folder_index(folder.id):
                rows.append((meta.uid, meta.flags, " ".join(meta.keywords),
                             await app.store.read_message(meta.content_id)))
            result[f"{mailbox.address}/{folder.name}/{folder.uidvalidity}"] = rows
    return result


async def test_backup_during_deliveries_then_restore(app: App, tmp_path: Path) -> None:
    ids = [(await app.store.create_mailbox(f"u{i}@soctrang.gov.vn")).id for i in range(3)]
    for i in range(20):
        await app.store.deliver(f"Subject: {i}\r\n\r\nnội dung {i}\r\n".encode(), ids)
    inbox = await app.store.get_folder(ids[0], "INBOX")
    assert inbox is not None
    await app.store.store_flags(inbox.id, [1, 2, 3], "add", 1, ["$Quan_trong"])

    stop = asyncio.Event()

    async def keep_delivering() -> int:
        n = 0
        while not stop.is_set():
            await app.store.deliver(f"Subject: live {n}\r\n\r\n{'x' * 5000}\r\n".encode(), ids)
            n += 1
            await asyncio.sleep(0)
        return n

    writer = asyncio.create_task(keep_delivering())
    await asyncio.sleep(0.3)
    dest = tmp_path / "backup"
    await backup(app, dest)
    stop.set()
    delivered_during = await writer
    assert delivered_during > 0

    restored_dir = tmp_path / "restored"
    summary = await asyncio.to_thread(restore, dest, restored_dir)
    assert summary["engine"] == "sqlite"
    restored = await App.open(restored_dir)
    try:
        got = await snapshot(restored)
        live = await snapshot(app)
        assert set(got) == set(live)
        for key, rows in got.items():
            # The backup is a consistent prefix of what the live system has now.
            assert rows == live[key][: len(rows)]
        inbox_key = next(k for k in got if k.startswith("u0@soctrang.gov.vn/INBOX/"))
        assert len(got[inbox_key]) >= 20
        assert got[inbox_key][0][1:3] == (1, "$Quan_trong")
    finally:
        await restored.close()


async def test_restore_refuses_a_non_empty_directory(app: App, tmp_path: Path) -> None:
    dest = tmp_path / "b"
    await backup(app, dest)
    with pytest.raises(BackupError):
        await backup(app, dest)
    with pytest.raises(BackupError, match="not empty"):
        restore(dest, app.data_dir)
    with pytest.raises(BackupError, match="not a backup"):
        restore(tmp_path, tmp_path / "x")


async def test_scheduled_backups_link_unchanged_blobs_and_keep_the_newest(app: App, tmp_path: Path) -> None:
    """``congthu backup --into DIR --keep N`` (the daily timer of ``congthu quickstart``):
    the second backup hard-links the blobs the first holds and copies only the new ones;
    what an interrupted run left is removed; only the newest N are kept; each restores."""
    box = (await app.store.create_mailbox("luu@soctrang.gov.vn")).id
    await app.store.deliver(b"Subject: 1\r\n\r\n" + b"a" * 4000 + b"\r\n", [box])
    into = tmp_path / "backups"
    first = await rotate(app, into, keep=2)
    assert first["blobs"] > 0 and first["blobs_linked"] == 0
    assert into.stat().st_mode & 0o777 == 0o700
    await app.store.deliver(b"Subject: 2\r\n\r\n" + b"b" * 4000 + b"\r\n", [box])
    (into / "2000-01-01T000000Z").mkdir()  # an interrupted run: no manifest
    await asyncio.sleep(1.1)  # backups are named by the second
    second = await rotate(app, into, keep=2)
    assert second["blobs_linked"] == first["blobs"] and second["blobs"] >= 1
    assert second["removed"] == ["2000-01-01T000000Z"]
    old_files = {p.relative_to(Path(first["path"])): p.stat().st_ino
                 for p in (Path(first["path"]) / "blobs").rglob("*") if p.is_file()}
    new_files = {p.relative_to(Path(second["path"])): p.stat().st_ino
                 for p in (Path(second["path"]) / "blobs").rglob("*") if p.is_file()}
    assert old_files.items() <= new_files.items()  # the same files (inodes), not copies
    await asyncio.sleep(1.1)
    third = await rotate(app, into, keep=2)
    assert third["removed"] == [Path(first["path"]).name]
    assert sorted(p.name for p in into.iterdir()) == sorted([Path(second["path"]).name, Path(third["path"]).name])
    # The newest restores with both messages, its blobs whole although the oldest backup is gone.
    await asyncio.to_thread(restore, Path(third["path"]), tmp_path / "restored")
    back = await App.open(tmp_path / "restored")
    try:
        got = await snapshot(back)
        assert [row[3][:12] for row in got[next(k for k in got if k.startswith("luu@soctrang.gov.vn/INBOX/"))]] == \
            [b"Subject: 1\r\n", b"Subject: 2\r\n"]
    finally:
        await back.close()
    with pytest.raises(BackupError, match="keep"):
        await rotate(app, into, keep=0)
