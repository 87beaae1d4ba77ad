"""Fixtures of the SMTP tests: a test DNS server, servers that use it (``pair``: two
instances exchanging mail, shared with ``tests/mailrules``), mailbox readers."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from congthu.smtp import dkimsign
from tests.conftest import ServerThread, make_data_dir
from tests.smtp.dnsserver import DNSServer

PASSWORD = "Mk@12345678"
ST, CT = "soctrang.gov.vn", "cantho.gov.vn"


@pytest.fixture
def dns_server() -> Iterator[DNSServer]:
    server = DNSServer().start()
    try:
        yield server
    finally:
        server.stop()


def start_server(path: Path, dns: DNSServer, **sections: dict[str, Any]) -> ServerThread:
    smtp = {"dns_servers": [dns.address], "retry_first_seconds": 0.3, "retry_max_seconds": 0.6,
            "queue_interval": 0.2, "outbound_timeout": 10.0}
    smtp.update(sections.pop("smtp", {}))
    data = asyncio.run(make_data_dir(path, smtp=smtp, **sections))
    return ServerThread(data).start()


@pytest.fixture
def mx(tmp_path: Path, dns_server: DNSServer) -> Iterator[ServerThread]:
    """A server for soctrang.gov.vn that resolves through the test DNS server."""
    server = start_server(tmp_path / "data", dns_server)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def spf_mx(tmp_path: Path, dns_server: DNSServer) -> Iterator[ServerThread]:
    """``mx`` with the SPF tests' records: cantho.gov.vn lets loopback send, hanoi.gov.vn
    nobody, hue.gov.vn includes _spf.danang.gov.vn, which lets 127.0.0.0/8 send."""
    dns_server.add_txt("cantho.gov.vn", "v=spf1 ip4:127.0.0.1 -all")
    dns_server.add_txt("hanoi.gov.vn", "v=spf1 -all")
    dns_server.add_txt("hue.gov.vn", "v=spf1 include:_spf.danang.gov.vn -all")
    dns_server.add_txt("_spf.danang.gov.vn", "v=spf1 ip4:127.0.0.0/8 -all")
    server = start_server(tmp_path / "d", dns_server)
    try:
        yield server
    finally:
        server.stop()


def publish(dns: DNSServer, server: ServerThread, domain: str) -> None:
    """The MX, address, SPF, DMARC and DKIM records of ``server`` for ``domain``."""
    host = f"mail.{domain}"
    dns.add(domain, "MX", f"10 {host}.")
    dns.add(host, "A", "127.0.0.1")
    dns.add_txt(domain, "v=spf1 ip4:127.0.0.1 -all")
    dns.add_txt(f"_dmarc.{domain}", "v=DMARC1; p=reject")
    record = dkimsign.dns_record(server.app)
    assert record
    dns.add_txt(f"congthu._domainkey.{domain}", record)


@pytest.fixture
def pair(tmp_path: Path, dns_server: DNSServer) -> Iterator[tuple[ServerThread, ServerThread]]:
    """soctrang.gov.vn and cantho.gov.vn, each the other's MX through the test DNS.

    Each server binds the ports chosen for it as it starts; Sóc Trăng learns Cần Thơ's
    MX port once Cần Thơ listens (a port chosen ahead and bound seconds later can be
    taken meanwhile by another test process)."""
    st = start_server(tmp_path / "st", dns_server, system={"domain": ST, "hostname": f"mail.{ST}"})
    try:
        ct = start_server(tmp_path / "ct", dns_server, smtp={"mx_port": st.port("smtp")},
                          system={"domain": CT, "hostname": f"mail.{CT}"})
    except BaseException:
        st.stop()
        raise
    st.app.settings.smtp.mx_port = ct.port("smtp")
    try:
        publish(dns_server, st, ST)
        publish(dns_server, ct, CT)
        yield st, ct
    finally:
        st.stop()
        ct.stop()


def messages(server: ServerThread, mailbox_id: int, folder: str = "INBOX") -> list[bytes]:
    """The raw messages in a folder, oldest first."""
    async def read() -> list[bytes]:
        found = await server.app.store.get_folder(mailbox_id, folder)
        assert found is not None
        index = await server.app.store.folder_index(found.id)
        return [await server.app.store.read_message(m.content_id) for m in index]
    return server.run(read())


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def wait_for(predicate: Any, timeout: float = 20.0, interval: float = 0.1) -> Any:
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)
