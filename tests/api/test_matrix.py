"""The API's authorisation matrix over HTTP (issue 15: "an organisation manager cannot see
or change another organisation by any URL or API call"):

* each scope × each endpoint: a token without the endpoint's scope gets 403
  ``insufficient_scope`` before anything is read, one with it gets past that check;
* each owner's role × each endpoint on one department's things: the console's answers
  (read 200, change 2xx or 403), and 404 for the things of an organisation the owner may
  not read, exactly as for ids that do not exist;
* a token limited to an organisation: nothing outside it, not even for an administrator;
* listings and search show only what the owner may read.
"""

from __future__ import annotations

from typing import Any

import pytest

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
