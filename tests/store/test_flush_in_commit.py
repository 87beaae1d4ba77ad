"""A SIGKILL between a delivery's blob flush and its commit (``store/delivery.py``, issue
13): nothing reported delivered is lost, no message is half there (the killed delivery is
simply not in the folder: its commit waits for its flush, so it never began), and its
blob, durable but named by no row, goes with the garbage; the store goes on after."""

from __future__ import annotations

import hashlib
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from congthu.app import App
from tests.conftest import make_data_dir

VICTIM = 7  # the delivery killed between its blob flush and its commit

CHILD = textwrap.dedent(
    """
    import asyncio, hashlib, sys, threading, time
    from pathlib import Path
    from congthu.app import App

    def raw(i):
        return f"Subject: Thư {i}\\r\\n\\r\\n{'nội dung ' * (80 + i)}\\r\\n".encode()

    async def main(data, victim):
        app = await App.open(Path(data))
        mailbox = await app.store.create_mailbox("chot@soctrang.gov.vn", quota_bytes=10**9)
        blobs = app.store.blobs
        real = blobs.flush
        now = {"i": 0}

        def flush(staged):
            # Only watched (the flush itself is the store's): where it ran, and a pause
            # after it for the parent's SIGKILL, before the transaction goes on.
            real(staged)
            print("flushed", now["i"], threading.current_thread().name, flush=True)
            if now["i"] == victim:
                time.sleep(600)

        blobs.flush = flush
        print("ready", flush=True)
        for i in range(victim + 1):
            now["i"] = i
            [result] = await app.store.deliver(raw(i), [mailbox.id])
            assert result.ok, result.error
            print("done", i, hashlib.sha256(raw(i)).hexdigest(), flush=True)

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


DONE = re.compile(r"^done (\d+) ([0-9a-f]{64})$")
FLUSHED = re.compile(r"^flushed (\d+) (\S+)$")


def raw(i: int) -> bytes:
    return f"Subject: Thư {i}\r\n\r\n{'nội dung ' * (80 + i)}\r\n".encode()


def run_child(data: Path) -> tuple[dict[int, str], list[str]]:
    """Deliver until the victim's blobs are flushed, then SIGKILL; (reported deliveries,
    the threads each flush ran on)."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(data), str(VICTIM)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    done: dict[int, str] = {}
    threads: list[str] = []
    try:
        for line in proc.stdout:
            if reported := DONE.match(line):
                done[int(reported[1])] = reported[2]
            elif flushed := FLUSHED.match(line):
                threads.append(flushed[2])
                if int(flushed[1]) == VICTIM:
                    proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(60)
    assert proc.returncode == -signal.SIGKILL
    return done, threads


async def test_sigkill_between_flush_and_commit_loses_nothing_reported(tmp_path: Path) -> None:
    data = await make_data_dir(tmp_path / "data")
    done, threads = run_child(data)
    assert sorted(done) == list(range(VICTIM))
    # Each delivery's blobs were flushed once, off the event loop.
    assert len(threads) == VICTIM + 1 and "MainThread" not in threads
    app = await App.open(data)
    try:
        mailbox = await app.store.get_mailbox("chot@soctrang.gov.vn")
        assert mailbox is not None
        inbox = await app.store.get_folder(mailbox.id, "INBOX")
        assert inbox is not None
        index = await app.store.folder_index(inbox.id)
        stored = {hashlib.sha256(await app.store.read_message(m.content_id)).hexdigest() for m in index}
        # Every delivery reported is there, whole; the killed one is not there at all.
        assert stored == set(done.values()) and len(index) == VICTIM
        used, _limit = await app.store.quota(mailbox.id)
        assert used == sum(len(raw(i)) for i in range(VICTIM))
        # Its blob was made durable before the kill, and no row names it: garbage.
        victim = app.store.blobs.path(hashlib.sha256(raw(VICTIM)).hexdigest())  # type: ignore[attr-defined]
        assert victim.read_bytes() == raw(VICTIM)
        await app.store.collect_garbage(grace_seconds=0)
        assert not victim.exists()
        # And the store goes on: the same message again is delivered whole.
        [result] = await app.store.deliver(raw(VICTIM), [mailbox.id])
        assert result.ok and result.uid == VICTIM + 1
        [meta] = [m for m in await app.store.folder_index(inbox.id) if m.uid == result.uid]
        assert await app.store.read_message(meta.content_id) == raw(VICTIM)
    finally:
        await app.close()
