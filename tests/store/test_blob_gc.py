"""The blob store's garbage collection (``congthu.store.jobs``): the bytes of deleted mail
are removed, a blob younger than the grace is kept, and a collection never overlaps a
backup (the lease ``store.blobs``), which would remove blobs the backup's snapshot still
refers to."""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path

import pytest

from congthu import backup
from congthu.app import App
from congthu.cli import main
from congthu.cluster.leases import LeaseBusy, holding
from congthu.config import ConfigError, load
from congthu.store import flags
from congthu.store.jobs import BLOBS_LEASE, collect, jobs


def _message(n: int) -> bytes:
    return (f"From: vanthu@soctrang.gov.vn\r\nTo: ntbinh@soctrang.gov.vn\r\nSubject: Công văn {n}\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\nNội dung {n} " + "x" * 2000 + "\r\n").encode()


async def _delivered_then_deleted(app: App) -> tuple[int, set[str]]:
    """Two messages delivered, the first expunged: (the mailbox id, the blobs of all)."""
    box = (await app.store.create_mailbox("ntbinh@soctrang.gov.vn")).id
    inbox = await app.store.get_folder(box, "INBOX")
    assert inbox is not None
    for n in (1, 2):
        [result] = await app.store.deliver(_message(n), [box])
        assert result.ok
    everything = set(app.store.blobs.all_digests())
    await app.store.store_flags(inbox.id, [1], "add", flags.DELETED)
    assert await app.store.expunge(inbox.id) == [1]
    return box, everything


def _age(app: App, digests: set[str], seconds: float) -> None:
    then = time.time() - seconds
    for digest in digests:
        os.utime(app.store.blobs.path(digest), (then, then))


async def test_deleted_mail_is_removed_after_the_grace(app: App) -> None:
    box, everything = await _delivered_then_deleted(app)
    assert await collect(app) == 0  # just written: within the grace, kept
    assert set(app.store.blobs.all_digests()) == everything
    _age(app, everything, 2 * 3600)
    removed = await collect(app)
    left = set(app.store.blobs.all_digests())
    assert removed >= 1 and left < everything and removed == len(everything - left)
    inbox = await app.store.get_folder(box, "INBOX")
    assert inbox is not None
    assert [row.meta.uid for row in await app.store.list_messages(inbox.id, [1, 2])] == [2]
    [kept] = await app.store.list_messages(inbox.id, [2])
    assert await app.store.read_message(kept.meta.content_id) == _message(2)  # the mail kept is whole


async def test_a_collection_never_overlaps_a_backup(app: App, tmp_path: Path) -> None:
    _box, everything = await _delivered_then_deleted(app)
    _age(app, everything, 2 * 3600)
    # A backup in progress holds the lease: a collection gives way.
    async with holding(app.db, BLOBS_LEASE):
        with pytest.raises(LeaseBusy):
            await collect(app)
        assert set(app.store.blobs.all_digests()) == everything
    # A collection in progress: the backup waits for it, then copies what is left.
    release = asyncio.Event()

    async def long_collection() -> None:
        async with holding(app.db, BLOBS_LEASE):
            await release.wait()

    collecting = asyncio.create_task(long_collection())
    await asyncio.sleep(0.2)
    copying = asyncio.create_task(backup.backup(app, tmp_path / "b1"))
    await asyncio.sleep(1.0)
    assert not copying.done() and not (tmp_path / "b1" / backup.MANIFEST).exists()
    release.set()
    await collecting
    summary = await asyncio.wait_for(copying, 30)
    assert summary["blobs"] == len(everything)
    # And the lease is free again: a collection runs.
    assert await collect(app) >= 1


def test_blobs_gc_command(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async def prepare() -> set[str]:
        app = await App.open(data_dir)
        try:
            _box, everything = await _delivered_then_deleted(app)
            _age(app, everything, 2 * 3600)
            return everything
        finally:
            await app.close()

    everything = asyncio.run(prepare())
    assert main(["--data", str(data_dir), "blobs", "gc"]) == 0
    out = capsys.readouterr().out
    assert "removed: " in out and int(out.rsplit("removed: ", 1)[1].split()[0]) >= 1
    assert len(list((data_dir / "blobs").rglob("*"))) < len(everything) + 300  # something went
    assert main(["--data", str(data_dir), "blobs", "gc", "--grace-minutes", "5"]) != 0
    assert "--grace-minutes" in capsys.readouterr().err


def test_gc_settings_are_checked(data_dir: Path) -> None:
    config = data_dir / "congthu.toml"
    text = config.read_text(encoding="utf-8")
    assert "\ngc_every_hours = 24\n" in text and "\ngc_grace_minutes = 60\n" in text  # written by init

    def written(key: str, value: int) -> None:
        config.write_text(re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", text), encoding="utf-8")

    for key, value in (("gc_grace_minutes", 1), ("gc_every_hours", -1)):
        written(key, value)
        with pytest.raises(ConfigError, match=f"blobs.{key}"):
            load(data_dir)
    written("gc_every_hours", 0)
    assert load(data_dir).blobs.gc_every_hours == 0


async def test_the_job_is_scheduled_unless_switched_off(app: App) -> None:
    def scheduled() -> list[str]:
        # Beside it, on SQLite, the search indexer (congthu.store.indexer).
        found = jobs(app)
        for job in found:
            job.close()
        return [job.__qualname__ for job in found if job.__qualname__ != "IndexerMethods.keep_search_index"]

    assert scheduled() == ["PeriodicJob.forever"]
    app.settings.blobs.gc_every_hours = 0
    assert scheduled() == []
