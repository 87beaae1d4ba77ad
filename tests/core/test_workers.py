"""`congthu serve` with two worker processes (``congthu.workers``), as real processes on
loopback: both workers accept, an IDLE client on one worker hears an APPEND and a STORE
made through the other (the change feed's local channel, SQLite), the POP3 maildrop lock
holds across workers, a worker killed with SIGKILL is restarted while the other keeps
answering, SIGHUP reloads the certificate in every worker, SIGTERM stops everything
cleanly, and a worker that cannot start stops the server with one message."""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import json
import os
import poplib
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from congthu import config, tls
from congthu.app import App
from tests.conftest import make_data_dir

PASSWORD = "Mk@12345678"
USER = "ntbinh@soctrang.gov.vn"


async def _prepare(path: Path, **sections: dict[str, Any]) -> Path:
    data = await make_data_dir(path, server={"workers": 2}, **sections)
    app = await App.open(data)
    try:
        mailbox = await app.store.create_mailbox(USER, "Nguyễn Thanh Bình",
                                                 quota_bytes=app.settings.mailbox_quota_bytes)
        await app.accounts.set_password(mailbox.id, PASSWORD, must_change=False)
    finally:
        await app.close()
    return data


class Served:
    """`congthu serve` in a child process, its log in a file."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.settings = config.load(data)
        self.log_path = data.parent / "serve.log"
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen([sys.executable, "-m", "congthu", "--data", str(data), "serve"],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        assert self.proc.stdout is not None
        self.banner = [self.proc.stdout.readline()]
        assert "Công Thư" in self.banner[0], self.banner[0] + self.log_path.read_text()
        while not self.banner[-1].startswith("  workers"):
            line = self.proc.stdout.readline()
            assert line, self.log_path.read_text()
            self.banner.append(line)

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        found = []
        for line in self.log_path.read_text().splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                if name is None or record.get("event") == name:
                    found.append(record)
        return found

    def wait_event(self, name: str, predicate: Any = lambda _r: True, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for record in self.events(name):
                if predicate(record):
                    return record
            time.sleep(0.1)
        raise AssertionError(f"no {name} event in time:\n{self.log_path.read_text()[-4000:]}")

    def worker_pids(self) -> dict[int, int]:
        """Worker number -> pid of its latest start."""
        return {r["worker"]: r["pid"] for r in self.events("supervisor.worker_started")}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    # Few failed logins lock an address: the lock test below stays short.
    data = asyncio.run(_prepare(tmp_path / "data", login={"address_lock_after": 12, "delay_base_seconds": 0.01,
                                                          "max_delay_seconds": 0.05},
                                 imap={"max_auth_failures": 20}))
    running = Served(data)
    try:
        yield running
    finally:
        running.stop()


def imap_login(served: Served) -> tuple[imaplib.IMAP4, int]:
    """A logged-in IMAP connection and the worker that serves it (from its login event,
    the newest of this user: logins are made one at a time)."""
    before = len(served.events("imap.login"))
    client = imaplib.IMAP4("127.0.0.1", served.settings.listen.imap, timeout=30)
    client.login(USER, PASSWORD)
    deadline = time.monotonic() + 10
    while len(logins := served.events("imap.login")) <= before:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return client, logins[-1]["worker"]


def one_per_worker(served: Served) -> dict[int, imaplib.IMAP4]:
    """Open connections until each of the two workers serves one (the kernel hands each
    new connection to whichever worker accepts first)."""
    by_worker: dict[int, imaplib.IMAP4] = {}
    spare = []
    for _ in range(40):
        client, worker = imap_login(served)
        if worker in by_worker:
            spare.append(client)
        else:
            by_worker[worker] = client
        if len(by_worker) == 2:
            break
        time.sleep(0.05)
    for client in spare:
        client.logout()
    assert sorted(by_worker) == [1, 2], "the connections all went to one worker"
    return by_worker


def read_idle(client: imaplib.IMAP4, wanted: bytes, timeout: float) -> tuple[list[bytes], float]:
    """Untagged lines during IDLE until one contains ``wanted``; and how long it took."""
    sock = client.socket()
    sock.settimeout(timeout)
    started = time.monotonic()
    lines = []
    while True:
        line = client.readline()
        assert line, lines
        lines.append(line)
        if wanted in line:
            return lines, time.monotonic() - started


def serving_worker(served: Served, clients: list[socket.socket]) -> list[int]:
    """The worker holding the server's end of each client connection: the socket whose
    local address is the client's peer, in /proc/net/tcp, and the worker that has it open."""
    inode_of: dict[tuple[str, int, int], str] = {}  # (local address, remote port, local port)
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port = fields[1].rsplit(":", 1)
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            inode_of[(address, remote_port, int(port, 16))] = fields[9]
    worker_of_inode = {}
    for worker, pid in served.worker_pids().items():
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    worker_of_inode[target[8:-1]] = worker
    found = []
    for client in clients:
        client_port = client.getsockname()[1]
        server_port = client.getpeername()[1]
        inode = next(i for (_a, rport, lport), i in inode_of.items()
                     if rport == client_port and lport == server_port)
        found.append(worker_of_inode[inode])
    return found


def test_two_workers_share_ports_feed_and_locks(served: Served) -> None:
    assert any("workers      2" in line for line in served.banner), served.banner
    # 40 clients connecting at once (clients coming back after a restart, or a load
    # test) are spread over both workers, each with its own socket (SO_REUSEPORT). The
    # workers are paused while the clients connect, so the connections wait in the
    # kernel's queues together: with one socket shared by both workers, the first awake
    # took them all (asyncio accepts up to 100 connections per wake-up).
    pids = served.worker_pids().values()
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        burst = [socket.create_connection(("127.0.0.1", served.settings.listen.imap), timeout=30)
                 for _ in range(40)]
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    for conn in burst:
        assert conn.recv(200).startswith(b"* OK")
    spread = Counter(serving_worker(served, burst))
    for conn in burst:
        conn.close()
    assert sorted(spread) == [1, 2] and min(spread.values()) >= 8, spread
    clients = one_per_worker(served)
    idler, writer = clients[1], clients[2]
    idler.select("INBOX")
    writer.select("INBOX")
    # IDLE on worker 1 hears an APPEND made through worker 2 (RFC 2177).
    tag = idler._new_tag().decode()  # type: ignore[attr-defined]
    idler.send(f"{tag} IDLE\r\n".encode())
    assert idler.readline().startswith(b"+")
    latencies = []
    for n in range(5):
        sent = time.monotonic()
        ok, _ = writer.append("INBOX", None, None, f"Subject: thu {n}\r\n\r\nNội dung {n}.\r\n".encode())
        assert ok == "OK"
        lines, _took = read_idle(idler, f"* {n + 1} EXISTS".encode(), 10)
        latencies.append(time.monotonic() - sent)
    # A STORE through worker 2: worker 1's IDLE client gets the new flags.
    writer.store("1", "+FLAGS", "(\\Flagged)")
    lines, _took = read_idle(idler, b"\\Flagged", 10)
    assert any(b"FETCH" in line for line in lines), lines
    idler.send(b"DONE\r\n")
    while not (line := idler.readline()).startswith(tag.encode()):
        pass
    assert b"OK" in line
    # Generous for a loaded test machine; the push goal itself is measured by bench/.
    assert max(latencies) < 5, latencies

    # The POP3 maildrop lock (RFC 1939 section 8) is the database's: a second session
    # of the same maildrop on the other worker is refused while the first is open.
    pops: dict[int, poplib.POP3] = {}
    refused_on: set[int] = set()
    for _ in range(40):
        before = len(served.events("pop3.login"))  # one per PASS, taken or refused
        client = poplib.POP3("127.0.0.1", served.settings.listen.pop3, timeout=30)
        client.user(USER)
        try:
            client.pass_(PASSWORD)
            took = True
        except poplib.error_proto as exc:
            assert b"IN-USE" in exc.args[0], exc
            took = False
        deadline = time.monotonic() + 10
        while len(found := served.events("pop3.login")) <= before:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        newest = found[-1]
        if took:
            assert not pops, "two POP3 sessions held the same maildrop"
            pops[newest["worker"]] = client
        else:
            refused_on.add(newest["worker"])
            client.quit()
        held = next(iter(pops), None)
        if held is not None and (refused_on - {held}):
            break
    assert pops and refused_on - set(pops), (pops, refused_on)
    for client in pops.values():
        client.quit()
    for client in clients.values():
        client.logout()

    # Failed logins count in the database (congthu.accounts.lockout): failures spread
    # over both workers lock the address, which neither worker's own count would.
    lock_after = served.settings.login.address_lock_after
    failures = 0

    def fail(client: imaplib.IMAP4) -> int:
        """A failed login on ``client``; the worker that counted it."""
        nonlocal failures
        before = len(served.events("login.failed"))
        with pytest.raises(imaplib.IMAP4.error):
            client.login(USER, f"Sai@mat-khau-{failures}")  # each differs: a repeat counts once
        failures += 1
        deadline = time.monotonic() + 10
        while len(found := served.events("login.failed")) <= before:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        return int(found[-1]["worker"])

    # One unauthenticated connection on each worker, told apart by the worker of their
    # ID command's log line (RFC 2971), so finding them costs no failed login (the kernel
    # may hand many connections in a row to the same worker).
    guessing: dict[int, imaplib.IMAP4] = {}
    for probe in range(40):
        client = imaplib.IMAP4("127.0.0.1", served.settings.listen.imap, timeout=30)
        client.xatom("ID", f'("name" "probe-{probe}")')
        record = served.wait_event("imap.client_id", lambda r, n=probe: f"probe-{n}" in str(r.get("client")))
        if int(record["worker"]) in guessing:
            client.shutdown()
        else:
            guessing[int(record["worker"])] = client
        if len(guessing) == 2:
            break
        time.sleep(0.05)
    assert sorted(guessing) == [1, 2], "the connections all went to one worker"
    while failures < lock_after:
        fail(guessing[1 + failures % 2])
    for _ in range(4):  # the right password is refused now, on either worker
        client = imaplib.IMAP4("127.0.0.1", served.settings.listen.imap, timeout=30)
        with pytest.raises(imaplib.IMAP4.error):
            client.login(USER, PASSWORD)
        client.shutdown()


def served_cert(port: int) -> str:
    return ssl.get_server_certificate(("127.0.0.1", port), timeout=10)


def test_killed_worker_is_restarted_sighup_reaches_every_worker_sigterm_drains(served: Served) -> None:
    pids = served.worker_pids()
    assert sorted(pids) == [1, 2]
    os.kill(pids[1], signal.SIGKILL)
    # Once the supervisor has seen the death (and closed that worker's sockets), the
    # other worker answers every connection while the first is being restarted.
    served.wait_event("supervisor.worker_died", lambda r: r["worker"] == 1)
    for _ in range(8):
        client = imaplib.IMAP4("127.0.0.1", served.settings.listen.imap, timeout=10)
        client.login(USER, PASSWORD)
        client.logout()
    restarted = served.wait_event("supervisor.worker_started", lambda r: r["worker"] == 1 and r["pid"] != pids[1])
    served.wait_event("service.started", lambda r: r.get("worker") == 1 and r["service"] == "imap"
                      and r["time"] >= restarted["time"])
    by_worker = one_per_worker(served)  # the restarted worker serves again
    for client in by_worker.values():
        client.logout()

    # SIGHUP: every worker reloads the certificate; every TLS connection sees the new one.
    settings = served.settings
    before = served_cert(settings.listen.imaps)
    tls.write_self_signed(served.data / settings.tls.cert, served.data / settings.tls.key, ["mail.cantho.gov.vn"])
    new = (served.data / settings.tls.cert).read_text().strip()
    served.proc.send_signal(signal.SIGHUP)
    reloaded = set()
    deadline = time.monotonic() + 20
    while reloaded != {1, 2} and time.monotonic() < deadline:
        reloaded = {r["worker"] for r in served.events("tls.reloaded")}
        time.sleep(0.1)
    assert reloaded == {1, 2}
    for _ in range(6):
        for port in (settings.listen.imaps, settings.listen.https, settings.listen.submissions):
            assert served_cert(port).strip() == new != before.strip()

    # SIGTERM: an IDLE client is told the server stops; every process exits, cleanly.
    idler, _worker = imap_login(served)
    idler.select("INBOX")
    tag = idler._new_tag().decode()  # type: ignore[attr-defined]
    idler.send(f"{tag} IDLE\r\n".encode())
    assert idler.readline().startswith(b"+")
    workers_now = served.worker_pids()
    served.proc.send_signal(signal.SIGTERM)
    assert served.proc.wait(timeout=60) == 0
    lines, _took = read_idle(idler, b"BYE", 10)
    stopped = {r["worker"] for r in served.events("server.stopped")}
    assert {1, 2} <= stopped
    assert served.events("supervisor.stopped")
    for pid in workers_now.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not list((served.data / "run" / "feed").glob("*.sock"))


def test_a_worker_that_cannot_start_stops_the_server_with_one_message(tmp_path: Path) -> None:
    data = asyncio.run(_prepare(tmp_path / "data"))
    # Only a worker needs run/feed as a directory (the change feed's sockets): a file
    # there makes every worker fail at start, after the supervisor's own checks passed.
    (data / "run").mkdir()
    (data / "run" / "feed").write_text("not a directory")
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "congthu", "--data", str(data), "serve"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert time.monotonic() - started < 60
    said = [line for line in result.stderr.splitlines() if "failed to start" in line and not line.startswith("{")]
    assert len(said) == 1, result.stderr  # one message for the operator
    assert '"supervisor.restarting"' not in result.stderr  # no restart loop
    assert "Công Thư đang chạy" not in result.stdout
