"""Two ``congthu serve`` nodes (separate processes, each with its own data directory and
configuration) on one PostgreSQL, sharing one blob directory, behind a real HAProxy
sending the PROXY header and checking each node's /healthz (``check-send-proxy``, as
docs/cluster.md configures it): a message delivered through one node is read over IMAP
and POP3 through the other, with the client's address in its Received field; a node
sent SIGTERM is seen unhealthy by HAProxy (DOWN) while the other keeps serving."""

from __future__ import annotations

import asyncio
import email.policy
import shutil
import signal
import smtplib
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from congthu.app import App
from tests.cluster.conftest import IMAPFrom, POP3From
from tests.cluster.haproxy import BALANCER, Frontend, HAProxy
from tests.cluster.nodes import Served
from tests.conftest import make_data_dir

PASSWORD = "Mk@12345678"
USER = "ntbinh@soctrang.gov.vn"
HOST = "127.0.0.1"


async def _nodes(tmp_path: Path, url: str) -> tuple[Path, Path]:
    proxy = {"listeners": ["smtp", "imap", "pop3", "http"], "trusted": [BALANCER], "header_timeout": 2.0}
    first = await make_data_dir(tmp_path / "a" / "data", database={"url": url}, proxy=proxy,
                                server={"workers": 1, "drain_seconds": 5})
    second = await make_data_dir(tmp_path / "b" / "data", database={"url": url}, proxy=proxy,
                                 server={"workers": 1, "drain_seconds": 5})
    # One blob directory for both (on a real cluster: an S3 bucket or a shared file system).
    shutil.rmtree(second / "blobs")
    (second / "blobs").symlink_to(first / "blobs", target_is_directory=True)
    app = await App.open(first)
    try:
        mailbox = await app.store.create_mailbox(USER, "Nguyễn Thanh Bình", quota_bytes=app.settings.mailbox_quota_bytes)
        await app.accounts.set_password(mailbox.id, PASSWORD, must_change=False)
    finally:
        await app.close()
    return first, second


def _message(subject: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "van.thu@partner.example"
    msg["To"] = USER
    msg["Subject"] = subject
    msg.set_content("Công văn số 12/UBND gửi qua nút thứ nhất.\n")
    return msg.as_bytes(policy=email.policy.SMTP)


def test_delivered_through_one_node_read_through_the_other(tmp_path: Path, postgres: Any) -> None:
    first, second = asyncio.run(_nodes(tmp_path, postgres.create_database()))
    node_a = Served(first, "a.log")
    node_b = None
    haproxy = None
    try:
        node_b = Served(second, "b.log")
        a, b = node_a.settings.listen, node_b.settings.listen
        # Mail comes in through node A only; IMAP and POP3 go to node B only.
        haproxy = HAProxy(tmp_path, [
            Frontend("smtp", [(HOST, a.smtp)], "send-proxy", checks=[a.http]),
            Frontend("imap", [(HOST, b.imap)], "send-proxy-v2", checks=[b.http]),
            Frontend("pop3", [(HOST, b.pop3)], "send-proxy-v2", checks=[b.http]),
        ]).start()
        with smtplib.SMTP(HOST, haproxy.port("smtp"), timeout=30, source_address=("127.0.0.3", 0)) as smtp:
            smtp.ehlo("mx.partner.example")
            smtp.sendmail("van.thu@partner.example", [USER], _message("Qua nút A"))
        assert node_a.events("smtp.accepted") and not node_b.events("smtp.accepted")

        imap = IMAPFrom("127.0.0.4", HOST, haproxy.port("imap"))
        try:
            imap.login(USER, PASSWORD)
            imap.select("INBOX")
            _typ, data = imap.search(None, "ALL")
            assert len(data[0].split()) == 1
            _typ, parts = imap.fetch("1", "(BODY.PEEK[])")
            raw = bytes(parts[0][1])  # type: ignore[index]
        finally:
            imap.logout()
        assert "Công văn số 12/UBND gửi qua nút thứ nhất.".encode() in raw
        assert b"from mx.partner.example ([127.0.0.3])" in raw
        assert [e["peer"] for e in node_b.events("imap.login")] == ["127.0.0.4"]

        pop = POP3From("127.0.0.5", HOST, haproxy.port("pop3"))
        try:
            pop.user(USER)
            pop.pass_(PASSWORD)
            count, _size = pop.stat()
            assert count == 1
            _resp, lines, _octets = pop.retr(1)
            assert b"\r\n".join(lines).rstrip(b"\r\n") == raw.rstrip(b"\r\n")
        finally:
            pop.quit()
        assert not node_a.events("imap.login") and not node_a.events("pop3.login")

        # HAProxy's health checks reach /healthz through the PROXY listener (the node
        # logs no refusal for them); a draining node is marked DOWN.
        assert not node_a.events("proxy.refused") and not node_b.events("proxy.refused")
        node_a.proc.send_signal(signal.SIGTERM)
        haproxy.wait_log("smtp/node1 is DOWN")
        assert node_a.proc.wait(30) == 0
        # Node B still serves.
        imap = IMAPFrom("127.0.0.4", HOST, haproxy.port("imap"))
        assert imap.login(USER, PASSWORD)[0] == "OK"
        imap.logout()
    finally:
        if haproxy is not None:
            haproxy.stop()
        node_a.stop()
        if node_b is not None:
            node_b.stop()
