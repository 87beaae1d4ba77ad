"""Fixtures of the IMAP tests: one real server per test module (starting one takes
seconds), a fresh mailbox per test, and clients (imaplib, imapclient) logged in to it."""

from __future__ import annotations

import imaplib
import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Any

import pytest

from tests.conftest import ServerThread, serving

PASSWORD = "Mk@12345678"
DOMAIN = "soctrang.gov.vn"
_counter = itertools.count(1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with serving(tmp_path_factory.mktemp("imap") / "data") as running:
        yield running


class User:
    def __init__(self, server: ServerThread, address: str, mailbox_id: int) -> None:
        self.server = server
        self.address = address
        self.id = mailbox_id

    def deliver(self, raw: bytes, folder: str = "INBOX", **kw: Any) -> int:
        results = self.server.run(self.server.app.store.deliver(raw, [self.id], folder=folder, **kw))
        assert results[0].ok, results[0].error
        return results[0].uid  # type: ignore[return-value]

    def client(self) -> imaplib.IMAP4:
        c = imaplib.IMAP4("127.0.0.1", self.server.port("imap"), timeout=30)
        c.login(self.address, PASSWORD)
        return c

    def imapclient(self, **kw: Any) -> Any:
        from imapclient import IMAPClient

        c = IMAPClient("127.0.0.1", port=self.server.port("imap"), ssl=False, timeout=30, **kw)
        c.login(self.address, PASSWORD)
        return c


@pytest.fixture
def new_user(server: ServerThread) -> Callable[..., User]:
    def make(name: str = "", must_change: bool = False) -> User:
        address = f"{name or 'user'}{next(_counter)}@{DOMAIN}"
        mailbox_id = server.add_user(address, PASSWORD, must_change=must_change)
        return User(server, address, mailbox_id)
    return make


@pytest.fixture
def user(new_user: Callable[..., User]) -> User:
    return new_user()


def message(subject: str = "Công văn số 12", body: str = "Nội dung công văn.", *,
            sender: str = "Nguyễn Văn Bình <nvbinh@soctrang.gov.vn>", to: str = "Phòng Tổng hợp <pth@soctrang.gov.vn>",
            date: datetime | None = None, message_id: str | None = None, extra: dict[str, str] | None = None,
            attachment: bytes | None = None) -> bytes:
    """A message with Vietnamese headers (RFC 2047) and text."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or datetime(2026, 3, 2, 8, 30, tzinfo=UTC))
    msg["Message-ID"] = message_id or f"<{next(_counter)}@test.soctrang.gov.vn>"
    for k, v in (extra or {}).items():
        msg[k] = v
    msg.set_content(body)
    if attachment is not None:
        msg.add_attachment(attachment, maintype="application", subtype="pdf", filename="tài liệu.pdf")
    return msg.as_bytes(policy=SMTP)


def raw_command(sock: Any, data: bytes, *, until: bytes, limit: float = 10.0) -> bytes:
    """Send bytes on a raw socket and read until ``until`` appears (tests of the wire)."""
    import time
    sock.sendall(data)
    buf = b""
    deadline = time.monotonic() + limit
    while until not in buf:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
        if time.monotonic() > deadline:
            break
    return buf


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Any]:
    """A private Dovecot 2.3 for the differential tests (skipped when not installed)."""
    from tests.imap.dovecot import Dovecot

    running = Dovecot().start()
    try:
        yield running
    finally:
        running.stop()
