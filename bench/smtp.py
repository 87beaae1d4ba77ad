"""SMTP throughput: messages per second accepted and durably delivered over the MX door.

    .venv/bin/python bench/smtp.py [--small N] [--large N] [--sessions 4] [--scan] [--no-classified]

Starts ``congthu serve --only smtp`` in a separate process on a fresh data directory
(SQLite + blobs, fsync on), with a tiny DNS server on loopback for the SPF/DKIM/DMARC
lookups, then sends from 4 concurrent sessions (like ``smtp-source -s 4``): 10 KB
messages, then 1 MB messages. A message counts when its 250 reply arrived, i.e. it is
in the mailbox on disk. The figures are checked against the mailbox afterwards.

``--scan`` starts a private clamd and rspamd (``tests/content/daemons.py``) and sends
every message through them (Điều 9.9, ``congthu/content/pipeline.py``);
``--no-classified`` switches off the search for classified stamps in the content.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from congthu.app import App  # noqa: E402
from tests.conftest import make_data_dir  # noqa: E402
from tests.content.daemons import Clamd, Rspamd  # noqa: E402
from tests.smtp.dnsserver import DNSServer  # noqa: E402

RCPT = "ntbinh@soctrang.gov.vn"


def message(size: int, n: int) -> bytes:
    head = (f"From: Van thu <vanthu@cantho.gov.vn>\r\nTo: <{RCPT}>\r\nSubject: bench {n}\r\n"
            f"Message-ID: <{n}.{time.time_ns()}@cantho.gov.vn>\r\n\r\n").encode()
    line = b"Noi dung thu nghiem hieu nang cua he thong thu dien tu cong vu tinh Soc Trang.\r\n"
    body = line * max(1, (size - len(head)) // len(line))
    return head + body


async def session_to(port: int, jobs: list[tuple[bytes, list[str]]], done: list[int]) -> None:
    """One pipelined SMTP session (PIPELINING, RFC 2920: MAIL, the RCPTs and DATA in one
    write) sending each message to its own recipients; ``done`` gets one entry per
    message that got its 250."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)

    async def reply() -> bytes:
        while True:
            line = await reader.readline()
            if not line:
                raise ConnectionError("closed")
            if line[3:4] != b"-":
                return line

    await reply()
    writer.write(b"EHLO bench.cantho.gov.vn\r\n")
    await reply()
    for raw, rcpts in jobs:
        writer.write((f"MAIL FROM:<vanthu@cantho.gov.vn> SIZE={len(raw)}\r\n"
                      + "".join(f"RCPT TO:<{r}>\r\n" for r in rcpts) + "DATA\r\n").encode())
        for expected in (b"250", *(b"250" for _ in rcpts), b"354"):
            line = await reply()
            if not line.startswith(expected):
                raise RuntimeError(line)
        writer.write(raw.replace(b"\r\n.", b"\r\n..") + b".\r\n")
        line = await reply()
        if not line.startswith(b"250"):
            raise RuntimeError(line)
        done.append(len(raw))
    writer.write(b"QUIT\r\n")
    await reply()
    writer.close()


async def session(port: int, messages: list[bytes], done: list[int]) -> None:
    """``session_to`` with every message to the bench's one recipient."""
    await session_to(port, [(raw, [RCPT]) for raw in messages], done)


async def run(port: int, count: int, size: int, sessions: int) -> float:
    per = [[message(size, s * count + i) for i in range(count // sessions)] for s in range(sessions)]
    done: list[int] = []
    start = time.perf_counter()
    await asyncio.gather(*(session(port, msgs, done) for msgs in per))
    elapsed = time.perf_counter() - start
    return len(done) / elapsed


async def prepare(data: Path) -> None:
    app = await App.open(data)
    try:
        await app.store.create_mailbox(RCPT, "Bench", quota_bytes=50 * 1024**3)
    finally:
        await app.close()


async def delivered(data: Path) -> int:
    app = await App.open(data)
    try:
        mailbox = await app.store.get_mailbox(RCPT)
        assert mailbox is not None
        inbox = await app.store.get_folder(mailbox.id, "INBOX")
        assert inbox is not None
        return (await app.store.folder_status(inbox.id)).messages
    finally:
        await app.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=2000, help="10 KB messages (default 2000)")
    parser.add_argument("--large", type=int, default=200, help="1 MB messages (default 200)")
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--scan", action="store_true", help="virus scan and spam scoring by clamd and rspamd")
    parser.add_argument("--no-classified", action="store_true", help="content.classified_in_content = false")
    args = parser.parse_args()
    dns = DNSServer().start()
    tmp = Path(tempfile.mkdtemp(prefix="congthu-bench-"))
    content: dict[str, object] = {"classified_in_content": not args.no_classified}
    daemons: list[Clamd | Rspamd] = []
    if args.scan:
        clamd = Clamd(tmp / "clamd").start()
        (tmp / "rspamd").mkdir()
        rspamd = Rspamd(tmp / "rspamd").start()
        daemons += [clamd, rspamd]
        content.update(clamd=clamd.address, rspamd=rspamd.url)
    data = asyncio.run(make_data_dir(tmp / "data", smtp={"dns_servers": [dns.address]}, content=content))
    asyncio.run(prepare(data))
    port = int(next(line.split("=")[1] for line in (data / "congthu.toml").read_text().splitlines()
                    if line.startswith("smtp = ")))
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    server = subprocess.Popen([sys.executable, *os.environ.get("BENCH_PY_ARGS", "").split(), "-m", "congthu", "--data", str(data), "serve", "--only", "smtp"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    try:
        assert server.stdout is not None
        for line in server.stdout:
            if b"smtp" in line and b":" in line:
                break
        small = asyncio.run(run(port, args.small, 10 * 1024, args.sessions))
        print(f"SMTP in, 10 KB, {args.sessions} sessions, {args.small} msgs: {small:.0f} msgs/s accepted and delivered")
        large = asyncio.run(run(port, args.large, 1024 * 1024, args.sessions))
        print(f"SMTP in, 1 MB, {args.sessions} sessions, {args.large} msgs: {large:.1f} msgs/s accepted and delivered")
    finally:
        server.terminate()
        server.wait(30)
        dns.stop()
        for daemon in daemons:
            daemon.stop()
    total = asyncio.run(delivered(data))
    expected = args.small // args.sessions * args.sessions + args.large // args.sessions * args.sessions
    print(f"in the mailbox: {total} of {expected}")
    return 0 if total == expected else 1


if __name__ == "__main__":
    sys.exit(main())
