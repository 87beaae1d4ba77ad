"""Delegations with an end (Điều 12; ``congthu.delegation.term``): until the end every
door honours the delegation, from then on none does, with the server's clock injected:

* over IMAP (a real imaplib client): the shared folders are listed and selected before;
  after, a session that has the folder selected is told NOPERM at its next command, LIST
  no longer shows the mailbox and SELECT fails;
* in the webmail (httpx with a real session cookie): the organisation's folder opens
  before, is 404 after, and the compose page no longer offers its address;
* send-as over SMTP submission (smtplib): accepted before, refused after;
* the folder grants of the delegation end with it; an IMAP GETACL no longer lists the
  delegate; a new grant starts a new delegation (the expired rows removed);
* ``term``'s rules: the last day inclusive in the system's time zone, a past day or one
  more than a year ahead refused;
* ``congthu delegate grant --until`` and ``delegate list`` (``congthu.cli.main`` on the
  running server's data directory).
"""

from __future__ import annotations

import imaplib
import smtplib
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage

import pytest

from congthu import delegation
from congthu.cli import main
from congthu.delegation import term
from tests.conftest import ServerThread
from tests.directory.console_client import signed_in
from tests.smtp.test_submission import tls_client

PASSWORD = "Mk@12345678"
ZONE = "Asia/Ho_Chi_Minh"


class Clock:
    """The server's clock, moved on by the test (real time plus an offset)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def test_term_rules() -> None:
    now = datetime(2027, 3, 10, 20, 0, tzinfo=UTC)  # 11/03/2027 03:00 in Vietnam
    end = term.parse_end("2027-03-31", now, ZONE)
    assert end == datetime(2027, 3, 31, 17, 0, tzinfo=UTC)  # 00:00 on 1/4 in Vietnam
    assert term.parse_end("31/03/2027", now, ZONE) == end
    assert term.last_day(end, ZONE) == date(2027, 3, 31)
    assert term.in_force(end, end - timedelta(microseconds=1)) and not term.in_force(end, end)
    assert term.in_force(None, now)
    assert term.in_force(end.replace(tzinfo=None), now)  # SQLite's times without an offset are UTC
    assert term.parse_end("", now, ZONE) is None
    # The day it is in Vietnam may still be chosen; the day before is past.
    assert term.parse_end("2027-03-11", now, ZONE) is not None
    for bad in ("2027-03-10", "2028-03-20", "31/02/2027", "mai", "2027-3"):
        with pytest.raises(term.InvalidTerm):
            term.parse_end(bad, now, ZONE)


def _imap(server: ServerThread, address: str) -> imaplib.IMAP4:
    imap = imaplib.IMAP4("127.0.0.1", server.port("imap"))
    imap.starttls(tls_client())
    imap.login(address, PASSWORD)
    imap.enable("UTF8=ACCEPT")  # folder names in UTF-8 (RFC 6855)
    return imap


def _listed(imap: imaplib.IMAP4) -> str:
    _typ, lines = imap.list()
    return "\n".join(line.decode() for line in lines if isinstance(line, bytes))


def _send_as(server: ServerThread, login: str, sender: str) -> None:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = login
    message["Subject"] = "Gửi thay cơ quan"
    message.set_content("Kính gửi.\n")
    with smtplib.SMTP("127.0.0.1", server.port("submission"), timeout=30) as client:
        client.starttls(context=tls_client())
        client.login(login, PASSWORD)
        client.send_message(message)


def test_every_door_stops_at_the_end(server: ServerThread) -> None:
    app = server.app
    clock = Clock()
    app.accounts.clock = clock
    domain = app.settings.system.domain
    org_address, an_address = f"vanthu@{domain}", f"an@{domain}"
    org = server.add_user(org_address, PASSWORD, "Văn thư Sở")
    an = server.add_user(an_address, PASSWORD, "Nguyễn Văn An")
    inbox = server.run(app.store.get_folder(org, "INBOX"))
    secret = server.run(app.store.create_folder(org, "Mật"))
    ends = clock() + timedelta(minutes=10)
    server.run(delegation.grant(app, org, an, "lrswipkxte0", granted_by="admin", expires_at=ends))
    # A folder grant joins the delegation: it ends with it.
    server.run(delegation.grant(app, org, an, "", folder_id=secret.id, granted_by="admin"))
    grants = server.run(delegation.grants_of(app, org))
    assert [(g.folder, g.expires_at) for g in grants] == [(None, ends), ("Mật", ends)]
    assert server.run(delegation.acl_of(app, org, None)) == [(an, an_address, "lrswipkxte0")]

    # Before the end: IMAP, the webmail and send-as honour it.
    web = signed_in(server, an)
    assert web.get(f"/thu/{inbox.id}").status_code == 200
    assert f'value="{org_address}"' in web.get("/thu/soan").text
    _send_as(server, an_address, org_address)
    selected = _imap(server, an_address)
    listed = _listed(selected)
    assert f"Shared/{org_address}/INBOX" in listed and "Mật" not in listed
    assert selected.select(f'"Shared/{org_address}/INBOX"')[0] == "OK"

    clock.offset = timedelta(minutes=11)
    # The session with the folder selected: its next command is refused, the folder closed.
    typ, data = selected.noop()
    assert typ == "NO" and b"NOPERM" in data[0], data
    assert f"Shared/{org_address}" not in _listed(selected)
    assert selected.select(f'"Shared/{org_address}/INBOX"')[0] == "NO"
    selected.logout()
    fresh = _imap(server, an_address)
    assert f"Shared/{org_address}" not in _listed(fresh)
    fresh.logout()
    assert web.get(f"/thu/{inbox.id}").status_code == 404
    assert f'value="{org_address}"' not in web.get("/thu/soan").text
    with pytest.raises(smtplib.SMTPSenderRefused):
        _send_as(server, an_address, org_address)
    assert not server.run(delegation.can_send_as(app, an, org_address))
    assert server.run(delegation.acl_of(app, org, None)) == []
    assert server.run(delegation.accesses_of(app, an)) == []
    # The expired grants are still there, for the console and the CLI to show as expired.
    kept = server.run(delegation.grants_of(app, org, expired=True))
    assert [(g.folder, g.in_force(clock())) for g in kept] == [(None, False), ("Mật", False)]

    # A new grant starts a new delegation: the expired rows (the hidden folder) are gone.
    server.run(delegation.grant(app, org, an, "lrs", granted_by="admin"))
    renewed = server.run(delegation.grants_of(app, org, expired=True))
    assert [(g.folder, g.rights, g.expires_at) for g in renewed] == [(None, "lrs", None)]
    assert web.get(f"/thu/{inbox.id}").status_code == 200


def test_cli_until(server: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    domain = server.app.settings.system.domain
    org = server.add_user(f"vanthu@{domain}", PASSWORD)
    server.add_user(f"an@{domain}", PASSWORD)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["--data", str(server.data_dir), "delegate", *argv])
        out, err = capsys.readouterr()
        return code, out, err

    last = (datetime.now(UTC) + timedelta(days=30)).date()
    code, out, err = run("grant", "vanthu", "an", "--rights", "lrs", "--until", last.isoformat())
    assert code == 0, err
    assert f"đến hết / until {last:%d/%m/%Y}" in out
    code, out, _ = run("list")
    assert "lrs" in out and f"đến hết / until {last:%d/%m/%Y}" in out
    # A folder grant made without --until ends with the delegation.
    server.run(server.app.store.create_folder(org, "Công văn đến"))
    code, out, err = run("grant", "vanthu", "an", "--rights", "lr", "--folder", "Công văn đến")
    assert code == 0 and f"until {last:%d/%m/%Y}" in out, (out, err)
    code, _out, err = run("grant", "vanthu", "an", "--rights", "lrs", "--until", "2020-01-01")
    assert code == 1 and "2020" in err and "Traceback" not in err
    code, out, _ = run("grant", "vanthu", "an", "--rights", "lrs", "--until", "never")
    assert code == 0 and "until" not in out
    assert "until" not in run("list")[1]
    # Past its end (the clock of a later CLI run is the real one: the end set in the past).
    server.run(delegation.grant(server.app, org, server.run(server.app.store.get_mailbox(f"an@{domain}")).id, "lrs",
                                expires_at=datetime.now(UTC) - timedelta(days=1)))
    assert "HẾT HẠN / EXPIRED" in run("list")[1]
