"""A delegation's end changed over the API (``PATCH /orgs/{id}/delegations/{grantee}``,
Điều 12, issue 15), real HTTP with real tokens against the module's server, as the
console's per-row form (``tests/delegation/test_console_end_date.py``):

* the department's manager and an administrator set and clear the end; the rights stay,
  every row of the delegation takes it, the change is audited;
* without ``delegations:write`` 403; another organisation's manager 404; the
  Department's supervisor 403 (audited);
* bad input 4xx: a day past, too far or unreadable, no ``until``, an extra field, a
  delegate without a delegation in force.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from congthu import audit, delegation
from tests.api.conftest import World


def test_patch_the_end(shared_world: World) -> None:
    w = shared_world
    app = w.server.app
    dept = w.ids["dept"]
    path = f"/api/v1/orgs/{dept}/delegations/{w.accounts['lan']}"
    manager = w.token("manager", ["delegations:write", "directory:read"])
    r = w.call("POST", f"/api/v1/orgs/{dept}/delegations", manager, json={"grantee": w.accounts["lan"],
                                                                          "rights": "xu-ly"})
    assert r.status_code == 201 and r.json()["expires_at"] is None, r.text
    last = (datetime.now(UTC) + timedelta(days=20)).date()
    r = w.call("PATCH", path, manager, json={"until": last.isoformat()})
    assert r.status_code == 200, r.text
    assert r.json()["rights"] == "lrswipkxte" and r.json()["preset"] == "xu-ly" and r.json()["expires_at"]
    listed = w.call("GET", f"/api/v1/orgs/{dept}/delegations", manager).json()
    assert [d["expires_at"] for d in listed if d["grantee"] == w.accounts["lan"]] == [r.json()["expires_at"]]
    changed = w.server.run(audit.records(app, action="delegation.end_changed"))
    assert changed[-1].details["grantee"] == w.accounts["lan"] and "(api:test)" in changed[-1].actor
    # Cleared by an administrator.
    r = w.call("PATCH", path, w.token("admin2", ["delegations:write"]), json={"until": None})
    assert r.status_code == 200 and r.json()["expires_at"] is None, r.text
    box = w.server.run(app.store.get_mailbox(w.accounts["dept_box"]))
    assert [g.expires_at for g in w.server.run(delegation.grants_of(app, box.id))] == [None]


def test_who_and_what_is_refused(shared_world: World) -> None:
    w = shared_world
    dept = w.ids["dept"]
    path = f"/api/v1/orgs/{dept}/delegations/{w.accounts['binh']}"
    admin = w.token("admin2", ["delegations:write"])
    assert w.call("POST", f"/api/v1/orgs/{dept}/delegations", admin,
                  json={"grantee": w.accounts["binh"], "rights": "xem"}).status_code == 201
    soon = {"until": (datetime.now(UTC) + timedelta(days=5)).date().isoformat()}
    r = w.call("PATCH", path, w.token("manager", ["directory:read"]), json=soon)
    assert r.status_code == 403 and r.json()["code"] == "insufficient_scope"
    assert w.call("PATCH", path, w.token("othermanager", ["delegations:write"]), json=soon).status_code == 404
    r = w.call("PATCH", path, w.token("supervisor", ["delegations:write"]), json=soon)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    denied = w.server.run(audit.records(w.server.app, action="access.denied"))
    assert denied[-1].actor == w.accounts["supervisor"]
    # A token limited to the other organisation: nothing of the department's.
    assert w.call("PATCH", path, w.token("admin2", ["delegations:write"], org=w.ids["other"]),
                  json=soon).status_code == 404
    past = (datetime.now(UTC) - timedelta(days=3)).date().isoformat()
    far = (datetime.now(UTC) + timedelta(days=400)).date().isoformat()
    for body, status in (({"until": past}, 422), ({"until": far}, 422), ({"until": "2027-13-01"}, 422),
                         ({"until": 0}, 422), ({}, 422), ({"until": None, "rights": "xem"}, 422)):
        r = w.call("PATCH", path, admin, json=body)
        assert r.status_code == status and r.headers["content-type"] == "application/problem+json", (body, r.text)
    for grantee in (w.accounts["hoa"], f"nobody@{w.server.app.settings.system.domain}"):
        r = w.call("PATCH", f"/api/v1/orgs/{dept}/delegations/{grantee}", admin, json=soon)
        assert r.status_code == 404, r.text
    assert w.call("PATCH", f"/api/v1/orgs/999999/delegations/{w.accounts['binh']}", admin,
                  json=soon).status_code == 404
