"""The MX door with real clients (smtplib, raw sockets): delivery with trace fields,
recipient checks, relay and spoofing refusals, SMTP smuggling, robustness, BDAT, quota."""

from __future__ import annotations

import smtplib
import time

from congthu.smtp import addresses
from tests.smtp.conftest import messages, parse
from tests.smtp.rawclient import Raw

BOB = "ntbinh@soctrang.gov.vn"
OUTSIDE = "vanthu@cantho.gov.vn"
MESSAGE = (b"From: Van thu <vanthu@cantho.gov.vn>\r\nTo: ntbinh@soctrang.gov.vn\r\n"
           b"Subject: test\r\nMessage-ID: <1@cantho.gov.vn>\r\n\r\n.dot line\r\nbody\r\n")


def test_delivers_with_trace_fields(mx):
    bob = mx.add_user(BOB)
    with smtplib.SMTP("127.0.0.1", mx.port("smtp")) as client:
        code, features = client.ehlo("mail.cantho.gov.vn")
        for ext in (b"SIZE", b"8BITMIME", b"SMTPUTF8", b"PIPELINING", b"STARTTLS", b"ENHANCEDSTATUSCODES", b"CHUNKING"):
            assert ext in features
        assert b"AUTH" not in features  # no logins on the MX
        client.sendmail(OUTSIDE, [BOB], MESSAGE)
    [raw] = messages(mx, bob)
    assert raw.startswith(b"Return-Path: <vanthu@cantho.gov.vn>\r\n")
    msg = parse(raw)
    assert "spf=none" in msg["Authentication-Results"] and "mail.soctrang.gov.vn" in msg["Authentication-Results"]
    assert "from mail.cantho.gov.vn ([127.0.0.1])" in msg["Received"]
    assert "for <ntbinh@soctrang.gov.vn>" in msg["Received"]
    assert raw.endswith(b"\r\n\r\n.dot line\r\nbody\r\n")  # dot-stuffing undone


def test_recipient_checks_and_relay(mx):
    mx.add_user(BOB)
    with smtplib.SMTP("127.0.0.1", mx.port("smtp")) as client:
        client.ehlo("mail.cantho.gov.vn")
        assert client.mail(OUTSIDE)[0] == 250
        code, text = client.rcpt("khongco@soctrang.gov.vn")
        assert (code, text[:5]) == (550, b"5.1.1")
        code, text = client.rcpt("someone@gmail.com")  # never an open relay
        assert (code, text[:5]) == (554, b"5.7.1")
        assert client.rcpt("NTBINH@SOCTRANG.GOV.VN")[0] == 250
        assert client.rcpt("postmaster")[0] in (250, 550)


def test_spoofing_our_domain_is_refused(mx):
    bob = mx.add_user(BOB)
    with smtplib.SMTP("127.0.0.1", mx.port("smtp")) as client:
        client.ehlo("evil.example")
        code, text = client.mail("giamdoc@soctrang.gov.vn")
        assert (code, text[:5]) == (550, b"5.7.1")
        client.rset()
        client.mail(OUTSIDE)
        client.rcpt(BOB)
        code, text = client.data(b"From: giamdoc@soctrang.gov.vn\r\nSubject: pay now\r\n\r\nx\r\n")
        assert (code, text[:5]) == (550, b"5.7.1")
    assert messages(mx, bob) == []


def _smuggle(port: int, terminator: bytes) -> tuple[tuple[int, str], list[tuple[int, str]]]:
    raw = Raw(port)
    raw.cmd("EHLO attacker.example")
    assert raw.cmd(f"MAIL FROM:<{OUTSIDE}>")[0] == 250
    assert raw.cmd(f"RCPT TO:<{BOB}>")[0] == 250
    assert raw.cmd("DATA")[0] == 354
    smuggled = (b"From: vanthu@cantho.gov.vn\r\nSubject: first\r\n\r\nhello" + terminator
                + b"MAIL FROM:<admin@soctrang.gov.vn>\r\nRCPT TO:<ntbinh@soctrang.gov.vn>\r\nDATA\r\n"
                + b"From: admin@soctrang.gov.vn\r\nSubject: smuggled\r\n\r\nforged\r\n.\r\n")
    raw.send(smuggled)
    first = raw.reply()
    # Nothing else may come back: the smuggled commands were part of the data. The next
    # replies are exactly those of NOOP and QUIT (a smuggled MAIL would answer 2.1.0).
    extra: list[tuple[int, str]] = []
    noop = raw.cmd("NOOP")
    if not noop[1].startswith("2.0.0"):
        extra.append(noop)
    assert raw.cmd("QUIT")[0] == 221 or extra
    raw.close()
    return first, extra


def test_smtp_smuggling_variants_are_refused(mx):
    bob = mx.add_user(BOB)
    for terminator in (b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n"):
        first, extra = _smuggle(mx.port("smtp"), terminator)
        assert first[0] == 554 and first[1].startswith("5.6.0"), (terminator, first)
        assert extra == [], terminator
    assert messages(mx, bob) == []


def test_envelope_header_injection_and_garbage(mx):
    bob = mx.add_user(BOB)
    raw = Raw(mx.port("smtp"))
    raw.cmd("EHLO x.example")
    assert raw.cmd(b"MAIL FROM:<a@b.example>\rX-Injected: yes")[0] >= 500
    assert raw.cmd(b"MAIL FROM:<a\x01b@cantho.gov.vn>")[0] == 553
    assert raw.cmd(b"MAIL FROM:<a@cantho.gov.vn>")[0] == 250
    assert raw.cmd(b"RCPT TO:<ntbinh@soctrang.gov.vn>\rBcc: x@y.z")[0] >= 500
    assert raw.cmd(b"RCPT TO:<\"nt\rbinh\"@soctrang.gov.vn>")[0] >= 500
    assert raw.cmd(b"\x00\xff\xfe garbage \x80")[0] == 500
    assert raw.cmd(b"X" * 5000)[0] == 500  # overlong command line
    assert raw.cmd("FOO bar")[0] == 500
    assert raw.cmd("NOOP")[0] == 250
    raw.close()
    assert messages(mx, bob) == []
    # The server is alive for the next client.
    with smtplib.SMTP("127.0.0.1", mx.port("smtp")) as client:
        client.sendmail(OUTSIDE, [BOB], MESSAGE)
    assert len(messages(mx, bob)) == 1


def test_overlong_data_line_refused(mx):
    bob = mx.add_user(BOB)
    limit = mx.settings.smtp.max_line_length
    with smtplib.SMTP("127.0.0.1", mx.port("smtp")) as client:
        client.ehlo("x.example")
        client.mail(OUTSIDE)
        client.rcpt(BOB)
        code, text = client.data(b"Subject: long\r\n\r\n" + b"a" * (limit + 10) + b"\r\n")
        assert (code, text[:5]) == (500, b"5.5.2")
        assert client.noop()[0] == 250
    assert messages(mx, bob) == []


def test_bdat_chunking(mx):
    bob = mx.add_user(BOB)
    raw = Raw(mx.port("smtp"))
    raw.cmd("EHLO x.example")
    # BDAT before a transaction: the chunk is consumed, the session stays in step.
    raw.send(b"BDAT 5\r\nhello")
    assert raw.reply()[0] == 503
    assert raw.cmd(f"MAIL FROM:<{OUTSIDE}>")[0] == 250
    assert raw.cmd(f"RCPT TO:<{BOB}>")[0] == 250
    part1 = b"From: vanthu@cantho.gov.vn\r\nSubject: chunked\r\n\r\n"
    part2 = b".starts with a dot\r\nMAIL FROM:<not@a.command>\r\n"
    raw.send(b"BDAT %d\r\n" % len(part1) + part1)
    assert raw.reply()[0] == 250
    raw.send(b"BDAT %d LAST\r\n" % len(part2) + part2)
    code, text = raw.reply()
    assert code == 250, text
    assert raw.cmd("QUIT")[0] == 221
    raw.close()
    [stored] = messages(mx, bob)
    assert stored.endswith(part1 + part2)


def test_idle_client_is_disconnected(tmp_path, dns_server):
    from tests.smtp.conftest import start_server

    server = start_server(tmp_path / "d", dns_server, smtp={"idle_timeout": 1.0})
    try:
        raw = Raw(server.port("smtp"))
        start = time.monotonic()
        raw.sock.settimeout(10)
        data = raw.file.readline()  # blocks until the server hangs up
        assert data == b"" or data.startswith(b"421")
        assert 0.5 < time.monotonic() - start < 8
        raw.close()
        with smtplib.SMTP("127.0.0.1", server.port("smtp")) as client:
            assert client.noop()[0] == 250
    finally:
        server.stop()


def test_quota_full_and_never_fits(mx):
    bob = mx.add_user(BOB)
    mx.run(mx.app.store.update_mailbox(bob, quota_bytes=100_000))
    with smtplib.SMTP("127.0.0.1", mx.port("smtp")) as client:
        client.ehlo("x.example")
        # SIZE larger than the whole quota: it could never fit.
        code, text = client.docmd("MAIL FROM:<vanthu@cantho.gov.vn> SIZE=200000")
        assert code == 250
        code, text = client.rcpt(BOB)
        assert (code, text[:5]) == (552, b"5.2.2")
        client.rset()
        # Fill to above 90%: the owner is warned, once.
        client.sendmail(OUTSIDE, [BOB], MESSAGE + (b"x" * 70 + b"\r\n") * 1260)
        # Now the next message does not fit: 452 at DATA (it passed RCPT, usage < quota).
        client.mail(OUTSIDE)
        assert client.rcpt(BOB)[0] == 250
        code, text = client.data(MESSAGE + (b"y" * 70 + b"\r\n") * 130)
        assert (code, text[:5]) == (452, b"4.2.2")
    stored = messages(mx, bob)
    subjects = [parse(m)["Subject"] for m in stored]
    assert subjects[0] == "test"
    assert sum("Hộp thư sắp đầy" in s for s in subjects) == 1
    # Full: refused at RCPT now (once the few seconds of the recipient cache are over).
    mx.run(mx.app.store.update_mailbox(bob, quota_bytes=sum(len(m) for m in stored)))
    time.sleep(addresses.CACHE_SECONDS + 0.1)
    with smtplib.SMTP("127.0.0.1", mx.port("smtp")) as client:
        client.ehlo("x.example")
        client.mail(OUTSIDE)
        code, text = client.rcpt(BOB)
        assert (code, text[:5]) == (452, b"4.2.2")



def test_quota_warning_rearmed_by_the_first_delivery_below_the_level(mx):
    """Điều 8.1: a mark left by an earlier crossing (another process, before a clean-up)
    is cleared by the first delivery that finds the mailbox below the level, so the next
    crossing warns again; a mailbox that was never warned keeps its mark unset."""
    bob = mx.add_user(BOB)
    mx.run(mx.app.store.update_mailbox(bob, quota_bytes=100_000))
    assert mx.run(mx.app.store.set_quota_warned(bob, True))
    carol = mx.add_user("ltcarol@soctrang.gov.vn")
    with smtplib.SMTP("127.0.0.1", mx.port("smtp")) as client:
        client.sendmail(OUTSIDE, [BOB, "ltcarol@soctrang.gov.vn"], MESSAGE)
    state = {m: mx.run(mx.app.store.get_mailbox_by_id(m)) for m in (bob, carol)}
    assert [state[bob].quota_warned, state[carol].quota_warned] == [False, False]
    with smtplib.SMTP("127.0.0.1", mx.port("smtp")) as client:
        client.sendmail(OUTSIDE, [BOB], MESSAGE + (b"x" * 70 + b"\r\n") * 1260)
    assert mx.run(mx.app.store.get_mailbox_by_id(bob)).quota_warned
    subjects = [parse(m)["Subject"] for m in messages(mx, bob)]
    assert sum("Hộp thư sắp đầy" in s for s in subjects) == 1
