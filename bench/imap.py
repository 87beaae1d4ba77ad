"""IMAP figures: SELECT of a large folder, FETCH throughput, accent-insensitive SEARCH,
push latency to IDLE clients, memory per IDLE connection.

    .venv/bin/python bench/imap.py [--messages 100000] [--idle 10000] [--push-clients 100]
        [--workers 2] [--parts select,push,memory]

Seeds a fresh data directory (SQLite + blobs) with one mailbox of ``--messages``
messages (rows written directly, one stored message body and MIME structure shared by
all, distinct subjects, search text and folded header fields; the search index follows
by its triggers), starts ``congthu serve --only imap`` in a separate process
(``--workers``: ``server.workers``, 0 being one per core as in production; with more than
one, a supervisor and its worker processes), and drives it from this process over
loopback with a minimal asyncio IMAP client. The
server is first started once to SELECT the folder (a worker's first SELECT, reading the
folder whole and writing its snapshot, ``congthu.store.snapshots``) and stopped; the
next server's first SELECT reads the snapshot. Both are shown with the server's CPU time
(all its processes and threads, from /proc), since wall-clock time on a shared machine is
noise.

Push latency: ``--push-clients`` clients IDLE on a second mailbox while another
connection APPENDs; the time from sending APPEND to each client's EXISTS. With several
workers there is one APPENDing connection per worker, taking turns round by round, and
each latency is counted as same-worker (the IDLE client is served by the worker that
took the APPEND: the hub wakes it directly) or cross-worker (the change reached it
through the change feed between workers, ``congthu.store.changes.LocalFeed``). Which
worker serves a connection is read from /proc: the server-side socket whose peer is the
client's port, and the process holding it.

Memory: the proportional set size (PSS, from /proc/<pid>/smaps_rollup: the workers'
shared pages counted once) and the RSS of the server's processes together (the
supervisor, its workers and their children) before and after ``--idle`` connections have
logged in, selected INBOX and entered IDLE, divided by their number; and each worker's
own RSS growth per connection it took. Every loop is bounded; loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.seeding import PASSWORD, sample_message, seed_inbox  # noqa: E402
from congthu.app import App  # noqa: E402
from tests.conftest import make_data_dir  # noqa: E402

USER = "vanthu@soctrang.gov.vn"
PUSH_USER = "canbo@soctrang.gov.vn"


async def seed(data: Path, count: int) -> None:
    app = await App.open(data)
    try:
        await seed_inbox(app, USER, count)
        box = await app.store.create_mailbox(PUSH_USER, quota_bytes=1 << 40)
        await app.accounts.set_password(box.id, PASSWORD, must_change=False)
    finally:
        await app.close()


class Client:
    """A minimal IMAP client: tagged commands, responses read in bulk."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.n = 0

    @property
    def port(self) -> int:
        """This end's port: how the server's side of the connection is found in /proc."""
        return int(self.writer.get_extra_info("sockname")[1])

    @classmethod
    async def connect(cls, port: int, user: str | None = None) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
        c = cls(reader, writer)
        await reader.readline()
        if user:
            await c.command(f"LOGIN {user} {PASSWORD}")
        return c

    async def command(self, text: str) -> bytes:
        self.n += 1
        tag = f"t{self.n}".encode()
        self.writer.write(tag + b" " + text.encode() + b"\r\n")
        chunks: list[bytes] = []
        prefix = tag + b" "
        while True:
            line = await self.reader.readline()
            if not line:
                raise ConnectionError("closed")
            if line.startswith(prefix):
                if not line.startswith(prefix + b"OK"):
                    raise RuntimeError(f"{text[:40]}: {line!r}")
                return b"".join(chunks)
            chunks.append(line)

    async def read_until(self, marker: bytes) -> bytes:
        return await self.reader.readuntil(marker)

    def close(self) -> None:
        self.writer.close()


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a supervisor's workers and their children)."""
    pids = [pid]
    for p in pids:
        for task in Path(f"/proc/{p}/task").glob("*"):
            with contextlib.suppress(OSError, ValueError):
                pids += [int(c) for c in (task / "children").read_text().split()]
    return pids


def memory_kib(pid: int) -> tuple[int, int]:
    """(PSS, RSS) in KiB of ``pid`` and its descendants together. PSS divides each shared
    page among the processes mapping it, so the workers' common pages count once."""
    pss = rss = 0
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss += int(line.split()[1])
    return pss, rss


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Workers:
    """The processes of the server that serve connections: its workers (numbered as in
    its log's ``supervisor.worker_started``), or the server itself when it has none."""

    def __init__(self, pid: int, log_path: Path) -> None:
        self.pid = pid
        self.numbers: dict[int, int] = {}
        for line in log_path.read_text(errors="replace").splitlines():
            if line.startswith("{") and '"supervisor.worker_started"' in line:
                with contextlib.suppress(ValueError, KeyError):
                    record = json.loads(line)
                    self.numbers[int(record["pid"])] = int(record["worker"])
        alive = set(process_tree(pid))
        self.numbers = {p: n for p, n in self.numbers.items() if p in alive} or {pid: 1}

    def of(self, clients: Iterable[Client], port: int) -> dict[int, int]:
        """Client port -> number of the worker serving it (absent: not found), from the
        server-side sockets in /proc/net/tcp (local port ``port``, peer the client's
        port) and the worker holding each socket."""
        wanted = {c.port for c in clients}
        inodes: dict[int, int] = {}  # socket inode -> client port
        for table in ("tcp", "tcp6"):
            with contextlib.suppress(OSError):
                for row in Path(f"/proc/{self.pid}/net/{table}").read_text().splitlines()[1:]:
                    fields = row.split()
                    local, peer, inode = fields[1], fields[2], int(fields[9])
                    if int(local.rsplit(":", 1)[1], 16) == port and (p := int(peer.rsplit(":", 1)[1], 16)) in wanted:
                        inodes[inode] = p
        found: dict[int, int] = {}
        for pid, number in self.numbers.items():
            for p in process_tree(pid):
                with contextlib.suppress(OSError):
                    for fd in os.scandir(f"/proc/{p}/fd"):
                        with contextlib.suppress(OSError):
                            target = os.readlink(fd.path)
                            if target.startswith("socket:["):
                                client_port = inodes.get(int(target[8:-1]))
                                if client_port is not None:
                                    found[client_port] = number
        return found

    def rss(self) -> dict[int, int]:
        """Worker number -> RSS (KiB) of the worker and its children."""
        out: dict[int, int] = {}
        for pid, number in self.numbers.items():
            with contextlib.suppress(OSError):
                out[number] = sum(rss_kib(p) for p in process_tree(pid))
        return out


def cpu_ms(pid: int) -> float:
    """CPU time of a process, its threads and its children (workers), in ms."""
    total = 0
    for p in process_tree(pid):
        for task in Path(f"/proc/{p}/task").glob("*"):
            with contextlib.suppress(OSError, ValueError):
                total += int((task / "schedstat").read_text().split()[0])
    return total / 1e6


async def first_select(port: int, pid: int) -> str:
    """The server's CPU and the wall-clock time of the first SELECT of INBOX."""
    c = await Client.connect(port, USER)
    await asyncio.sleep(0.5)  # let the login's work end
    before, t = cpu_ms(pid), time.perf_counter()
    await c.command("SELECT INBOX")
    wall = (time.perf_counter() - t) * 1000
    cpu = cpu_ms(pid) - before
    await asyncio.sleep(1)  # the snapshot is written in the background
    c.close()
    return f"{cpu:.0f} ms of server CPU ({wall:.0f} ms)"


def median_of(values: list[float]) -> float:
    return statistics.median(values)


async def bench_select_fetch_search(port: int, count: int) -> None:
    c = await Client.connect(port, USER)
    times = []
    for _ in range(3):
        t = time.perf_counter()
        await c.command("SELECT INBOX")
        times.append(time.perf_counter() - t)
    # The next SELECTs copy the index the server's sessions share (congthu/imap/indexes.py).
    print(f"SELECT of a {count:,}-message folder again: {median_of(times) * 1000:.1f} ms (median of 3)")

    t = time.perf_counter()
    await c.command("UID FETCH 1:* (UID FLAGS)")
    dt = time.perf_counter() - t
    print(f"UID FETCH 1:* (UID FLAGS): {count / dt:,.0f} messages/s ({dt * 1000:.0f} ms)")

    n = min(count, 5000)
    t = time.perf_counter()
    await c.command(f"FETCH 1:{n} (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT FROM DATE)])")
    dt = time.perf_counter() - t
    print(f"FETCH headers (Thunderbird-style), {n:,} messages: {n / dt:,.0f} messages/s")

    n = min(count, 2000)
    t = time.perf_counter()
    data = await c.command(f"FETCH 1:{n} (BODY.PEEK[])")
    dt = time.perf_counter() - t
    print(f"FETCH whole messages, {n:,}: {n / dt:,.0f} messages/s, {len(data) / dt / 1e6:.1f} MB/s")

    n = min(count, 1000)
    t = time.perf_counter()
    await c.command(f"FETCH 1:{n} (ENVELOPE BODYSTRUCTURE)")
    dt = time.perf_counter() - t
    print(f"FETCH ENVELOPE BODYSTRUCTURE, {n:,}: {n / dt:,.0f} messages/s")

    for query in ('UID SEARCH SUBJECT "de an chuyen doi so"', 'UID SEARCH TEXT "ke hoach cai cach"',
                  'UID SEARCH FROM "van thu"', "UID SEARCH UNSEEN", "UID SEARCH SINCE 1-Feb-2025"):
        times = []
        for _ in range(5):
            t = time.perf_counter()
            await c.command(query)
            times.append(time.perf_counter() - t)
        print(f"{query}: p50 {median_of(times) * 1000:.0f} ms over {count:,} messages")
    c.close()


def percentiles(latencies: list[float]) -> str:
    """p50 and p99 of latencies in seconds, in ms."""
    if not latencies:
        return "none"
    ordered = sorted(latencies)
    p50 = ordered[len(ordered) // 2] * 1000
    p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000
    return f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {ordered[-1] * 1000:.1f} ms (n={len(ordered)})"


async def bench_push(port: int, workers: Workers, clients: int, rounds: int) -> None:
    idlers = []
    for _ in range(clients):
        c = await Client.connect(port, PUSH_USER)
        await c.command("SELECT INBOX")
        c.writer.write(b"i IDLE\r\n")
        await c.read_until(b"+ idling\r\n")
        idlers.append(c)
    # One APPENDing connection per worker (a new connection goes to whichever worker
    # accepts first: try a bounded number of times to find each).
    senders: dict[int, Client] = {}
    for _ in range(200):
        c = await Client.connect(port, PUSH_USER)
        worker = workers.of([c], port).get(c.port)
        if worker is None or worker in senders:
            c.close()
            await asyncio.sleep(0.02)
        else:
            senders[worker] = c
        if len(senders) == len(workers.numbers):
            break
    served_by = workers.of(idlers, port)
    worker_of = {c: served_by.get(c.port) for c in idlers}
    spread = {n: sum(1 for c in idlers if worker_of[c] == n) for n in sorted(workers.numbers.values())}
    raw = sample_message()
    same: list[float] = []
    cross: list[float] = []
    order = sorted(senders)
    cpu_before = cpu_ms(workers.pid)
    for r in range(rounds):
        sender_worker = order[r % len(order)]
        sender = senders[sender_worker]
        t = time.perf_counter()
        sender.writer.write(f"a{r} APPEND INBOX {{{len(raw)}+}}\r\n".encode() + raw + b"\r\n")

        async def wait(c: Client, start: float = t) -> tuple[Client, float]:
            await c.read_until(b" EXISTS\r\n")
            return c, time.perf_counter() - start
        for c, latency in await asyncio.gather(*(wait(c) for c in idlers)):
            (same if worker_of[c] == sender_worker else cross).append(latency)
        await sender.reader.readuntil(f"a{r} OK".encode())
        await sender.reader.readline()
    cpu = (cpu_ms(workers.pid) - cpu_before) / rounds
    print(f"push latency APPEND -> EXISTS, {clients} IDLE clients x {rounds} rounds: {percentiles(same + cross)}; "
          f"server CPU {cpu:.1f} ms per round (the APPEND and its {clients} pushes)")
    if len(workers.numbers) > 1:
        print(f"  IDLE clients per worker {spread}; APPEND through worker(s) {order} in turn")
        print(f"  same worker: {percentiles(same)}")
        print(f"  cross worker (change feed between workers): {percentiles(cross)}")
    for c in idlers + list(senders.values()):
        c.close()


async def bench_memory(port: int, pid: int, workers: Workers, count: int) -> None:
    sem = asyncio.Semaphore(100)
    conns: list[Client] = []

    async def one() -> None:
        async with sem:
            c = await Client.connect(port, PUSH_USER)
            await c.command("SELECT INBOX")
            c.writer.write(b"i IDLE\r\n")
            await c.read_until(b"+ idling\r\n")
            conns.append(c)

    await asyncio.gather(*(one() for _ in range(50)))  # warm up
    await asyncio.sleep(1)
    warm = len(conns)
    before_pss, before_rss = memory_kib(pid)
    before_each = workers.rss()
    t = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    setup = time.perf_counter() - t
    await asyncio.sleep(2)
    after_pss, after_rss = memory_kib(pid)
    after_each = workers.rss()
    served_by = workers.of(conns[warm:], port)
    print(f"memory per IDLE connection ({count:,} connections, selected INBOX, plaintext): "
          f"{(after_pss - before_pss) / count:.1f} KiB PSS, {(after_rss - before_rss) / count:.1f} KiB RSS "
          f"(server's processes: PSS {before_pss / 1024:.0f} -> {after_pss / 1024:.0f} MiB, "
          f"RSS {before_rss / 1024:.0f} -> {after_rss / 1024:.0f} MiB; set up in {setup:.0f} s)")
    if len(workers.numbers) > 1:
        for n in sorted(workers.numbers.values()):
            taken = sum(1 for c in conns[warm:] if served_by.get(c.port) == n)
            grown = after_each.get(n, 0) - before_each.get(n, 0)
            per = f"{grown / taken:.1f} KiB RSS each" if taken else "-"
            print(f"  worker {n}: {taken:,} connections, RSS +{grown / 1024:.1f} MiB ({per})")
    for c in conns:
        c.close()


@contextlib.contextmanager
def imap_server(data: Path, log_path: Path, *, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """``congthu serve --only imap`` on ``data`` in a child process, ready to take
    connections; stopped (SIGTERM, then waited for) when the block ends. Its log goes to
    ``log_path``; its open-files limit is raised to the hard limit."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "congthu", "--data", str(data), "serve", "--only", "imap"],
                                stdout=subprocess.PIPE, stderr=log,
                                # the congthu of this tree (the bench's), not whichever is installed
                                env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT), **(env or {})},
                                preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard)))
        try:
            assert proc.stdout is not None
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                line = proc.stdout.readline()
                if b"imap" in line or not line:
                    break
            yield proc
        finally:
            proc.terminate()
            proc.wait(30)


PARTS = ("select", "push", "memory")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--push-clients", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=0, help="server.workers (0: one per core)")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"which figures, comma-separated among {', '.join(PARTS)}")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if not parts <= set(PARTS):
        parser.error(f"--parts: {', '.join(sorted(parts - set(PARTS)))} unknown")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    args.idle = min(args.idle, hard - 500)
    with tempfile.TemporaryDirectory() as tmp:
        # The connection caps per client address and in total (congthu.net) would refuse
        # the bench's thousands of connections from one address.
        caps = max(10_000, args.idle + args.push_clients + 1000)
        data = await make_data_dir(Path(tmp) / "data", server={"workers": args.workers},
                                   connections={"imap_per_address": caps, "imap_total": caps})
        count = args.messages if "select" in parts else 1
        t = time.perf_counter()
        await seed(data, count)
        print(f"seeded {count:,} messages in {time.perf_counter() - t:.1f} s")
        app = await App.open(data)
        port = app.settings.listen.imap
        await app.close()
        if "select" in parts:
            with imap_server(data, Path(tmp) / "server0.log") as proc:
                print(f"first SELECT in a worker, the folder read whole: {await first_select(port, proc.pid)}")
        log_path = Path(tmp) / "server.log"
        with imap_server(data, log_path) as proc:
            workers = Workers(proc.pid, log_path)
            print(f"server: {len(workers.numbers)} worker process(es)")
            if "select" in parts:
                print(f"first SELECT in a worker, from the folder's snapshot: {await first_select(port, proc.pid)}")
                await bench_select_fetch_search(port, args.messages)
            if "push" in parts:
                await bench_push(port, workers, args.push_clients, args.rounds)
            if "memory" in parts and args.idle:
                await bench_memory(port, proc.pid, workers, args.idle)


if __name__ == "__main__":
    asyncio.run(main())
