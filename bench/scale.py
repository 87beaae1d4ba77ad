"""Scaling out: SMTP delivery and IMAP load through HAProxy with 1, 2 and 3 nodes (issue 20).

    .venv/bin/python bench/scale.py [--messages 300] [--sessions 6] [--imap-seconds 15]
        [--imap-clients 20] [--nodes 1,2,3] [--no-disk]
    .venv/bin/python bench/scale.py --mailboxes 1,1000,10000 [--recipients 1] [--messages 300]
        [--engines sqlite,postgresql]

Everything on this machine, started by the script and thrown away: a PostgreSQL server
(``tests/postgres.py``), a single-node Ceph cluster with a RADOS Gateway on memstore
(``tests/store/s3/ceph.py``), a tiny DNS server for the SPF/DKIM/DMARC look-ups, a real
HAProxy in TCP mode sending the PROXY header (``tests/cluster/haproxy.py``), and
``congthu serve`` nodes as separate processes (one worker each, each with its own data
directory, ``tests/cluster/nodes.py``). Configurations, in order:

* ``disk``: one node, blobs on its local disk (the reference);
* ``s3 ×1``, ``s3 ×2``, ``s3 ×3``: 1, 2, 3 nodes, blobs in the RGW bucket.

Each configuration gets a fresh database and bucket, then:

1. SMTP: ``--messages`` messages of 10 KB over ``--sessions`` sessions (pipelined, as
   ``smtp-source -s``) through the balancer's port 25 (round robin); a message counts
   when its 250 arrived (stored and committed);
2. IMAP: Dovecot's ``imaptest`` (``../shared/bin/imaptest``, default profile, one user,
   ``--imap-clients`` clients for ``--imap-seconds``) through the balancer's port 143.

Besides the rates it reads the CPU seconds (``/proc/<pid>/stat``) spent in each phase by
the nodes, PostgreSQL (every backend) and Ceph (monitor, OSD, radosgw), so that the cost
per message of each part shows even on a busy machine, and prints one table.

With ``--mailboxes``: how the cost of a delivery grows with the number of mailboxes.
For each engine (SQLite, PostgreSQL) and each count M, a fresh data directory with M
mailboxes made in one transaction (``store.insert_mailboxes``, as the directory's
import makes them: no passwords, so no argon2), one ``congthu serve`` node (one worker,
blobs on its disk), and ``--messages`` messages of 10 KB over ``--sessions`` SMTP
sessions straight to the node, each to ``--recipients`` recipients spread evenly over
the M mailboxes (message i to mailboxes (i·R + j)·stride mod M, so with M ≥ messages ×
recipients every delivery goes to a mailbox not written before; ``--warm`` sends the
same load once, unmeasured, first, so that the measured one finds the node's caches
warm). It reports the CPU
seconds of the node, and of PostgreSQL, per message and per delivered copy, the node's
resident memory after the load, and the time to create the mailboxes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minio import Minio  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bench.smtp import RCPT, message, session, session_to  # noqa: E402
from congthu.app import App  # noqa: E402
from congthu.store.mailboxes import NewMailbox  # noqa: E402
from tests.cluster.haproxy import BALANCER, Frontend, HAProxy  # noqa: E402
from tests.cluster.nodes import Served  # noqa: E402
from tests.conftest import free_port, make_data_dir  # noqa: E402
from tests.postgres import PostgresServer  # noqa: E402
from tests.smtp.dnsserver import DNSServer  # noqa: E402
from tests.store.s3.ceph import CephCluster  # noqa: E402

IMAP_USER = "imaptest@soctrang.gov.vn"
PASSWORD = "Mk@12345678"
IMAPTEST = Path(__file__).resolve().parent.parent.parent / "shared" / "bin" / "imaptest"
TICK = os.sysconf("SC_CLK_TCK")


async def smtp_load(port: int, count: int, sessions: int) -> tuple[int, float]:
    per = [[message(10 * 1024, s * count + i) for i in range(count // sessions)] for s in range(sessions)]
    done: list[int] = []
    start = time.perf_counter()
    await asyncio.gather(*(session(port, msgs, done) for msgs in per))
    return len(done), time.perf_counter() - start


def write_mbox(path: Path, count: int = 20) -> None:
    """imaptest APPENDs messages taken from an mbox."""
    with path.open("wb") as out:
        for n in range(count):
            raw = message(1024 * (1 + n % 16), 10_000 + n).replace(b"\r\n", b"\n")
            out.write(b"From vanthu@cantho.gov.vn Sun Dec  6 10:00:00 2026\n" + raw + b"\n")


def imap_load(port: int, seconds: int, clients: int, mbox: Path) -> tuple[int, int, str]:
    """imaptest's default profile; returns (commands that got OK, errors, its summary)."""
    done = subprocess.run([str(IMAPTEST), "host=127.0.0.1", f"port={port}", f"user={IMAP_USER}",
                           f"pass={PASSWORD}", f"mbox={mbox}", f"secs={seconds}", f"clients={clients}",
                           "no_pipelining"],
                          capture_output=True, text=True, timeout=seconds + 60, check=False)
    out = done.stdout + done.stderr
    errors = sum(1 for line in out.splitlines() if line.startswith("Error:"))
    # The totals: the last row of figures alone (under "Totals:" and the state names).
    rows = [row for row in out.splitlines() if re.fullmatch(r"[\s\d]+", row) and row.strip()]
    totals = sum(int(x) for x in rows[-1].split()) if rows else 0
    return totals, errors, out[-1500:]


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def children_of(parent: int) -> list[int]:
    found = [parent]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


async def database_size(data: Path) -> int:
    """PostgreSQL's size of the database (tables, indexes, TOAST) in bytes."""
    def size(conn: Any) -> int:
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())

    app = await App.open(data)
    try:
        return await app.db.run_read(size)
    finally:
        await app.close()


@dataclass
class Row:
    name: str
    nodes: int
    delivered: int = 0
    smtp_seconds: float = 0.0
    smtp_cpu: dict[str, float] | None = None
    imap_commands: int = 0
    imap_errors: int = 0
    imap_seconds: int = 0
    imap_cpu: dict[str, float] | None = None
    db_bytes_per_msg: float = 0.0


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="congthu-scale-"))
        self.dns = DNSServer().start()
        self.pg = PostgresServer().start()
        self.ceph = CephCluster(self.tmp / "ceph", free_port(), free_port()).start()
        self.mbox = self.tmp / "imaptest.mbox"
        write_mbox(self.mbox)

    def close(self) -> None:
        if self.args.keep:
            shutil.copy(self.pg.root / "log", self.tmp / "postgresql.log")
        self.ceph.stop()
        self.pg.stop()
        self.dns.stop()
        if self.args.keep:
            print(f"kept {self.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def parts(self, nodes: list[Served]) -> dict[str, list[int]]:
        postmaster = int((self.pg.root / "data" / "postmaster.pid").read_text().split()[0])
        return {"nodes": [n.proc.pid for n in nodes], "postgres": children_of(postmaster),
                "ceph": [p.pid for p in self.ceph._procs]}

    def measure(self, nodes: list[Served], before: dict[str, float] | None = None) -> dict[str, float]:
        now = {part: cpu_seconds(pids) for part, pids in self.parts(nodes).items()}
        return now if before is None else {part: now[part] - before[part] for part in now}

    async def data_dirs(self, count: int, s3: bool) -> list[Path]:
        url = self.pg.create_database()
        blobs: dict[str, Any] = {}
        if s3:
            bucket = f"scale-{uuid.uuid4().hex[:12]}"
            Minio(self.ceph.endpoint.removeprefix("http://"), access_key=self.ceph.access_key,
                  secret_key=self.ceph.secret_key, secure=False, region="us-east-1").make_bucket(bucket)
            blobs = {"backend": "s3", "s3_endpoint": self.ceph.endpoint, "s3_bucket": bucket,
                     "s3_access_key": self.ceph.access_key, "s3_secret_key": self.ceph.secret_key}
        proxy = {"listeners": ["smtp", "imap", "http"], "trusted": [BALANCER], "header_timeout": 5.0}
        run = self.tmp / uuid.uuid4().hex[:8]
        dirs = [await make_data_dir(run / f"node{n}" / "data", database={"url": url}, blobs=blobs, proxy=proxy,
                                    smtp={"dns_servers": [self.dns.address]}, server={"workers": 1})
                for n in range(1, count + 1)]
        app = await App.open(dirs[0])
        try:
            await app.store.create_mailbox(RCPT, "Bench", quota_bytes=50 * 1024**3)
            mailbox = await app.store.create_mailbox(IMAP_USER, "imaptest", quota_bytes=50 * 1024**3)
            await app.accounts.set_password(mailbox.id, PASSWORD, must_change=False)
        finally:
            await app.close()
        return dirs

    def run(self, name: str, count: int, s3: bool) -> Row:
        row = Row(name, count)
        dirs = asyncio.run(self.data_dirs(count, s3))
        nodes: list[Served] = []
        haproxy = None
        try:
            for n, data in enumerate(dirs, 1):
                nodes.append(Served(data, f"node{n}.log"))
            listen = [n.settings.listen for n in nodes]
            checks = [x.http for x in listen]
            haproxy = HAProxy(dirs[0].parent.parent, [
                Frontend(door, [("127.0.0.1", getattr(x, door)) for x in listen], "send-proxy-v2",
                         checks=checks, inter="2s") for door in ("smtp", "imap")]).start()
            time.sleep(1.0)  # let the nodes settle after their start
            before = self.measure(nodes)
            db_before = asyncio.run(database_size(dirs[0]))
            row.delivered, row.smtp_seconds = asyncio.run(
                smtp_load(haproxy.port("smtp"), self.args.messages, self.args.sessions))
            row.smtp_cpu = self.measure(nodes, before)
            row.db_bytes_per_msg = (asyncio.run(database_size(dirs[0])) - db_before) / max(row.delivered, 1)
            before = self.measure(nodes)
            row.imap_commands, row.imap_errors, summary = imap_load(
                haproxy.port("imap"), self.args.imap_seconds, self.args.imap_clients, self.mbox)
            row.imap_seconds = self.args.imap_seconds
            row.imap_cpu = self.measure(nodes, before)
            if not row.imap_commands or self.args.verbose:
                print(f"imaptest gave no totals ({name}):\n{summary}", file=sys.stderr)
        finally:
            if haproxy is not None:
                haproxy.stop()
            for node in nodes:
                node.stop()
        return row


def spread(count: int, recipients: int, mailboxes: int) -> list[list[str]]:
    """The recipients of each of ``count`` messages, spread evenly over the mailboxes:
    consecutive deliveries go to mailboxes far apart (a prime stride), and each mailbox
    is written once before any is written twice."""
    stride = next(p for p in (7919, 104729, 1) if mailboxes % p)
    return [[spread_address((i * recipients + j) * stride % mailboxes) for j in range(recipients)]
            for i in range(count)]


def spread_address(n: int) -> str:
    return f"canbo{n:06d}@soctrang.gov.vn"


def resident_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class SpreadRow:
    engine: str
    mailboxes: int
    recipients: int
    create_seconds: float = 0.0
    delivered: int = 0
    node_cpu: float = 0.0
    db_cpu: float = 0.0
    rss_mib: float = 0.0


class SpreadBench:
    """``--mailboxes``: one node, no balancer, no Ceph; PostgreSQL only when asked for."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="congthu-spread-"))
        self.dns = DNSServer().start()
        self.pg = PostgresServer().start() if "postgresql" in args.engines.split(",") else None

    def close(self) -> None:
        if self.pg is not None:
            self.pg.stop()
        self.dns.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    async def data_dir(self, engine: str, count: int) -> tuple[Path, float]:
        database = {"url": self.pg.create_database()} if engine == "postgresql" and self.pg else {}
        data = await make_data_dir(self.tmp / uuid.uuid4().hex[:8] / "data", database=database,
                                   smtp={"dns_servers": [self.dns.address]}, server={"workers": 1})
        app = await App.open(data)
        try:
            specs = [NewMailbox(spread_address(n), quota_bytes=1 << 30) for n in range(count)]
            started = time.perf_counter()
            await app.db.run_write(app.store.insert_mailboxes, specs)
            return data, time.perf_counter() - started
        finally:
            await app.close()

    def run(self, engine: str, count: int) -> SpreadRow:
        args = self.args
        row = SpreadRow(engine, count, args.recipients)
        for attempt in range(3):
            data, row.create_seconds = asyncio.run(self.data_dir(engine, count))
            try:
                node = Served(data, "node.log")
                break
            except AssertionError:  # a port taken meanwhile by another process of the machine
                if attempt == 2:
                    raise
        try:
            time.sleep(1.0)  # let the node settle after its start
            postmaster = (int((self.pg.root / "data" / "postmaster.pid").read_text().split()[0])
                          if engine == "postgresql" and self.pg else None)

            def db_cpu() -> float:
                return cpu_seconds(children_of(postmaster)) if postmaster else 0.0

            per = spread(args.messages, args.recipients, count)
            sessions = max(1, args.sessions)
            jobs = [[(message(10 * 1024, i), per[i]) for i in range(s, args.messages, sessions)]
                    for s in range(sessions)]
            done: list[int] = []

            async def load() -> None:
                await asyncio.gather(*(session_to(node.settings.listen.smtp, part, done) for part in jobs))

            if args.warm:  # the same recipients once, unmeasured: the node's caches know them
                asyncio.run(load())
                done.clear()
            node_before, db_before = cpu_seconds([node.proc.pid]), db_cpu()

            profiler = None
            if args.profile:  # py-spy's collapsed stacks of the node during the load
                args.profile.mkdir(parents=True, exist_ok=True)
                profiler = subprocess.Popen(
                    [str(Path(sys.executable).with_name("py-spy")), "record", "--format", "raw", "--rate", "200",
                     "--pid", str(node.proc.pid), "-o", str(args.profile / f"{engine}-{count}.txt")],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(1.0)
            asyncio.run(load())
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                profiler.wait(30)
            row.node_cpu = cpu_seconds([node.proc.pid]) - node_before
            row.db_cpu = db_cpu() - db_before
            row.delivered = len(done)
            row.rss_mib = resident_mib(node.proc.pid)
        finally:
            node.stop()
        return row


def spread_table(rows: list[SpreadRow]) -> str:
    out = ["| engine | mailboxes | recipients/msg | create mailboxes s | CPU ms/msg: node / PostgreSQL "
           "| CPU ms per copy: node + PostgreSQL | node RSS MiB |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        d = max(r.delivered, 1)
        out.append(f"| {r.engine} | {r.mailboxes:,} | {r.recipients} | {r.create_seconds:.1f} | "
                   f"{1000 * r.node_cpu / d:.1f} / {1000 * r.db_cpu / d:.1f} | "
                   f"{1000 * (r.node_cpu + r.db_cpu) / (d * r.recipients):.1f} | {r.rss_mib:.0f} |")
    return "\n".join(out)


def spread_main(args: argparse.Namespace) -> int:
    started = time.monotonic()
    load = os.getloadavg()
    bench = SpreadBench(args)
    rows: list[SpreadRow] = []
    try:
        for engine in args.engines.split(","):
            for count in (int(x) for x in args.mailboxes.split(",")):
                rows.append(bench.run(engine, count))
                print(spread_table(rows[-1:]).splitlines()[-1], flush=True)
    finally:
        bench.close()
    warm = " (after the same load once, unmeasured)" if args.warm else ""
    print(f"\n{args.messages} messages of 10 KB over {args.sessions} sessions per row{warm}; load average before "
          f"{load[0]:.1f} {load[1]:.1f}, after {os.getloadavg()[0]:.1f}; {os.cpu_count()} cores; "
          f"{time.monotonic() - started:.0f} s in all\n")
    print(spread_table(rows))
    return 0


def table(rows: list[Row]) -> str:
    out = ["| configuration | SMTP msgs/s | CPU ms/msg: nodes / PostgreSQL / Ceph | IMAP cmds/s (errors) "
           "| CPU ms/cmd: nodes / PostgreSQL / Ceph | database KB/msg |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        sc, ic = r.smtp_cpu or {}, r.imap_cpu or {}
        d, c = max(r.delivered, 1), max(r.imap_commands, 1)
        out.append(
            f"| {r.name} | {r.delivered / r.smtp_seconds:.0f} ({r.delivered} in {r.smtp_seconds:.1f} s) | "
            f"{1000 * sc['nodes'] / d:.1f} / {1000 * sc['postgres'] / d:.1f} / {1000 * sc['ceph'] / d:.1f} | "
            f"{r.imap_commands / max(r.imap_seconds, 1):.0f} ({r.imap_errors}) | "
            f"{1000 * ic['nodes'] / c:.2f} / {1000 * ic['postgres'] / c:.2f} / {1000 * ic['ceph'] / c:.2f} | "
            f"{r.db_bytes_per_msg / 1024:.1f} |")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=300, help="10 KB messages per configuration")
    parser.add_argument("--sessions", type=int, default=6, help="SMTP sessions side by side (4-8)")
    parser.add_argument("--imap-seconds", type=int, default=15)
    parser.add_argument("--imap-clients", type=int, default=20)
    parser.add_argument("--nodes", default="1,2,3", help="node counts on S3 (default 1,2,3)")
    parser.add_argument("--verbose", action="store_true", help="print imaptest's summary")
    parser.add_argument("--keep", action="store_true", help="keep the data directories and logs")
    parser.add_argument("--no-disk", action="store_true", help="skip the one-node local-disk run")
    parser.add_argument("--mailboxes", help="instead: delivery cost with this many mailboxes (e.g. 1,1000,10000)")
    parser.add_argument("--recipients", type=int, default=1, help="with --mailboxes: recipients per message")
    parser.add_argument("--engines", default="sqlite,postgresql", help="with --mailboxes: the databases")
    parser.add_argument("--warm", action="store_true",
                        help="with --mailboxes: send the same load once before the measured one")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="with --mailboxes: py-spy's collapsed stacks of the node during each load, in DIR")
    args = parser.parse_args()
    if args.mailboxes:
        return spread_main(args)
    if not IMAPTEST.exists():
        print(f"imaptest not found at {IMAPTEST}", file=sys.stderr)
        return 2
    started = time.monotonic()
    load = os.getloadavg()
    bench = Bench(args)
    rows: list[Row] = []
    try:
        if not args.no_disk:
            rows.append(bench.run("disk ×1", 1, s3=False))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
        for count in (int(x) for x in args.nodes.split(",")):
            rows.append(bench.run(f"s3 ×{count}", count, s3=True))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    finally:
        bench.close()
    print(f"\nload average before {load[0]:.1f} {load[1]:.1f}, after {os.getloadavg()[0]:.1f}; "
          f"{os.cpu_count()} cores; {time.monotonic() - started:.0f} s in all\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
