"""A delegation's end changed from its row in the console (Điều 12, issue 15), over HTTP
(httpx with the page's CSRF token, a real webmail session) against a real server:

* the organisation's manager moves the end of a delegation in force with the row's form
  (``action=han``): every row of the delegation takes it (the folder grant too), its
  rights stay, the page shows it, the change is audited (``delegation.end_changed``);
  clearing the date leaves the delegation without an end; once the (injected) clock is
  past a new end, no door honours it (``delegation.access_of``);
* a forged form (wrong CSRF token) is 403 and changes nothing; the Department's
  supervisor is 403 (audited); another organisation's manager 404;
* a day already past or unreadable, or a delegate without a delegation in force, is 400
  with the reason, nothing changed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from congthu import audit, delegation
from congthu.delegation.term import last_day
from tests.conftest import ServerThread
from tests.directory.console_client import add_person, signed_in, world


class Clock:
    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def _ends(server: ServerThread, mailbox_id: int) -> list[tuple[str | None, str, datetime | None]]:
    return [(g.folder, g.rights, g.expires_at) for g in server.run(delegation.grants_of(server.app, mailbox_id))]


def test_the_end_changed_per_row(server: ServerThread) -> None:
    app = server.app
    clock = Clock()
    app.accounts.clock = clock
    zone = app.settings.system.timezone
    w = world(server)
    manager = w.clients["manager"]
    clerk = add_person(server, "Ngô Thị Văn", w.unit.id)
    box = w.unit.mailbox_id
    path = f"/quan-tri/danh-ba/don-vi/{w.unit.id}/uy-quyen"
    first = (clock() + timedelta(days=3)).date()
    r = manager.post(path, action="cap", grantee=clerk.address, rights="xu-ly", until=first.isoformat())
    assert r.status_code == 200, r.text
    folder = server.run(app.store.create_folder(box, "Công văn đến"))
    r = manager.post(path, action="cap", grantee=clerk.address, rights="xem", folder=str(folder.id))
    assert r.status_code == 200, r.text
    # The row's form, with the delegation's last day filled in.
    form = re.search(rf'<form[^>]*id="han-{clerk.mailbox_id}".*?</form>', r.text, re.S)
    assert form is not None and f'value="{first.isoformat()}"' in form.group(0), r.text
    assert r.text.count(f'id="han-{clerk.mailbox_id}"') == 1  # one per delegation, not per row

    later = (clock() + timedelta(days=10)).date()
    r = manager.post(path, action="han", grantee=clerk.address, until=later.isoformat())
    assert r.status_code == 200 and "Đã đổi thời hạn ủy quyền" in r.text, r.text
    assert f"đến hết {later:%d/%m/%Y}" in r.text
    ends = _ends(server, box)
    assert sorted((f or "", rights) for f, rights, _e in ends) == [("", "lrswipkxte"), ("Công văn đến", "lrs")]
    assert {e and last_day(e, zone) for _f, _r, e in ends} == {later}
    changed = server.run(audit.records(app, action="delegation.end_changed"))
    assert changed[-1].actor == w.address("manager") and changed[-1].details["grantee"] == clerk.address
    assert changed[-1].details["until"] and changed[-1].details["before"]

    # Cleared: no end on any row.
    r = manager.post(path, action="han", grantee=clerk.address, until="")
    assert r.status_code == 200 and "không thời hạn" in r.text
    assert {e for _f, _r, e in _ends(server, box)} == {None}

    # Refused, nothing changed: a forged form, a supervisor, another organisation's manager.
    manager.forged = True
    assert manager.post(path, action="han", grantee=clerk.address, until=later.isoformat()).status_code == 403
    manager.forged = False
    r = w.clients["supervisor"].post(path, action="han", grantee=clerk.address, until=later.isoformat())
    assert r.status_code == 403
    denied = server.run(audit.records(app, action="access.denied"))
    assert denied[-1].actor == w.address("supervisor")
    r = w.clients["manager_other"].post(path, action="han", grantee=clerk.address, until=later.isoformat())
    assert r.status_code == 404
    # Bad input: 400 with the reason.
    for until, words in (((clock() - timedelta(days=2)).date().isoformat(), "đã qua"), ("31/02/2027", "invalid date"),
                         ((clock() + timedelta(days=400)).date().isoformat(), "366")):
        r = manager.post(path, action="han", grantee=clerk.address, until=until)
        assert r.status_code == 400 and 'id="loi"' in r.text and words in r.text, until
    r = manager.post(path, action="han", grantee=w.address("official"), until=later.isoformat())
    assert r.status_code == 400 and "no delegation in force" in r.text
    assert {e for _f, _r, e in _ends(server, box)} == {None}

    # A near end, then the clock past it: honoured nowhere.
    soon = clock().astimezone(ZoneInfo(zone)).date()  # today, the last day
    r = manager.post(path, action="han", grantee=clerk.address, until=soon.isoformat())
    assert r.status_code == 200
    assert server.run(delegation.access_of(app, box, clerk.mailbox_id)).mailbox == "lrswipkxte"
    clock.offset = timedelta(days=2)
    assert server.run(delegation.access_of(app, box, clerk.mailbox_id)).mailbox == ""
    # An expired delegation is over: its end is no longer changed (a new grant starts anew).
    manager = signed_in(server, w.ids["manager"])  # a session of the days after
    r = manager.post(path, action="han", grantee=clerk.address, until=(clock() + timedelta(days=5)).date().isoformat())
    assert r.status_code == 400 and "no delegation in force" in r.text
