"""The API's people endpoints over HTTP (``congthu/api/people.py``, issue 15: "REST API for
everything the console does"), with real tokens on one server for the module:

* the naming engine's proposal (Điều 3.2/3.3: the address, the rule, the clash explained),
  then the person added at that address, 409 if the address changed meanwhile, another
  address (Điều 3.3c) for administrators only;
* a rename keeps the old address as an alias;
* the departure (Điều 4.5): an IMAP IDLE session and the webmail's sessions end within
  5 s, the mailbox is revoked, the handover forwards and answers; twice is 409;
* who may: a token without ``directory:write`` is refused before anything is read, a
  manager of another organisation gets 404, a supervisor 403 (audited), a manager of the
  department acts on its unit too;
* bad input is a 4xx problem document with a clear message, never a 500.
"""

from __future__ import annotations

import imaplib
import secrets
import time
from typing import Any

from congthu import audit
from congthu.directory import Directory
from congthu.webmail.sessions import WebSessions
from tests.api.conftest import ALL_SCOPES, World

PASSWORD = "Mk@12345678-api"


def fresh_name() -> str:
    """A name of its own, so tests sharing the server never clash by accident."""
    given = "".join(secrets.choice("bcdghklmnpqrstvx") + secrets.choice("aeiou") for _ in range(3))
    return f"Phạm Văn {given.capitalize()}"


def add(world: World, token: str, org: str = "dept", **body: Any) -> Any:
    return world.call("POST", f"/api/v1/orgs/{world.ids[org]}/people", token,
                      json={"name": fresh_name(), **body})


def test_the_proposal_then_the_person_at_that_address(shared_world: World) -> None:
    world = shared_world
    token = world.token("admin2")
    dept = world.ids["dept"]
    # A clash with someone already there is explained (Điều 3.3b: the organisation's part).
    r = world.call("GET", f"/api/v1/orgs/{dept}/proposal", token, params={"name": "Nguyễn Thanh Bình"})
    assert r.status_code == 200, r.text
    clash = r.json()
    assert clash["address"] != world.accounts["binh"] and clash["clash_with"]
    assert world.accounts["binh"].split("@")[0] in clash["clash_with"]
    assert clash["rule"] and clash["rule"] in clash["explanation"]
    name = fresh_name()
    proposal = world.call("GET", f"/api/v1/orgs/{dept}/proposal", token, params={"name": name}).json()
    assert proposal["clash_with"] is None and not proposal["needs_decision"]
    r = world.call("POST", f"/api/v1/orgs/{dept}/people", token,
                   json={"name": name, "title": "Chuyên viên", "expected_address": proposal["address"]})
    assert r.status_code == 201, r.text
    added = r.json()
    assert added["person"]["address"] == proposal["address"] and added["person"]["org_id"] == dept
    assert added["proposal"]["rule"] == proposal["rule"] and len(added["password"]) >= 12
    assert world.call("GET", f"/api/v1/people/{added['person']['id']}", token).json()["title"] == "Chuyên viên"
    # The same proposal again is now taken: the address shown is stale, nothing is made.
    r = world.call("POST", f"/api/v1/orgs/{dept}/people", token,
                   json={"name": name, "expected_address": proposal["address"]})
    assert r.status_code == 409 and r.json()["code"] == "conflict"
    assert "check again" in r.json()["detail"] and "xem lại" in r.json()["detail"]
    records = world.server.run(audit.records(world.server.app, action="directory.person_added",
                                             target=proposal["address"]))
    assert [rec.actor for rec in records] == [f"{world.accounts['admin2']} (api:test)"]


def test_another_address_is_the_it_centers(shared_world: World) -> None:
    world = shared_world
    chosen = f"chon{secrets.token_hex(3)}"
    r = add(world, world.token("manager"), address=chosen)
    assert r.status_code == 403 and "3.3c" in r.json()["detail"]
    r = world.call("GET", f"/api/v1/orgs/{world.ids['dept']}/proposal", world.token("manager"),
                   params={"name": fresh_name(), "address": chosen})
    assert r.status_code == 403
    denied = world.server.run(audit.records(world.server.app, action="access.denied",
                                            actor=world.accounts["manager"]))
    assert any(rec.details["permission"] == "directory.override" for rec in denied)
    r = add(world, world.token("admin2"), address=chosen)
    assert r.status_code == 201, r.text
    assert r.json()["person"]["address"].split("@")[0] == chosen
    # An address already issued is refused by the directory's rule, clearly.
    r = add(world, world.token("admin2"), address=chosen)
    assert r.status_code == 422 and r.json()["code"] == "invalid" and " / " in r.json()["detail"]


def test_rename_keeps_the_old_address(shared_world: World) -> None:
    world = shared_world
    token = world.token("manager")
    person = add(world, token, "unit").json()["person"]
    r = world.call("POST", f"/api/v1/people/{person['id']}/rename", token, json={"name": "Phạm Thị Đổi Tên"})
    assert r.status_code == 200, r.text
    renamed = r.json()
    assert renamed["old_address"] == person["address"] and renamed["person"]["full_name"] == "Phạm Thị Đổi Tên"
    assert renamed["person"]["address"] != person["address"]
    aliases = world.call("GET", f"/api/v1/people/{person['id']}/aliases", token).json()
    assert person["address"] in [a["address"] for a in aliases]
    assert world.server.run(audit.records(world.server.app, action="directory.person_renamed",
                                          target=renamed["person"]["address"]))


def idle(world: World, address: str) -> imaplib.IMAP4:
    client = imaplib.IMAP4("127.0.0.1", world.server.port("imap"), timeout=30)
    client.login(address, PASSWORD)
    client.select("INBOX")
    client.send(b"A1 IDLE\r\n")
    assert client.readline().startswith(b"+")
    return client


def test_departure_revokes_at_once_and_hands_over(shared_world: World) -> None:
    world = shared_world
    app = world.server.app
    token = world.token("manager")
    person = add(world, token).json()["person"]
    box = world.server.run(app.store.get_mailbox(person["address"]))
    assert box is not None
    world.server.run(app.accounts.set_password(box.id, PASSWORD, must_change=False))
    sessions = WebSessions(app.db, app.accounts.clock)
    world.server.run(sessions.open(box.id, must_change=False, user_agent="test", client_ip="127.0.0.1"))
    client = idle(world, person["address"])
    started = time.monotonic()
    r = world.call("POST", f"/api/v1/people/{person['id']}/departure", token,
                   json={"successor": world.accounts["binh"], "forward": True, "reply": True})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["person"]["status"] == "left"
    assert out["handover"]["successor"] == world.accounts["binh"] and out["handover"]["forward"]
    assert out["handover"]["organisation"] == world.accounts["dept_box"]
    client.sock.settimeout(max(0.1, 5 - (time.monotonic() - started)))
    try:
        said = client.sock.recv(4096)
        while said and b"BYE" not in said:
            said += client.sock.recv(4096)
    except OSError:
        said = b"BYE (closed)"
    assert b"BYE" in said and time.monotonic() - started < 5
    assert world.server.run(sessions.list(box.id)) == []
    revoked = world.server.run(app.store.get_mailbox_by_id(box.id))
    assert revoked is not None and revoked.status == "revoked"
    # Gone already: 409; the audit trail names the token.
    again = world.call("POST", f"/api/v1/people/{person['id']}/departure", token, json={})
    assert again.status_code == 409 and "already left" in again.json()["detail"]
    left = world.server.run(audit.records(app, action="directory.person_left", target=person["address"]))
    assert [rec.actor for rec in left] == [f"{world.accounts['manager']} (api:test)"]
    assert world.server.run(audit.records(app, action="directory.leaver_handover", target=person["address"]))


def test_a_managers_successor_is_in_what_they_manage(shared_world: World) -> None:
    world = shared_world
    token = world.token("manager")
    person = add(world, token).json()["person"]
    r = world.call("POST", f"/api/v1/people/{person['id']}/departure", token,
                   json={"successor": world.accounts["hoa"], "reply": True})
    assert r.status_code == 422 and "you manage" in r.json()["detail"]
    r = world.call("POST", f"/api/v1/people/{person['id']}/departure", token,
                   json={"reply": True, "until": "2001-01-01"})
    assert r.status_code == 422 and "past" in r.json()["detail"]
    # Nothing changed by the refusals.
    assert world.server.run(Directory(world.server.app).get_person(person["id"])).status == "active"


def endpoints(world: World, org: str, person_id: int) -> list[tuple[str, str, Any, Any]]:
    org_id = world.ids[org]
    return [
        ("GET", f"/api/v1/orgs/{org_id}/proposal", {"name": fresh_name()}, None),
        ("POST", f"/api/v1/orgs/{org_id}/people", None, {"name": fresh_name()}),
        ("POST", f"/api/v1/people/{person_id}/rename", None, {"name": fresh_name()}),
        ("POST", f"/api/v1/people/{person_id}/departure", None, {}),
    ]


def statuses(world: World, token: str, org: str) -> list[int]:
    admin = world.token("admin2")
    person_id = add(world, admin, org).json()["person"]["id"]
    return [world.call(method, path, token, params=params, json=body).status_code
            for method, path, params, body in endpoints(world, org, person_id)]


def test_who_may(shared_world: World) -> None:
    world = shared_world
    without = world.token("admin2", [s for s in ALL_SCOPES if s != "directory:write"])
    person_id = add(world, world.token("admin2")).json()["person"]["id"]
    for method, path, params, body in endpoints(world, "dept", person_id):
        r = world.call(method, path, without, params=params, json=body)
        assert r.status_code == 403 and r.json()["code"] == "insufficient_scope", path
        assert 'scope="directory:write"' in r.headers["www-authenticate"]
    assert statuses(world, world.token("admin2"), "dept") == [200, 201, 200, 200]
    assert statuses(world, world.token("manager"), "dept") == [200, 201, 200, 200]
    assert statuses(world, world.token("manager"), "unit") == [200, 201, 200, 200]
    assert statuses(world, world.token("unitmanager"), "dept") == [404] * 4
    assert statuses(world, world.token("othermanager"), "dept") == [404] * 4
    assert statuses(world, world.token("supervisor"), "dept") == [403] * 4
    assert statuses(world, world.token("admin2", org=world.ids["unit"]), "dept") == [404] * 4
    denied = world.server.run(audit.records(world.server.app, action="access.denied",
                                            actor=world.accounts["supervisor"]))
    assert any(rec.details["permission"] == "org.mailboxes.manage" for rec in denied)


def test_bad_input_is_a_clear_4xx(shared_world: World) -> None:
    world = shared_world
    token = world.token("admin2")
    dept = world.ids["dept"]
    person_id = add(world, token).json()["person"]["id"]
    for method, path, params, body in [
        ("GET", f"/api/v1/orgs/{dept}/proposal", {"name": "   "}, None),
        ("GET", f"/api/v1/orgs/{dept}/proposal", {"name": "a\x01b"}, None),
        ("GET", f"/api/v1/orgs/{dept}/proposal", {"name": "!!!"}, None),
        ("GET", f"/api/v1/orgs/{dept}/proposal", {"name": "Lê Văn A", "rank": "0"}, None),
        ("POST", f"/api/v1/orgs/{dept}/people", None, {"name": "Lê Văn A", "unknown": 1}),
        ("POST", f"/api/v1/orgs/{dept}/people", None, {"name": "Lê Văn A", "address": "có dấu"}),
        ("POST", f"/api/v1/orgs/{dept}/people", None, {"name": "Lê Văn A", "address": "x..y"}),
        ("POST", f"/api/v1/orgs/{dept}/people", None, {}),
        ("POST", f"/api/v1/people/{person_id}/rename", None, {"name": ""}),
        ("POST", f"/api/v1/people/{person_id}/departure", None, {"until": "31/12/2026"}),
        ("POST", f"/api/v1/people/{person_id}/departure", None, {"forward": True}),
        ("POST", f"/api/v1/people/{person_id}/departure", None, {"successor": "ai@gmail.com", "forward": True}),
        ("POST", "/api/v1/orgs/999999/people", None, {"name": "Lê Văn A"}),
        ("POST", "/api/v1/people/999999/departure", None, {}),
    ]:
        r = world.call(method, path, token, params=params, json=body)
        assert 400 <= r.status_code < 500, (path, params, body, r.status_code, r.text)
        problem = r.json()
        assert problem["detail"] and problem["code"], r.text
    r = world.call("POST", f"/api/v1/orgs/{dept}/people", token, content=b"{", headers={
        "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == "bad_json"
    # The person is still there, active: none of the refusals changed anything.
    assert world.call("GET", f"/api/v1/people/{person_id}", token).json()["status"] == "active"
