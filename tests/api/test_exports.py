"""A mailbox's mail exported over the API (Điều 4.4, 4.5; issue 15), real HTTP with real
tokens against the module's server:

* an administrator's token with ``mailboxes:export`` gets the mbox (read back with
  Python's ``mailbox``: every message of every folder, its flags) and the zip of .eml
  files with ``index.csv``, as downloads (attachment, nosniff), each export audited, the
  temporary zip removed afterwards;
* without the scope 403 before anything; the department's own manager may not export
  (403, audited, as in the console); another organisation's manager, or a token limited
  to another organisation, sees nothing (404); a token limited to the department exports
  its mailboxes;
* bad input 4xx: an unknown format, an unknown address.
"""

from __future__ import annotations

import io
import mailbox
import tempfile
import time
import zipfile
from pathlib import Path

from congthu import audit
from congthu.store import flags
from tests.api.conftest import World

FIRST = b"Return-Path: <hoa@example.org>\r\nFrom: hoa@example.org\r\nSubject: one\r\n\r\nFrom the start\r\n"
SECOND = b"From: lan@example.org\r\nSubject: two\r\n\r\nbody\r\n"


def fill(world: World, who: str) -> None:
    app = world.server.app

    async def deliver() -> None:
        box = await app.store.get_mailbox(world.accounts[who])
        assert box is not None
        await app.store.deliver(FIRST, [box.id], flags=flags.SEEN | flags.FLAGGED)
        await app.store.deliver(SECOND, [box.id], folder="Sent", flags=flags.ANSWERED)

    world.server.run(deliver())


def leftovers() -> list[Path]:
    return list(Path(tempfile.gettempdir()).glob("congthu-export-*"))


def test_export_as_mbox_and_zip(shared_world: World, tmp_path: Path) -> None:
    w = shared_world
    fill(w, "binh")
    address = w.accounts["binh"]
    token = w.token("admin2", ["mailboxes:export"])
    r = w.call("GET", f"/api/v1/mailboxes/{address}/export", token)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/mbox"
    assert r.headers["content-disposition"] == f"attachment; filename*=UTF-8''{address.replace('@', '%40')}.mbox"
    assert r.headers["x-content-type-options"] == "nosniff"
    (tmp_path / "out.mbox").write_bytes(r.content)
    got = list(mailbox.mbox(str(tmp_path / "out.mbox")))
    assert [m["Subject"] for m in got] == ["one", "two"]
    assert "R" in got[0]["Status"] and got[0]["X-Status"] == "F" and got[1]["X-Congthu-Folder"] == "Sent"
    assert got[0].get_payload() == ">From the start\n"

    r = w.call("GET", f"/api/v1/mailboxes/{address}/export?format=zip", token)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip", r.text
    assert r.headers["content-disposition"].endswith(".zip")
    with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
        names = archive.namelist()
        assert "INBOX/1.eml" in names and "Sent/1.eml" in names
        assert archive.read("INBOX/1.eml") == FIRST
        index = archive.read("index.csv").decode()
        assert "\\Seen" in index and "\\Flagged" in index and "\\Answered" in index
    for _ in range(40):  # removed once sent (a background task after the answer)
        if not leftovers():
            break
        time.sleep(0.05)
    assert not leftovers()
    exported = w.server.run(audit.records(w.server.app, action="mailbox.exported"))
    assert [(e.target, e.details["format"]) for e in exported[-2:]] == [(address, "mbox"), (address, "zip")]
    assert all("(api:test)" in e.actor for e in exported[-2:])


def test_who_may_export(shared_world: World) -> None:
    w = shared_world
    path = f"/api/v1/mailboxes/{w.accounts['lan']}/export"
    r = w.call("GET", path, w.token("admin2", ["mailboxes:read", "directory:read"]))
    assert r.status_code == 403 and r.json()["code"] == "insufficient_scope"
    # The console's rule: administrators only; the organisation's manager is refused, audited.
    r = w.call("GET", path, w.token("manager", ["mailboxes:export"]))
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    denied = w.server.run(audit.records(w.server.app, action="access.denied"))
    assert denied[-1].actor == w.accounts["manager"] and denied[-1].details["permission"] == "mailboxes.export"
    # The Department's supervisor reads every organisation but exports nothing; another
    # organisation's manager does not even see the mailbox.
    assert w.call("GET", path, w.token("supervisor", ["mailboxes:export"])).status_code == 403
    assert w.call("GET", path, w.token("othermanager", ["mailboxes:export"])).status_code == 404
    # A token limited to an organisation: only its mailboxes (lan is in the department's unit).
    assert w.call("GET", path, w.token("admin2", ["mailboxes:export"], org=w.ids["other"])).status_code == 404
    assert w.call("GET", path, w.token("admin2", ["mailboxes:export"], org=w.ids["dept"])).status_code == 200
    # Outside the directory (an account of no organisation): unlimited tokens only.
    outside = f"/api/v1/mailboxes/{w.accounts['official']}/export"
    assert w.call("GET", outside, w.token("admin2", ["mailboxes:export"], org=w.ids["dept"])).status_code == 404
    assert w.call("GET", outside, w.token("admin2", ["mailboxes:export"])).status_code == 200


def test_bad_exports(shared_world: World) -> None:
    w = shared_world
    token = w.token("admin2", ["mailboxes:export"])
    base = "/api/v1/mailboxes"
    for path, status in ((f"{base}/{w.accounts['binh']}/export?format=tar", 422),
                         (f"{base}/nobody@{w.server.app.settings.system.domain}/export", 404),
                         (f"{base}/no-at-sign/export", 404),
                         (f"{base}/a%00b@x/export", 422)):
        r = w.call("GET", path, token)
        assert r.status_code == status, (path, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    assert w.call("POST", f"{base}/{w.accounts['binh']}/export", token).status_code == 405
