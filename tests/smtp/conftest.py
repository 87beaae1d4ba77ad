"""Fixtures of the SMTP tests: a test DNS server, servers that use it, mailbox readers."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerThread, make_data_dir
from tests.smtp.dnsserver import DNSServer

PASSWORD = "Mk@12345678"


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
