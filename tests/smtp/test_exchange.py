"""Two Công Thư instances (soctrang.gov.vn and cantho.gov.vn) exchanging mail both ways
through MX lookup on a test DNS server, DKIM-signed by one and verified by the other;
and a remote that is down: queued, retried, a delay notice, then a bounce (RFC 3464)."""

from __future__ import annotations

import smtplib
from pathlib import Path

from congthu.smtp import queue
from tests.conftest import ServerThread, free_port
from tests.smtp.conftest import CT, PASSWORD, ST, messages, parse, start_server, wait_for
from tests.smtp.dnsserver import DNSServer
from tests.smtp.test_submission import tls_client

BINH, LAN = f"ntbinh@{ST}", f"ttlan@{CT}"


def submit(server: ServerThread, sender: str, to: str, subject: str) -> None:
    with smtplib.SMTP("127.0.0.1", server.port("submission")) as client:
        client.starttls(context=tls_client())
        client.ehlo()
        client.login(sender, PASSWORD)
        client.sendmail(sender, [to], (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n\r\n"
                                       "Kính gửi,\r\nNội dung.\r\n").encode())


def test_two_instances_exchange_mail_with_dkim(pair):
    st, ct = pair
    binh, lan = st.add_user(BINH), ct.add_user(LAN)
    submit(st, BINH, LAN, "Từ Sóc Trăng")
    [arrived] = wait_for(lambda: messages(ct, lan))
    msg = parse(arrived)
    assert msg["Subject"] == "Từ Sóc Trăng"
    results = msg["Authentication-Results"]
    assert results.startswith(f"mail.{CT}")
    assert f"dkim=pass header.d={ST}" in results
    assert "spf=pass" in results and "dmarc=pass" in results
    assert msg["DKIM-Signature"] and f"d={ST}" in msg["DKIM-Signature"]
    assert len(msg.get_all("Received")) == 2  # submission at Sóc Trăng, MX at Cần Thơ

    submit(ct, LAN, BINH, "Trả lời từ Cần Thơ")
    [back] = wait_for(lambda: messages(st, binh))
    results = parse(back)["Authentication-Results"]
    assert f"dkim=pass header.d={CT}" in results and "dmarc=pass" in results
    # The sender removes a message from its queue after the receiver's 250, which can
    # come a moment after the receiver shows it in the mailbox.
    wait_for(lambda: st.run(queue.list_queue(st.app)) == [] and ct.run(queue.list_queue(ct.app)) == [],
             timeout=10)


def test_forged_dkim_fails_dmarc_and_is_refused(pair):
    st, ct = pair
    ct.add_user(LAN)
    with smtplib.SMTP("127.0.0.1", ct.port("smtp")) as client:
        client.ehlo("mail.spammer.example")
        # The From claims soctrang.gov.vn, unsigned, from an envelope domain that does not
        # align: DMARC fails and soctrang.gov.vn publishes p=reject.
        client.mail("x@spammer.example")
        client.rcpt(LAN)
        code, text = client.data(f"From: giamdoc@{ST}\r\nSubject: chuyen tien\r\n\r\nx\r\n".encode())
        assert (code, text[:5]) == (550, b"5.7.1") and b"DMARC" in text


def test_remote_down_is_retried_then_bounced(tmp_path: Path, dns_server: DNSServer):
    dead = free_port()  # nothing listens there
    st = start_server(tmp_path / "st", dns_server, smtp={
        "mx_port": dead, "queue_lifetime_hours": 4 / 3600, "delay_notice_hours": 1 / 3600})
    try:
        dns_server.add(CT, "MX", f"10 mail.{CT}.")
        dns_server.add(f"mail.{CT}", "A", "127.0.0.1")
        binh = st.add_user(BINH)
        submit(st, BINH, LAN, "Gửi Cần Thơ")
        attempts = wait_for(lambda: [r.attempts for m in st.run(queue.list_queue(st.app)) for r in m.recipients
                                     if r.attempts >= 2], timeout=10)
        assert attempts
        notices = wait_for(lambda: [m for m in messages(st, binh)
                                    if "Undelivered mail" in str(parse(m)["Subject"])], timeout=20)
        assert st.run(queue.list_queue(st.app)) == []
        subjects = [str(parse(m)["Subject"]) for m in messages(st, binh)]
        assert any("Delivery delayed" in s for s in subjects)  # the delay notice came first
        bounce = parse(notices[0])
        assert bounce.get_content_type() == "multipart/report"
        assert bounce.get_param("report-type") == "delivery-status"
        text, status, headers = list(bounce.iter_parts())
        body = text.get_content()
        assert "không gửi được" in body and LAN in body and "could not be delivered" in body
        report = status.as_string()
        assert f"Final-Recipient: rfc822; {LAN}" in report
        assert "Action: failed" in report and "Status: 5.4.7" in report
        assert "Subject:" in headers.as_string()
        assert bounce["Auto-Submitted"] == "auto-replied"
    finally:
        st.stop()


def test_smtputf8_mail_goes_out_after_starttls(pair):
    """RFC 3207 section 4.2: after STARTTLS the client asks EHLO again; the extensions of
    the first EHLO no longer count. A recipient with a Vietnamese local part needs
    SMTPUTF8 (RFC 6531) at the next hop, which Cần Thơ offers after TLS: the message
    arrives (it used to bounce, the extensions being read from the emptied list)."""
    st, ct = pair
    st.add_user(BINH)
    recipient = f"trần@{CT}"
    tran = ct.add_user(recipient)
    with smtplib.SMTP("127.0.0.1", st.port("submission")) as client:
        client.starttls(context=tls_client())
        client.ehlo()
        client.login(BINH, PASSWORD)
        client.sendmail(BINH, [recipient], (f"From: {BINH}\r\nTo: {recipient}\r\nSubject: UTF-8\r\n\r\n"
                                            "Nội dung.\r\n").encode(), mail_options=["SMTPUTF8"])
    [arrived] = wait_for(lambda: messages(ct, tran), timeout=30)
    assert f"To: {recipient}".encode() in arrived
