"""Fixtures and helpers of the mail-rule tests: real servers (``tests.conftest``), two
instances exchanging mail through a test DNS server (``tests.smtp``), and clients
(smtplib, imaplib) to send and read mail. ``pair`` (soctrang.gov.vn and cantho.gov.vn,
each the other's MX) is the SMTP tests' fixture."""

from __future__ import annotations

import email
import email.policy
import imaplib
import smtplib

from congthu.mailrules import rules
from congthu.mailrules.vacation import Vacation
from congthu.smtp import queue
from tests.conftest import ServerThread
from tests.smtp.conftest import CT, ST, dns_server, messages, pair, wait_for  # noqa: F401 (fixtures)
from tests.smtp.test_submission import tls_client

PASSWORD = "Mk@12345678"


def submit(server: ServerThread, sender: str, to: list[str], raw: bytes, password: str = PASSWORD) -> None:
    """Send over the submission port (STARTTLS, AUTH) as a mail client does."""
    with smtplib.SMTP("127.0.0.1", server.port("submission")) as client:
        client.starttls(context=tls_client())
        client.ehlo()
        client.login(sender, password)
        client.sendmail(sender, to, raw)


def mx(server: ServerThread, sender: str, to: list[str], raw: bytes, helo: str = "mail.cantho.gov.vn") -> None:
    """Send to the MX port as another mail server does."""
    with smtplib.SMTP("127.0.0.1", server.port("smtp")) as client:
        client.ehlo(helo)
        client.sendmail(sender, to, raw)


def imap_messages(server: ServerThread, address: str, password: str = PASSWORD) -> list[bytes]:
    """Every message of the Inbox, read with imaplib."""
    imap = imaplib.IMAP4("127.0.0.1", server.port("imap"))
    try:
        imap.login(address, password)
        imap.select("INBOX", readonly=True)
        _typ, data = imap.uid("SEARCH", "ALL")
        found: list[bytes] = []
        for uid in data[0].split():
            _typ, fetched = imap.uid("FETCH", uid, "(BODY.PEEK[])")
            found.append(bytes(fetched[0][1]))  # type: ignore[index]
        return found
    finally:
        imap.logout()


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def queued(server: ServerThread, kind: str) -> list[tuple[queue.QueuedMessage, bytes]]:
    """The queued messages of ``kind`` with their bytes."""
    found = server.run(queue.list_queue(server.app))
    return [(m, server.app.store.blobs.get(m.blob)) for m in found if m.kind == kind]


def set_vacation(server: ServerThread, mailbox_id: int, body: str = "Tôi nghỉ phép đến hết tuần.", **values: object) -> None:
    async def save() -> None:
        mailbox = await server.app.store.get_mailbox_by_id(mailbox_id)
        assert mailbox is not None
        await rules.set_vacation(server.app, mailbox, Vacation(**{"enabled": True, "body": body, **values}),  # type: ignore[arg-type]
                                 actor=mailbox.address)
    server.run(save())


def set_forwarding(server: ServerThread, mailbox_id: int, targets: list[str], keep_copy: bool = True) -> None:
    async def save() -> None:
        mailbox = await server.app.store.get_mailbox_by_id(mailbox_id)
        assert mailbox is not None
        await rules.set_forwarding(server.app, mailbox, targets, enabled=True, keep_copy=keep_copy,
                                   actor=mailbox.address)
    server.run(save())


__all__ = ["CT", "PASSWORD", "ST", "imap_messages", "messages", "mx", "pair", "parse", "queued", "set_forwarding",
           "set_vacation", "submit", "wait_for"]
