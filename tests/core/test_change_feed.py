"""The change feed between the processes of one data directory on SQLite
(``congthu.store.changes.LocalFeed``), and the change log's holes across processes. Two
Apps on one data directory stand for two worker processes: each has its own hub, log and
socket, as a process would."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from congthu.app import App
from congthu.store import changes
from tests.conftest import make_data_dir

RAW = b"From: a@soctrang.gov.vn\r\nSubject: thu\r\n\r\nNoi dung.\r\n"


@pytest.fixture
async def two_apps(tmp_path: Path) -> AsyncIterator[tuple[App, App]]:
    data = await make_data_dir(tmp_path / "data")
    first, second = await App.open(data), await App.open(data)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def _inbox(app: App) -> int:
    mailbox = await app.store.create_mailbox("ntbinh@soctrang.gov.vn", "Bình", quota_bytes=10 << 20)
    folder = await app.store.get_folder(mailbox.id, "INBOX")
    assert folder is not None
    return folder.id


async def test_a_commit_in_one_process_wakes_a_watch_in_another(two_apps: tuple[App, App]) -> None:
    listening, writing = two_apps
    await listening.hub.listen_local()
    folder = await _inbox(writing)
    with listening.hub.watching(folder) as watch:
        uid = await writing.store.append(folder, RAW)
        assert await watch.wait(5), "no notification from the other process"
        changed, _gone, highest = await listening.store.changes_since(folder, 0)
        assert [m.uid for m in changed] == [uid] and watch.modseq == highest
        await writing.store.store_flags(folder, [uid], "add", 1)
        assert await watch.wait(5)
        assert watch.modseq == highest + 1


async def test_a_listening_process_logs_the_other_processes_changes(two_apps: tuple[App, App]) -> None:
    mine, other = two_apps
    await mine.hub.listen_local()
    folder = await _inbox(mine)
    uid = await mine.store.append(folder, RAW)
    start = (await mine.store.changes_since(folder, 0))[2]
    with mine.hub.watching(folder) as watch:
        theirs, _ = await other.store.store_flags(folder, [uid], "add", 2)
        other_uid = await other.store.append(folder, RAW)
        while watch.modseq < theirs[0].modseq + 1:
            assert await watch.wait(5)
        # Both of the other process's commits came with their log entries: no hole.
        logged = mine.hub.changes_since(folder, start, watch.modseq)
        assert logged is not None
        assert logged == await mine.store.changes_since(folder, start)
        assert [m.uid for m in logged[0]] == [uid, other_uid]


async def test_the_log_has_a_hole_where_another_process_wrote(two_apps: tuple[App, App]) -> None:
    """A process that does not listen (a command) has no entries of others' commits."""
    mine, other = two_apps
    folder = await _inbox(mine)
    uid = await mine.store.append(folder, RAW)
    start = (await mine.store.changes_since(folder, 0))[2]
    with mine.hub.watching(folder):
        first, _ = await mine.store.store_flags(folder, [uid], "add", 1)  # in this process's log
        assert mine.hub.changes_since(folder, start, first[0].modseq) is not None
        theirs, _ = await other.store.store_flags(folder, [uid], "add", 2)  # another's: not in it
        last, _ = await mine.store.store_flags(folder, [uid], "add", 4)
        assert last[0].modseq == theirs[0].modseq + 1 == first[0].modseq + 2
        # From before the other's change: the log cannot answer (the database does).
        assert mine.hub.changes_since(folder, start, last[0].modseq) is None
        # From after it: the log answers, with this process's change only.
        logged = mine.hub.changes_since(folder, theirs[0].modseq, last[0].modseq)
        assert logged is not None and logged[2] == last[0].modseq


async def test_many_changes_in_one_turn_go_out_merged_and_dead_listeners_are_removed(
        two_apps: tuple[App, App], tmp_path: Path) -> None:
    listening, writing = two_apps
    await listening.hub.listen_local()
    feed_dir = listening.data_dir / "run" / "feed"
    # A socket left by a killed process: bound once, its process gone.
    dead = feed_dir / "999999.dead00.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as gone:
        gone.bind(str(dead))
    watches = [listening.hub.watch(folder) for folder in range(1, 20001)]
    # More than one datagram's worth, several modseqs per folder, in one loop turn.
    for folder in range(1, 20001):
        for modseq in (1, 7, 3):
            await writing.hub.publish(folder, modseq)
    for _ in range(200):
        if all(w.modseq == 7 for w in watches):
            break
        await asyncio.sleep(0.02)
    assert {w.modseq for w in watches} == {7}
    for w in watches:
        w.close()
    assert not dead.exists()
    assert 20000 * len(b"20000:7\n") / 2 > changes.DATAGRAM_MAX  # several datagrams
