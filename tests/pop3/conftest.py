"""POP3 test helpers: messages, delivery into a test server, poplib connections."""

from __future__ import annotations

import asyncio
import logging
import poplib
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from congthu.store import flags
from tests.conftest import ServerThread, make_data_dir
from tests.folders import folder_index_of, folder_named

PASSWORD = "Mk@12345678"
DOMAIN = "soctrang.gov.vn"


def message(n: int, body: str = "", subject: str = "") -> bytes:
    subject = subject or f"Báo cáo số {n}"
    body = body or f"Kính gửi anh Thông,\r\nđây là báo cáo số {n}.\r\nTrân trọng.\r\n"
    return (
        f"From: ntbinh@{DOMAIN}\r\n"
        f"To: dvthong@{DOMAIN}\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: <{n}@{DOMAIN}>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n" + body
    ).encode()


def deliver(server: ServerThread, mailbox_id: int, raw: bytes) -> int:
    [result] = server.run(server.app.store.deliver(raw, [mailbox_id]))
    assert result.ok and result.uid is not None
    return result.uid


def inbox_uids(server: ServerThread, mailbox_id: int) -> list[int]:
    return [m.uid for m in server.run(folder_index_of(server.app.store, mailbox_id))]


def mark_deleted_by_imap(server: ServerThread, mailbox_id: int, uid: int) -> None:
    async def mark() -> None:
        folder = await folder_named(server.app.store, mailbox_id)
        await server.app.store.store_flags(folder.id, [uid], "add", flags.DELETED)
    server.run(mark())


def insecure_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def connect(server: ServerThread) -> poplib.POP3:
    return poplib.POP3("127.0.0.1", server.port("pop3"), timeout=15)


def login(server: ServerThread, address: str, password: str = PASSWORD) -> poplib.POP3:
    client = connect(server)
    client.user(address)
    client.pass_(password)
    return client


# poplib's own command helpers, for commands it has no method for (AUTH, bad input).
def short(client: poplib.POP3, line: str) -> bytes:
    """Send a line, return the +OK line (poplib.error_proto on -ERR)."""
    return cast(bytes, cast(Any, client)._shortcmd(line))


def longcmd(client: poplib.POP3, line: str) -> tuple[bytes, list[bytes], int]:
    return cast(tuple[bytes, list[bytes], int], cast(Any, client)._longcmd(line))


def put(client: poplib.POP3, line: str) -> None:
    cast(Any, client)._putcmd(line)


def get(client: poplib.POP3) -> bytes:
    return cast(bytes, cast(Any, client)._getline()[0])


@pytest.fixture
def user(server: ServerThread) -> tuple[str, int]:
    address = f"dvthong@{DOMAIN}"
    return address, server.add_user(address, PASSWORD, "Đặng Văn Thông")


@pytest.fixture
def strict_server(tmp_path: Path) -> Iterator[ServerThread]:
    """A server that refuses plaintext logins even over loopback (production setting)."""
    data = asyncio.run(make_data_dir(tmp_path / "data",
                                     system={"dev_allow_plaintext_loopback": False}))
    running = ServerThread(data).start()
    try:
        yield running
    finally:
        running.stop()


class _Events(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture(autouse=True)
def no_session_errors() -> Iterator[_Events]:
    """TCPService keeps the server alive through a bug in a session, and logs it; a POP3
    test fails if that happened."""
    logger = logging.getLogger("congthu.events")
    handler, level = _Events(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    errors = [line for line in handler.lines if "session_error" in line]
    assert not errors, errors


@pytest.fixture
def fuzz_server(tmp_path: Path) -> Iterator[ServerThread]:
    """A dev server without the guessing protection of congthu.accounts (delays and locks
    after repeated failures), which a fuzzer sending random PASS lines would trip."""
    never = 10**6
    data = asyncio.run(make_data_dir(tmp_path / "data", login={
        "address_delay_after": never, "address_lock_after": never, "account_lock_after": never,
        "address_all_accounts_delay_after": never, "address_all_accounts_lock_after": never}))
    running = ServerThread(data).start()
    try:
        yield running
    finally:
        running.stop()
