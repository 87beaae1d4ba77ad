"""What waits for the disk and what does not (``Database.run_write``'s ``durable``,
Dovecot's ``mail_fsync=optimized``): on SQLite the non-durable writes queued with durable
ones are committed first, in a batch of their own, and answered without waiting for the
durable batch; an EXPUNGE is not fsynced, an APPEND is; and the blob of an expunged
message is unlinked only once a durable commit has made the expunge durable too.

The fsyncs are read from the system calls of a child process (``strace -f -y``), between
marks it prints to its standard output."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from congthu.app import App
from congthu.store import flags
from congthu.store.tables import folders
from tests.conftest import make_data_dir, need


def _commit_setting(conn: Connection) -> str:
    """SQLite's ``synchronous`` level of this transaction's commit."""
    return {1: "normal", 2: "full"}[conn.exec_driver_sql("PRAGMA synchronous").scalar()]


def message(number: int) -> bytes:
    return f"From: a@soctrang.gov.vn\r\nSubject: Thư {number}\r\n\r\nNội dung {number}\r\n".encode()


async def test_a_lazy_write_is_answered_while_a_durable_one_queued_before_it_runs(app: App) -> None:
    """A durable write queued first and held inside its transaction (its function waits
    on an event, on the writer thread): the non-durable write queued after it is
    committed and answered all the same, and the durable one then commits as durable."""
    db = app.db
    assert await db.run_write(_commit_setting) == "full"  # the writer thread is there
    inside, release = threading.Event(), threading.Event()

    def held(conn: Connection) -> str:
        inside.set()
        release.wait(60)  # bounded, so that a failing run does not hang the suite
        return _commit_setting(conn)

    durable = asyncio.create_task(db.run_write(held))
    lazy = asyncio.create_task(db.run_write(_commit_setting, durable=False))
    try:
        done, _pending = await asyncio.wait({lazy}, timeout=30)
        assert lazy in done, "the non-durable write waited for the durable one queued before it"
        assert lazy.result() == "normal"
        # The durable batch runs next, in the same round on the writer thread, and is
        # held there: not answered while its function has not returned.
        assert await asyncio.to_thread(inside.wait, 30)
        assert not durable.done()
    finally:
        release.set()
    assert await durable == "full"


async def test_each_batch_of_a_round_keeps_its_order_and_its_failures(app: App) -> None:
    """Durable and non-durable writes queued together: each batch runs its functions in
    the order they came, each seeing those before it in the batch; the one that breaks a
    constraint gets its error alone, in either batch."""
    box = await app.store.create_mailbox("lanes@soctrang.gov.vn")

    def add(conn: Connection, name: str) -> tuple[str, list[str]]:
        conn.execute(insert(folders).values(mailbox_id=box.id, name=name, uidvalidity=1, uidnext=1,
                                            highestmodseq=1, subscribed=True))
        names = conn.execute(select(folders.c.name).where(folders.c.mailbox_id == box.id)
                             .order_by(folders.c.id)).scalars().all()
        return _commit_setting(conn), [n for n in names if n[:1] in "DL" and n[1:].isdigit()]

    # Names D1, L1, D2, L2, ...: "INBOX" breaks the unique name, once in each batch.
    plan = [(f"D{n}", True) if n % 2 == 0 else (f"L{n}", False) for n in range(10)]
    plan[4] = ("INBOX", True)
    plan[7] = ("INBOX", False)
    results = await asyncio.gather(*(app.db.run_write(add, name, durable=durable) for name, durable in plan),
                                   return_exceptions=True)
    assert isinstance(results[4], IntegrityError) and isinstance(results[7], IntegrityError)
    lazy = [name for name, durable in plan if not durable and name != "INBOX"]
    eager = [name for name, durable in plan if durable and name != "INBOX"]
    for (name, durable), outcome in zip(plan, results, strict=True):
        if name == "INBOX":
            continue
        assert not isinstance(outcome, BaseException)
        setting, seen = outcome
        assert setting == ("full" if durable else "normal")
        # The lazy batch first: a lazy write sees the lazy ones before it; a durable one
        # sees every lazy one and the durable ones before it.
        if durable:
            assert seen == lazy + eager[:eager.index(name) + 1]
        else:
            assert seen == lazy[:lazy.index(name) + 1]


async def test_an_expunged_message_counts_as_referenced_until_its_content_is_deleted(app: App) -> None:
    """An expunge is not fsynced: until the collector's durable DELETE of the content
    (whose fsync makes the expunge durable first) its blob stays referenced, so a
    collection whose DELETE came before the expunge never unlinks it (a power cut would
    bring the message back)."""
    store = app.store
    box = await store.create_mailbox("xoa@soctrang.gov.vn")
    inbox = await store.get_folder(box.id, "INBOX")
    assert inbox is not None
    uid = await store.append(inbox.id, message(1))
    [meta] = await store.folder_index(inbox.id)
    [(digest, _n)] = (await store.get_content(meta.content_id)).segments
    await store.store_flags(inbox.id, [uid], "add", flags.DELETED)
    assert await store.expunge(inbox.id) == [uid]
    assert digest in await store.referenced_blobs()
    assert await store.collect_garbage(grace_seconds=0) == 1
    assert digest not in set(store.blobs.all_digests())


COUNT = 6

CHILD = textwrap.dedent(
    """
    import asyncio, hashlib, os, sys, time
    from pathlib import Path
    from congthu.app import App

    def mark(text):
        os.write(1, f"mark {text}\\n".encode())  # one write(2), whatever stdout's buffering

    async def main(data):
        app = await App.open(Path(data))
        box = await app.store.create_mailbox("thutu@soctrang.gov.vn", quota_bytes=10**9)
        inbox = await app.store.get_folder(box.id, "INBOX")
        digests = []
        for i in range(COUNT):
            raw = f"Subject: Thư {i}\\r\\n\\r\\n{'nội dung ' * (50 + i)}\\r\\n".encode()
            mark(f"append {i}")
            uid = await app.store.append(inbox.id, raw)
            mark(f"appended {i}")
            await app.store.store_flags(inbox.id, [uid], "add", 8)
            mark(f"expunge {i}")
            assert await app.store.expunge(inbox.id, [uid]) == [uid]
            mark(f"expunged {i}")
            digests.append(hashlib.sha256(raw).hexdigest())
        then = time.time() - 7200
        for digest in digests:
            os.utime(app.store.blobs.path(digest), (then, then))
        mark("collect")
        assert await app.store.collect_garbage(grace_seconds=60) == COUNT
        mark("collected")
        for digest in digests:
            print("digest", digest, flush=True)
        await app.close()

    asyncio.run(main(sys.argv[1]))
    """
).replace("COUNT", str(COUNT))

LINE = re.compile(r"^\d+ +(?:<\.\.\. )?(\w+)(?: resumed>)?\(?(.*)$")


def _events(trace: str) -> list[tuple[str, str]]:
    """(what, detail) in the order the calls were made: ("mark", its text) for each mark
    the child printed, ("wal", "") for each fsync of the WAL finished, ("unlink", path)."""
    events: list[tuple[str, str]] = []
    unfinished: dict[str, str] = {}
    for line in trace.splitlines():
        pid = line.split(" ", 1)[0]
        if "<unfinished ...>" in line:
            unfinished[pid] = line
            continue
        if " resumed>" in line:
            line = unfinished.pop(pid, "").replace("<unfinished ...>", "") + line.split(" resumed>", 1)[1]
        found = LINE.match(line)
        if found is None:
            continue
        call, rest = found.groups()
        if call == "write" and rest.startswith("1<") and '"mark ' in rest:
            events.append(("mark", rest.split('"mark ', 1)[1].split("\\n", 1)[0]))
        elif call in ("fsync", "fdatasync") and "meta.db-wal>" in rest and rest.rstrip().endswith("= 0"):
            events.append(("wal", ""))
        elif call in ("unlink", "unlinkat") and rest.rstrip().endswith("= 0"):
            events.append(("unlink", rest))
    return events


async def test_expunge_is_not_fsynced_and_its_blob_goes_after_a_durable_commit(tmp_path: Path) -> None:
    strace = need("strace")
    data = await make_data_dir(tmp_path / "data")
    trace_file = tmp_path / "trace"
    done = subprocess.run(
        [strace, "-f", "-y", "-qq", "-s", "200", "-o", str(trace_file),
         "-e", "trace=fsync,fdatasync,write,unlink,unlinkat", sys.executable, "-c", CHILD, str(data)],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    digests = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("digest ")]
    assert len(digests) == COUNT
    events = _events(trace_file.read_text())
    marks = {detail: i for i, (what, detail) in enumerate(events) if what == "mark"}
    assert len(marks) == 4 * COUNT + 2, marks

    def wal_fsyncs(start: str, end: str) -> int:
        return sum(1 for what, _ in events[marks[start]:marks[end]] if what == "wal")

    for i in range(COUNT):
        # APPEND saves a message: answered once its commit is on disk.
        assert wal_fsyncs(f"append {i}", f"appended {i}") >= 1, f"APPEND {i} was not fsynced"
        # EXPUNGE does not wait for the disk (mail_fsync=optimized).
        assert wal_fsyncs(f"expunge {i}", f"expunged {i}") == 0, f"EXPUNGE {i} waited for an fsync"
    # The collection unlinks each blob only after a WAL fsync made after every expunge
    # (the collector's durable DELETE of the contents): a power cut cannot undo an
    # expunge whose blob is gone.
    for digest in digests:
        [unlinked] = [i for i, (what, detail) in enumerate(events) if what == "unlink" and digest in detail]
        assert marks["collect"] < unlinked < marks["collected"]
        assert any(what == "wal" for what, _ in events[marks["collect"]:unlinked]), \
            f"{digest} unlinked before a durable commit after its expunge"
