"""The directory's console pages (``/quan-tri/danh-ba``) over plain HTTP with the
webmail's session cookie, against a real server on loopback:

* the authorisation matrix: each role (administrator with TOTP, supervisor, manager of
  an organisation, official without a console role) × each action (tree, organisation
  page, person page, add a person, rename a person, departure, reorganisation, mbox
  export) × their own organisation (a sub-unit of the one they manage) or another:
  200 (or the action done), 403 (audited) or 404 (like what does not exist);
* adding a person: the address of Điều 3 shown before saving, a clash settled by the
  naming rules (3.3b), saved only when confirmed;
* renaming: a new address, the old one an alias that still delivers;
* departure (Điều 4.5): an IMAP connection in IDLE, a POP3 session and an authenticated
  SMTP submission session are closed within 5 seconds (also when the departure is made
  by another process), the webmail cookie stops working, every door refuses the password;
* reorganisation: a merge keeps the old address delivering and moves the mail.
"""

from __future__ import annotations

import imaplib
import mailbox
import poplib
import re
import smtplib
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

from congthu import audit
from congthu.accounts import roles
from congthu.directory import Directory
from congthu.webmail.sessions import COOKIE, WebSessions
from tests.accounts.helpers import congthu
from tests.conftest import ServerThread
from tests.webmail.test_login import totp_code

PASSWORD = "Mk@12345678xyz"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


OPENER = urllib.request.build_opener(NoRedirect)


@dataclass
class Browser:
    """Plain HTTP with one session cookie (or none)."""

    server: ServerThread
    cookie: str = ""
    csrf: str = ""

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, str, Any]:
        url = f"http://127.0.0.1:{self.server.port('http')}{path}"
        data = None
        if form is not None:
            data = urllib.parse.urlencode({"csrf": self.csrf, **form}).encode()
        req = urllib.request.Request(url, data=data, method=method)
        if self.cookie:
            req.add_header("Cookie", f"{COOKIE}={self.cookie}")
        try:
            with OPENER.open(req, timeout=30) as response:
                return response.status, response.read().decode("utf-8", "replace"), response.headers
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace"), exc.headers

    def get(self, path: str) -> tuple[int, str]:
        status, body, _headers = self.request("GET", path)
        return status, body

    def post(self, path: str, **form: str) -> tuple[int, str]:
        status, body, _headers = self.request("POST", path, form)
        return status, body


def signed_in(server: ServerThread, mailbox_id: int) -> Browser:
    """A browser holding a live webmail session of this mailbox (the cookie the sign-in
    page would have set)."""
    app = server.app
    session = server.run(WebSessions(app.db, app.accounts.clock).open(
        mailbox_id, must_change=False, user_agent="test", client_ip="127.0.0.1"))
    return Browser(server, session.secret, session.csrf)


@dataclass
class World:
    server: ServerThread
    org: Any  # the organisation the manager manages
    unit: Any  # its sub-unit: "own" for the manager
    other: Any  # another organisation
    browsers: dict[str, Browser]
    ids: dict[str, int]


def build(server: ServerThread) -> World:
    app = server.app
    domain = app.settings.system.domain
    d = Directory(app)
    org = server.run(d.add_org("Sở Tư pháp"))[0]
    unit = server.run(d.add_org("Phòng Hành chính", parent=org.id))[0]
    other = server.run(d.add_org("Sở Y tế"))[0]
    ids = {}
    for who in ("admin", "supervisor", "manager", "official"):
        ids[who] = server.add_user(f"{who}@{domain}", PASSWORD, who)
    server.run(roles.grant(app, ids["admin"], roles.ADMIN))
    server.run(roles.grant(app, ids["supervisor"], roles.SUPERVISOR))
    server.run(roles.grant(app, ids["manager"], roles.ORG_MANAGER, org.id))
    secret = server.run(app.accounts.totp_begin(ids["admin"]))
    assert server.run(app.accounts.totp_confirm(ids["admin"], totp_code(secret, time.time()), actor="test"))
    browsers = {who: signed_in(server, ids[who]) for who in ids}
    browsers["nobody"] = Browser(server)
    return World(server, org, unit, other, browsers, ids)


def add_person(server: ServerThread, name: str, org_id: int, password: str | None = None) -> Any:
    d = Directory(server.app)
    person = server.run(d.add_person(name, org_id))[0]
    if password:
        server.run(server.app.accounts.set_password(person.mailbox_id, password, must_change=False))
    return person


def test_authorisation_matrix(server: ServerThread) -> None:
    w = build(server)
    app = server.app
    roles_tested = ("admin", "supervisor", "manager", "official")
    # Expected answer per (role, action, whose): "ok" (200, or the change done), 403, 404.
    expected: dict[tuple[str, str, str], int | str] = {}
    reads = ("org", "person")
    changes = ("add", "rename", "leave")
    for whose in ("own", "other"):
        for action in (*reads, *changes, "reorg", "export"):
            expected[("admin", action, whose)] = "ok"
            expected[("official", action, whose)] = 404
            expected[("supervisor", action, whose)] = "ok" if action in reads else 403
            if whose == "own":
                expected[("manager", action, whose)] = "ok" if action in (*reads, *changes) else 403
            else:
                expected[("manager", action, whose)] = 404
    # Exporting is not about an organisation: a manager is refused it anywhere (403).
    expected[("manager", "export", "other")] = 403
    got: dict[tuple[str, str, str], int | str] = {}
    for who in roles_tested:
        b = w.browsers[who]
        for whose, org_id in (("own", w.unit.id), ("other", w.other.id)):
            org = server.run(Directory(app).get_org(org_id))  # as renamed by the roles before
            person = add_person(server, f"Nguyễn Văn {who.capitalize()} {whose.capitalize()}", org.id)
            spare = add_person(server, f"Trần Thị {who.capitalize()} {whose.capitalize()}", org.id)
            fresh = Directory(app)
            before = server.run(fresh.get_person(person.id))

            def judged(status: int, ok: bool) -> int | str:
                return "ok" if status == 200 and ok else status

            status, body = b.get(f"/quan-tri/danh-ba/don-vi/{org.id}")
            got[(who, "org", whose)] = judged(status, org.name in body and person.address in body)
            status, body = b.get(f"/quan-tri/danh-ba/nguoi/{person.id}")
            got[(who, "person", whose)] = judged(status, person.address in body)
            status, body = b.post(f"/quan-tri/danh-ba/don-vi/{org.id}/them-nguoi", name="Lê Văn Tám", step="preview")
            got[(who, "add", whose)] = judged(status, "dia-chi-de-xuat" in body)
            status, body = b.post(f"/quan-tri/danh-ba/nguoi/{person.id}/doi-ten", name=f"Phạm Văn {who} {whose}")
            after = server.run(fresh.get_person(person.id))
            got[(who, "rename", whose)] = judged(status, after.full_name != before.full_name)
            status, body = b.post(f"/quan-tri/danh-ba/nguoi/{spare.id}/nghi-viec")
            got[(who, "leave", whose)] = judged(status, server.run(fresh.get_person(spare.id)).status == "left")
            status, body = b.post(f"/quan-tri/danh-ba/don-vi/{org.id}/doi-ten", name=f"{org.name} {who}")
            renamed = server.run(fresh.get_org(org.id))
            got[(who, "reorg", whose)] = judged(status, renamed.name != org.name)
            status, body = b.get(f"/quan-tri/danh-ba/hop-thu/{org.mailbox_id}.mbox")
            got[(who, "export", whose)] = judged(status, True)
            # Nothing the viewer may not see leaks into a refusal.
            if status in (403, 404):
                assert org.address not in body
    assert got == expected
    # The tree: each sees what they may read.
    unit, other = (server.run(Directory(app).get_org(i)) for i in (w.unit.id, w.other.id))
    _status, tree = w.browsers["manager"].get("/quan-tri/danh-ba")
    assert unit.name in tree and w.org.name in tree and other.name not in tree
    _status, tree = w.browsers["supervisor"].get("/quan-tri/danh-ba")
    assert other.name in tree and unit.name in tree
    assert w.browsers["official"].get("/quan-tri/danh-ba")[0] == 404
    # Signed out: to the sign-in page, which brings back here.
    status, _body, headers = w.browsers["nobody"].request("GET", f"/quan-tri/danh-ba/don-vi/{w.unit.id}")
    assert status == 303 and headers["location"].startswith("/dang-nhap?tiep=/quan-tri/danh-ba")
    # A form without its CSRF token changes nothing.
    admin = w.browsers["admin"]
    forged = Browser(server, admin.cookie, "not-the-token")
    victim = add_person(server, "Đỗ Văn Nạn", w.unit.id)
    assert forged.post(f"/quan-tri/danh-ba/nguoi/{victim.id}/nghi-viec")[0] == 403
    assert server.run(Directory(app).get_person(victim.id)).status == "active"
    # Every refused change is in the audit trail, by whom.
    denied = server.run(audit.records(app, action="access.denied"))
    assert {r.actor for r in denied} == {"supervisor@" + app.settings.system.domain,
                                         "manager@" + app.settings.system.domain}
    done = server.run(audit.records(app, action="directory.person_left"))
    assert len(done) == 3  # admin twice, the manager in their own organisation, nobody else


def test_add_person_shows_the_address_then_saves_it(server: ServerThread) -> None:
    w = build(server)
    app = server.app
    domain = app.settings.system.domain
    manager = w.browsers["manager"]
    add_person(server, "Nguyễn Thanh Bình", w.other.id)  # holds ntbinh@ already
    path = f"/quan-tri/danh-ba/don-vi/{w.unit.id}/them-nguoi"
    status, body = manager.post(path, name="Nguyễn Thị Thanh Bình", title="Chuyên viên", step="preview")
    assert status == 200
    # Điều 3.3b: the plain form is taken, the organisation's address part is appended.
    proposed = f"nttbinh@{domain}"
    assert proposed in body and "Điều 3.2" in body
    add_person(server, "Nguyễn Thanh Tùng Bình", w.other.id)  # takes nttbinh@ meanwhile
    status, body = manager.post(path, name="Nguyễn Thị Thanh Bình", title="Chuyên viên", step="save",
                                proposed=proposed)
    assert status == 409  # the address shown is no longer the one that would be given
    found = re.search(r'id="dia-chi-de-xuat">([^<]+)<', body)
    assert found is not None
    clash = found.group(1)
    assert clash.startswith("nttbinh") and clash != proposed and "Điều 3.3b" in body and "nttbinh@" in body
    assert server.run(app.store.get_mailbox(clash)) is None  # nothing saved yet
    status, body = manager.post(path, name="Nguyễn Thị Thanh Bình", title="Chuyên viên", step="save",
                                proposed=clash)
    assert status == 200 and 'id="mat-khau"' in body
    made = server.run(app.store.get_mailbox(clash))
    assert made is not None and made.status == "active"
    person = server.run(Directory(app).get_person(clash))
    assert person.org_id == w.unit.id and person.title == "Chuyên viên"
    added = server.run(audit.records(app, action="directory.person_added"))
    assert [(r.actor, r.target) for r in added] == [(f"manager@{domain}", clash)]
    # A name that gives no address is refused with a clear text, never a server error.
    for bad in ("123", "!!!", " "):
        status, body = manager.post(path, name=bad, step="preview")
        assert status == 400 and 'id="loi"' in body, bad
    status, body = manager.post(f"/quan-tri/danh-ba/nguoi/{person.id}/doi-ten", name="4567")
    assert status == 400 and 'id="loi"' in body
    # Only administrators give another address than the rules' (Điều 3.3c).
    status, body = manager.post(path, name="Lý Văn Tư", step="save", override="tu.dacbiet",
                                proposed=f"lvtu@{domain}")
    assert status == 200 and server.run(app.store.get_mailbox(f"tu.dacbiet@{domain}")) is None
    assert server.run(app.store.get_mailbox(f"lvtu@{domain}")) is not None


def test_rename_keeps_the_old_address_delivering(server: ServerThread) -> None:
    w = build(server)
    app = server.app
    domain = app.settings.system.domain
    person = add_person(server, "Trần Thị Mai", w.unit.id)
    assert person.address == f"ttmai@{domain}"
    status, body = w.browsers["manager"].post(f"/quan-tri/danh-ba/nguoi/{person.id}/doi-ten",
                                              name="Trần Thị Ngọc Mai")
    assert status == 200 and f"ttnmai@{domain}" in body and f"ttmai@{domain}" in body
    renamed = server.run(Directory(app).get_person(person.id))
    assert renamed.address == f"ttnmai@{domain}" and renamed.mailbox_id == person.mailbox_id
    # The old address still delivers to the same mailbox, and is never issued again.
    assert server.run(Directory(app).resolve_recipient(f"ttmai@{domain}")) == person.mailbox_id
    other = add_person(server, "Trần Thị Mai", w.other.id)
    assert other.address == f"ttmai.{w.other.local_part}@{domain}"  # Điều 3.3b: taken by the alias
    # A new name giving the same address (a correction of the middle name's accents, or
    # the clash form the person already holds) keeps it: no alias, no new address.
    status, body = w.browsers["admin"].post(f"/quan-tri/danh-ba/nguoi/{other.id}/doi-ten", name="Trần Thi Mai")
    assert status == 200
    kept = server.run(Directory(app).get_person(other.id))
    assert kept.address == other.address and kept.full_name == "Trần Thi Mai"
    assert [a.address for a in server.run(Directory(app).list_aliases()) if a.mailbox_id == other.mailbox_id] == []


def idle_client(server: ServerThread, address: str) -> imaplib.IMAP4:
    client = imaplib.IMAP4("127.0.0.1", server.port("imap"), timeout=30)
    client.login(address, PASSWORD)
    client.select("INBOX")
    client.send(b"A1 IDLE\r\n")
    assert client.readline().startswith(b"+")
    return client


def closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """Read until the server closes the connection; (closed in time, what came)."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + seconds
    got = b""
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            continue
        except OSError:
            return True, got
        if not chunk:
            return True, got
        got += chunk
    return False, got


def test_departure_ends_every_session_within_five_seconds(server: ServerThread) -> None:
    w = build(server)
    app = server.app
    person = add_person(server, "Hoàng Văn Đi", w.unit.id, password=PASSWORD)
    # A second, unrelated user's session must live on.
    stay = add_person(server, "Hoàng Văn Ở", w.unit.id, password=PASSWORD)
    idle = idle_client(server, person.address)
    bystander = idle_client(server, stay.address)
    pop = poplib.POP3("127.0.0.1", server.port("pop3"), timeout=30)
    pop.user(person.address)
    pop.pass_(PASSWORD)
    assert pop.stat()[0] == 0
    smtp = smtplib.SMTP("127.0.0.1", server.port("submission"), timeout=30)
    smtp.ehlo()
    assert smtp.login(person.address, PASSWORD)[0] == 235
    web = signed_in(server, person.mailbox_id)
    assert web.get("/thu")[0] in (200, 303)
    assert web.request("GET", "/cai-dat")[0] == 200
    started = time.monotonic()
    status, body = w.browsers["manager"].post(f"/quan-tri/danh-ba/nguoi/{person.id}/nghi-viec")
    assert status == 200 and 'id="xong"' in body
    closed, said = closed_within(idle.sock, 5 - (time.monotonic() - started))
    assert closed, said
    assert b"BYE" in said
    closed, said = closed_within(pop.sock, 5 - (time.monotonic() - started))
    assert closed and said.startswith(b"-ERR"), said
    assert smtp.sock is not None
    closed, said = closed_within(smtp.sock, 5 - (time.monotonic() - started))
    assert closed and said.startswith(b"421 4.7.0"), said
    assert time.monotonic() - started < 5
    # The webmail cookie no longer opens anything; the session is gone.
    status, _body, headers = web.request("GET", "/cai-dat")
    assert status == 303 and headers["location"].startswith("/dang-nhap")
    assert server.run(WebSessions(app.db, app.accounts.clock).list(person.mailbox_id)) == []
    # Every door refuses the password; the mail is kept, the address reserved.
    again = imaplib.IMAP4("127.0.0.1", server.port("imap"), timeout=30)
    try:
        try:
            again.login(person.address, PASSWORD)
            raise AssertionError("a revoked mailbox logged in")
        except imaplib.IMAP4.error:
            pass
    finally:
        again.shutdown()
    box = server.run(app.store.get_mailbox(person.address))
    assert box is not None and box.status == "revoked"
    # The other user's IDLE is untouched.
    bystander.send(b"DONE\r\n")
    assert bystander.readline().startswith(b"A1 OK")
    bystander.logout()


def test_merge_keeps_mail_and_address(server: ServerThread, tmp_path: Path) -> None:
    w = build(server)
    app = server.app
    domain = app.settings.system.domain
    raw = (f"From: a@example.org\r\nTo: {w.unit.address}\r\nSubject: =?utf-8?q?C=C3=B4ng_v=C4=83n?=\r\n"
           "Message-ID: <m1@example.org>\r\n\r\nFrom the start of a line\r\n>From quoted\r\n").encode()
    server.run(app.store.deliver(raw, [w.unit.mailbox_id]))
    admin = w.browsers["admin"]
    member = add_person(server, "Võ Thị Sáu", w.unit.id)
    base = f"/quan-tri/danh-ba/don-vi/{w.unit.id}"
    # The guided way: first what will happen to every address, person and mailbox.
    status, body = admin.post(f"{base}/sap-nhap", other=str(w.other.id), step="preview")
    assert status == 200 and 'id="ke-hoach"' in body
    plan = body.split('id="ke-hoach"', 1)[1].split("</ul>", 1)[0]
    assert f"{w.unit.address} → {w.other.address}" in plan and member.address in plan
    assert f"Lưu trữ/{w.unit.local_part}" in plan
    assert server.run(Directory(app).get_org(w.unit.id)).status == "active"  # nothing done yet
    status, body = admin.post(f"{base}/giai-the", step="preview")  # people in it, no successor
    assert status == 400 and 'id="loi"' in body
    status, body = admin.post(f"/quan-tri/danh-ba/don-vi/{w.org.id}/doi-ten", name="Sở Tư pháp và Hộ tịch",
                              step="preview")
    assert status == 200 and f"{w.org.address} → " in body and f"{w.unit.address} → " in body
    assert server.run(Directory(app).get_org(w.org.id)).name == "Sở Tư pháp"
    status, body = admin.post(f"{base}/sap-nhap", other=str(w.other.id), step="run")
    assert status == 200 and w.unit.address in body and w.other.address in body
    assert server.run(Directory(app).get_person(member.id)).org_id == w.other.id
    assert server.run(Directory(app).get_org(w.unit.id)).status == "merged"
    assert server.run(Directory(app).resolve_recipient(w.unit.address)) == w.other.mailbox_id
    # The mail moved into the successor's mailbox; the administrator exports it as mbox.
    status, body, headers = admin.request("GET", f"/quan-tri/danh-ba/hop-thu/{w.other.mailbox_id}.mbox")
    assert status == 200 and headers["content-type"].startswith("application/mbox")
    path = tmp_path / "out.mbox"
    path.write_bytes(body.encode())
    messages = list(mailbox.mbox(str(path)))
    assert len(messages) == 1
    # mboxrd: every ">*From " line got one more ">", which a reader takes away again.
    stored = messages[0].get_payload(decode=True)
    assert stored == b">From the start of a line\n>>From quoted\n"
    assert re.sub(rb"(?m)^>(>*From )", rb"\1", stored) == b"From the start of a line\n>From quoted\n"
    folder = str(make_header(decode_header(messages[0]["X-Congthu-Folder"])))
    assert folder == f"Lưu trữ/{w.unit.local_part}/INBOX"
    assert str(make_header(decode_header(messages[0]["Subject"]))) == "Công văn"
    assert server.run(audit.records(app, action="mailbox.exported"))[0].actor == f"admin@{domain}"


def test_departure_from_another_process_ends_sessions(server: ServerThread) -> None:
    """``congthu user leave`` in its own process (as another worker would be): the server's
    IMAP session hears it through the change feed between processes and closes."""
    server.run(server.app.hub.listen_local())  # as `congthu serve` does on SQLite
    org = server.run(Directory(server.app).add_org("Sở Nội vụ"))[0]
    person = add_person(server, "Lâm Văn Xa", org.id, password=PASSWORD)
    idle = idle_client(server, person.address)
    done = congthu(server.data_dir, "user", "leave", person.address)
    assert done.returncode == 0, done.stderr
    closed, said = closed_within(idle.sock, 5)  # within 5 s of the command's end
    assert closed and b"BYE" in said, said
