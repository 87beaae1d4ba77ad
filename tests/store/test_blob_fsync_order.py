"""The order in which a delivery reaches the disk (``store/blobs_disk.py``): a blob's bytes
and its name (the file and its directory) are fsynced before the commit that refers to it
is (the WAL's fsync), whatever the order of the blob's own fsyncs; a blob found in place is
fsynced too before a commit refers to it (it may be another delivery's, not yet durable);
and a blob left shorter than its bytes by a power cut is written again, not taken as
stored.

The order is read from the system calls of a child process delivering (or appending, as
IMAP APPEND does: its blob fsyncs are done by the writer thread before its transaction)
one message at a time (``strace -f -y``), so each WAL fsync after a blob's rename is its
own delivery's commit; it fsyncs a file of its own before each message ("mark-N"), so the
commit is known to come before the next message begins."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from congthu.app import App
from tests.conftest import make_data_dir, need

COUNT = 12

CHILD = textwrap.dedent(
    """
    import asyncio, hashlib, os, sys
    from pathlib import Path
    from congthu.app import App

    async def main(data, how):
        app = await App.open(Path(data))
        mailbox = await app.store.create_mailbox("thutu@soctrang.gov.vn", quota_bytes=10**9)
        inbox = await app.store.get_folder(mailbox.id, "INBOX")
        raws = [f"Subject: Thư {i}\\r\\n\\r\\n{'nội dung ' * (50 + i)}\\r\\n".encode() for i in range(COUNT)]
        raws.append(raws[3])  # the same bytes again: the blob is in place
        for n, raw in enumerate(raws):
            mark = os.open(f"{data}/mark-{n}", os.O_CREAT | os.O_WRONLY)
            os.fsync(mark)
            os.close(mark)
            if how == "append":
                await app.store.append(inbox.id, raw)
            else:
                [result] = await app.store.deliver(raw, [mailbox.id])
                assert result.ok, result.error
            print("digest", hashlib.sha256(raw).hexdigest(), flush=True)
        await app.close()

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
).replace("COUNT", str(COUNT))

CALL = re.compile(r"^(\d+) +(\w+)\((.*)")  # strace -f -o: each line starts with its thread
RESUMED = re.compile(r"^(\d+) +<\.\.\. (\w+) resumed>.*= (-?\d+)")


def _events(trace: str) -> list[tuple[str, str, str]]:
    """(what, system call, its arguments) in the order they happened: 'start' and 'end' of
    each fsync (another thread's calls may come between), 'rename' once done."""
    events: list[tuple[str, str, str]] = []
    unfinished: dict[str, str] = {}
    for line in trace.splitlines():
        resumed = RESUMED.match(line)
        if resumed:
            pid, call, code = resumed.groups()
            args = unfinished.pop(pid, "")
            assert code == "0", line
            events.append(("end" if "sync" in call else "rename", call, args))
            continue
        found = CALL.match(line)
        if found is None or found.group(2) not in ("fsync", "fdatasync", "rename", "renameat", "renameat2"):
            continue
        pid, call, args = found.groups()
        if "sync" in call:
            events.append(("start", call, args))
        if line.endswith("<unfinished ...>"):
            unfinished[pid] = args
        else:
            assert line.rstrip().endswith("= 0"), line
            events.append(("end" if "sync" in call else "rename", call, args))
    return events


@pytest.mark.parametrize("how", ["deliver", "append"])
async def test_blob_and_its_directory_are_on_disk_before_the_commit(tmp_path: Path, how: str) -> None:
    strace = need("strace")
    data = await make_data_dir(tmp_path / "data")
    trace_file = tmp_path / "trace"
    done = subprocess.run(
        [strace, "-f", "-y", "-qq", "-o", str(trace_file),
         "-e", "trace=fsync,fdatasync,rename,renameat,renameat2", sys.executable, "-c", CHILD, str(data), how],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    digests = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("digest ")]
    assert len(digests) == COUNT + 1 and digests[-1] == digests[3]
    events = _events(trace_file.read_text())
    wal = [i for i, (what, _call, args) in enumerate(events) if what == "start" and "meta.db-wal" in args]

    def ended(needle: str, after: int, before: int) -> bool:
        return any(what == "end" and needle in args for what, _call, args in events[after:before])

    marks = [i for i, (what, _call, args) in enumerate(events) if what == "start" and "/mark-" in args]
    assert len(marks) == COUNT + 1
    commit = 0
    for n, digest in enumerate(digests[:COUNT]):
        name = f"{digest[:2]}/{digest[2:4]}/{digest}"
        [renamed] = [i for i, (what, _call, args) in enumerate(events) if what == "rename" and name in args]
        commit = next(i for i in wal if i > renamed)  # this delivery's commit
        assert marks[n] < renamed and commit < marks[n + 1], f"{digest}: not committed after its blob's rename"
        # The blob's bytes (under its temporary name or its own) and the directory that
        # holds its name are on disk before the commit's fsync begins.
        assert ended(digest, 0, commit), f"{digest}: no fsync of the blob before its commit"
        assert ended(f"{digest[:2]}/{digest[2:4]}>", renamed, commit), \
            f"{digest}: its directory not fsynced between the rename and the commit"
    # The last delivery found its blob in place: fsynced again before its own commit
    # (the first WAL fsync after the one before it).
    name = f"{digests[3][:2]}/{digests[3][2:4]}/{digests[3]}>"
    last = next(i for i in wal if i > commit)
    assert ended(name, commit, last), "a blob found in place was not fsynced before the commit"


@pytest.mark.parametrize("left", ["short", "zeros"])
async def test_a_blob_left_wrong_by_a_power_cut_is_written_again(app: App, left: str) -> None:
    mailbox = await app.store.create_mailbox("ngan@soctrang.gov.vn")
    raw = b"Subject: ngan\r\n\r\n" + b"noi dung " * 500 + b"\r\n"
    digest = hashlib.sha256(raw).hexdigest()
    # What a power cut after the rename and before the fsync may leave: on ext4 the
    # blob's name with the first of its bytes only; on file systems that do not order
    # data before metadata, its length with zeros.
    path = app.store.blobs.path(digest)  # type: ignore[attr-defined]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw[:4096] if left == "short" else bytes(len(raw)))
    [result] = await app.store.deliver(raw, [mailbox.id])
    assert result.ok
    inbox = await app.store.get_folder(mailbox.id, "INBOX")
    assert inbox is not None
    [meta] = await app.store.folder_index(inbox.id)
    assert await app.store.read_message(meta.content_id) == raw
    assert path.read_bytes() == raw
