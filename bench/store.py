"""Store delivery throughput: deliveries per second for 10 KB and 1 MB messages on the
embedded default (SQLite WAL) and on PostgreSQL, and the dedupe figure.

    .venv/bin/python bench/store.py [--count N] [--concurrency C] [--no-postgres]
                                    [--index-count N]

Each delivery is durable (blobs fsynced, metadata committed) before it counts. Each size
is measured twice: as SMTP delivers (``mime.analyse`` at delivery) and with the analysis
precomputed ("store only"), so the store's own cost is visible apart from MIME parsing.
``--index-count`` also times what an IMAP SELECT asks of a folder that large
(``folder_index``, ``folder_flags``, ``folder_status``, ``changes_since``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from congthu import mime  # noqa: E402
from congthu.app import App  # noqa: E402
from tests.conftest import make_data_dir  # noqa: E402


def message(size: int, number: int) -> bytes:
    head = f"From: a@soctrang.gov.vn\r\nTo: b@soctrang.gov.vn\r\nSubject: Thư {number}\r\n\r\n".encode()
    line = b"Kinh gui cac don vi, noi dung thu cong vu so " + str(number).encode() + b"\r\n"
    body = line * (size // len(line) + 1)
    return head + body[: size - len(head)]


async def run(data: Path, size: int, count: int, concurrency: int, *, analysed: bool = False) -> float:
    app = await App.open(data)
    try:
        mailbox = await app.store.create_mailbox(
            f"bench{size}{'a' if analysed else ''}@soctrang.gov.vn", quota_bytes=10**12)
        queue = list(range(count))
        raws = [message(size, n) for n in queue]
        analysis = mime.analyse(raws[0]) if analysed else None

        async def worker() -> None:
            while queue:
                n = queue.pop()
                [result] = await app.store.deliver(raws[n], [mailbox.id], analysis=analysis)
                assert result.ok

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return count / (time.perf_counter() - started)
    finally:
        await app.close()


async def select_path(data: Path, count: int) -> str:
    """Fill a folder with ``count`` messages (rows written directly, for speed) and time
    the store calls an IMAP SELECT makes."""
    from congthu.store import utcnow
    from congthu.store.tables import folders, messages

    app = await App.open(data)
    try:
        mailbox = await app.store.create_mailbox("lon@soctrang.gov.vn", quota_bytes=10**12)
        await app.store.deliver(message(1000, 0), [mailbox.id])
        inbox = await app.store.get_folder(mailbox.id, "INBOX")
        assert inbox is not None
        [first] = await app.store.folder_index(inbox.id)
        now = utcnow()
        def fill(conn):  # the bench's own bulk rows, in one write transaction
            conn.execute(messages.insert(), [
                {"folder_id": inbox.id, "uid": uid, "content_id": first.content_id, "flags": uid % 3,
                 "keywords": "$Label1" if uid % 7 == 0 else "", "internal_date": now, "size": 1000,
                 "modseq": 2 + uid // 1000} for uid in range(2, count + 1)
            ])
            conn.execute(folders.update().where(folders.c.id == inbox.id)
                         .values(uidnext=count + 1, highestmodseq=2 + count // 1000))

        await app.db.run_write(fill)
        timings = []
        for label, call in (
            ("folder_index", lambda: app.store.folder_index(inbox.id)),
            ("folder_flags", lambda: app.store.folder_flags(inbox.id)),
            ("folder_status", lambda: app.store.folder_status(inbox.id)),
            ("changes_since(now)", lambda: app.store.changes_since(inbox.id, 2 + count // 1000)),
        ):
            best = float("inf")
            for _ in range(3):
                started = time.perf_counter()
                await call()
                best = min(best, time.perf_counter() - started)
            timings.append(f"{label} {best * 1000:.1f} ms")
        return f"SELECT path, {count:,} messages: " + ", ".join(timings)
    finally:
        await app.close()


async def dedupe(data: Path) -> tuple[int, int]:
    app = await App.open(data)
    try:
        ids = [(await app.store.create_mailbox(f"d{i}@soctrang.gov.vn")).id for i in range(100)]
        raw = b"Subject: dedupe\r\n\r\n" + os.urandom(10 * 1024 * 1024)
        before = app.store.blobs.size_on_disk()
        await app.store.deliver(raw, ids)
        return app.store.blobs.size_on_disk() - before, sum([(await app.store.quota(i))[0] for i in ids])
    finally:
        await app.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--big-count", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--index-count", type=int, default=0, help="also time SELECT on a folder this large")
    args = parser.parse_args()
    print(f"# bench/store.py on {platform.node()} ({os.cpu_count()} cores), {time.strftime('%Y-%m-%d')}")
    engines = ["sqlite"] + ([] if args.no_postgres else ["postgresql"])
    pg = None
    try:
        for engine in engines:
            with tempfile.TemporaryDirectory() as tmp:
                database = {}
                if engine == "postgresql":
                    from tests.postgres import PostgresServer

                    pg = pg or PostgresServer().start()
                    database["url"] = pg.create_database()
                data = await make_data_dir(Path(tmp) / "data", database=database)
                for analysed in (False, True):
                    small = await run(data, 10 * 1024, args.count, args.concurrency, analysed=analysed)
                    big = await run(data, 1024 * 1024, args.big_count, args.concurrency, analysed=analysed)
                    print(f"{engine:<10} 10 KB: {small:7.1f} deliveries/s   1 MB: {big:6.1f} deliveries/s "
                          f"(concurrency {args.concurrency}{', store only: analysis precomputed' if analysed else ''})")
                if args.index_count:
                    print(f"{engine:<10} {await select_path(data, args.index_count)}")
                if engine == "sqlite":
                    grown, charged = await dedupe(data)
                    print(f"dedupe     10 MB to 100 mailboxes: blob store grew {grown / 2**20:.1f} MiB, "
                          f"quota charged {charged / 2**20:.0f} MiB in all")
    finally:
        if pg:
            pg.stop()


if __name__ == "__main__":
    asyncio.run(main())
