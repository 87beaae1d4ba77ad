"""A node behind a real HAProxy (TCP mode, ``send-proxy`` and ``send-proxy-v2``): every
door takes the client's address from the PROXY header (Received, audit, login
throttling, the web's address rules), TLS starts after the header on implicit-TLS
ports, and a connection that does not come from the balancer, or comes without a
header, is closed."""

from __future__ import annotations

import contextlib
import email.policy
import http.client
import imaplib
import json
import logging
import random
import smtplib
import socket
import ssl
import time
from email.message import EmailMessage

import pytest
from ldap3 import Connection, Server

from congthu import audit
from congthu.proxyproto import V2_SIGNATURE
from tests.cluster.conftest import IMAPFrom, IMAPSFrom, POP3From, Proxied
from tests.cluster.haproxy import BALANCER

PASSWORD = "Mk@12345678"
HOST = "127.0.0.1"


@pytest.fixture
def user(proxied: Proxied) -> str:
    """A mailbox of the node's domain, with PASSWORD."""
    address = f"an.nguyen@{proxied.server.settings.system.domain}"
    proxied.server.add_user(address, PASSWORD)
    return address


def _message(subject: str, to: str, sender: str = "sender@partner.example") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content("Kính gửi anh An.\n")
    return msg.as_bytes(policy=email.policy.SMTP)


def _clients(proxied: Proxied, action: str) -> list[str]:
    records = proxied.server.run(audit.records(proxied.server.app, action=action))
    return [r.client for r in records]


def _fetch_all(imap: imaplib.IMAP4) -> list[bytes]:
    imap.select("INBOX")
    _typ, data = imap.search(None, "ALL")
    found = []
    for number in data[0].split():
        _typ, parts = imap.fetch(number, "(BODY.PEEK[])")
        found.append(bytes(parts[0][1]))  # type: ignore[index]
    return found


def test_smtp_through_haproxy_records_the_client_address(proxied: Proxied, user: str) -> None:
    # MX (port 25) behind send-proxy (v1), from the client address 127.0.0.3.
    with smtplib.SMTP(HOST, proxied.port("smtp"), timeout=20, source_address=("127.0.0.3", 0)) as smtp:
        smtp.ehlo("mx.partner.example")
        smtp.sendmail("sender@partner.example", [user], _message("Qua HAProxy", user))
    # Read through the balancer too (IMAP behind send-proxy-v2), from 127.0.0.4.
    imap = IMAPFrom("127.0.0.4", HOST, proxied.port("imap"))
    try:
        imap.login(user, PASSWORD)
        messages = _fetch_all(imap)
    finally:
        imap.logout()
    assert len(messages) == 1
    received = messages[0].split(b"\r\n\r\n", 1)[0]
    assert b"Received: from mx.partner.example ([127.0.0.3])" in received, received
    assert BALANCER.encode() not in received
    # The audit trail names the IMAP client's own address, not the balancer's.
    assert "imap 127.0.0.4" in _clients(proxied, "login")


def test_submission_and_implicit_tls_through_haproxy(proxied: Proxied, user: str) -> None:
    # Submission (587) behind v1, AUTH from 127.0.0.5: the login is recorded with it.
    with smtplib.SMTP(HOST, proxied.port("submission"), timeout=20, source_address=("127.0.0.5", 0)) as smtp:
        smtp.ehlo("laptop")
        smtp.login(user, PASSWORD)
        smtp.sendmail(user, [user], _message("Gửi cho chính mình", user, user))
    assert any(c.endswith("127.0.0.5") for c in _clients(proxied, "login")), _clients(proxied, "login")
    # Implicit TLS behind v2: the header comes first, TLS after it (IMAPS and SMTPS).
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    imaps = IMAPSFrom("127.0.0.6", HOST, proxied.port("imaps"), ssl_context=context)
    try:
        imaps.login(user, PASSWORD)
        assert len(_fetch_all(imaps)) == 1
    finally:
        imaps.logout()
    assert "imap 127.0.0.6" in _clients(proxied, "login")
    with smtplib.SMTP_SSL(HOST, proxied.port("submissions"), timeout=20, context=context,
                          source_address=("127.0.0.7", 0)) as smtps:
        smtps.login(user, PASSWORD)
    assert any(c.endswith("127.0.0.7") for c in _clients(proxied, "login"))


def test_imap_login_throttling_counts_per_proxy_address(proxied: Proxied, user: str) -> None:
    # login.address_lock_after = 3: three failures from 127.0.0.3 lock the account
    # from that address only; both clients reach the node from the same balancer.
    for n in range(3):  # different guesses (the same wrong password again counts once)
        imap = IMAPFrom("127.0.0.3", HOST, proxied.port("imap"))
        with pytest.raises(imaplib.IMAP4.error):
            imap.login(user, f"wrong-password-{n}")
        imap.logout()
    locked = IMAPFrom("127.0.0.3", HOST, proxied.port("imap"))
    with pytest.raises(imaplib.IMAP4.error):
        locked.login(user, PASSWORD)  # the right password, but this address is locked
    locked.logout()
    other = IMAPFrom("127.0.0.4", HOST, proxied.port("imap"))
    typ, _data = other.login(user, PASSWORD)
    assert typ == "OK"
    other.logout()
    failed = _clients(proxied, "login.failed")
    assert failed and all(c == "imap 127.0.0.3" for c in failed), failed


def test_pop3_and_ldap_through_haproxy(proxied: Proxied, user: str) -> None:
    pop = POP3From("127.0.0.8", HOST, proxied.port("pop3"))
    try:
        pop.user(user)
        pop.pass_(PASSWORD)
        assert pop.stat()[0] == 0
    finally:
        pop.quit()
    assert "pop3 127.0.0.8" in _clients(proxied, "login")
    # LDAP behind v2: a failed simple bind is recorded with the client's address.
    conn = Connection(Server(HOST, port=proxied.port("ldap"), connect_timeout=10), user=user,
                      password="wrong-password", source_address="127.0.0.9", receive_timeout=10)
    assert not conn.bind()
    conn.unbind()
    assert any(c.endswith("127.0.0.9") for c in _clients(proxied, "login")), _clients(proxied, "login")


def _get(port: int, path: str, source: str, tls: bool = False) -> int:
    conn: http.client.HTTPConnection
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(HOST, port, timeout=20, source_address=(source, 0), context=context)
    else:
        conn = http.client.HTTPConnection(HOST, port, timeout=20, source_address=(source, 0))
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def test_web_through_haproxy_uses_the_client_address(proxied: Proxied) -> None:
    port = proxied.port("http")
    assert _get(port, "/healthz", "127.0.0.4") == 200
    # web.metrics_allow = 127.0.0.3/32: the address rule sees the client, not the balancer.
    assert _get(port, "/metrics", "127.0.0.3") == 200
    assert _get(port, "/metrics", "127.0.0.4") == 403
    # HTTPS behind the v1 header: TLS starts on the node after it.
    tls_port = proxied.port("https")
    assert _get(tls_port, "/healthz", "127.0.0.4", tls=True) == 200
    assert _get(tls_port, "/metrics", "127.0.0.3", tls=True) == 200
    assert _get(tls_port, "/metrics", "127.0.0.4", tls=True) == 403


def _closed_without_a_word(port: int, source: str, send: bytes = b"", within: float = 5.0) -> float:
    """Connect straight to the node from ``source``, send ``send``; the seconds until the
    node closes the connection, having said nothing."""
    started = time.monotonic()
    with socket.create_connection((HOST, port), timeout=within, source_address=(source, 0)) as sock:
        if send:
            sock.sendall(send)
        data = b""
        try:
            while chunk := sock.recv(4096):
                data += chunk
        except ConnectionResetError:
            pass
    assert data == b"", data
    return time.monotonic() - started


def test_direct_connections_are_refused(proxied: Proxied, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="congthu.events")
    node = proxied.server
    for name in ("smtp", "imap", "pop3", "ldap", "http", "imaps"):
        # Not from the balancer: closed at once, before any greeting.
        assert _closed_without_a_word(node.port(name), "127.0.0.1") < 1.0
    # From the balancer's address but without a header: closed after proxy.header_timeout (1 s).
    assert 0.8 < _closed_without_a_word(node.port("smtp"), BALANCER) < 4.0
    # A client that speaks its protocol first, or a TLS hello: closed at once.
    assert _closed_without_a_word(node.port("smtp"), BALANCER, b"EHLO direct.example\r\n") < 1.0
    assert _closed_without_a_word(node.port("imaps"), BALANCER, b"\x16\x03\x01\x00\xa5\x01") < 1.0
    # A header cut short: closed at the deadline. A malformed one: at once.
    assert 0.8 < _closed_without_a_word(node.port("imap"), BALANCER, b"PROXY TCP4 192.0.2.1 ") < 4.0
    assert _closed_without_a_word(node.port("imap"), BALANCER, b"PROXY TCP4 192.0.2.1 10.0.0.1 1 99999\r\n") < 1.0
    # A well-formed header from the balancer's address is served (a greeting comes).
    with socket.create_connection((HOST, node.port("smtp")), timeout=5, source_address=(BALANCER, 0)) as sock:
        sock.sendall(b"PROXY TCP4 192.0.2.1 10.0.0.1 40000 25\r\n")
        assert sock.recv(4096).startswith(b"220 ")
    # The node is still serving through the balancer after all that.
    with smtplib.SMTP(HOST, proxied.port("smtp"), timeout=20) as smtp:
        assert smtp.noop()[0] == 250
    # Each refusal is one log line with its reason; nothing else (no traceback).
    refusals = [json.loads(r.getMessage()) for r in caplog.records if '"proxy.refused"' in r.getMessage()]
    assert {r["reason"] for r in refusals} == {"untrusted", "timeout", "malformed"}, refusals
    assert {r["listener"] for r in refusals if r["reason"] == "untrusted"} == {
        "smtp", "imap", "pop3", "ldap", "http", "imaps"}
    assert all(r["peer"] in ("127.0.0.1", BALANCER) for r in refusals)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_garbage_from_the_balancer_address_never_hurts_the_node(proxied: Proxied,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """Random, cut and mutated headers sent straight to every PROXY listener (over TCP,
    as the gate reads them): each connection is closed, nothing is logged as an error,
    and the node goes on serving."""
    caplog.set_level(logging.INFO, logger="congthu.events")
    node = proxied.server
    rng = random.Random(20)
    good = [b"PROXY TCP4 192.0.2.1 10.0.0.1 40000 25\r\n",
            V2_SIGNATURE + b"\x21\x11\x00\x0c" + bytes([192, 0, 2, 1, 10, 0, 0, 1, 0x9c, 0x40, 0, 25])]
    for _ in range(40):
        sample = bytearray(rng.choice(good))
        kind = rng.randrange(3)
        if kind == 0:
            payload = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
        elif kind == 1:
            payload = bytes(sample[:rng.randrange(1, len(sample))])  # cut short, then EOF
        else:
            for _ in range(rng.randrange(1, 4)):
                sample[rng.randrange(len(sample))] = rng.randrange(256)
            payload = bytes(sample)
        port = node.port(rng.choice(["smtp", "imap", "imaps", "pop3", "ldap", "http", "submissions"]))
        with (socket.create_connection((HOST, port), timeout=5, source_address=(BALANCER, 0)) as sock,
              contextlib.suppress(OSError)):
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(4096):
                pass
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert not [r for r in caplog.records if "session_error" in r.getMessage()]
    with smtplib.SMTP(HOST, proxied.port("smtp"), timeout=20) as smtp:
        assert smtp.noop()[0] == 250
