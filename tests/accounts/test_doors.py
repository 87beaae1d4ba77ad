"""Điều 13.2 through the real doors and real clients (imaplib, poplib, smtplib).

A new user is refused with [EXPIRED]; after changing the password with the CLI, IMAP,
POP3 and SMTP AUTH succeed. With the server's clock moved on, reminder mails arrive on
days 23 and 29 (read back over POP3), and on day 31 every door refuses again.
"""

from __future__ import annotations

import email
import email.policy
import poplib
from datetime import timedelta
from typing import Any

import pytest

from congthu.accounts.jobs import send_reminders
from tests.accounts.helpers import Clock, congthu, imap_login, pop3_login, smtp_login

ADDRESS = "ntbinh@soctrang.gov.vn"
FIRST = "Mot#LanDau1"
NEW = "Song@Hau7River"


def pop3_session(server: Any, password: str) -> poplib.POP3:
    client = poplib.POP3("127.0.0.1", server.port("pop3"), timeout=30)
    client.user(ADDRESS)
    client.pass_(password)
    return client


def test_must_change_then_monthly_expiry_on_every_door(server: Any) -> None:
    server.add_user(ADDRESS, FIRST, name="Nguyễn Thanh Bình", must_change=True)
    refused = imap_login(server, ADDRESS, FIRST)
    assert refused.startswith("NO [EXPIRED]") and "/doi-mat-khau" in refused
    assert pop3_login(server, ADDRESS, FIRST).startswith("-ERR")
    assert smtp_login(server, ADDRESS, FIRST).startswith("535")

    changed = congthu(server.data_dir, "user", "passwd", ADDRESS, "--password-stdin", stdin=NEW + "\n")
    assert changed.returncode == 0, changed.stderr
    assert imap_login(server, ADDRESS, NEW).startswith("OK")
    assert pop3_login(server, ADDRESS, NEW) == "+OK"
    assert smtp_login(server, ADDRESS, NEW) == "235"

    # Move the server's clock: reminders on days 23 and 29, expiry on day 31.
    mailbox = server.run(server.app.store.get_mailbox(ADDRESS))
    cred = server.run(server.app.accounts.credential(mailbox.id))
    clock = Clock(cred.changed_at)
    server.app.accounts.clock = clock
    sent_on = []
    for day in (1, 22, 23, 24, 28, 29):
        clock.now = cred.changed_at + timedelta(days=day, minutes=1)
        if server.run(send_reminders(server.app)):
            sent_on.append(day)
    assert sent_on == [23, 29]

    # Still valid on day 29: read the reminders with a real POP3 client.
    client = pop3_session(server, NEW)
    try:
        count, _size = client.stat()
        assert count == 2
        subjects = []
        for i in (1, 2):
            _resp, lines, _octets = client.retr(i)
            msg = email.message_from_bytes(b"\r\n".join(lines), policy=email.policy.default)
            subjects.append(msg["Subject"])
    finally:
        client.quit()
    assert subjects == ["Mật khẩu sắp hết hạn sau 7 ngày / Your password expires in 7 days",
                        "Mật khẩu sắp hết hạn sau 1 ngày / Your password expires in 1 day"]

    clock.now = cred.changed_at + timedelta(days=31)
    refused = imap_login(server, ADDRESS, NEW)
    assert refused.startswith("NO [EXPIRED]"), refused
    assert pop3_login(server, ADDRESS, NEW).startswith("-ERR")
    assert smtp_login(server, ADDRESS, NEW).startswith("535")


@pytest.mark.parametrize("door", ["imap", "pop3", "smtp"])
def test_wrong_passwords_are_refused_on_every_door(server: Any, door: str) -> None:
    server.add_user(ADDRESS, NEW)
    login = {"imap": imap_login, "pop3": pop3_login, "smtp": smtp_login}[door]
    assert not login(server, ADDRESS, "Sai#MatKhau9").startswith(("OK", "+OK", "235"))
    assert login(server, ADDRESS, NEW).startswith(("OK", "+OK", "235"))
