"""``congthu_logins_total`` counts each login once, on every door: the count is made by
congthu.accounts, which every door goes through, and by no door itself (issue 10: POP3
logins were counted twice)."""

from __future__ import annotations

import imaplib
import poplib
import smtplib
from collections.abc import Callable

import pytest

from congthu import metrics
from tests.conftest import ServerThread

ADDRESS = "dvthong@soctrang.gov.vn"
PASSWORD = "Mk@12345678"


def count(protocol: str, result: str) -> float:
    value = metrics.registry.get_sample_value("congthu_logins_total",
                                              {"protocol": protocol, "result": result})
    return value or 0.0


def pop3_login(server: ServerThread, password: str) -> None:
    client = poplib.POP3("127.0.0.1", server.port("pop3"), timeout=15)
    try:
        client.user(ADDRESS)
        client.pass_(password)
    except poplib.error_proto:
        pass
    finally:
        client.close()


def pop3_sasl_login(server: ServerThread, password: str) -> None:
    import base64
    client = poplib.POP3("127.0.0.1", server.port("pop3"), timeout=15)
    try:
        blob = base64.b64encode(f"\0{ADDRESS}\0{password}".encode()).decode()
        client._shortcmd(f"AUTH PLAIN {blob}")  # type: ignore[attr-defined]
    except poplib.error_proto:
        pass
    finally:
        client.close()


def imap_login(server: ServerThread, password: str) -> None:
    client = imaplib.IMAP4("127.0.0.1", server.port("imap"), timeout=15)
    try:
        client.login(ADDRESS, password)
    except imaplib.IMAP4.error:
        pass
    finally:
        client.shutdown()


def smtp_login(server: ServerThread, password: str) -> None:
    with smtplib.SMTP("127.0.0.1", server.port("submission"), timeout=15) as client:
        client.ehlo()
        # One mechanism only: smtplib's login() tries the next one after a failure.
        client.user, client.password = ADDRESS, password
        try:
            client.auth("PLAIN", client.auth_plain)
        except smtplib.SMTPAuthenticationError:
            pass


DOORS: list[tuple[str, Callable[[ServerThread, str], None]]] = [
    ("pop3", pop3_login), ("pop3", pop3_sasl_login), ("imap", imap_login), ("smtp", smtp_login),
]


@pytest.mark.parametrize(("protocol", "login"), DOORS, ids=["pop3-user", "pop3-sasl", "imap", "smtp"])
def test_each_login_counts_once(server: ServerThread, protocol: str,
                                login: Callable[[ServerThread, str], None]) -> None:
    server.add_user(ADDRESS, PASSWORD, "Đặng Văn Thông")
    ok, failed = count(protocol, "ok"), count(protocol, "failed")
    login(server, PASSWORD)
    assert count(protocol, "ok") == ok + 1
    login(server, "Sai@12345678")
    assert count(protocol, "failed") == failed + 1
    assert count(protocol, "ok") == ok + 1
