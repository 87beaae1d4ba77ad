"""The author-field corpus (``tests/mime/test_mime_authors.py``) on the three paths that
decide from it, with smtplib against a running server: the MX's anti-spoofing rule
(with DNS answering, and with DNS that never answers: the decision must be the same),
DMARC's author domain, and submission's send-as check. Each case: the sender a client
shows and the server's reply."""

from __future__ import annotations

import smtplib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from congthu.mime.authors import read_authors
from tests.conftest import ServerThread
from tests.mime.test_mime_authors import CORPUS, IDN
from tests.smtp.conftest import PASSWORD, messages, start_server
from tests.smtp.dnsserver import DNSServer
from tests.smtp.test_submission import tls_client

BOB = "ntbinh@soctrang.gov.vn"
AN = "dvthong@soctrang.gov.vn"
OUTSIDE = "vanthu@cantho.gov.vn"


class SilentDNS:
    """A DNS server that never answers (a resolver that gets no reply)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"

    def stop(self) -> None:
        self.sock.close()


@pytest.fixture
def server(tmp_path: Path, dns_server: DNSServer) -> Iterator[ServerThread]:
    """soctrang.gov.vn and an IDN domain, resolving through the test DNS server."""
    running = start_server(tmp_path / "data", dns_server, system={"extra_domains": [IDN]})
    try:
        yield running
    finally:
        running.stop()


def _send(port: int, header: bytes, mail_from: str = OUTSIDE, rcpt: str = BOB) -> tuple[int, str]:
    body = b"To: " + rcpt.encode() + b"\r\n" + header + b"\r\nSubject: corpus\r\n\r\nx\r\n"
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        client.ehlo("mail.cantho.gov.vn")
        assert client.mail(mail_from, ["SMTPUTF8"] if not body.isascii() else [])[0] == 250
        assert client.rcpt(rcpt)[0] == 250
        try:
            code, text = client.data(body)
        except smtplib.SMTPDataError as exc:
            code, text = exc.smtp_code, exc.smtp_error
    return code, text.decode("utf-8", "replace")[:5]


def _mx_expected(header: bytes, ours: bool, from_fields: int) -> tuple[int, str]:
    if header.count(b"\n") != header.count(b"\r\n"):
        return 554, "5.6.0"  # a bare LF refuses the whole message (RFC 5321 section 2.3.8)
    if from_fields > 1:
        return 554, "5.6.0"
    return (550, "5.7.1") if ours else (250, "2.0.0")


def test_mx_corpus(server: ServerThread) -> None:
    bob = server.add_user(BOB)
    table: list[tuple[str, str, tuple[int, str], tuple[int, str]]] = []
    for case, header, shown, ours, from_fields in CORPUS:
        got = _send(server.port("smtp"), header)
        table.append((case, shown, got, _mx_expected(header, ours, from_fields)))
    print("\n".join(f"{case:55} {shown[:50]:50} {got}" for case, shown, got, _e in table))
    assert [(c, got) for c, _s, got, _e in table] == [(c, expected) for c, _s, _g, expected in table]
    delivered = messages(server, bob)
    accepted = [c for c, _s, got, _e in table if got[0] == 250]
    assert len(delivered) == len(accepted)
    for raw in delivered:  # nothing delivered shows one of our addresses as its author
        assert not any(d in ("soctrang.gov.vn", IDN) for d in read_authors(raw).claimed_domains())


@pytest.mark.parametrize("field", ["Sender", "Sender :", "Resent-From", "RESENT-FROM :", "Resent-Sender"])
def test_mx_refuses_our_domain_in_every_author_field(server: ServerThread, field: str) -> None:
    server.add_user(BOB)
    name = field.rstrip(" :")
    colon = " :" if field.endswith(":") else ":"
    header = f"From: {OUTSIDE}\r\n{name}{colon} Ban giam doc <giamdoc@soctrang.gov.vn>".encode()
    assert _send(server.port("smtp"), header) == (550, "5.7.1")


def test_mx_idn_domain_in_either_form_is_ours(server: ServerThread) -> None:
    server.add_user(BOB)
    for mail_from, expected in (("a@xn--stt-vnz.gov.vn", 550), (f"a@{IDN}", 550), ("a@XN--STT-VNZ.GOV.VN", 550),
                                ("a@XN--STT-VNZ.GOV.VN.", 553)):  # a trailing dot is no RFC 5321 domain
        with smtplib.SMTP("127.0.0.1", server.port("smtp")) as client:
            client.ehlo("x.example")
            code, _text = client.mail(mail_from, ["SMTPUTF8"])
            assert code == expected, mail_from


def test_mx_decision_does_not_depend_on_dns(tmp_path: Path) -> None:
    """The issue's case: with DNS that gives no answer, ``From : ntbinh@...`` was
    accepted. Every refused case of the corpus is refused at once without DNS too.

    Each refused transaction leaves its SPF lookup waiting for that silent DNS (15 s):
    they wait on threads of their own, so a submitted message large enough to be
    analysed in a worker thread is delivered at once meanwhile, and the server stops at
    once (both waited for the lookups when they held asyncio's default threads)."""
    silent = SilentDNS()
    try:
        running = start_server(tmp_path / "data", silent,  # type: ignore[arg-type]
                               system={"extra_domains": [IDN]})
        try:
            bob = running.add_user(BOB)
            for case, header, _shown, ours, from_fields in CORPUS:
                if not ours:
                    continue  # an accepted message waits for the DNS timeouts (SPF, DMARC)
                got = _send(running.port("smtp"), header)
                assert got == _mx_expected(header, ours, from_fields), case
            assert messages(running, bob) == []
            started = time.monotonic()
            with smtplib.SMTP("127.0.0.1", running.port("submission"), timeout=60) as client:
                client.starttls(context=tls_client())
                client.login(BOB, PASSWORD)
                body = b"".join(b"%06d dong thu / a line of the message\r\n" % i for i in range(2500))
                client.sendmail(BOB, [BOB], b"From: " + BOB.encode() + b"\r\nSubject: lon / large\r\n\r\n" + body)
            assert len(messages(running, bob)) == 1
            assert time.monotonic() - started < 8, "the delivery waited for the SPF lookups"
        finally:
            stopping = time.monotonic()
            running.stop()
        assert time.monotonic() - stopping < 8, "the server's stop waited for the SPF lookups"
    finally:
        silent.stop()


def test_dmarc_reads_the_author_as_the_reader_does(server: ServerThread, dns_server: DNSServer) -> None:
    """DMARC's author domain (RFC 7489 section 3.1) comes from the same reader: a From
    written with obsolete syntax, in capitals or with a trailing dot still fails the
    sender domain's p=reject policy."""
    dns_server.add_txt("cantho.gov.vn", "v=spf1 -all")
    dns_server.add_txt("_dmarc.cantho.gov.vn", "v=DMARC1; p=reject")
    dns_server.add_txt("hue.gov.vn", "v=spf1 -all")
    bob = server.add_user(BOB)
    cases = [
        (b"From: vanthu@cantho.gov.vn", (550, "5.7.1")),
        (b"From : vanthu@cantho.gov.vn", (550, "5.7.1")),
        (b'From : "Van thu" <vanthu@CANTHO.GOV.VN.>', (550, "5.7.1")),
        (b"FROM:\r\n =?utf-8?q?V=C4=83n_th=C6=B0?=\r\n <vanthu@cantho.gov.vn>", (550, "5.7.1")),
        (b"From: a@hue.gov.vn", (250, "2.0.0")),  # no DMARC record: delivered
    ]
    got = [_send(server.port("smtp"), header, mail_from="a@hue.gov.vn") for header, _e in cases]
    assert got == [expected for _h, expected in cases]
    [delivered] = messages(server, bob)
    assert b"dmarc=none" in delivered


SUBMISSION_CASES: list[tuple[str, bytes, tuple[int, str]]] = [
    ("own address", b"From: ntbinh@soctrang.gov.vn", (250, "2.0.0")),
    ("own, capitals and trailing dot", b"From: =?utf-8?q?B=C3=ACnh?= <ntbinh@SOCTRANG.GOV.VN.>", (250, "2.0.0")),
    ("own, folded in the domain", b"From: ntbinh@soctrang\r\n .gov.vn", (250, "2.0.0")),
    ("another's, space before colon", b"From : dvthong@soctrang.gov.vn", (550, "5.7.1")),
    ("another's in the display name", b'From: "dvthong@soctrang.gov.vn" <ntbinh@soctrang.gov.vn>',
     (550, "5.7.1")),
    ("another's in an encoded word", b"From: =?utf-8?q?dvthong=40soctrang.gov.vn?= <ntbinh@soctrang.gov.vn>",
     (550, "5.7.1")),
    ("two addresses", b"From: ntbinh@soctrang.gov.vn, dvthong@soctrang.gov.vn", (550, "5.7.1")),
    ("another's folded without a comma", b"From: ntbinh@soctrang.gov.vn\r\n\tdvthong@soctrang.gov.vn",
     (550, "5.7.1")),
    ("another's Sender", b"From: ntbinh@soctrang.gov.vn\r\nSender : dvthong@soctrang.gov.vn", (550, "5.7.1")),
    ("another's Resent-From", b"From: ntbinh@soctrang.gov.vn\r\nResent-From: dvthong@soctrang.gov.vn",
     (550, "5.7.1")),
    ("quoted local part", b'From: "x@attacker.example"@soctrang.gov.vn', (550, "5.7.1")),
    ("two From fields", b"From: ntbinh@soctrang.gov.vn\r\nFrom: ntbinh@soctrang.gov.vn", (554, "5.6.0")),
    ("no From", b"X-No-From: yes", (554, "5.6.0")),
    ("empty group", b"From: undisclosed-recipients:;", (554, "5.6.0")),
]


def test_submission_corpus(server: ServerThread) -> None:
    server.add_user(BOB)
    an = server.add_user(AN)
    got: list[tuple[str, tuple[int, str]]] = []
    with smtplib.SMTP("127.0.0.1", server.port("submission")) as client:
        client.starttls(context=tls_client())
        client.ehlo()
        client.login(BOB, PASSWORD)
        for case, header, _expected in SUBMISSION_CASES:
            client.mail(BOB)
            client.rcpt(AN)
            code, text = client.data(b"To: " + AN.encode() + b"\r\n" + header + b"\r\nSubject: x\r\n\r\nx\r\n")
            got.append((case, (code, text.decode()[:5])))
    assert got == [(case, expected) for case, _h, expected in SUBMISSION_CASES]
    assert len(messages(server, an)) == sum(1 for _c, _h, e in SUBMISSION_CASES if e[0] == 250)
