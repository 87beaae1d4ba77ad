"""Store delivery throughput: deliveries per second for 10 KB and 1 MB messages on the
embedded default (SQLite WAL) and on PostgreSQL, and the dedupe figure.

    .venv/bin/python bench/store.py [--count N] [--concurrency C] [--no-postgres]

Each delivery is durable (blobs fsynced, metadata committed) before it counts.
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

from congthu.app import App  # noqa: E402
from tests.conftest import make_data_dir  # noqa: E402


def message(size: int, number: int) -> bytes:
    head = f"From: a@soctrang.gov.vn\r\nTo: b@soctrang.gov.vn\r\nSubject: Thư {number}\r\n\r\n".encode()
    line = b"Kinh gui cac don vi, noi dung thu cong vu so " + str(number).encode() + b"\r\n"
    body = line * (size // len(line) + 1)
    return head + body[: size - len(head)]


async def run(data: Path, size: int, count: int, concurrency: int) -> float:
    app = await App.open(data)
    try:
        mailbox = await app.store.create_mailbox(f"bench{size}@soctrang.gov.vn", quota_bytes=10**12)
        queue = list(range(count))

        async def worker() -> None:
            while queue:
                n = queue.pop()
                [result] = await app.store.deliver(message(size, n), [mailbox.id])
                assert result.ok

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return count / (time.perf_counter() - started)
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
                small = await run(data, 10 * 1024, args.count, args.concurrency)
                big = await run(data, 1024 * 1024, args.big_count, args.concurrency)
                print(f"{engine:<10} 10 KB: {small:7.1f} deliveries/s   1 MB: {big:6.1f} deliveries/s "
                      f"(concurrency {args.concurrency})")
                if engine == "sqlite":
                    grown, charged = await dedupe(data)
                    print(f"dedupe     10 MB to 100 mailboxes: blob store grew {grown / 2**20:.1f} MiB, "
                          f"quota charged {charged / 2**20:.0f} MiB in all")
    finally:
        if pg:
            pg.stop()


if __name__ == "__main__":
    asyncio.run(main())
