"""The console's aliases, delegations, split and a leaver's mail (issue 15), over HTTP
(httpx, the CSRF token read from the page) against a real server on loopback:

* the authorisation matrix: administrator, supervisor, the manager of the organisation,
  the manager of another one, a records officer, an official × add an alias, grant a
  delegation, split an organisation, a departure with a handover: done, 403 (audited) or
  404 (like what does not exist);
* aliases follow the directory's rules (valid, under the main domain, never an address
  taken or once used), deliver, and a removed one stays reserved;
* delegations go through ``congthu.delegation``: granted, seen over IMAP by the delegate
  (the shared namespace), revoked; a manager delegates only within their organisation;
* a split is previewed (nothing changes), then moves the chosen unit (a new address, the
  old one an alias that still delivers) and person (address and mail kept);
* a leaver's handover, over real SMTP submission: new mail to the leaver is forwarded to
  the successor (the copy kept in the revoked mailbox) and answered with a reply naming
  the successor and the organisation; the leaver still cannot sign in.
"""

from __future__ import annotations

import email
import email.policy
import imaplib
import mailbox
import re
import smtplib
import tempfile
import time
from collections.abc import Callable
from email.message import EmailMessage

from congthu import audit
from congthu.delegation import grants_of
from congthu.directory import Directory, resolve_recipient
from congthu.mailrules.rules import get_forwarding, get_vacation
from tests.conftest import ServerThread
from tests.directory.console_client import PASSWORD, ROLES, Client, World, add_person, world
from tests.smtp.test_submission import tls_client


def judged(status: int, ok: bool) -> int | str:
    return "ok" if status == 200 and ok else status


def test_authorisation_matrix(server: ServerThread) -> None:
    w = world(server)
    app = server.app
    d = Directory(app)
    expected: dict[tuple[str, str], int | str] = {
        ("admin", a): "ok" for a in ("alias", "person_alias", "delegate", "split", "leave")}
    for action, supervisor, manager in (("alias", 403, 403), ("person_alias", 403, 403), ("delegate", 403, "ok"),
                                        ("split", 403, 403), ("leave", 403, "ok")):
        expected[("supervisor", action)] = supervisor
        expected[("manager", action)] = manager
        expected[("manager_other", action)] = 404  # another organisation: as if it did not exist
        expected[("records", action)] = 404  # the records office reads the journal only
        expected[("official", action)] = 404  # no console at all
    got: dict[tuple[str, str], int | str] = {}
    for who in ROLES:
        c = w.clients[who]
        tag = who.replace("_", "")
        person = add_person(server, f"Nguyễn Văn {tag.capitalize()}", w.unit.id)
        spare = add_person(server, f"Trần Thị {tag.capitalize()}", w.unit.id)
        mover = add_person(server, f"Lê Văn {tag.capitalize()}", w.unit.id)
        unit = server.run(d.get_org(w.unit.id))
        r = c.post(f"/quan-tri/danh-ba/don-vi/{unit.id}/bi-danh", action="them", alias=f"bd{tag}")
        got[(who, "alias")] = judged(r.status_code, server.run(resolve_recipient(app, f"bd{tag}@{d.domain}"))
                                     == unit.mailbox_id)
        r = c.post(f"/quan-tri/danh-ba/nguoi/{person.id}/bi-danh", action="them", alias=f"cn{tag}")
        got[(who, "person_alias")] = judged(
            r.status_code, server.run(resolve_recipient(app, f"cn{tag}@{d.domain}")) == person.mailbox_id)
        r = c.post(f"/quan-tri/danh-ba/don-vi/{unit.id}/uy-quyen", action="cap", grantee=person.address,
                   rights="xem")
        grants = server.run(grants_of(app, unit.mailbox_id))
        got[(who, "delegate")] = judged(r.status_code, any(g.grantee_address == person.address for g in grants))
        r = c.post(f"/quan-tri/danh-ba/don-vi/{unit.id}/chia-tach", name=f"Phòng Công tác {tag.capitalize()}",
                   person=str(mover.id), step="run")
        got[(who, "split")] = judged(r.status_code, server.run(d.get_person(mover.id)).org_id != unit.id)
        r = c.post(f"/quan-tri/danh-ba/nguoi/{spare.id}/nghi-viec", successor=person.address, forward="1",
                   reply="1")
        left = server.run(d.get_person(spare.id))
        got[(who, "leave")] = judged(r.status_code, left.status == "left" and server.run(
            get_forwarding(app, spare.mailbox_id)).targets == (person.address,))
        if r.status_code in (403, 404):  # nothing of the organisation leaks into a refusal
            assert unit.address not in r.text and spare.address not in r.text
    assert got == expected
    # Every refusal (403) is in the audit trail, by whom.
    denied = server.run(audit.records(app, action="access.denied"))
    assert {r.actor for r in denied} == {w.address("supervisor"), w.address("manager")}
    # Each change is audited under the one who made it.
    added = server.run(audit.records(app, action="directory.alias_added"))
    assert {r.actor for r in added} == {w.address("admin")}
    granted = server.run(audit.records(app, action="delegation.granted"))
    assert {r.actor for r in granted} == {w.address("admin"), w.address("manager")}
    split = server.run(audit.records(app, action="directory.org_split"))
    assert [r.actor for r in split] == [w.address("admin")]
    handed = server.run(audit.records(app, action="directory.leaver_handover"))
    assert {r.actor for r in handed} == {w.address("admin"), w.address("manager")}
    # A forged form (a wrong CSRF token) changes nothing.
    forged = w.clients["admin"]
    forged.forged = True
    r = forged.post(f"/quan-tri/danh-ba/don-vi/{w.unit.id}/bi-danh", action="them", alias="giamao")
    assert r.status_code == 403 and server.run(resolve_recipient(app, f"giamao@{d.domain}")) is None


def test_aliases_follow_the_directory_rules(server: ServerThread) -> None:
    w = world(server)
    app = server.app
    d = Directory(app)
    admin = w.clients["admin"]
    person = add_person(server, "Phạm Thị Hoa", w.unit.id)
    path = f"/quan-tri/danh-ba/nguoi/{person.id}/bi-danh"
    r = admin.post(path, action="them", alias=f"hoa.vanthu@{d.domain}", days="30", reason="văn thư")
    assert r.status_code == 200 and 'id="thong-bao"' in r.text and f"hoa.vanthu@{d.domain}" in r.text
    assert server.run(resolve_recipient(app, f"hoa.vanthu@{d.domain}")) == person.mailbox_id
    alias = next(a for a in server.run(d.aliases_of(person.mailbox_id)) if a.address == f"hoa.vanthu@{d.domain}")
    assert alias.expires_at is not None and alias.reason == "văn thư"
    # Taken addresses, bad local parts and other domains are refused with a reason.
    for bad in (person.address, w.org.address, "postmaster", "a b", "x@gmail.com", "-hoa", "hoa..x"):
        r = admin.post(path, action="them", alias=bad)
        assert r.status_code == 400 and 'id="loi"' in r.text, bad
    r = admin.post(path, action="them", alias="hoa2", days="-1")
    assert r.status_code == 400
    # Removing: no longer delivers, stays reserved: never given again, not even as an alias.
    r = admin.post(path, action="xoa", alias=f"hoa.vanthu@{d.domain}")
    assert r.status_code == 200
    assert server.run(resolve_recipient(app, f"hoa.vanthu@{d.domain}")) is None
    r = admin.post(path, action="them", alias="hoa.vanthu")
    assert r.status_code == 400 and "dành riêng" in r.text
    # Another mailbox's alias cannot be removed from this page.
    other_person = add_person(server, "Võ Văn Nam", w.other.id)
    server.run(d.add_alias("nam.khac", other_person.address))
    r = admin.post(path, action="xoa", alias="nam.khac")
    assert r.status_code == 400
    assert server.run(resolve_recipient(app, f"nam.khac@{d.domain}")) == other_person.mailbox_id
    removed = server.run(audit.records(app, action="directory.alias_removed"))
    assert [(r.actor, r.target) for r in removed] == [(w.address("admin"), f"hoa.vanthu@{d.domain}")]
    # An alias delivers: mail sent to it over SMTP submission arrives in the mailbox.
    r = admin.post(f"/quan-tri/danh-ba/don-vi/{w.unit.id}/bi-danh", action="them", alias="hanhchinh.stp")
    assert r.status_code == 200
    sender = add_person(server, "Đặng Văn Gửi", w.other.id, PASSWORD)
    send(server, sender.address, f"hanhchinh.stp@{d.domain}", "Gửi qua bí danh")
    assert wait_for(lambda: mbox_messages(w, w.unit.mailbox_id), "Gửi qua bí danh") is not None


def test_delegations_granted_and_revoked(server: ServerThread) -> None:
    w = world(server)
    app = server.app
    manager = w.clients["manager"]
    clerk = add_person(server, "Ngô Thị Văn", w.unit.id, PASSWORD)
    outsider = add_person(server, "Hồ Văn Ngoài", w.other.id, PASSWORD)
    path = f"/quan-tri/danh-ba/don-vi/{w.unit.id}/uy-quyen"
    english = Client(server, manager.cookie, lang="en").get(f"/quan-tri/danh-ba/don-vi/{w.unit.id}").text
    assert "Delegated management of the mailbox (article 12)" in english and "Handle mail and send as" in english
    r = manager.post(path, action="cap", grantee=clerk.address, rights="gui-thay")
    assert r.status_code == 200 and clerk.address in r.text and "lrswipkxte0" in r.text
    grants = server.run(grants_of(app, w.unit.mailbox_id))
    assert [(g.grantee_address, g.rights, g.folder_id) for g in grants] == [(clerk.address, "lrswipkxte0", None)]
    # The delegate sees the organisation mailbox over IMAP, in the shared namespace.
    with imaplib.IMAP4("127.0.0.1", server.port("imap")) as imap:
        imap.starttls(tls_client())
        imap.login(clerk.address, PASSWORD)
        _typ, listed = imap.list()
        assert any(w.unit.address.encode() in line for line in listed if isinstance(line, bytes))
    # A manager delegates within their organisation only; nobody to a missing mailbox.
    r = manager.post(path, action="cap", grantee=outsider.address, rights="xem")
    assert r.status_code == 400 and 'id="loi"' in r.text
    r = manager.post(path, action="cap", grantee="khongco", rights="xem")
    assert r.status_code == 400
    r = manager.post(path, action="cap", grantee=clerk.address, rights="tat-ca")
    assert r.status_code == 400
    # The administrator may delegate to anyone of ours.
    r = w.clients["admin"].post(path, action="cap", grantee=outsider.address, rights="xem")
    assert r.status_code == 200
    r = manager.post(path, action="thu-hoi", grantee=clerk.address)
    assert r.status_code == 200
    assert [g.grantee_address for g in server.run(grants_of(app, w.unit.mailbox_id))] == [outsider.address]
    r = manager.post(path, action="thu-hoi", grantee=clerk.address)
    assert r.status_code == 400  # nothing left to revoke
    revoked = server.run(audit.records(app, action="delegation.revoked"))
    assert [(r.actor, r.target) for r in revoked] == [(w.address("manager"), w.unit.address)]


def test_split_previewed_then_done(server: ServerThread) -> None:
    w = world(server)
    app = server.app
    d = Directory(app)
    admin = w.clients["admin"]
    team = server.run(d.add_org("Phòng Công chứng", parent=w.org.id))[0]
    assert team.local_part.endswith("." + w.org.local_part)
    mover = add_person(server, "Bùi Văn Chuyển", w.org.id)
    stayer = add_person(server, "Bùi Thị Ở", w.org.id)
    sender = add_person(server, "Đặng Văn Gửi", w.other.id, PASSWORD)
    send(server, sender.address, team.address, "Thư cũ của phòng")
    assert wait_for(lambda: mbox_messages(w, team.mailbox_id), "Thư cũ của phòng") is not None
    form = {"name": "Trung tâm Dịch vụ Tư pháp", "unit": [str(team.id)], "person": [str(mover.id)]}
    path = f"/quan-tri/danh-ba/don-vi/{w.org.id}/chia-tach"
    r = admin.post(path, form, step="preview")
    assert r.status_code == 200 and 'id="ke-hoach"' in r.text
    plan = re.search(r'id="ke-hoach">(.*?)</div>', r.text, re.S)
    assert plan is not None and "Trung tâm Dịch vụ Tư pháp" in plan.group(1)
    assert team.address in plan.group(1) and mover.address in plan.group(1)
    assert server.run(d.get_org(team.id)).parent_id == w.org.id  # previewed, nothing changed
    # Someone not of this organisation cannot be moved; nothing chosen is refused.
    stranger = add_person(server, "Lý Văn Lạ", w.other.id)
    assert admin.post(path, {"name": "X Y", "person": [str(stranger.id)]}, step="preview").status_code == 400
    assert admin.post(path, {"name": "Tổ mới"}, step="run").status_code == 400
    r = admin.post(path, form, step="run")
    assert r.status_code == 200 and 'id="mat-khau"' in r.text
    moved = server.run(d.get_org(team.id))
    new = server.run(d.get_org(moved.parent_id))
    assert new.name == "Trung tâm Dịch vụ Tư pháp" and new.parent_id == w.org.parent_id and new.status == "active"
    assert moved.address != team.address and moved.address.endswith(f".{new.local_part}@{d.domain}")
    # The unit's old address still delivers to it; its mail stayed.
    assert server.run(resolve_recipient(app, team.address)) == team.mailbox_id
    assert wait_for(lambda: mbox_messages(w, team.mailbox_id), "Thư cũ của phòng", 1) is not None
    assert server.run(d.get_person(mover.id)).org_id == new.id
    assert server.run(d.get_person(mover.id)).address == mover.address
    assert server.run(d.get_person(stayer.id)).org_id == w.org.id
    assert server.run(d.get_org(w.org.id)).status == "active"  # the old organisation goes on


def test_leaver_mail_forwarded_and_answered(server: ServerThread) -> None:
    w = world(server)
    app = server.app
    d = Directory(app)
    leaver = add_person(server, "Trịnh Văn Đi", w.unit.id, PASSWORD)
    successor = add_person(server, "Trịnh Thị Thay", w.unit.id, PASSWORD)
    writer = add_person(server, "Mai Văn Viết", w.other.id, PASSWORD)
    manager = w.clients["manager"]
    path = f"/quan-tri/danh-ba/nguoi/{leaver.id}/nghi-viec"
    # A bad handover is refused before anything changes.
    for bad in ({"successor": "ai@gmail.com", "forward": "1"}, {"successor": writer.address, "forward": "1"},
                {"forward": "1"}, {"successor": successor.address, "reply": "1", "until": "2001-01-01"},
                {"successor": successor.address, "reply": "1", "until": "31/02/2030"}):
        r = manager.post(path, bad)
        assert r.status_code == 400 and 'id="loi"' in r.text, bad
        assert server.run(d.get_person(leaver.id)).status == "active"
    r = manager.post(path, successor=successor.address, forward="1", reply="1")
    assert r.status_code == 200 and 'id="thong-bao"' in r.text
    assert server.run(d.get_person(leaver.id)).status == "left"
    vacation = server.run(get_vacation(app, leaver.mailbox_id))
    assert vacation.enabled and successor.address in vacation.body and w.unit.address in vacation.body
    assert vacation.end is not None and (vacation.end - vacation.start).days == 90
    # New mail to the leaver: forwarded to the successor, answered naming them.
    send(server, writer.address, leaver.address, "Hồ sơ cần xử lý")
    forwarded = wait_for(lambda: imap_messages(server, successor.address), "Hồ sơ cần xử lý")
    assert forwarded is not None and forwarded["From"] == writer.address
    reply = wait_for(lambda: imap_messages(server, writer.address), "Trả lời tự động: Thay đổi người nhận thư / "
                     "change of recipient")
    assert reply is not None and reply["Auto-Submitted"] == "auto-replied"
    assert successor.address in text_of(reply) and w.unit.address in text_of(reply)
    # Kept in the revoked mailbox too (Điều 4.5: the mail is kept).
    assert wait_for(lambda: mbox_messages(w, leaver.mailbox_id), "Hồ sơ cần xử lý", 2) is not None
    # The leaver still cannot sign in anywhere.
    with imaplib.IMAP4("127.0.0.1", server.port("imap")) as imap:
        imap.starttls(tls_client())
        try:
            imap.login(leaver.address, PASSWORD)
            raise AssertionError("a revoked mailbox signed in")
        except imaplib.IMAP4.error:
            pass
    # Without a handover, mail to a leaver is refused as before.
    quiet = add_person(server, "Trịnh Văn Lặng", w.unit.id)
    assert manager.post(f"/quan-tri/danh-ba/nguoi/{quiet.id}/nghi-viec").status_code == 200
    assert server.run(resolve_recipient(app, quiet.address)) is None


# -- helpers ------------------------------------------------------------------------------


def send(server: ServerThread, sender: str, to: str, subject: str) -> None:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content("Kính gửi anh chị,\nxin xem hồ sơ.\n")
    with smtplib.SMTP("127.0.0.1", server.port("submission"), timeout=30) as client:
        client.starttls(context=tls_client())
        client.login(sender, PASSWORD)
        client.send_message(msg)


def _decoded(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def imap_messages(server: ServerThread, address: str) -> list[EmailMessage]:
    """The INBOX of a mailbox that can sign in, read over IMAP."""
    with imaplib.IMAP4("127.0.0.1", server.port("imap")) as imap:
        imap.starttls(tls_client())
        imap.login(address, PASSWORD)
        imap.select("INBOX", readonly=True)
        _typ, data = imap.uid("FETCH", "1:*", "(BODY.PEEK[])")
        return [_decoded(part[1]) for part in data if isinstance(part, tuple)]


def mbox_messages(w: World, mailbox_id: int) -> list[EmailMessage]:
    """Any mailbox's mail, through the administrator's mbox export (revoked or not)."""
    r = w.clients["admin"].get(f"/quan-tri/danh-ba/hop-thu/{mailbox_id}.mbox")
    assert r.status_code == 200
    with tempfile.NamedTemporaryFile(suffix=".mbox") as f:
        f.write(r.content)
        f.flush()
        return [_decoded(m.as_bytes()) for m in mailbox.mbox(f.name)]


def wait_for(read: Callable[[], list[EmailMessage]], subject: str, seconds: float = 15) -> EmailMessage | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for message in read():
            if message["subject"] == subject:
                return message
        time.sleep(0.2)
    return None


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    return str(body.get_content()) if body is not None else ""


__all__ = ["World"]
