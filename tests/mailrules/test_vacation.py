"""The vacation auto-reply (RFC 3834) over real SMTP: a colleague's message answered
once per period (read back with imaplib), a remote sender answered through the outbound
queue of one instance and the MX of another, and no reply to lists, bulk mail, bounces,
automatic mail, Bcc, foreign free-mail (Điều 7.7) or outside the dates."""

from __future__ import annotations

import time
from datetime import date, timedelta

import pytest

from congthu.mailrules import RuleRefused, Vacation
from congthu.mailrules.vacation import check_vacation
from tests.mailrules.conftest import (
    CT,
    ST,
    imap_messages,
    messages,
    mx,
    parse,
    queued,
    set_vacation,
    submit,
    wait_for,
)

BINH, AN, CHI = f"ntbinh@{ST}", f"lvan@{ST}", f"ptchi@{ST}"
LAN = f"ttlan@{CT}"


def mail(sender: str, to: str, subject: str = "Lịch họp tuần sau", extra: str = "", msgid: str = "") -> bytes:
    msgid = msgid or f"<{time.monotonic_ns()}@{sender.rpartition('@')[2]}>"
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {msgid}\r\n"
            f"References: <truoc@{ST}>\r\n{extra}"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nKính gửi anh.\r\n").encode()


def test_colleague_gets_one_reply_per_period_over_imap(server):
    binh = server.add_user(BINH, name="Nguyễn Thị Bình")
    server.add_user(AN)
    set_vacation(server, binh, body="Tôi nghỉ phép đến 15/12.\nViệc gấp xin gọi văn thư.")
    first = mail(AN, BINH, msgid=f"<hop-1@{ST}>")
    submit(server, AN, [BINH], first)
    [reply] = imap_messages(server, AN)
    msg = parse(reply)
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["Subject"] == "Trả lời tự động: Lịch họp tuần sau"
    assert msg["In-Reply-To"] == f"<hop-1@{ST}>"
    assert msg["References"] == f"<truoc@{ST}> <hop-1@{ST}>"
    assert msg["From"].addresses[0].addr_spec == BINH
    assert msg["From"].addresses[0].display_name == "Nguyễn Thị Bình"
    assert msg["To"] == AN
    assert reply.startswith(b"Return-Path: <>\r\n")  # RFC 3834 section 3.3: a null return path
    assert "Việc gấp xin gọi văn thư." in msg.get_content()
    assert len(imap_messages(server, BINH)) == 1  # Bình has the message itself

    # The same sender again within the period: no second reply (section 4.2).
    submit(server, AN, [BINH], mail(AN, BINH, subject="Nhắc lại"))
    time.sleep(0.3)
    assert len(imap_messages(server, AN)) == 1
    # Another sender is answered.
    server.add_user(CHI)
    submit(server, CHI, [BINH], mail(CHI, BINH))
    wait_for(lambda: len(messages(server, server.run(server.app.store.get_mailbox(CHI)).id)) == 1)

    # Saving the reply again starts a new period for everyone.
    set_vacation(server, binh, body="Tôi nghỉ phép đến 20/12.")
    submit(server, AN, [BINH], mail(AN, BINH))
    wait_for(lambda: len(imap_messages(server, AN)) == 2)


@pytest.mark.parametrize("extra", [
    "List-Id: <hop.soctrang.gov.vn>\r\n",
    "List-Unsubscribe: <mailto:leave@soctrang.gov.vn>\r\n",
    "Precedence: bulk\r\n",
    "Precedence: list\r\n",
    "Precedence: junk\r\n",
    "Auto-Submitted: auto-generated\r\n",
    "Auto-Submitted: auto-replied\r\n",
    "X-Auto-Response-Suppress: OOF\r\n",
])
def test_no_reply_to_lists_and_automatic_mail(server, extra):
    binh, an = server.add_user(BINH), server.add_user(AN)
    set_vacation(server, binh)
    submit(server, AN, [BINH], mail(AN, BINH, extra=extra))
    assert len(messages(server, binh)) == 1
    # A control from the same sender in the same server: it is answered.
    submit(server, AN, [BINH], mail(AN, BINH, extra="Auto-Submitted: no\r\n"))
    [reply] = wait_for(lambda: messages(server, an))
    assert parse(reply)["Auto-Submitted"] == "auto-replied"


def test_no_reply_when_not_in_to_or_cc_or_outside_dates(server):
    binh, an = server.add_user(BINH), server.add_user(AN)
    server.add_user(CHI)
    set_vacation(server, binh)
    submit(server, AN, [CHI, BINH], mail(AN, CHI))  # Bình in Bcc only
    time.sleep(0.3)
    assert messages(server, an) == []
    tomorrow = date.today() + timedelta(days=2)
    set_vacation(server, binh, start=tomorrow, end=tomorrow + timedelta(days=3))
    submit(server, AN, [BINH], mail(AN, BINH))
    time.sleep(0.3)
    assert messages(server, an) == []
    set_vacation(server, binh, start=date.today() - timedelta(days=10), end=date.today() - timedelta(days=2))
    submit(server, AN, [BINH], mail(AN, BINH))
    time.sleep(0.3)
    assert messages(server, an) == []
    set_vacation(server, binh, start=date.today() - timedelta(days=1), end=date.today() + timedelta(days=1))
    submit(server, AN, [BINH], mail(AN, BINH, subject="Trong kỳ nghỉ"))
    [reply] = wait_for(lambda: messages(server, an))
    assert parse(reply)["Subject"] == "Trả lời tự động: Trong kỳ nghỉ"


def test_no_reply_to_bounces_daemons_or_foreign_free_mail(server):
    binh = server.add_user(BINH)
    set_vacation(server, binh)
    outside = "vanthu@cantho.gov.vn"
    mx(server, "", [BINH], mail(outside, BINH))  # a bounce: MAIL FROM:<>
    mx(server, "MAILER-DAEMON@cantho.gov.vn", [BINH], mail(outside, BINH))
    mx(server, "owner-hop@cantho.gov.vn", [BINH], mail(outside, BINH))
    mx(server, "hop-request@cantho.gov.vn", [BINH], mail(outside, BINH))
    mx(server, "nguoidan@gmail.com", [BINH], mail("nguoidan@gmail.com", BINH))  # Điều 7.7
    assert len(messages(server, binh)) == 5
    assert queued(server, "vacation") == []


def test_remote_sender_answered_through_the_queue(pair):
    st, ct = pair
    binh, lan = st.add_user(BINH), ct.add_user(LAN)
    set_vacation(st, binh, subject="Vắng mặt", body="Tôi đi công tác.")
    submit(ct, LAN, [BINH], mail(LAN, BINH, msgid=f"<cv-7@{CT}>"))
    wait_for(lambda: messages(st, binh))
    [reply] = wait_for(lambda: messages(ct, lan))
    msg = parse(reply)
    assert msg["Subject"] == "Trả lời tự động: Vắng mặt"
    assert msg["In-Reply-To"] == f"<cv-7@{CT}>"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert reply.startswith(b"Return-Path: <>\r\n")
    results = msg["Authentication-Results"]
    assert f"dkim=pass header.d={ST}" in results and "dmarc=pass" in results
    # Once per sender in the period, across the queue path too.
    submit(ct, LAN, [BINH], mail(LAN, BINH))
    wait_for(lambda: len(messages(st, binh)) == 2)
    time.sleep(1.0)
    assert len(messages(ct, lan)) == 1


def test_the_reply_is_checked_when_saved():
    with pytest.raises(RuleRefused, match="Ngày kết thúc"):
        check_vacation(Vacation(True, "", "x", date(2026, 12, 10), date(2026, 12, 1)))
    with pytest.raises(RuleRefused, match="nội dung"):
        check_vacation(Vacation(True, "", "  ", None, None))
    assert check_vacation(Vacation(False, "  a   b ", "x\r\ny", None, None)) == Vacation(False, "a b", "x\ny")
