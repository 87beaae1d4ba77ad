"""What the console does, done through the API (issue 15: "for everything the console
does"): aliases (Điều 3.3c), delegations of an organisation mailbox (Điều 12), the
working-day calendar's overrides and a request's due date (Điều 4.3), the journal
(Điều 7.3–7.5) and the quarantine (Điều 9.9), each over HTTP with httpx against a real
server, with what it changed checked through the owners (the directory, the delegation
package, IMAP, the audit trail). Who may do what is ``test_matrix.py``'s."""

from __future__ import annotations

import imaplib

import pytest

from congthu import audit
from congthu.delegation import rights_of
from tests.api.conftest import World
from tests.api.test_matrix import hold, journal_entry

PASSWORD = "Mk@12345678"


@pytest.fixture(scope="module")
def world(shared_world: World) -> World:
    """One server for the module: each test works on its own things."""
    return shared_world


def test_aliases_added_listed_and_removed_for_good(world: World) -> None:
    admin = world.token("admin2")
    binh = world.ids["binh"]
    r = world.call("POST", f"/api/v1/people/{binh}/aliases", admin, json={"alias": "binh.cu", "days": 30,
                                                                          "reason": "địa chỉ cũ"})
    assert r.status_code == 201, r.text
    alias = r.json()
    assert alias["address"].startswith("binh.cu@") and alias["target"] == world.accounts["binh"]
    assert alias["expires_at"] is not None and alias["live"] is True
    listed = world.call("GET", f"/api/v1/people/{binh}/aliases", admin).json()
    assert [a["address"] for a in listed] == [alias["address"]]
    # The directory's rules: a taken address, an invalid one.
    r = world.call("POST", f"/api/v1/people/{binh}/aliases", admin, json={"alias": world.accounts["lan"]})
    assert r.status_code == 422 and r.json()["code"] == "invalid" and "/" in r.json()["detail"]
    r = world.call("POST", f"/api/v1/people/{binh}/aliases", admin, json={"alias": "-x-"})
    assert r.status_code == 422
    assert world.call("DELETE", f"/api/v1/people/{binh}/aliases/{alias['address']}", admin).status_code == 204
    assert world.call("GET", f"/api/v1/people/{binh}/aliases", admin).json() == []
    assert world.call("DELETE", f"/api/v1/people/{binh}/aliases/{alias['address']}", admin).status_code == 404
    # A removed alias stays reserved: never issued again.
    r = world.call("POST", f"/api/v1/orgs/{world.ids['dept']}/aliases", admin, json={"alias": "binh.cu"})
    assert r.status_code == 422
    added = world.server.run(audit.records(world.server.app, action="directory.alias_"))
    assert [(a.action, a.actor) for a in added] == [
        ("directory.alias_added", f"{world.accounts['admin2']} (api:test)"),
        ("directory.alias_removed", f"{world.accounts['admin2']} (api:test)")]


def test_a_manager_delegates_the_organisation_mailbox_within_the_organisation(world: World) -> None:
    manager = world.token("manager")
    dept = world.ids["dept"]
    app = world.server.app
    r = world.call("POST", f"/api/v1/orgs/{dept}/delegations", manager,
                   json={"grantee": world.accounts["lan"], "rights": "xu-ly", "until": "2099-01-01"})
    assert r.status_code == 422  # more than a year ahead
    r = world.call("POST", f"/api/v1/orgs/{dept}/delegations", manager,
                   json={"grantee": world.accounts["lan"], "rights": "xu-ly"})
    assert r.status_code == 201, r.text
    assert r.json() == {"grantee": world.accounts["lan"], "rights": "lrswipkxte", "preset": "xu-ly", "folder": None,
                        "expires_at": None}
    listed = world.call("GET", f"/api/v1/orgs/{dept}/delegations", manager).json()
    assert [(g["grantee"], g["preset"]) for g in listed] == [(world.accounts["lan"], "xu-ly")]
    owner = world.server.run(app.store.get_mailbox(world.accounts["dept_box"]))
    lan = world.server.run(app.store.get_mailbox(world.accounts["lan"]))
    assert owner is not None and lan is not None
    assert world.server.run(rights_of(app, owner.id, lan.id)) == "lrswipkxte"
    # Outside the organisations the manager manages: refused as the console refuses it.
    r = world.call("POST", f"/api/v1/orgs/{dept}/delegations", manager,
                   json={"grantee": world.accounts["hoa"], "rights": "xem"})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "grantee"]
    r = world.call("POST", f"/api/v1/orgs/{dept}/delegations", manager, json={"grantee": "nobody", "rights": "xem"})
    assert r.status_code == 422
    assert world.call("DELETE", f"/api/v1/orgs/{dept}/delegations/{world.accounts['lan']}", manager).status_code == 204
    assert world.server.run(rights_of(app, owner.id, lan.id)) == ""
    assert world.call("DELETE", f"/api/v1/orgs/{dept}/delegations/{world.accounts['lan']}", manager).status_code == 404
    granted = world.server.run(audit.records(app, action="delegation."))
    assert [g.action for g in granted] == ["delegation.granted", "delegation.revoked"]


def test_the_calendar_overrides_move_the_due_date(world: World) -> None:
    admin = world.token("admin2")
    # Filed on Friday 8 January 2027 (no holiday near): Mon 11, Tue 12, Wed 13.
    due = "/api/v1/calendar/due?filed_at=2027-01-08T16:55:00%2B07:00"
    r = world.call("GET", due, admin)
    assert r.status_code == 200
    assert r.json()["filed_day"] == "2027-01-08" and r.json()["due_on"] == "2027-01-13"
    assert r.json()["deadline"].startswith("2027-01-13T17:00:00")  # 00:00 on the 14th in Vietnam
    # The government makes Monday a day off: one day later.
    r = world.call("POST", "/api/v1/calendar/overrides", admin, json={"day": "2027-01-11", "kind": "off",
                                                                      "note": "nghỉ bù"})
    assert r.status_code == 201 and r.json()["added_by"] == f"{world.accounts['admin2']} (api:test)"
    assert world.call("GET", due, admin).json()["due_on"] == "2027-01-14"
    # ... and the Saturday before a working day: back to Wednesday.
    assert world.call("POST", "/api/v1/calendar/overrides", admin,
                      json={"day": "2027-01-09", "kind": "work"}).status_code == 201
    assert world.call("GET", due, admin).json()["due_on"] == "2027-01-13"
    overrides = world.call("GET", "/api/v1/calendar/overrides", world.token("manager")).json()
    assert [(o["day"], o["kind"]) for o in overrides] == [("2027-01-09", "work"), ("2027-01-11", "off")]
    days = {d["day"]: d for d in world.call("GET", "/api/v1/calendar/days?year=2027", admin).json()}
    assert days["2027-01-09"]["working"] is True and days["2027-01-09"]["override"] == "work"
    assert days["2027-01-11"]["working"] is False
    assert days["2027-02-08"]["working"] is False and days["2027-02-08"]["holiday"]  # Tết 2027
    assert world.call("DELETE", "/api/v1/calendar/overrides/2027-01-11", admin).status_code == 204
    assert world.call("DELETE", "/api/v1/calendar/overrides/2027-01-11", admin).status_code == 404
    assert world.call("DELETE", "/api/v1/calendar/overrides/2027-01-09", admin).status_code == 204
    assert world.call("GET", due, admin).json()["due_on"] == "2027-01-13"
    r = world.call("POST", "/api/v1/calendar/overrides", admin, json={"day": "2027-13-01", "kind": "off"})
    assert r.status_code == 422
    changes = world.server.run(audit.records(world.server.app, action="calendar."))
    assert [c.action for c in changes] == ["calendar.override_set", "calendar.override_set",
                                           "calendar.override_removed", "calendar.override_removed"]


def test_the_journal_for_the_records_office_of_one_organisation(world: World) -> None:
    mine = journal_entry(world, "dept_box", "other_box", "Công văn gửi Sở Y tế")
    theirs = journal_entry(world, "other_box", "dept_box", "Công văn trả lời")
    records = world.token("records")
    found = world.call("GET", "/api/v1/journal", records, params={"q": "cong van"}).json()
    assert sorted(e["id"] for e in found) == sorted([mine, theirs])
    assert [e["id"] for e in world.call("GET", "/api/v1/journal", records, params={"q": "tra loi"}).json()] == [theirs]
    entry = world.call("GET", f"/api/v1/journal/{mine}", records).json()
    assert entry["organisation"] == world.accounts["dept_box"] and entry["subject"] == "Công văn gửi Sở Y tế"
    raw = world.call("GET", f"/api/v1/journal/{mine}/eml", records)
    assert raw.status_code == 200 and raw.headers["content-type"] == "message/rfc822"
    assert b"Subject: C\xc3\xb4ng v\xc4\x83n g\xe1\xbb\xadi" in raw.content
    # An administrator's token limited to the other department sees its entries only;
    # a manager holds no journal.read.
    limited = world.token("admin2", org=world.ids["other"])
    assert sorted(e["id"] for e in world.call("GET", "/api/v1/journal", limited).json()) == sorted([mine, theirs])
    limited_unit = world.token("admin2", org=world.ids["unit"])
    assert world.call("GET", "/api/v1/journal", limited_unit).json() == []
    assert world.call("GET", f"/api/v1/journal/{mine}", limited_unit).status_code == 404
    r = world.call("GET", "/api/v1/journal", world.token("manager"))
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert world.call("GET", "/api/v1/journal?type=khong-co", records).status_code == 422
    searches = world.server.run(audit.records(world.server.app, action="journal."))
    assert {s.action for s in searches} == {"journal.search", "journal.read"}
    assert all(s.client.startswith("api:test:") for s in searches)


def test_the_quarantine_released_into_the_inbox_or_deleted(world: World) -> None:
    app = world.server.app
    box = world.server.run(app.store.get_mailbox(world.accounts["binh"]))
    assert box is not None
    world.server.run(app.accounts.set_password(box.id, PASSWORD, must_change=False))
    kept, dropped = hold(world), hold(world)
    admin = world.token("admin2")
    listed = world.call("GET", "/api/v1/quarantine", admin).json()
    assert [h["id"] for h in listed] == [dropped, kept] and listed[0]["recipients"] == [world.accounts["binh"]]
    r = world.call("POST", f"/api/v1/quarantine/{kept}/release", admin)
    assert r.status_code == 200 and r.json()["id"] == kept
    assert world.call("POST", f"/api/v1/quarantine/{kept}/release", admin).status_code == 404
    assert world.call("DELETE", f"/api/v1/quarantine/{dropped}", admin).status_code == 204
    assert world.call("DELETE", f"/api/v1/quarantine/{dropped}", admin).status_code == 404
    assert world.call("GET", "/api/v1/quarantine", admin).json() == []
    # The released message is in the INBOX (beside the two notices that it was held).
    imap = imaplib.IMAP4("127.0.0.1", world.server.port("imap"), timeout=30)
    try:
        imap.login(world.accounts["binh"], PASSWORD)
        imap.select("INBOX", readonly=True)
        _typ, data = imap.search(None, "SUBJECT", "\"hoa don\"")
        assert len(data[0].split()) == 1
    finally:
        imap.logout()
    done = world.server.run(audit.records(app, action="content."))
    assert [(d.action, d.actor) for d in done] == [
        ("content.released", f"{world.accounts['admin2']} (api:test)"),
        ("content.deleted", f"{world.accounts['admin2']} (api:test)")]
