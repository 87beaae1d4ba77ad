"""Three ``congthu serve`` nodes (separate processes, each with its own data directory)
on one PostgreSQL and one Ceph RADOS Gateway (``[blobs] backend = "s3"``), behind a real
HAProxy sending the PROXY header and checking each node's /healthz (issue 20):

* a message delivered through one node is read over IMAP and POP3 through each other;
* a node killed with SIGKILL in the middle of a stream of SMTP deliveries (several
  client threads through the balancer, each noting which messages got their 250) loses
  no acknowledged message: every one is read back through another node, its bytes those
  sent; ``congthu check --deep`` on a surviving node passes, and what the crash left is
  only unreferenced objects, which garbage collection removes after the grace period;
* with every node running its outbound queue runner, each message is sent once
  (a receiving SMTP server counts the deliveries of each Message-ID; it answers 451 to
  the first attempt of each, so that the retries find all three runners polling).

A draining node finishing its sessions is ``test_drain.py``'s (and ``test_two_nodes.py``'s)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import random
import signal
import smtplib
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from congthu.app import App
from tests.cluster.conftest import IMAPFrom, POP3From
from tests.cluster.haproxy import BALANCER, Frontend, HAProxy
from tests.cluster.nodes import Served
from tests.conftest import free_port, make_data_dir
from tests.store.s3.ceph import CephCluster
from tests.store.s3.conftest import blob_settings, bucket, ceph  # noqa: F401  (fixtures)

PASSWORD = "Mk@12345678"
USER = "ntbinh@soctrang.gov.vn"
SENDER = "van.thu@soctrang.gov.vn"
HOST = "127.0.0.1"
NODES = 3


class Receiver:
    """The outside world's SMTP server (the nodes' smarthost): counts the 250s it gave
    per Message-ID; the first attempt of each message gets 451."""

    def __init__(self) -> None:
        self.attempts: Counter[str] = Counter()
        self.delivered: Counter[str] = Counter()
        self.lock = threading.Lock()

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        message_id = str(parsed["Message-ID"])
        with self.lock:
            self.attempts[message_id] += 1
            if self.attempts[message_id] == 1:
                return "451 4.3.0 try again later"
        await asyncio.sleep(0.05)  # the other runners are polling meanwhile
        with self.lock:
            self.delivered[message_id] += 1
        return "250 2.0.0 OK"


@dataclass
class Cluster:
    data: list[Path]
    nodes: list[Served]
    haproxy: HAProxy
    receiver: Receiver
    logs: list[str] = field(default_factory=list)

    def port(self, name: str) -> int:
        return self.haproxy.port(name)


def _frontends(nodes: list[Served]) -> list[Frontend]:
    listen = [n.settings.listen for n in nodes]
    checks = [x.http for x in listen]
    frontends = [Frontend(name, [(HOST, getattr(x, name)) for x in listen], "send-proxy-v2", checks=checks,
                          inter="500ms") for name in ("smtp", "submission", "imap", "pop3")]
    # One door per node too, so that a test can choose the node that reads.
    for n, x in enumerate(listen, 1):
        frontends.append(Frontend(f"imap{n}", [(HOST, x.imap)], "send-proxy"))
        frontends.append(Frontend(f"pop3{n}", [(HOST, x.pop3)], "send-proxy-v2"))
    return frontends


async def _data_dirs(tmp_path: Path, url: str, blobs: dict[str, Any], smarthost: str) -> list[Path]:
    proxy = {"listeners": ["smtp", "submission", "imap", "pop3", "http"], "trusted": [BALANCER],
             "header_timeout": 2.0}
    smtp = {"smarthost": smarthost, "smarthost_verify_tls": False, "queue_interval": 0.2,
            "retry_first_seconds": 0.3, "retry_max_seconds": 0.6, "outbound_timeout": 10.0,
            "messages_per_hour": 10000}
    dirs = [await make_data_dir(tmp_path / f"node{n}" / "data", database={"url": url}, blobs=blobs,
                                proxy=proxy, smtp=smtp, server={"workers": 1, "drain_seconds": 5})
            for n in range(1, NODES + 1)]
    app = await App.open(dirs[0])
    try:
        for address, name in ((USER, "Nguyễn Thanh Bình"), (SENDER, "Văn thư")):
            mailbox = await app.store.create_mailbox(address, name, quota_bytes=app.settings.mailbox_quota_bytes)
            await app.accounts.set_password(mailbox.id, PASSWORD, must_change=False)
    finally:
        await app.close()
    return dirs


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, postgres: Any, ceph: CephCluster) -> Iterator[Cluster]:  # noqa: F811
    from tests.store.s3.conftest import s3_client

    tmp_path = tmp_path_factory.mktemp("cluster")
    name = f"cluster-{os.getpid()}-{random.randrange(1 << 30):08x}"
    s3_client(ceph).make_bucket(name)
    receiver = Receiver()
    controller = Controller(receiver, hostname=HOST, port=free_port())
    controller.start()
    dirs = asyncio.run(_data_dirs(tmp_path, postgres.create_database(), blob_settings(ceph, name),
                                  f"{HOST}:{controller.port}"))
    nodes: list[Served] = []
    haproxy = None
    try:
        for n, data in enumerate(dirs, 1):
            nodes.append(Served(data, f"node{n}.log"))
        haproxy = HAProxy(tmp_path, _frontends(nodes)).start()
        yield Cluster(dirs, nodes, haproxy, receiver)
    finally:
        if haproxy is not None:
            haproxy.stop()
        for node in nodes:
            node.stop()
        controller.stop()


def _message(subject: str, body: str, message_id: str, to: str = USER,
             sender: str = "van.thu@partner.example") -> bytes:
    msg = email.message.EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    msg.set_content(body)
    return msg.as_bytes(policy=email.policy.SMTP)


def _imap_messages(port: int, source: str = "127.0.0.4") -> dict[str, bytes]:
    """Every message in INBOX read over IMAP, by Message-ID."""
    imap = IMAPFrom(source, HOST, port)
    try:
        imap.login(USER, PASSWORD)
        imap.select("INBOX", readonly=True)
        _typ, data = imap.fetch("1:*", "(BODY.PEEK[])")
    finally:
        imap.logout()
    found: dict[str, bytes] = {}
    for item in data:
        if isinstance(item, tuple):
            raw = bytes(item[1])
            message_id = str(email.message_from_bytes(raw, policy=email.policy.default)["Message-ID"])
            assert message_id not in found or found[message_id] == raw
            found[message_id] = raw
    return found


def test_delivered_through_one_node_read_through_each_other(cluster: Cluster) -> None:
    sent = _message("Qua nút 1", "Công văn số 7/UBND, gửi qua một nút, đọc qua nút khác.\n", "<mot@partner.example>")
    # The balancer's SMTP door goes round the nodes; say which node took it.
    with smtplib.SMTP(HOST, cluster.port("smtp"), timeout=30, source_address=("127.0.0.3", 0)) as smtp:
        smtp.ehlo("mx.partner.example")
        smtp.sendmail("van.thu@partner.example", [USER], sent)
    took = [n for n, node in enumerate(cluster.nodes, 1) if node.events("smtp.accepted")]
    assert len(took) == 1
    for n in range(1, NODES + 1):
        if n == took[0]:
            continue
        raw = _imap_messages(cluster.port(f"imap{n}"))["<mot@partner.example>"]
        assert raw.endswith(sent)
        assert b"from mx.partner.example ([127.0.0.3])" in raw
        pop = POP3From("127.0.0.5", HOST, cluster.port(f"pop3{n}"))
        try:
            pop.user(USER)
            pop.pass_(PASSWORD)
            count, _size = pop.stat()
            raws = [b"\r\n".join(pop.retr(i)[1]) + b"\r\n" for i in range(1, count + 1)]
        finally:
            pop.quit()
        assert raw in raws
        assert cluster.nodes[n - 1].events("imap.login") and cluster.nodes[n - 1].events("pop3.login")


def _sender(port: int, thread: int, count: int, acked: dict[str, bytes], failed: list[str],
            stop: threading.Event) -> None:
    """Send ``count`` messages, one SMTP transaction each, reconnecting after a failure."""
    smtp: smtplib.SMTP | None = None
    rng = random.Random(thread)
    for i in range(count):
        if stop.is_set():
            return
        message_id = f"<t{thread}-{i}@partner.example>"
        body = f"Luồng {thread}, thư {i}.\n" + "".join(rng.choice("abcdefghij ạệố\n") for _ in range(rng.randrange(500, 12000)))
        raw = _message(f"Thư {thread}-{i}", body, message_id)
        try:
            if smtp is None:
                smtp = smtplib.SMTP(HOST, port, timeout=30, source_address=(f"127.0.0.{10 + thread}", 0))
                smtp.ehlo("mx.partner.example")
            smtp.sendmail("van.thu@partner.example", [USER], raw)
            acked[message_id] = raw
        except (smtplib.SMTPException, OSError):
            failed.append(message_id)
            if smtp is not None:
                try:
                    smtp.close()
                finally:
                    smtp = None
    if smtp is not None:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


def _congthu(data: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "congthu", "--data", str(data), *argv],
                          capture_output=True, text=True, timeout=120, check=False)


def test_a_node_killed_mid_stream_loses_no_acknowledged_message(cluster: Cluster) -> None:
    acked: dict[str, bytes] = {}
    failed: list[str] = []
    stop = threading.Event()
    threads = [threading.Thread(target=_sender, args=(cluster.port("smtp"), t, 30, acked, failed, stop))
               for t in range(6)]
    victim = cluster.nodes[1]
    for t in threads:
        t.start()
    try:
        # Kill node 2 once it has taken some deliveries (it is mid-stream: the senders go on).
        deadline = time.monotonic() + 60
        while len(victim.events("smtp.accepted")) < 5:
            assert time.monotonic() < deadline and all(t.is_alive() for t in threads), "no deliveries to node 2"
            time.sleep(0.02)
        victim.proc.send_signal(signal.SIGKILL)
        assert victim.proc.wait(10) == -signal.SIGKILL
        killed_after = len(acked)
    finally:
        for t in threads:
            t.join(120)
        stop.set()
    assert len(acked) > killed_after  # the others went on taking mail
    assert len(acked) + len(failed) == 6 * 30

    # Every acknowledged message is there, read through another node, as it was sent.
    found = _imap_messages(cluster.port("imap1"))
    missing = sorted(set(acked) - set(found))
    assert not missing, f"{len(missing)} acknowledged messages lost: {missing[:5]}"
    for message_id, raw in acked.items():
        assert found[message_id].endswith(raw), message_id
    # A message refused or cut off may have been stored (the reply was lost): whole, then.
    for message_id in set(found) & set(failed):
        assert b"\r\n\r\n" in found[message_id]

    # Nothing half-stored: the deep check reads every object and finds each message's bytes.
    checked = _congthu(cluster.data[0], "check", "--deep")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "LỖI" not in checked.stdout

    async def collect(data: Path) -> tuple[int, int]:
        app = await App.open(data)
        try:
            # Within the grace period nothing goes (another node may be mid-delivery) ...
            young = await app.store.collect_garbage(grace_seconds=3600)
            # ... after it, the crash's unreferenced objects do.
            old = await app.store.collect_garbage(grace_seconds=0)
            return young, old
        finally:
            await app.close()

    young, _old = asyncio.run(collect(cluster.data[2]))
    assert young == 0
    checked = _congthu(cluster.data[2], "check", "--deep")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "unreferenced" not in checked.stdout.lower(), checked.stdout
    assert _imap_messages(cluster.port("imap3")).keys() == found.keys()

    # The killed node comes back (same data directory) and serves again.
    cluster.nodes[1] = Served(cluster.data[1], "node2-again.log")
    cluster.haproxy.wait_log("imap/node2 is UP")
    assert _imap_messages(cluster.port("imap2")).keys() == found.keys()


def test_each_queued_message_is_sent_once(cluster: Cluster) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    ids = [f"<ra-{n}@soctrang.gov.vn>" for n in range(24)]
    # Submitted through the balancer: each node queues some, and every node's runner polls.
    for n, message_id in enumerate(ids):
        with smtplib.SMTP(HOST, cluster.port("submission"), timeout=30, source_address=("127.0.0.6", 0)) as smtp:
            smtp.starttls(context=context)
            smtp.login(SENDER, PASSWORD)
            smtp.sendmail(SENDER, ["lan@partner.example"],
                          _message(f"Ra ngoài {n}", "Gửi ra ngoài một lần.\n", message_id, to="lan@partner.example",
                                   sender=SENDER))
    deadline = time.monotonic() + 60
    while set(cluster.receiver.delivered) != set(ids):
        assert time.monotonic() < deadline, (cluster.receiver.attempts, cluster.receiver.delivered)
        time.sleep(0.1)
    time.sleep(1.5)  # a second sending would come within a few polls
    assert all(cluster.receiver.attempts[i] >= 2 for i in ids)
    duplicates = {i: c for i, c in cluster.receiver.delivered.items() if c != 1}
    assert not duplicates, duplicates
    # The runners of several nodes did the sending (the race was real).
    senders = [len(node.events("smtp.delivered")) for node in cluster.nodes]
    assert sum(1 for count in senders if count) >= 2, senders
