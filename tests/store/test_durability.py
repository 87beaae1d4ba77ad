"""Durability: a delivery reported done survives SIGKILL at any moment, and no message is
ever half there. Bad storage conditions give clear errors and lose nothing."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from congthu.app import App
from congthu.db import DatabaseUnavailable
from congthu.store.blobs import StorageFull
from tests.conftest import make_data_dir

TOTAL = 1000

CHILD = textwrap.dedent(
    """
    import asyncio, hashlib, random, sys
    from pathlib import Path
    from congthu.app import App

    def body(i):
        rnd = random.Random(i)
        filler = "".join(rnd.choice("abcdefghij ") for _ in range(rnd.randint(100, 20000)))
        return (f"Subject: Thư số {i}\\r\\nX-Number: {i}\\r\\n\\r\\n{filler}\\r\\n").encode()

    async def main(data, start):
        app = await App.open(Path(data))
        mailbox = await app.store.get_mailbox("kho@soctrang.gov.vn")
        if mailbox is None:
            mailbox = await app.store.create_mailbox("kho@soctrang.gov.vn", quota_bytes=10**10)
        print("ready", flush=True)
        for i in range(start, TOTAL):
            raw = body(i)
            [result] = await app.store.deliver(raw, [mailbox.id])
            assert result.ok, result.error
            print("done", i, hashlib.sha256(raw).hexdigest(), flush=True)
        await app.close()

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
).replace("TOTAL", str(TOTAL))


def run_child(data: Path, start: int, kill_after: int | None) -> dict[int, str]:
    """Deliver from ``start`` in a child process, SIGKILLed once it has reported
    ``kill_after`` deliveries (others are under way then: the kill lands mid-delivery
    on a fast machine as on a slow one, which a kill after a fixed time did not)."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(data), str(start)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    done = {}
    for line in proc.stdout:  # until EOF: what it printed before it died is read too
        parts = line.split()
        if len(parts) == 3 and parts[0] == "done":
            done[int(parts[1])] = parts[2]
        if kill_after is not None and len(done) >= kill_after:
            proc.send_signal(signal.SIGKILL)
            kill_after = None
    proc.wait(300)
    return done


@pytest.mark.slow
async def test_sigkill_during_deliveries_loses_nothing_reported(tmp_path: Path) -> None:
    data = await make_data_dir(tmp_path / "data")
    reported: dict[int, str] = {}
    rnd = random.Random(20261128)
    kills = 0
    while len(reported) < TOTAL - 1 or max(reported, default=-1) < TOTAL - 1:
        start = max(reported, default=-1) + 1
        kill_after = rnd.randint(10, 100) if kills < 8 else None  # 8 kills fit in TOTAL
        got = await asyncio.to_thread(run_child, data, start, kill_after)
        reported.update(got)
        kills += kill_after is not None
    assert kills == 8
    app = await App.open(data)
    try:
        mailbox = await app.store.get_mailbox("kho@soctrang.gov.vn")
        assert mailbox is not None
        inbox = await app.store.get_folder(mailbox.id, "INBOX")
        assert inbox is not None
        index = await app.store.folder_index(inbox.id)
        seen: dict[str, int] = {}
        for meta in index:
            raw = await app.store.read_message(meta.content_id)
            # Whole: the bytes are exactly what was delivered, with its own number.
            digest = hashlib.sha256(raw).hexdigest()
            content = await app.store.get_content(meta.content_id)
            assert content.sha256 == digest and len(raw) == meta.size
            assert raw.endswith(b"\r\n") and b"X-Number: " in raw
            seen[digest] = seen.get(digest, 0) + 1
        for number, digest in reported.items():
            assert digest in seen, f"message {number} was reported delivered but is gone"
        # A message delivered but killed before it was reported may be there once more.
        assert len(index) <= len(reported) + kills
        assert sum(seen.values()) == len(index)
        used, _limit = await app.store.quota(mailbox.id)
        assert used == sum(m.size for m in index)
    finally:
        await app.close()


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


async def test_full_disk_refuses_clearly_and_keeps_what_was_delivered(tmp_path: Path) -> None:
    data = await make_data_dir(tmp_path / "data")
    blobs = data / "blobs"
    if os.geteuid() != 0 or not _mount_tmpfs(blobs, "2m"):
        pytest.fail("this test needs root to mount a small tmpfs (CI runs as root)")
    try:
        app = await App.open(data)
        try:
            mailbox = await app.store.create_mailbox("day@soctrang.gov.vn", quota_bytes=10**9)
            delivered = 0
            with pytest.raises(StorageFull) as caught:
                for i in range(100):
                    raw = b"Subject: x\r\n\r\n" + os.urandom(300_000).hex().encode()[:300_000] + str(i).encode()
                    [result] = await app.store.deliver(raw, [mailbox.id])
                    assert result.ok
                    delivered += 1
            assert "no space left" in str(caught.value)
            assert delivered >= 3
            inbox = await app.store.get_folder(mailbox.id, "INBOX")
            assert inbox is not None
            index = await app.store.folder_index(inbox.id)
            assert len(index) == delivered
            for meta in index:
                assert len(await app.store.read_message(meta.content_id)) == meta.size
            # No temporary file is left behind, and the store works again once there is room.
            assert list(app.store.blobs.tmp.iterdir()) == []
            await app.store.store_flags(inbox.id, [m.uid for m in index], "add", 8)
            await app.store.expunge(inbox.id)
            await app.store.collect_garbage(grace_seconds=0)
            [result] = await app.store.deliver(b"Subject: again\r\n\r\nok\r\n", [mailbox.id])
            assert result.ok
        finally:
            await app.close()
    finally:
        subprocess.run(["umount", "-l", str(blobs)], check=False)


async def test_locked_database_gives_a_clear_error_then_recovers(tmp_path: Path) -> None:
    data = await make_data_dir(tmp_path / "data", database={"busy_timeout": 0.5})
    app = await App.open(data)
    try:
        mailbox = await app.store.create_mailbox("khoa@soctrang.gov.vn")
        import sqlite3

        locker = sqlite3.connect(data / "meta.db", isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(DatabaseUnavailable) as caught:
                await app.store.deliver(b"Subject: a\r\n\r\nb\r\n", [mailbox.id])
            assert "database unavailable" in str(caught.value)
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        [result] = await app.store.deliver(b"Subject: a\r\n\r\nb\r\n", [mailbox.id])
        assert result.ok and result.uid == 1
    finally:
        await app.close()


async def test_postgres_gone_gives_a_clear_error(tmp_path: Path) -> None:
    from tests.postgres import PostgresServer

    pg = PostgresServer().start()
    try:
        data = await make_data_dir(tmp_path / "data", database={"url": pg.create_database()})
        app = await App.open(data)
        try:
            mailbox = await app.store.create_mailbox("mat@soctrang.gov.vn")
            pg.stop()
            with pytest.raises(DatabaseUnavailable):
                await app.store.deliver(b"Subject: a\r\n\r\nb\r\n", [mailbox.id])
        finally:
            await app.close()
    finally:
        pg.stop()
