"""The DSN extension of SMTP (RFC 3461) and the notices it asks for (RFC 3464).

* The parameters on the wire, compared with a real Postfix (Debian's ``postfix``, a
  private instance: ``tests/smtp/postfix.py``): both offer DSN in EHLO, take well-formed
  RET, ENVID, NOTIFY and ORCPT, and refuse malformed or repeated ones with 501 5.5.4.
* Two Công Thư instances (soctrang.gov.vn, cantho.gov.vn): a user submits (smtplib,
  port 587) with RET, ENVID and per-recipient NOTIFY and ORCPT. A local recipient with
  NOTIFY=SUCCESS gives a "delivered" notice with Original-Envelope-Id and
  Original-Recipient; the remote instance, which offers DSN, is handed the parameters
  (ORCPT re-encoded as xtext) and sends its own "delivered" notice, so no "relayed" one
  comes from here; NOTIFY=NEVER silences a failure; NOTIFY=FAILURE with RET=FULL returns
  the whole message.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path

import pytest

from congthu.smtp import queue
from tests.conftest import ServerThread, free_port
from tests.smtp.conftest import CT, PASSWORD, ST, messages, parse, start_server, wait_for
from tests.smtp.dnsserver import DNSServer
from tests.smtp.postfix import Postfix, installed
from tests.smtp.test_submission import tls_client

BINH, AN, LAN = f"ntbinh@{ST}", f"ltan@{ST}", f"ttlan@{CT}"

# (MAIL parameters, RCPT parameters) and whether both servers accept them (else 501 5.5.4).
CASES = [
    ("RET=FULL ENVID=QA+2B123", "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x+2By@example.org", True),
    ("RET=HDRS", "NOTIFY=NEVER", True),
    ("", "notify=delay,failure orcpt=RFC822;ABC@example.org", True),
    ("RET=ALL", "", False),
    ("RET=FULL RET=HDRS", "", False),
    ("ENVID=a=b", "", True),  # "=" is outside xtext, but Postfix takes it as itself
    ("", "NOTIFY=SOMETIMES", False),
    ("", "NOTIFY=NEVER,SUCCESS", False),
    ("", "NOTIFY=DELAY NOTIFY=DELAY", False),
    ("", "ORCPT=rfc822", False),
    ("", "ORCPT=rfc822;a+zzb@example.org", False),
]


def transaction(port: int, recipient: str, mail_params: str, rcpt_params: str) -> list[tuple[int, str]]:
    """EHLO, MAIL, RCPT, RSET on the given port; (code, enhanced status) of MAIL and RCPT."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("client.example.org")
        assert client.has_extn("dsn")
        replies = []
        code, text = client.docmd(f"MAIL FROM:<sender@example.org> {mail_params}".rstrip())
        replies.append((code, text.decode()[:5]))
        if code == 250:
            code, text = client.docmd(f"RCPT TO:<{recipient}> {rcpt_params}".rstrip())
            replies.append((code, text.decode()[:5]))
        client.rset()
        return replies


def test_parameters_are_read_as_postfix_reads_them(tmp_path: Path, dns_server: DNSServer) -> None:
    if not installed():
        pytest.fail("Debian's postfix package and root are needed (make test installs postfix)")
    st = start_server(tmp_path / "st", dns_server, system={"domain": ST, "hostname": f"mail.{ST}"})
    postfix = Postfix(CT, free_port(), mailboxes=[LAN], transports={})
    try:
        postfix.start()
        st.add_user(BINH)
        for mail_params, rcpt_params, accepted in CASES:
            ours = transaction(st.port("smtp"), BINH, mail_params, rcpt_params)
            theirs = transaction(postfix.port, LAN, mail_params, rcpt_params)
            assert [c for c, _s in ours] == [c for c, _s in theirs], (mail_params, rcpt_params, ours, theirs)
            assert (ours[-1][0] == 250) == accepted, (mail_params, rcpt_params, ours)
            if not accepted:
                assert ours[-1] == (501, "5.5.4") and theirs[-1] == (501, "5.5.4")
    finally:
        postfix.stop()
        st.stop()


def message(subject: str, to: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = BINH, to, subject
    msg.set_content("Kính gửi,\nNội dung của thư.\n")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def send(st: ServerThread, mail_options: list[str], recipients: list[tuple[str, list[str]]], raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", st.port("submission"), timeout=30) as client:
        client.starttls(context=tls_client())
        client.ehlo()
        assert client.has_extn("dsn")
        client.login(BINH, PASSWORD)
        assert client.mail(BINH, mail_options)[0] == 250
        for address, options in recipients:
            assert client.rcpt(address, options)[0] == 250
        assert client.data(raw)[0] == 250


def reports(server: ServerThread, mailbox_id: int) -> list[tuple[EmailMessage, str]]:
    """The notices in the INBOX with their delivery-status text."""
    found = []
    for raw in messages(server, mailbox_id):
        msg = parse(raw)
        if msg.get_content_type() == "multipart/report":
            parts = list(msg.iter_parts())
            found.append((msg, parts[1].as_string()))
    return found


def test_notices_as_the_sender_asked(pair: tuple[ServerThread, ServerThread]) -> None:
    st, ct = pair
    binh = st.add_user(BINH)
    an, lan = st.add_user(AN), ct.add_user(LAN)
    send(st, ["RET=HDRS", "ENVID=QA+2B123"], [
        (AN, ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;an.original@soctrang.gov.vn"]),
        (LAN, ["NOTIFY=SUCCESS", "ORCPT=rfc822;lan+2Boriginal@cantho.gov.vn"]),
        (f"nobody@{CT}", ["NOTIFY=NEVER"]),
    ], message("Giấy mời họp", f"{AN}, {LAN}"))
    send(st, ["RET=FULL"], [(f"ghost@{CT}", ["NOTIFY=FAILURE", "ORCPT=rfc822;ghost@cantho.gov.vn"])],
         message("Báo cáo tháng", f"ghost@{CT}"))
    assert wait_for(lambda: messages(st, an)) and wait_for(lambda: messages(ct, lan))
    found = wait_for(lambda: (lambda r: r if len(r) >= 3 else None)(reports(st, binh)), timeout=30)
    wait_for(lambda: st.run(queue.list_queue(st.app)) == [] and ct.run(queue.list_queue(ct.app)) == [],
             timeout=20)
    found = reports(st, binh)
    by_reporter = {("ct" if f"Reporting-MTA: dns; mail.{CT}" in status else "st", action): (msg, status)
                   for msg, status in found
                   for action in ("delivered", "relayed", "failed", "delayed") if f"Action: {action}" in status}
    # Exactly three: ours "delivered" (AN), Cần Thơ's "delivered" (LAN), ours "failed"
    # (ghost); none for nobody@ (NEVER), no "relayed" (Cần Thơ took the parameters).
    assert sorted(by_reporter) == [("ct", "delivered"), ("st", "delivered"), ("st", "failed")], found
    assert len(found) == 3

    _msg, status = by_reporter[("st", "delivered")]
    assert "Reporting-MTA: dns; mail.soctrang.gov.vn" in status
    assert "Original-Envelope-Id: QA+123" in status
    assert "Original-Recipient: rfc822;an.original@soctrang.gov.vn" in status
    assert f"Final-Recipient: rfc822; {AN}" in status and "Status: 2.0.0" in status

    _msg, status = by_reporter[("ct", "delivered")]
    assert "Reporting-MTA: dns; mail.cantho.gov.vn" in status
    assert "Original-Envelope-Id: QA+123" in status
    assert "Original-Recipient: rfc822;lan+original@cantho.gov.vn" in status
    assert f"Final-Recipient: rfc822; {LAN}" in status

    bounce, status = by_reporter[("st", "failed")]
    assert "Original-Recipient: rfc822;ghost@cantho.gov.vn" in status and "Status: 5.1.1" in status
    returned = list(bounce.iter_parts())[2]
    assert returned.get_content_type() == "message/rfc822"  # RET=FULL: the whole message
    assert "Nội dung của thư." in returned.get_content().get_content()
    # RET=HDRS (and any success notice): the header only.
    assert list(by_reporter[("st", "delivered")][0].iter_parts())[2].get_content_type() == "text/rfc822-headers"


def test_relayed_to_a_server_without_dsn(tmp_path: Path, dns_server: DNSServer) -> None:
    """A next hop that does not offer DSN (aiosmtpd's plain server) is given no DSN
    parameters; the sender who asked for success gets a "relayed" notice from here."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    legacy = Controller(Sink(), hostname="127.0.0.1", port=free_port())
    legacy.start()
    st = start_server(tmp_path / "st", dns_server, smtp={"mx_port": legacy.port},
                      system={"domain": ST, "hostname": f"mail.{ST}"})
    try:
        dns_server.add(CT, "MX", f"10 mail.{CT}.")
        dns_server.add(f"mail.{CT}", "A", "127.0.0.1")
        binh = st.add_user(BINH)
        send(st, ["ENVID=cv-45"], [(LAN, ["NOTIFY=SUCCESS,FAILURE", f"ORCPT=rfc822;{LAN}"])],
             message("Công văn 45", LAN))
        [(_msg, status)] = wait_for(lambda: reports(st, binh), timeout=30)
        assert "Action: relayed" in status and "Status: 2.0.0" in status
        assert f"Original-Recipient: rfc822;{LAN}" in status and "Original-Envelope-Id: cv-45" in status
        assert f"Remote-MTA: dns; mail.{CT}" in status
    finally:
        st.stop()
        legacy.stop()
