"""A real Postfix (Debian's ``postfix``, a private instance: tests/smtp/postfix.py) for
cantho.gov.vn as the SMTP peer of Công Thư for soctrang.gov.vn, both on loopback.

* Postfix -> Công Thư: a message submitted to Postfix for ntbinh@soctrang.gov.vn is
  relayed (transport_maps, STARTTLS) to Công Thư's MX port and lands in the Inbox intact:
  Vietnamese subject and attachment name, attachment bytes, the Received chain of both
  MTAs, Authentication-Results with SPF and DMARC passing on the test DNS server.
* Công Thư -> Postfix: a user submits on 587; the outbound queue finds cantho.gov.vn's MX
  on the test DNS server and delivers to Postfix's smtpd (``smtp.mx_port``); the file
  appears in Postfix's maildir, with a DKIM-Signature that still verifies there.
"""

from __future__ import annotations

import email.policy
import smtplib
import subprocess
from collections.abc import Iterator
from email.header import Header

import dkim
import pytest

from congthu.smtp import dkimsign, queue
from tests.conftest import ServerThread, free_port
from tests.smtp.conftest import PASSWORD, messages, parse, start_server, wait_for
from tests.smtp.dnsserver import DNSServer
from tests.smtp.postfix import Postfix, installed
from tests.smtp.test_submission import FILENAME, SUBJECT, tls_client, vietnamese_message

ST, CT = "soctrang.gov.vn", "cantho.gov.vn"
BINH, LAN = f"ntbinh@{ST}", f"ttlan@{CT}"
NOTICE = "Thông báo của UBND thành phố Cần Thơ"
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerThread, Postfix]]:
    """One Công Thư, one Postfix and one test DNS server for the module (starting and
    stopping Postfix takes seconds); each test finds its own message by subject."""
    if not installed():
        pytest.fail("Debian's postfix package and root are needed (make test installs postfix)")
    congthu_port, postfix_port = free_port(), free_port()
    while postfix_port == congthu_port:
        postfix_port = free_port()
    dns_server = DNSServer().start()
    st: ServerThread | None = None
    postfix: Postfix | None = None
    try:
        # Công Thư for soctrang.gov.vn: MX lookups on the test DNS server, remote MX port = Postfix's.
        st = start_server(tmp_path_factory.mktemp("postfix-peer") / "st", dns_server,
                          listen={"smtp": congthu_port}, smtp={"mx_port": postfix_port},
                          system={"domain": ST, "hostname": f"mail.{ST}"})
        postfix = Postfix(CT, postfix_port, mailboxes=[LAN], transports={ST: congthu_port})
        postfix.start()
        dns_server.add(CT, "MX", f"10 mail.{CT}.")
        dns_server.add(f"mail.{CT}", "A", "127.0.0.1")
        dns_server.add_txt(CT, "v=spf1 ip4:127.0.0.1 -all")
        dns_server.add_txt(f"_dmarc.{CT}", "v=DMARC1; p=reject")
        record = dkimsign.dns_record(st.app)
        assert record
        dns_server.add_txt(f"congthu._domainkey.{ST}", record)
        st.add_user(BINH)
        yield st, postfix
    finally:
        try:
            if postfix is not None:
                postfix.stop()
        finally:
            if st is not None:
                st.stop()
            dns_server.stop()


def inbox_with_subject(st: ServerThread, subject: str) -> list[bytes]:
    async def mailbox_id() -> int:
        found = await st.app.store.get_mailbox(BINH)
        assert found is not None
        return int(found.id)
    return [m for m in messages(st, st.run(mailbox_id())) if parse(m)["Subject"] == subject]


def diagnostics(postfix: Postfix) -> str:
    return f"\n--- postqueue -p ---\n{postfix.queue_listing()}\n--- maillog ---\n{postfix.log_text()}"


def test_postfix_relays_into_congthu_inbox(peers):
    st, postfix = peers
    sent = vietnamese_message(sender=LAN, to=BINH, attachment=PDF)
    with smtplib.SMTP("127.0.0.1", postfix.port, local_hostname="may-tram.cantho.gov.vn") as client:
        client.starttls(context=tls_client())
        client.ehlo("may-tram.cantho.gov.vn")
        refused = client.send_message(sent, LAN, [BINH])
        assert refused == {}
    try:
        [raw] = wait_for(lambda: inbox_with_subject(st, SUBJECT), timeout=30)
    except AssertionError:
        pytest.fail("not delivered by Postfix to Công Thư" + diagnostics(postfix))
    msg = parse(raw)
    assert msg["Subject"] == SUBJECT
    assert msg["Return-Path"] == f"<{LAN}>"
    assert str(msg["From"]) == f"Nguyễn Thanh Bình <{LAN}>"
    body, attachment = list(msg.iter_parts())
    assert "Kính gửi anh Thông" in body.get_content()
    assert attachment.get_filename() == FILENAME
    assert attachment.get_content() == PDF
    # The Received chain, newest first: Công Thư's MX (Postfix's client used STARTTLS),
    # then Postfix's smtpd (our client used STARTTLS).
    received = [" ".join(str(r).split()) for r in msg.get_all("Received") or []]
    assert len(received) == 2, received
    assert received[0].startswith(f"from mail.{CT} ([127.0.0.1]) by mail.{ST} (Cong Thu) with ESMTPS")
    assert f"for <{BINH}>" in received[0]
    assert "may-tram.cantho.gov.vn" in received[1] and f"by mail.{CT} (Postfix) with ESMTPS" in received[1]
    results = msg["Authentication-Results"]
    assert results.startswith(f"mail.{ST}")
    assert f"spf=pass smtp.mailfrom={LAN}" in results
    assert f"dmarc=pass (p=reject) header.from={CT}" in results
    # Postfix logs the hand-over once Công Thư's 250 reached it.
    relay = f"to=<{BINH}>, relay=127.0.0.1[127.0.0.1]:{st.port('smtp')}"
    [line] = wait_for(lambda: [x for x in postfix.log_text().splitlines() if relay in x], timeout=10)
    assert "status=sent (250 2.0.0" in line, line


def test_sendmail_command_of_the_postfix_instance(peers):
    """Postfix's own sendmail(1) (-C: this instance), the way a local program sends."""
    st, postfix = peers
    subject = Header(NOTICE, "utf-8").encode()
    raw = (f"From: {LAN}\nTo: {BINH}\nSubject: {subject}\nMIME-Version: 1.0\n"
           "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
           "Nội dung thông báo.\n").encode()
    result = subprocess.run(["/usr/sbin/sendmail", "-C", str(postfix.config), "-f", LAN, "-i", BINH],
                            input=raw, capture_output=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace") + diagnostics(postfix)
    try:
        [arrived] = wait_for(lambda: inbox_with_subject(st, NOTICE), timeout=30)
    except AssertionError:
        pytest.fail("not delivered by Postfix to Công Thư" + diagnostics(postfix))
    msg = parse(arrived)
    assert msg.get_content().strip() == "Nội dung thông báo."
    # Postfix's pickup adds its own Received ("with ESMTP"-less local submission).
    received = [" ".join(str(r).split()) for r in msg.get_all("Received") or []]
    assert len(received) == 2 and "(Postfix, from userid 0)" in received[1], received


def test_congthu_delivers_to_postfix_maildir_with_dkim(peers):
    st, postfix = peers
    sent = vietnamese_message(sender=BINH, to=LAN, attachment=PDF)
    with smtplib.SMTP("127.0.0.1", st.port("submission")) as client:
        client.starttls(context=tls_client())
        client.ehlo()
        client.login(BINH, PASSWORD)
        assert client.send_message(sent, BINH, [LAN]) == {}
    try:
        [raw] = wait_for(lambda: postfix.delivered(LAN), timeout=30)
    except AssertionError:
        outbound = st.run(queue.list_queue(st.app))
        pytest.fail(f"not delivered by Công Thư to Postfix; queue: {outbound}" + diagnostics(postfix))
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"] == SUBJECT
    assert msg["Delivered-To"] == LAN and msg["Return-Path"] == f"<{BINH}>"
    body, attachment = list(msg.iter_parts())  # type: ignore[attr-defined]
    assert attachment.get_filename() == FILENAME and attachment.get_content() == PDF
    signature = msg["DKIM-Signature"]
    assert signature and f"d={ST}" in " ".join(str(signature).split())
    # Postfix's Received (Công Thư's client used STARTTLS) above Công Thư's submission one.
    received = [" ".join(str(r).split()) for r in msg.get_all("Received") or []]
    assert f"from mail.{ST}" in received[0] and f"by mail.{CT} (Postfix) with ESMTPS" in received[0], received
    assert f"by mail.{ST} (Cong Thu) with ESMTPSA" in received[1], received
    # The signature still verifies at the receiving end, against the published key.
    record = dkimsign.dns_record(st.app)
    assert record is not None

    def dns_txt(name: bytes, timeout: int = 5) -> bytes | None:
        return record.encode() if name.rstrip(b".") == f"congthu._domainkey.{ST}".encode() else None

    assert dkim.verify(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), dnsfunc=dns_txt)
    assert st.run(queue.list_queue(st.app)) == []


def test_postfix_relays_smtputf8_mail(peers):
    """RFC 6531/6532: raw UTF-8 in the header, sent with SMTPUTF8 to Postfix, which
    relays it with SMTPUTF8 to Công Thư (it would bounce it if the extension were missing)."""
    st, postfix = peers
    subject = "Giấy mời họp — Ủy ban nhân dân tỉnh Sóc Trăng"
    raw = (f"From: Trần Thị Lan <{LAN}>\r\nTo: Nguyễn Thanh Bình <{BINH}>\r\nSubject: {subject}\r\n"
           "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
           "Content-Transfer-Encoding: 8bit\r\n\r\nKính mời đồng chí dự họp.\r\n").encode()
    with smtplib.SMTP("127.0.0.1", postfix.port) as client:
        client.ehlo("may-tram.cantho.gov.vn")
        assert client.has_extn("smtputf8")
        assert client.sendmail(LAN, [BINH], raw, mail_options=["SMTPUTF8", "BODY=8BITMIME"]) == {}
    try:
        [arrived] = wait_for(lambda: inbox_with_subject(st, subject), timeout=30)
    except AssertionError:
        pytest.fail("not delivered by Postfix to Công Thư" + diagnostics(postfix))
    msg = parse(arrived)
    assert str(msg["From"]) == f"Trần Thị Lan <{LAN}>"
    assert msg.get_content().strip() == "Kính mời đồng chí dự họp."
    received = " ".join(str((msg.get_all("Received") or [""])[0]).split())
    assert f"by mail.{ST} (Cong Thu) with UTF8SMTPS" in received, received
