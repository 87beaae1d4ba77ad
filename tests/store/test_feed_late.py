"""Entries of another worker's commits that are late, not lost (``congthu.store.changes``).

Two hubs on one feed directory play two workers of a SQLite data directory (each its
own ``LocalFeed`` socket, as two processes have). A worker can see another's commit (a
folder row read, the modseq before its own next commit) before that commit's entry has
come through the feed: ``ChangeHub.changes_awaited`` waits for it instead of sending the
session to the database. And an entry sent while the listener's queue is full (the
kernel queues ``net.unix.max_dgram_qlen`` datagrams, 10 by default, however large the
buffer) is sent again from the loop instead of being dropped, which left a hole that
every session of the listening worker read from the database.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from congthu.store.changes import ChangeHub, _encode_entry
from congthu.store.model import MessageMeta

FOLDER = 7
WHEN = datetime(2026, 12, 7, 13, 0, tzinfo=UTC)


def _meta(uid: int, modseq: int) -> MessageMeta:
    return MessageMeta(uid, 0, (), 1000 + uid, WHEN, modseq, 40 + uid)


def _line(modseq: int) -> bytes:
    """The datagram line of a commit at ``modseq`` that added message ``modseq``."""
    return _encode_entry((FOLDER, modseq, ((_meta(modseq, modseq),), ())))


async def _two_workers(feed: Path) -> tuple[ChangeHub, ChangeHub]:
    writer, reader = ChangeHub(feed), ChangeHub(feed)
    await reader.listen_local()
    await writer.listen_local()
    return writer, reader


def test_an_entry_on_its_way_is_waited_for_not_read(tmp_path: Path) -> None:
    async def run() -> None:
        writer, reader = await _two_workers(tmp_path / "feed")
        watch = reader.watch(FOLDER)
        try:
            reader.keep(FOLDER, 1, ((_meta(1, 1),), ()))
            assert reader.changes_since(FOLDER, 0, 1) is not None
            # The other worker's commit at modseq 2 is seen here before its entry came.
            assert reader.changes_since(FOLDER, 0, 2) is None

            async def commit_elsewhere() -> None:
                await asyncio.sleep(0.002)
                assert writer._local is not None
                writer._local.send_held([_line(2)])

            sending = asyncio.create_task(commit_elsewhere())
            found = await reader.changes_awaited(FOLDER, 0, 2)
            await sending
            assert found is not None, "the session would have read the database"
            changed, gone, highest = found
            assert [(m.uid, m.modseq) for m in changed] == [(1, 1), (2, 2)]
            assert (gone, highest) == ([], 2)

            # An entry that never comes: the session reads the database after the wait.
            assert await reader.changes_awaited(FOLDER, 0, 3) is None
        finally:
            watch.close()
            await writer.close()
            await reader.close()

    asyncio.run(run())


# Messages of one commit in the loop's test: an entry of more than half a datagram, so
# that each goes in a datagram of its own.
_WIDE = 700


@pytest.mark.parametrize("sender", ["writer thread", "loop"])
def test_entries_sent_to_a_full_queue_come_later(tmp_path: Path, sender: str) -> None:
    """Whether the entries go from the writer thread (``send_held``, a write function's
    ``relay``) or from the loop (``send_entry``, a commit's ``record``)."""
    qlen = int(Path("/proc/sys/net/unix/max_dgram_qlen").read_text())
    commits = qlen + 20  # one datagram each: more than the listener's queue takes

    async def run() -> None:
        writer, reader = await _two_workers(tmp_path / "feed")
        watch = reader.watch(FOLDER)
        try:
            assert writer._local is not None
            # The listener's loop does not turn meanwhile (a busy worker): its queue fills.
            for modseq in range(1, commits + 1):
                if sender == "loop":
                    metas = tuple(_meta(modseq * 1000 + k, modseq) for k in range(_WIDE))
                    writer._local.send_entry(FOLDER, modseq, (metas, ()))
                else:
                    writer._local.send_held([_line(modseq)])
            if sender == "loop":
                writer._local._flush()  # what the loop's next turn does
            assert writer._local._late, "the queue never filled: nothing was tested"
            found = None
            for _ in range(200):  # each loop turn: the listener reads, the writer resends
                await asyncio.sleep(0.005)
                found = reader.changes_since(FOLDER, 0, commits)
                if found is not None:
                    break
            assert found is not None, "entries sent to a full queue were lost"
            wanted = ([modseq * 1000 + k for modseq in range(1, commits + 1) for k in range(_WIDE)]
                      if sender == "loop" else list(range(1, commits + 1)))
            assert [m.uid for m in found[0]] == wanted
            assert not writer._local._late
        finally:
            watch.close()
            await writer.close()
            await reader.close()

    asyncio.run(run())
