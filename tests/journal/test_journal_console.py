"""The journal's console page (``/quan-tri/luu-thu``, issues 15 and 17) over HTTP (httpx,
a real server on loopback), with entries made by real SMTP submission between
organisation mailboxes of the directory:

* who may open it: administrators and the records office; supervisors, organisation
  managers and officials find no such page (404);
* a records grant scoped to an organisation sees only the entries its organisation (or
  a sub-unit) sent or received, in the list, the entry page and the download; another
  entry is 404 like a missing one, and the attempt is audited; the CLI's reader is
  scoped alike;
* every search and every read is in the audit trail under the reader;
* the download is the message byte for byte as kept.
"""

from __future__ import annotations

import email.utils
import re
import time
from email.message import EmailMessage

from congthu import audit
from congthu.accounts import roles
from congthu.directory import Directory
from congthu.journal import entries
from tests.conftest import ServerThread
from tests.directory.console_client import PASSWORD, Client, signed_in
from tests.journal.test_journal import PASSWORD as SENDING_PASSWORD
from tests.journal.test_journal import submit
from tests.webmail.test_login import totp_code


def message(sender: str, to: str, subject: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate(localtime=True)
    msg["Message-ID"] = email.utils.make_msgid(domain="soctrang.gov.vn")
    msg.set_content("Kính gửi Quý cơ quan,\nxin gửi văn bản kèm theo.\n")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def test_journal_console(server: ServerThread) -> None:
    app = server.app
    d = Directory(app)
    domain = app.settings.system.domain
    tttt = server.run(d.add_org("Sở Thông tin và Truyền thông"))[0]
    tuphap = server.run(d.add_org("Sở Tư pháp"))[0]
    phong = server.run(d.add_org("Phòng Hành chính", parent=tuphap.id))[0]
    yte = server.run(d.add_org("Sở Y tế"))[0]
    for org in (tttt, phong, yte):
        server.run(app.accounts.set_password(org.mailbox_id, SENDING_PASSWORD, must_change=False))
    # Entry 1: Sở TTTT → a unit of Sở Tư pháp. Entry 2: Sở Y tế → Sở TTTT.
    first_raw = message(tttt.address, phong.address, "V/v phối hợp chuyển đổi số")
    submit(server, tttt.address, [phong.address], first_raw)
    submit(server, yte.address, [tttt.address], message(yte.address, tttt.address, "Kế hoạch tiêm chủng"))
    ids: dict[str, int] = {}
    for who in ("admin", "supervisor", "manager", "records", "records.stp", "official"):
        ids[who] = server.add_user(f"{who}@{domain}", PASSWORD, who)
    server.run(roles.grant(app, ids["admin"], roles.ADMIN))
    server.run(roles.grant(app, ids["supervisor"], roles.SUPERVISOR))
    server.run(roles.grant(app, ids["manager"], roles.ORG_MANAGER, tuphap.id))
    server.run(roles.grant(app, ids["records"], roles.RECORDS))
    server.run(roles.grant(app, ids["records.stp"], roles.RECORDS, tuphap.id))  # the records office of Sở Tư pháp
    secret = server.run(app.accounts.totp_begin(ids["admin"]))
    assert server.run(app.accounts.totp_confirm(ids["admin"], totp_code(secret, time.time()), actor="test"))
    clients: dict[str, Client] = {who: signed_in(server, mailbox_id) for who, mailbox_id in ids.items()}
    deadline = time.monotonic() + 10
    while len(found := server.run(entries.search(app, ids["admin"]))) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    second, first = found  # newest first
    assert first.subject == "V/v phối hợp chuyển đổi số" and second.subject == "Kế hoạch tiêm chủng"

    def listed(c: Client) -> int | set[int]:
        r = c.get("/quan-tri/luu-thu")
        return {int(i) for i in re.findall(r'id="ban-luu-(\d+)"', r.text)} if r.status_code == 200 else r.status_code

    def shown(c: Client, entry_id: int, suffix: str = "") -> int:
        return c.get(f"/quan-tri/luu-thu/{entry_id}{suffix}").status_code

    everything = {first.id, second.id}
    expected = {"admin": (everything, 200, 200), "records": (everything, 200, 200),
                "records.stp": ({first.id}, 200, 404), "supervisor": (404, 404, 404),
                "manager": (404, 404, 404), "official": (404, 404, 404)}
    got = {who: (listed(c), shown(c, first.id), shown(c, second.id)) for who, c in clients.items()}
    assert got == expected
    # The downloads follow the same rule; the message comes back byte for byte.
    records_stp = clients["records.stp"]
    r = records_stp.get(f"/quan-tri/luu-thu/{first.id}.eml")
    assert r.status_code == 200 and r.content == first_raw
    assert r.headers["content-type"].startswith("message/rfc822")
    assert shown(records_stp, second.id, ".eml") == 404
    assert shown(clients["manager"], first.id, ".eml") == 404
    # The entry page: what was sent, its SHA-256, its text.
    page = records_stp.get(f"/quan-tri/luu-thu/{first.id}").text
    assert first.sha256 in page and phong.address in page and "xin gửi văn bản kèm theo" in page
    english = Client(server, records_stp.cookie, lang="en")
    assert "Mail between organisations" in english.get("/quan-tri/luu-thu").text
    # Searching: by text without accents, by address, by day, by type.
    r = clients["records"].get("/quan-tri/luu-thu", q="tiem chung")
    assert set(map(int, re.findall(r'id="ban-luu-(\d+)"', r.text))) == {second.id}
    r = clients["records"].get("/quan-tri/luu-thu", **{"dia-chi": phong.address})
    assert set(map(int, re.findall(r'id="ban-luu-(\d+)"', r.text))) == {first.id}
    r = records_stp.get("/quan-tri/luu-thu", q="tiem chung")
    assert re.findall(r'id="ban-luu-(\d+)"', r.text) == []  # not theirs, not even found
    r = clients["records"].get("/quan-tri/luu-thu", tu="2001-01-01", den="2001-12-31")
    assert re.findall(r'id="ban-luu-(\d+)"', r.text) == []
    assert clients["records"].get("/quan-tri/luu-thu", tu="hôm qua").status_code == 400
    assert clients["records"].get("/quan-tri/luu-thu/abc").status_code == 404
    assert clients["records"].get("/quan-tri/luu-thu/999999").status_code == 404
    # The console's home takes the records office to the journal.
    home = records_stp.get("/quan-tri")
    assert home.status_code in (302, 303, 307) and home.headers["location"] == "/quan-tri/luu-thu"
    # The same scope through the functions the CLI uses.
    assert [e.id for e in server.run(entries.search(app, ids["records.stp"]))] == [first.id]
    # Every search and read is audited under its reader; the refused read too.
    searches = server.run(audit.records(app, action="journal.search"))
    assert {r.actor for r in searches} >= {f"records@{domain}", f"records.stp@{domain}", f"admin@{domain}"}
    reads = server.run(audit.records(app, action="journal.read"))
    assert {(r.actor, r.target) for r in reads} >= {(f"records.stp@{domain}", f"journal:{first.id}"),
                                                    (f"records@{domain}", f"journal:{second.id}")}
    assert (f"records.stp@{domain}", f"journal:{second.id}") not in {(r.actor, r.target) for r in reads}
    denied = server.run(audit.records(app, action="access.denied"))
    assert (f"records.stp@{domain}", f"journal:{second.id}") in {(r.actor, r.target) for r in denied}
