"""The submission doors (587 STARTTLS, 465 TLS) with smtplib, aiosmtplib, swaks and
curl: AUTH, Vietnamese subjects and file names, sender ownership, limits, content rules."""

from __future__ import annotations

import email.message
import email.policy
import logging
import smtplib
import ssl
import subprocess
from email.header import Header
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr
from pathlib import Path

import aiosmtplib
import pytest

from tests.conftest import need
from tests.smtp.conftest import PASSWORD, messages, parse, start_server

BOB = "ntbinh@soctrang.gov.vn"
AN = "dvthong@soctrang.gov.vn"
SUBJECT = "Kế hoạch triển khai thư điện tử công vụ năm 2026 — Sở Thông tin và Truyền thông"
FILENAME = "Báo cáo tổng kết năm 2025 (bản cuối) — Phòng Công nghệ thông tin.pdf"


def tls_client() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def vietnamese_message(sender: str = BOB, to: str = AN, attachment: bytes = b"%PDF-1.4 test\n",
                       subject: str = SUBJECT) -> Message:
    """RFC 2047 subject and names, RFC 2231 file name (built with email.mime and
    email.header: the EmailMessage folder of Python 3.11 loses spaces between encoded
    words of long subjects)."""
    msg = MIMEMultipart()
    msg["From"] = formataddr(("Nguyễn Thanh Bình", sender), charset="utf-8")
    msg["To"] = formataddr(("Đoàn Văn Thông", to), charset="utf-8")
    msg["Subject"] = Header(subject, "utf-8")
    msg.attach(MIMEText("Kính gửi anh Thông,\nXin gửi báo cáo.\n", "plain", "utf-8"))
    part = MIMEApplication(attachment, "pdf")
    part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", FILENAME))
    msg.attach(part)
    return msg


def check_delivered(server, mailbox_id: int, subject: str = SUBJECT) -> email.message.EmailMessage:
    stored = messages(server, mailbox_id)
    assert stored, "nothing delivered"
    msg = parse(stored[-1])
    assert msg["Subject"] == subject
    assert msg["Return-Path"] == f"<{BOB}>"
    assert "ESMTP" in msg["Received"] and "SA" in msg["Received"].split(" with ")[1].split()[0]
    assert msg["Date"] and msg["Message-ID"]
    return msg


def test_smtplib_starttls_auth_plain_vietnamese(mx):
    mx.add_user(BOB)
    an = mx.add_user(AN)
    with smtplib.SMTP("127.0.0.1", mx.port("submission")) as client:
        client.starttls(context=tls_client())
        client.ehlo()
        assert "PLAIN" in client.esmtp_features["auth"] and "SCRAM-SHA-256" in client.esmtp_features["auth"]
        client.login(BOB, PASSWORD)
        client.send_message(vietnamese_message())
    msg = check_delivered(mx, an)
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == FILENAME
    assert attachment.get_content() == b"%PDF-1.4 test\n"
    assert "ESMTPSA" in msg["Received"]


async def test_aiosmtplib_implicit_tls_login(mx):
    mx.add_user(BOB)
    an = mx.add_user(AN)
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=mx.port("submissions"), use_tls=True,
                             tls_context=tls_client())
    await client.connect()
    await client.ehlo()
    await client.auth_login(BOB, PASSWORD)
    await client.send_message(vietnamese_message())
    await client.quit()
    check_delivered(mx, an)


def test_swaks(mx):
    need("swaks")
    mx.add_user(BOB)
    an = mx.add_user(AN)
    result = subprocess.run(
        ["swaks", "--server", f"127.0.0.1:{mx.port('submission')}", "--tls", "--auth", "LOGIN",
         "--auth-user", BOB, "--auth-password", PASSWORD, "--from", BOB, "--to", AN,
         "--header", f"Subject: =?UTF-8?B?{__import__('base64').b64encode(SUBJECT.encode()).decode()}?=",
         "--body", "Nội dung".encode().decode()],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    check_delivered(mx, an)


def test_curl(mx, tmp_path: Path):
    need("curl")
    mx.add_user(BOB)
    an = mx.add_user(AN)
    mail = tmp_path / "mail.eml"
    mail.write_bytes(vietnamese_message().as_bytes(policy=email.policy.compat32.clone(linesep="\r\n")))  # CRLF
    result = subprocess.run(
        ["curl", "-sS", "--ssl-reqd", "-k", f"smtp://127.0.0.1:{mx.port('submission')}",
         "--user", f"{BOB}:{PASSWORD}", "--mail-from", BOB, "--mail-rcpt", AN, "--upload-file", str(mail)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    msg = check_delivered(mx, an)
    assert [a.get_filename() for a in msg.iter_attachments()] == [FILENAME]


def test_auth_only_after_tls(tmp_path, dns_server):
    server = start_server(tmp_path / "d", dns_server, system={"dev_allow_plaintext_loopback": False})
    try:
        server.add_user(BOB)
        with smtplib.SMTP("127.0.0.1", server.port("submission")) as client:
            client.ehlo()
            assert "auth" not in client.esmtp_features
            code, text = client.docmd("AUTH PLAIN", "AG50YmluaEBzb2N0cmFuZy5nb3Yudm4ATWtAMTIzNDU2Nzg=")
            assert code == 530  # STARTTLS first (RFC 3207)
            code, _ = client.docmd("MAIL FROM:<ntbinh@soctrang.gov.vn>")
            assert code == 530
            client.starttls(context=tls_client())
            client.ehlo()
            assert "PLAIN" in client.esmtp_features["auth"]
            assert client.login(BOB, PASSWORD)[0] == 235
    finally:
        server.stop()


def test_wrong_and_expired_password(mx):
    mx.add_user(BOB)
    mx.add_user(AN, must_change=True)
    with smtplib.SMTP("127.0.0.1", mx.port("submission")) as client:
        client.starttls(context=tls_client())
        client.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError) as failed:
            client.login(BOB, "Sai@12345678")
        assert failed.value.smtp_code == 535
    with smtplib.SMTP("127.0.0.1", mx.port("submission")) as client:
        client.starttls(context=tls_client())
        client.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError) as expired:
            client.login(AN, PASSWORD)
        assert expired.value.smtp_code == 535
        assert b"doi-mat-khau" in expired.value.smtp_error  # says where to change it
    with smtplib.SMTP("127.0.0.1", mx.port("submission")) as client:
        client.ehlo()
        assert client.docmd("MAIL FROM:<ntbinh@soctrang.gov.vn>")[0] == 530  # no AUTH, no mail


def test_sender_must_be_own_address(mx):
    mx.add_user(BOB)
    an = mx.add_user(AN)
    with smtplib.SMTP("127.0.0.1", mx.port("submission")) as client:
        client.starttls(context=tls_client())
        client.ehlo()
        client.login(BOB, PASSWORD)
        code, text = client.mail(AN)
        assert (code, text[:5]) == (553, b"5.7.1")
        client.rset()
        assert client.mail(BOB)[0] == 250
        assert client.rcpt(AN)[0] == 250
        code, text = client.data(b"From: giamdoc@soctrang.gov.vn\r\nSubject: x\r\n\r\nx\r\n")
        assert (code, text[:5]) == (550, b"5.7.1")
    assert messages(mx, an) == []


def test_limits_recipients_and_rate(tmp_path, dns_server):
    server = start_server(tmp_path / "d", dns_server, smtp={"max_recipients": 3, "messages_per_hour": 2})
    try:
        server.add_user(BOB)
        for i in range(4):
            server.add_user(f"user{i}@soctrang.gov.vn")
        with smtplib.SMTP("127.0.0.1", server.port("submission")) as client:
            client.starttls(context=tls_client())
            client.ehlo()
            client.login(BOB, PASSWORD)
            client.mail(BOB)
            for i in range(3):
                assert client.rcpt(f"user{i}@soctrang.gov.vn")[0] == 250
            code, text = client.rcpt("user3@soctrang.gov.vn")
            assert (code, text[:5]) == (452, b"4.5.3")
            client.rset()
            for _ in range(2):
                client.sendmail(BOB, ["user0@soctrang.gov.vn"], f"From: {BOB}\r\nSubject: x\r\n\r\nx\r\n")
            code, text = client.mail(BOB)
            assert (code, text[:5]) == (451, b"4.7.1")
    finally:
        server.stop()


def test_classified_and_foreign_freemail_refused(mx, caplog):
    caplog.set_level(logging.INFO, logger="congthu.events")
    mx.add_user(BOB)
    an = mx.add_user(AN)
    with smtplib.SMTP("127.0.0.1", mx.port("submission")) as client:
        client.starttls(context=tls_client())
        client.ehlo()
        client.login(BOB, PASSWORD)
        client.mail(BOB)
        code, text = client.rcpt("someone@gmail.com")
        assert (code, text[:5]) == (550, b"5.7.1") and b"7.7" in text
        assert client.rcpt(AN)[0] == 250
        msg = vietnamese_message(subject="[TỐI MẬT] Kế hoạch")
        code, text = client.data(msg.as_string())
        assert (code, text[:5]) == (550, b"5.7.1") and b"7.8" in text
    assert messages(mx, an) == []
    # Điều 7.8, 13.3: the attempt is logged, with who tried.
    refused = [r.getMessage() for r in caplog.records if "policy.refused" in r.getMessage()]
    assert any('"rule": "7.8"' in r and BOB in r for r in refused)
    assert any('"rule": "7.7"' in r for r in refused)


def test_attachment_limit_15mb(mx):
    """Điều 8.1: a 15 MB attachment passes (about 20 MB on the wire), 15.1 MB does not."""
    mx.add_user(BOB)
    an = mx.add_user(AN)
    with smtplib.SMTP("127.0.0.1", mx.port("submission")) as client:
        client.starttls(context=tls_client())
        client.ehlo()
        client.login(BOB, PASSWORD)
        client.send_message(vietnamese_message(attachment=b"\x00" * (15 * 1024 * 1024)))
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.send_message(vietnamese_message(attachment=b"\x00" * int(15.1 * 1024 * 1024)))
        assert refused.value.smtp_code == 552
        assert refused.value.smtp_error.startswith(b"5.3.4")
        assert b"Dieu 8.1" in refused.value.smtp_error and b"exceeds the limit of 15 MB" in refused.value.smtp_error
    stored = messages(mx, an)
    assert len(stored) == 1
    [attachment] = list(parse(stored[0]).iter_attachments())
    assert len(attachment.get_content()) == 15 * 1024 * 1024
