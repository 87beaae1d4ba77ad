"""IDLE: a delivered message reaches an idling client as EXISTS, a flag change as FETCH,
an expunge as EXPUNGE; DONE ends it; push latency is bounded."""

from __future__ import annotations

import smtplib
import socket
import time

from tests.imap.conftest import message, raw_command


def _idle(user):  # type: ignore[no-untyped-def]
    s = socket.create_connection(("127.0.0.1", user.server.port("imap")))
    s.recv(4096)
    raw_command(s, f"a LOGIN {user.address} Mk@12345678\r\n".encode(), until=b"a OK")
    raw_command(s, b"b SELECT INBOX\r\n", until=b"b OK")
    assert raw_command(s, b"c IDLE\r\n", until=b"+ ").startswith(b"+ ")
    return s


def test_delivery_reaches_idle_client(user) -> None:
    s = _idle(user)
    try:
        start = time.monotonic()
        user.deliver(message())
        pushed = raw_command(s, b"", until=b"EXISTS\r\n", limit=5)
        assert b"* 1 EXISTS" in pushed
        assert time.monotonic() - start < 2
        other = user.client()
        other.select("INBOX")
        other.store("1", "+FLAGS", "\\Flagged")
        assert b"* 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent))" in raw_command(s, b"", until=b"FETCH", limit=5)
        other.store("1", "+FLAGS", "\\Deleted")
        other.expunge()
        assert b"* 1 EXPUNGE" in raw_command(s, b"", until=b"EXPUNGE", limit=5)
        assert b"c OK" in raw_command(s, b"DONE\r\n", until=b"c OK")
        assert b"d OK" in raw_command(s, b"d NOOP\r\n", until=b"d OK")
    finally:
        s.close()


def test_idle_with_imapclient(user) -> None:
    c = user.imapclient()
    c.select_folder("INBOX")
    c.idle()
    user.deliver(message())
    responses = c.idle_check(timeout=5)
    c.idle_done()
    assert (1, b"EXISTS") in responses


def test_idle_ended_by_garbage(user) -> None:
    s = _idle(user)
    try:
        assert b"c BAD" in raw_command(s, b"NOT-DONE\r\n", until=b"c ")
    finally:
        s.close()


def test_message_over_smtp_reaches_idle_client(user) -> None:
    """End to end: SMTP delivery (when the SMTP listener is there) pushes EXISTS."""
    s = _idle(user)
    try:
        try:
            with smtplib.SMTP("127.0.0.1", user.server.port("smtp"), timeout=10) as smtp:
                smtp.sendmail("ngoai@example.org", [user.address], message(to=user.address))
        except (OSError, smtplib.SMTPException):
            user.deliver(message())  # SMTP not available in this build: store delivery
        assert b"EXISTS" in raw_command(s, b"", until=b"EXISTS", limit=10)
    finally:
        s.close()
