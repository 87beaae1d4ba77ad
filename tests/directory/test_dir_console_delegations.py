"""Delegations of an organisation mailbox in the console (Điều 12, issue 15), over HTTP
(httpx with the page's CSRF token) against a real server on loopback:

* a delegation with an end date: granted by the organisation's manager with its last
  day, shown with it, listed as expired once the server's (injected) clock is past it,
  and then honoured by no door (``delegation.access_of``, what IMAP and the webmail read);
  a day already past or unreadable is refused (400) and nothing granted;
* folder grants edited in the console: a folder's own rights (read, handle, or nothing:
  the folder hidden) set and removed by the manager through the one check, ending with
  the delegation, each change audited with the folder; INBOX and another mailbox's
  folder refused; a supervisor's attempt 403 (audited), another organisation's manager
  404, and the delegate sees exactly the folder grant over IMAP.
"""

from __future__ import annotations

import imaplib
import re
from datetime import UTC, datetime, timedelta

from congthu import audit, delegation
from tests.conftest import ServerThread
from tests.directory.console_client import PASSWORD, add_person, signed_in, world
from tests.smtp.test_submission import tls_client


class Clock:
    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def _rows(html: str, table: str) -> str:
    found = re.search(rf'<table id="{table}".*?</table>', html, re.S)
    return found.group(0) if found else ""


def test_delegation_with_an_end_date(server: ServerThread) -> None:
    app = server.app
    clock = Clock()
    app.accounts.clock = clock
    w = world(server)
    manager = w.clients["manager"]
    clerk = add_person(server, "Ngô Thị Văn", w.unit.id, PASSWORD)
    path = f"/quan-tri/danh-ba/don-vi/{w.unit.id}/uy-quyen"
    page = f"/quan-tri/danh-ba/don-vi/{w.unit.id}"
    last = (clock() + timedelta(days=3)).date()
    r = manager.post(path, action="cap", grantee=clerk.address, rights="xem", until=last.isoformat())
    assert r.status_code == 200, r.text
    live = _rows(r.text, "uy-quyen")
    assert clerk.address in live and f"đến hết {last:%d/%m/%Y}" in live
    grants = server.run(delegation.grants_of(app, w.unit.mailbox_id))
    assert [(g.grantee_address, g.rights, g.expires_at is not None) for g in grants] == [(clerk.address, "lrs", True)]
    granted = server.run(audit.records(app, action="delegation.granted"))
    assert granted[-1].actor == w.address("manager") and "until" in granted[-1].details
    # A day already past, or no day at all: refused, nothing changed.
    for bad in ((clock() - timedelta(days=2)).date().isoformat(), "31/02/2027"):
        r = manager.post(path, action="cap", grantee=clerk.address, rights="xu-ly", until=bad)
        assert r.status_code == 400 and 'id="loi"' in r.text, bad
    assert [g.rights for g in server.run(delegation.grants_of(app, w.unit.mailbox_id))] == ["lrs"]
    access = server.run(delegation.access_of(app, w.unit.mailbox_id, clerk.mailbox_id))
    assert access.mailbox == "lrs"

    clock.offset = timedelta(days=5)
    manager = signed_in(server, w.ids["manager"])  # a session of the days after (they last two days at most)
    shown = manager.get(page).text
    assert clerk.address not in _rows(shown, "uy-quyen")
    expired = _rows(shown, "uy-quyen-het-han")
    assert clerk.address in expired and f"đã hết hạn {last:%d/%m/%Y}" in expired
    assert server.run(delegation.access_of(app, w.unit.mailbox_id, clerk.mailbox_id)).mailbox == ""
    # Revoked from the expired list: gone for good.
    r = manager.post(path, action="thu-hoi", grantee=clerk.address, folder="")
    assert r.status_code == 200 and clerk.address not in r.text.split('id="uy-quyen-tieu-de"')[1].split("</section>")[0]


def test_folder_grants_edited_in_the_console(server: ServerThread) -> None:
    app = server.app
    w = world(server)
    manager, admin = w.clients["manager"], w.clients["admin"]
    clerk = add_person(server, "Lý Thị Thư", w.unit.id, PASSWORD)
    unit_box = w.unit.mailbox_id
    incoming = server.run(app.store.create_folder(unit_box, "Công văn đến"))
    secret = server.run(app.store.create_folder(unit_box, "Mật"))
    inbox = server.run(app.store.get_folder(unit_box, "INBOX"))
    path = f"/quan-tri/danh-ba/don-vi/{w.unit.id}/uy-quyen"
    # The page offers the folders (never INBOX, whose rights are the whole mailbox's).
    shown = manager.get(f"/quan-tri/danh-ba/don-vi/{w.unit.id}").text
    form = shown.split('id="uy-quyen-thu-muc"')[1].split("</form>")[0]
    assert "Công văn đến" in form and "Mật" in form and f'value="{inbox.id}"' not in form
    # Read-only on "Công văn đến" alone, for a delegate with nothing else.
    r = manager.post(path, action="cap", grantee=clerk.address, folder=str(incoming.id), rights="xem")
    assert r.status_code == 200, r.text
    live = _rows(r.text, "uy-quyen")
    assert "Công văn đến" in live and "(lrs)" in live
    with imaplib.IMAP4("127.0.0.1", server.port("imap")) as imap:
        imap.starttls(tls_client())
        imap.login(clerk.address, PASSWORD)
        imap.enable("UTF8=ACCEPT")  # folder names in UTF-8 (RFC 6855)
        _typ, listed = imap.list()
        names = "\n".join(line.decode() for line in listed if isinstance(line, bytes))
        assert f"Shared/{w.unit.address}/Công văn đến" in names
        assert "Mật" not in names and f"Shared/{w.unit.address}/INBOX" not in names
    # A delegate of the whole mailbox, with "Mật" hidden from them.
    r = manager.post(path, action="cap", grantee=clerk.address, rights="xu-ly")
    r = manager.post(path, action="cap", grantee=clerk.address, folder=str(secret.id), rights="khong")
    assert r.status_code == 200
    access = server.run(delegation.access_of(app, unit_box, clerk.mailbox_id))
    assert access.rights(secret.id) == "" and access.rights(incoming.id) == "lrs"
    assert access.rights(None) == "lrswipkxte"
    # Not on INBOX, not with send-as, not another mailbox's folder, not an unknown preset.
    other_folder = server.run(app.store.get_folder(w.other.mailbox_id, "INBOX"))
    for fields in ({"folder": str(inbox.id), "rights": "xem"}, {"folder": str(other_folder.id), "rights": "xem"},
                   {"folder": str(secret.id), "rights": "gui-thay"}, {"folder": "x1", "rights": "xem"}):
        r = manager.post(path, action="cap", grantee=clerk.address, **fields)
        assert r.status_code == 400, fields
    # Removing the folder's own grant: it follows the mailbox-wide grant again.
    r = manager.post(path, action="thu-hoi", grantee=clerk.address, folder=str(secret.id))
    assert r.status_code == 200
    assert server.run(delegation.access_of(app, unit_box, clerk.mailbox_id)).rights(secret.id) == "lrswipkxte"
    revoked = server.run(audit.records(app, action="delegation.revoked"))
    assert [(x.actor, x.details.get("folder")) for x in revoked] == [(w.address("manager"), "Mật")]
    granted = server.run(audit.records(app, action="delegation.granted"))
    assert {x.details.get("folder") for x in granted} == {"Công văn đến", "Mật", None}
    # Through the one check: a supervisor 403 (audited), another organisation's manager 404.
    before = server.run(delegation.grants_of(app, unit_box))
    r = w.clients["supervisor"].post(path, action="cap", grantee=clerk.address, folder=str(secret.id),
                                     rights="khong")
    assert r.status_code == 403
    assert w.clients["manager_other"].post(path, action="thu-hoi", grantee=clerk.address,
                                           folder=str(incoming.id)).status_code == 404
    assert server.run(delegation.grants_of(app, unit_box)) == before
    denied = server.run(audit.records(app, action="access.denied"))
    assert [x.actor for x in denied] == [w.address("supervisor")]
    # The administrator too; revoking the whole delegation takes the folder grants with it.
    r = admin.post(path, action="thu-hoi", grantee=clerk.address)
    assert r.status_code == 200 and server.run(delegation.grants_of(app, unit_box)) == []
