"""The API's authorisation matrix over HTTP (issue 15: "an organisation manager cannot see
or change another organisation by any URL or API call"):

* each scope × each endpoint: a token without the endpoint's scope gets 403
  ``insufficient_scope`` before anything is read, one with it gets past that check;
* each owner's role × each endpoint on one department's things: the console's answers
  (read 200, change 2xx or 403), and 404 for the things of an organisation the owner may
  not read, exactly as for ids that do not exist;
* a token limited to an organisation: nothing outside it, not even for an administrator;
* listings and search show only what the owner may read;
* the same for aliases, delegations, the working-day calendar, the journal and the
  quarantine (``org_endpoints``, ``system_endpoints``).
"""

from __future__ import annotations

import itertools
import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from congthu.content import quarantine
from congthu.delegation import grant
from congthu.directory import Directory
from congthu.journal import entries
from congthu.requests.calendar import put_override
from congthu.requests.workflow import Requests
from tests.api.conftest import ALL_SCOPES, World


def file_request(world: World, org: str = "dept") -> int:
    """A fresh request of the organisation, filed by the IT Center (paper)."""
    async def file() -> int:
        return (await Requests(world.server.app).file("create", world.ids[org], filed_by="it@test", source="paper",
                                                      names="Phạm Văn An")).id
    return world.server.run(file())


def endpoints(world: World, org: str = "dept", person: str = "binh") -> list[tuple[str, str, str, Any]]:
    """(scope, method, path, json) of every endpoint, about ``org``'s things."""
    org_id, person_id, address = world.ids[org], world.ids[person], world.accounts[person]
    return [
        ("directory:read", "GET", f"/api/v1/orgs/{org_id}", None),
        ("directory:read", "GET", f"/api/v1/orgs/{org_id}/people", None),
        ("directory:read", "GET", f"/api/v1/people/{person_id}", None),
        ("mailboxes:read", "GET", f"/api/v1/orgs/{org_id}/mailboxes", None),
        ("mailboxes:read", "GET", f"/api/v1/mailboxes/{address}", None),
        ("requests:read", "GET", f"/api/v1/requests/{file_request(world, org)}", None),
        ("requests:write", "POST", "/api/v1/requests",
         {"kind": "create", "org": org_id, "names": [{"name": "Đỗ Thị Mai", "title": "Chuyên viên"}]}),
        ("requests:write", "POST", f"/api/v1/requests/{file_request(world, org)}/refuse", {"reason": "thiếu hồ sơ"}),
        ("requests:passwords", "POST", f"/api/v1/requests/{file_request(world, org)}/passwords", None),
        ("reports:read", "GET", f"/api/v1/reports?period=2026-11&org={org_id}", None),
        ("reports:read", "GET", f"/api/v1/reports/xlsx?period=2026-11&org={org_id}", None),
    ]


def test_each_scope_opens_only_its_endpoints(world: World) -> None:
    tokens = {scope: world.token("admin2", [scope]) for scope in ALL_SCOPES}
    for needed, method, path, body in endpoints(world):
        for scope, token in tokens.items():
            r = world.call(method, path, token, json=body)
            if scope == needed:
                assert not (r.status_code == 403 and r.json()["code"] == "insufficient_scope"), (scope, path)
                assert r.status_code < 500, (scope, path, r.text)
            else:
                assert r.status_code == 403, (scope, path, r.status_code, r.text)
                assert r.json()["code"] == "insufficient_scope"
                assert f'scope="{needed}"' in r.headers["www-authenticate"]


# Owner -> the status of each endpoint of ``endpoints`` on the department's things.
READ_ALL = [200, 200, 200, 200, 200, 200]
EXPECTED = {
    "admin2": READ_ALL + [201, 200, 403, 200, 200],  # passwords: the organisation's managers only (Điều 13.2)
    "supervisor": READ_ALL + [403, 403, 403, 200, 200],
    "manager": READ_ALL + [201, 403, 200, 200, 200],
    "unitmanager": [404] * 11,  # a unit's manager does not manage its parent
    "othermanager": [404] * 11,
}


@pytest.mark.parametrize("owner", sorted(EXPECTED))
def test_each_role_on_one_department(world: World, owner: str) -> None:
    token = world.token(owner)
    got = [world.call(method, path, token, json=body).status_code for _s, method, path, body in endpoints(world)]
    assert got == EXPECTED[owner]


def test_a_manager_of_a_department_manages_its_unit_and_the_unit_manager_only_it(world: World) -> None:
    for owner in ("manager", "unitmanager"):
        token = world.token(owner)
        got = [world.call(method, path, token, json=body).status_code
               for _s, method, path, body in endpoints(world, "unit", "lan")]
        assert got == READ_ALL + [201, 403, 200, 200, 200], owner
    token = world.token("othermanager")
    got = [world.call(method, path, token, json=body).status_code
           for _s, method, path, body in endpoints(world, "unit", "lan")]
    assert got == [404] * 11


def test_ids_that_do_not_exist_answer_as_other_organisations(world: World) -> None:
    token = world.token("othermanager")
    admin = world.token("admin2")
    for path in ("/api/v1/orgs/999", "/api/v1/people/999", "/api/v1/requests/999", "/api/v1/orgs/999/mailboxes",
                 "/api/v1/mailboxes/nobody@soctrang.gov.vn"):
        for t in (token, admin):
            r = world.call("GET", path, t)
            assert r.status_code == 404 and r.json()["code"] == "not_found", (path, r.text)
    dept = world.ids["dept"]
    hidden = world.call("GET", f"/api/v1/orgs/{dept}", token)
    missing = world.call("GET", "/api/v1/orgs/999", token)
    assert hidden.json()["detail"] == missing.json()["detail"]


def test_a_token_limited_to_an_organisation(world: World) -> None:
    token = world.token("admin2", org=world.ids["unit"])
    got = [world.call(method, path, token, json=body).status_code for _s, method, path, body in endpoints(world)]
    # Reads of the department are 404; refusing its request: 404 too (not readable).
    assert got == [404] * 11
    got = [world.call(method, path, token, json=body).status_code
           for _s, method, path, body in endpoints(world, "unit", "lan")]
    assert got == READ_ALL + [201, 200, 403, 200, 200]
    # The whole system's report is not the unit's: the default is the token's organisation.
    r = world.call("GET", "/api/v1/reports?period=2026-11", token)
    assert r.status_code == 200 and r.json()["org"]["id"] == world.ids["unit"]
    assert [o["id"] for o in world.call("GET", "/api/v1/orgs", token).json()] == [world.ids["unit"]]


def test_listings_and_search_show_only_what_the_owner_reads(world: World) -> None:
    for org in ("dept", "unit", "other"):
        file_request(world, org)
    expected_orgs = {
        "admin2": {"dept", "unit", "other"}, "supervisor": {"dept", "unit", "other"},
        "manager": {"dept", "unit"}, "unitmanager": {"unit"}, "othermanager": {"other"},
    }
    names = {world.ids[k]: k for k in ("dept", "unit", "other")}
    for owner, visible in expected_orgs.items():
        token = world.token(owner)
        orgs = {names[o["id"]] for o in world.call("GET", "/api/v1/orgs", token).json()}
        assert orgs == visible, owner
        requests = {names[r["org_id"]] for r in world.call("GET", "/api/v1/requests", token).json()}
        assert requests == visible, owner
        found = {h["address"] for h in world.call("GET", "/api/v1/search", token, params={"q": "binh"}).json()}
        assert (world.accounts["binh"] in found) == ("dept" in visible), owner
        found = {h["address"] for h in world.call("GET", "/api/v1/search", token, params={"q": "le van hoa"}).json()}
        assert (world.accounts["hoa"] in found) == ("other" in visible), owner


def test_the_whole_system_report_is_for_those_who_read_every_organisation(world: World) -> None:
    for owner in ("admin2", "supervisor"):
        r = world.call("GET", "/api/v1/reports?period=2026-11", world.token(owner))
        assert r.status_code == 200 and r.json()["org"] is None
    r = world.call("GET", "/api/v1/reports?period=2026-11", world.token("manager"))
    assert r.status_code == 200 and r.json()["org"]["id"] == world.ids["dept"]
    r = world.call("GET", f"/api/v1/reports?period=2026-11&org={world.ids['other']}", world.token("manager"))
    assert r.status_code == 404


def test_refusals_are_audited(world: World) -> None:
    from congthu import audit

    token = world.token("supervisor")
    request_id = file_request(world)
    r = world.call("POST", f"/api/v1/requests/{request_id}/start", token)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    denied = world.server.run(audit.records(world.server.app, action="access.denied"))
    assert any(rec.actor == world.accounts["supervisor"] and f"request:{request_id}" in rec.target for rec in denied)
    calls = world.server.run(audit.records(world.server.app, action="api.call"))
    assert any(rec.details["status"] == 403 and rec.details["path"].endswith("/start") for rec in calls)


# -- aliases, delegations, the calendar, the journal, the quarantine ----------------------------------


def _app(world: World) -> Any:
    return world.server.app


def make_alias(world: World, person: str) -> str:
    """A fresh alias of ``person``'s mailbox."""
    async def add() -> str:
        return (await Directory(_app(world)).add_alias(f"bidanh{secrets.token_hex(4)}", world.accounts[person])).address
    return world.server.run(add())


def make_delegation(world: World, org: str, grantee: str) -> str:
    """``grantee`` reads ``org``'s mailbox; the grantee's address."""
    async def add() -> str:
        app = _app(world)
        owner = (await Directory(app).get_org(world.ids[org])).mailbox_id
        box = await app.store.get_mailbox(world.accounts[grantee])
        assert owner is not None and box is not None
        await grant(app, owner, box.id, "lrs", granted_by="test")
        return box.address
    return world.server.run(add())


def journal_entry(world: World, sender: str, to: str, subject: str = "Công văn số 12") -> int:
    """An entry of mail from one organisation mailbox to another, as submission keeps it."""
    async def keep() -> int:
        app = _app(world)
        src = await app.store.get_mailbox(world.accounts[sender])
        dst = await app.store.get_mailbox(world.accounts[to])
        assert src is not None and dst is not None
        raw = (f"From: {src.address}\r\nTo: {dst.address}\r\nSubject: {subject}\r\n"
               f"Message-ID: <{secrets.token_hex(8)}@test>\r\nDate: Mon, 07 Dec 2026 09:00:00 +0700\r\n\r\n"
               "Kính gửi.\r\n").encode()
        entry = await entries.record_sent(app, entries.Sent(raw, "submission", secrets.token_hex(4), src.address,
                                                            [(dst.address, dst.id)], src.address, src.id))
        assert entry is not None
        return entry
    return world.server.run(keep())


def hold(world: World, person: str = "binh") -> int:
    """A message held for ``person`` by the content pipeline's quarantine."""
    async def keep() -> int:
        app = _app(world)
        box = await app.store.get_mailbox(world.accounts[person])
        assert box is not None
        raw = (f"From: x@example.org\r\nTo: {box.address}\r\nSubject: hoa don\r\n"
               f"Message-ID: <{secrets.token_hex(8)}@example.org>\r\n\r\nEICAR?\r\n").encode()
        return await quarantine.hold(app, raw, door="mx", mail_from="x@example.org", recipients=[(box.address, box.id)],
                                     subject="hoa don", rule="test", reason="thử / test")
    return world.server.run(keep())


_days = itertools.count()


def make_override(world: World) -> str:
    """A fresh override of the calendar; its day."""
    day = date(2031, 1, 1) + timedelta(days=next(_days))
    world.server.run(_app(world).db.run_write(put_override, day, "work", "thử", "test", datetime.now(UTC)))
    return day.isoformat()


def org_endpoints(world: World, org: str = "dept", person: str = "binh") -> list[tuple[str, str, str, Any]]:
    """(scope, method, path, json) of the new endpoints about ``org``'s things."""
    org_id, person_id = world.ids[org], world.ids[person]
    to = "other_box" if org != "other" else "dept_box"
    box = {"dept": "dept_box", "other": "other_box"}.get(org)
    if box is None:  # the unit: its mailbox's address
        box = "unit_box"
        world.accounts.setdefault("unit_box", world.server.run(Directory(_app(world)).get_org(org_id)).address)
    return [
        ("directory:read", "GET", f"/api/v1/orgs/{org_id}/aliases", None),
        ("directory:read", "GET", f"/api/v1/people/{person_id}/aliases", None),
        ("aliases:write", "POST", f"/api/v1/orgs/{org_id}/aliases", {"alias": f"bidanh{secrets.token_hex(4)}"}),
        ("aliases:write", "DELETE", f"/api/v1/people/{person_id}/aliases/{make_alias(world, person)}", None),
        ("directory:read", "GET", f"/api/v1/orgs/{org_id}/delegations", None),
        ("delegations:write", "POST", f"/api/v1/orgs/{org_id}/delegations", {"grantee": world.accounts[person],
                                                                               "rights": "xem"}),
        ("delegations:write", "DELETE", f"/api/v1/orgs/{org_id}/delegations/{make_delegation(world, org, person)}",
         None),
        ("journal:read", "GET", f"/api/v1/journal/{journal_entry(world, box, to)}", None),
    ]


def system_endpoints(world: World) -> list[tuple[str, str, str, Any]]:
    """(scope, method, path, json) of the new endpoints about no one organisation."""
    return [
        ("requests:read", "GET", "/api/v1/calendar/overrides", None),
        ("requests:read", "GET", "/api/v1/calendar/due?filed_at=2027-01-08T09:00:00%2B07:00", None),
        ("requests:read", "GET", "/api/v1/calendar/days?year=2027", None),
        ("calendar:write", "POST", "/api/v1/calendar/overrides",
         {"day": (date(2032, 1, 1) + timedelta(days=next(_days))).isoformat(), "kind": "off", "note": "thử"}),
        ("calendar:write", "DELETE", f"/api/v1/calendar/overrides/{make_override(world)}", None),
        ("journal:read", "GET", "/api/v1/journal", None),
        ("quarantine:manage", "GET", "/api/v1/quarantine", None),
        ("quarantine:manage", "POST", f"/api/v1/quarantine/{hold(world)}/release", None),
        ("quarantine:manage", "DELETE", f"/api/v1/quarantine/{hold(world)}", None),
    ]


def test_each_scope_opens_only_its_new_endpoints(shared_world: World) -> None:
    world = shared_world
    tokens = {scope: world.token("admin2", [scope]) for scope in ALL_SCOPES}
    for needed, method, path, body in org_endpoints(world) + system_endpoints(world):
        for scope, token in tokens.items():
            r = world.call(method, path, token, json=body)
            if scope == needed:
                assert not (r.status_code == 403 and r.json()["code"] == "insufficient_scope"), (scope, path)
                assert r.status_code < 500, (scope, path, r.text)
            else:
                assert r.status_code == 403, (scope, path, r.status_code, r.text)
                assert r.json()["code"] == "insufficient_scope"
                assert f'scope="{needed}"' in r.headers["www-authenticate"]


# Owner -> the status of each of ``org_endpoints`` on the department's things: aliases are the
# IT Center's (Điều 3.3c), delegations the organisation's managers' too (Điều 12), the
# journal the records office's (Điều 7.4: its own organisation and sub-units).
ORG_EXPECTED = {
    "admin2": [200, 200, 201, 204, 200, 201, 204, 200],
    "supervisor": [200, 200, 403, 403, 200, 403, 403, 404],
    "manager": [200, 200, 403, 403, 200, 201, 204, 404],
    "unitmanager": [404] * 8,
    "othermanager": [404] * 8,
    "records": [404] * 7 + [200],
}
# Owner -> the status of each of ``system_endpoints``: the calendar is read by every
# console role and changed by the IT Center; the quarantine is the IT Center's.
SYSTEM_EXPECTED = {
    "admin2": [200, 200, 200, 201, 204, 200, 200, 200, 204],
    "supervisor": [200, 200, 200, 403, 403, 403, 403, 403, 403],
    "manager": [200, 200, 200, 403, 403, 403, 403, 403, 403],
    "unitmanager": [200, 200, 200, 403, 403, 403, 403, 403, 403],
    "othermanager": [200, 200, 200, 403, 403, 403, 403, 403, 403],
    "records": [200, 200, 200, 403, 403, 200, 403, 403, 403],
}


@pytest.mark.parametrize("owner", sorted(ORG_EXPECTED))
def test_each_role_on_the_new_endpoints(shared_world: World, owner: str) -> None:
    world = shared_world
    token = world.token(owner)
    got = [world.call(method, path, token, json=body).status_code for _s, method, path, body in org_endpoints(world)]
    assert got == ORG_EXPECTED[owner]
    got = [world.call(method, path, token, json=body).status_code
           for _s, method, path, body in system_endpoints(world)]
    assert got == SYSTEM_EXPECTED[owner]


def test_the_new_endpoints_on_a_unit_and_a_token_limited_to_it(shared_world: World) -> None:
    world = shared_world
    unit_rights = [200, 200, 403, 403, 200, 201, 204, 200]
    for owner, expected in (("manager", unit_rights[:7] + [404]), ("unitmanager", unit_rights[:7] + [404]),
                            ("othermanager", [404] * 8), ("records", [404] * 7 + [200])):
        token = world.token(owner)
        got = [world.call(method, path, token, json=body).status_code
               for _s, method, path, body in org_endpoints(world, "unit", "lan")]
        assert got == expected, owner
    limited = world.token("admin2", org=world.ids["unit"])
    got = [world.call(method, path, limited, json=body).status_code
           for _s, method, path, body in org_endpoints(world, "unit", "lan")]
    assert got == [200, 200, 201, 204, 200, 201, 204, 200]
    got = [world.call(method, path, limited, json=body).status_code for _s, method, path, body in org_endpoints(world)]
    assert got == [404] * 8
    # The calendar is read by anyone (it is the province's), changed and the quarantine
    # seen only by tokens not limited to one organisation.
    got = [world.call(method, path, limited, json=body).status_code
           for _s, method, path, body in system_endpoints(world)]
    assert got == [200, 200, 200, 403, 403, 200, 403, 403, 403]


def test_refusals_on_the_new_endpoints_are_audited(shared_world: World) -> None:
    world = shared_world
    from congthu import audit

    token = world.token("manager")
    held = hold(world)
    assert world.call("POST", f"/api/v1/quarantine/{held}/release", token).status_code == 403
    dept = world.ids["dept"]
    assert world.call("POST", f"/api/v1/orgs/{dept}/aliases", token, json={"alias": "bidanhmoi"}).status_code == 403
    denied = world.server.run(audit.records(_app(world), action="access.denied"))
    mine = [rec for rec in denied if rec.actor == world.accounts["manager"]]
    assert any(f"quarantine:{held}" in rec.target for rec in mine)
    assert any(f"org:{dept}" in rec.target and rec.details["permission"] == "aliases.manage" for rec in mine)


# -- the directory's changes: people, reorganisation, import (people.py, reorganise.py, imports.py) ----


def fresh_person(world: World, org: str) -> int:
    """A person of their own in ``org`` (a name no one else has)."""
    async def add() -> int:
        name = "Đinh Văn " + "".join(secrets.choice("bcdghklmnpqrstvx") + secrets.choice("aeiou") for _ in range(3))
        return (await Directory(_app(world)).add_person(name.title(), world.ids[org]))[0].id
    return world.server.run(add())


def directory_endpoints(world: World, org: str = "dept") -> list[tuple[str, str, str, dict[str, Any]]]:
    """(scope, method, path, httpx arguments) of the directory's changes about ``org``; the
    reorganisations and the import as dry runs (the answer is the same, nothing changes)."""
    org_id, other = world.ids[org], world.ids["other"]
    csv = ("Loại dòng,Mã,Tên tổ chức / Họ và tên,Thuộc\n"
           f"Tổ chức,M{secrets.token_hex(3)},Trung tâm Ma Trận {secrets.token_hex(2)},,\n").encode()
    return [
        ("directory:write", "GET", f"/api/v1/orgs/{org_id}/proposal", {"params": {"name": "Đỗ Văn Nam"}}),
        ("directory:write", "POST", f"/api/v1/orgs/{org_id}/people", {"json": {"name": "Đỗ Văn Nam"}}),
        ("directory:write", "POST", f"/api/v1/people/{fresh_person(world, org)}/rename",
         {"json": {"name": "Đỗ Thị Tên Mới"}}),
        ("directory:write", "POST", f"/api/v1/people/{fresh_person(world, org)}/departure", {"json": {}}),
        ("orgs:write", "POST", f"/api/v1/orgs/{org_id}/rename", {"json": {"name": "Ban Ma Trận Mới", "dry_run": True}}),
        ("orgs:write", "POST", f"/api/v1/orgs/{org_id}/merge", {"json": {"into": other, "dry_run": True}}),
        ("orgs:write", "POST", f"/api/v1/orgs/{org_id}/split",
         {"json": {"name": "Ban Ma Trận Tách", "people": [fresh_person(world, org)], "dry_run": True}}),
        ("orgs:write", "POST", f"/api/v1/orgs/{org_id}/dissolve", {"json": {"successor": other, "dry_run": True}}),
        ("orgs:write", "POST", "/api/v1/import", {"params": {"dry_run": "true"},
                                                  "files": {"file": ("m.csv", csv, "text/csv")}}),
    ]


# Owner -> the status of each of ``directory_endpoints`` on the department: its managers
# add, rename and let go of its people (Điều 3, 4.5); reorganising and importing are the
# IT Center's (the import is about no one organisation: 403, not 404).
DIRECTORY_EXPECTED = {
    "admin2": [200, 201, 200, 200, 200, 200, 200, 200, 200],
    "supervisor": [403] * 9,
    "manager": [200, 201, 200, 200] + [403] * 5,
    "unitmanager": [404] * 8 + [403],
    "othermanager": [404] * 8 + [403],
    "records": [404] * 8 + [403],
}


@pytest.mark.parametrize("owner", sorted(DIRECTORY_EXPECTED))
def test_each_role_on_the_directory_changes(shared_world: World, owner: str) -> None:
    world = shared_world
    token = world.token(owner)
    got = [world.call(method, path, token, **kwargs).status_code
           for _s, method, path, kwargs in directory_endpoints(world)]
    assert got == DIRECTORY_EXPECTED[owner]


def test_the_directory_changes_on_a_unit_by_scope_and_token_limit(shared_world: World) -> None:
    world = shared_world
    for owner in ("manager", "unitmanager"):
        got = [world.call(method, path, world.token(owner), **kwargs).status_code
               for _s, method, path, kwargs in directory_endpoints(world, "unit")]
        assert got == [200, 201, 200, 200] + [403] * 5, owner
    limited = world.token("admin2", org=world.ids["unit"])
    got = [world.call(method, path, limited, **kwargs).status_code
           for _s, method, path, kwargs in directory_endpoints(world)]
    assert got == [404] * 8 + [403]
    # Within its unit, except what names an organisation outside it (merging into another).
    got = [world.call(method, path, limited, **kwargs).status_code
           for _s, method, path, kwargs in directory_endpoints(world, "unit")]
    assert got == [200, 201, 200, 200, 200, 404, 200, 404, 403]
    tokens = {scope: world.token("admin2", [scope]) for scope in ALL_SCOPES}
    for needed, method, path, kwargs in directory_endpoints(world):
        for scope, token in tokens.items():
            r = world.call(method, path, token, **kwargs)
            if scope == needed:
                assert r.status_code < 300, (scope, path, r.text)
            else:
                assert r.status_code == 403 and r.json()["code"] == "insufficient_scope", (scope, path)
