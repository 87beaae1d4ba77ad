"""The API's reorganisation endpoints over HTTP (``congthu/api/reorganise.py``, issue 15:
"reorganisation (rename, merge, split, dissolve) as guided operations that show what will
happen to every address and mailbox before they run"), with real tokens on one server
for the module; each test makes its own organisations.

* each operation's ``dry_run`` answers what would happen and changes nothing; the real
  call does it, keeps the old addresses delivering, and is audited with the token;
* only the IT Center (``directory.orgs``): a manager of the organisation 403 (audited),
  of another 404, a token without ``orgs:write`` 403 ``insufficient_scope``, a token
  limited to an organisation cannot reach outside it through ``into`` / ``successor``;
* bad input: 4xx with a clear message, never a 500.
"""

from __future__ import annotations

import secrets
from typing import Any

from congthu import audit
from congthu.directory import Directory, Org
from tests.api.conftest import ALL_SCOPES, World


def make_org(world: World, parent: int | None = None, people: int = 0) -> tuple[Org, list[int]]:
    """A fresh organisation (a unique name), with ``people`` people in it."""
    async def make() -> tuple[Org, list[int]]:
        d = Directory(world.server.app)
        # The address is made of the words' initials (Điều 3.1): five random ones.
        words = [secrets.choice("bcdghklmnpqrstvx").upper() + secrets.choice("aeiou") for _ in range(5)]
        org, _p, _pw = await d.add_org(f"Ban {' '.join(words)}", parent=parent)
        ids = []
        for n in range(people):
            person, _p, _pw = await d.add_person(f"Ngô Văn {''.join(words).capitalize()}{'x' * n}", org.id)
            ids.append(person.id)
        return org, ids
    return world.server.run(make())


def get_org(world: World, org_id: int) -> Org:
    return world.server.run(Directory(world.server.app).get_org(org_id))


def post(world: World, token: str, org_id: int, action: str, body: Any) -> Any:
    return world.call("POST", f"/api/v1/orgs/{org_id}/{action}", token, json=body)


def test_rename_previews_then_runs(shared_world: World) -> None:
    world = shared_world
    token = world.token("admin2")
    org, _ = make_org(world)
    unit, _ = make_org(world, parent=org.id)
    r = post(world, token, org.id, "rename", {"name": "Ban Quản lý Dự án", "dry_run": True})
    assert r.status_code == 200, r.text
    preview = r.json()
    assert preview["dry_run"] and preview["changed"] == [] and preview["org"]["address"] == org.address
    assert any(org.address in line and "→" in line for line in preview["lines"])
    assert any(unit.address in line for line in preview["lines"])
    assert get_org(world, org.id).name == org.name  # nothing changed
    r = post(world, token, org.id, "rename", {"name": "Ban Quản lý Dự án"})
    assert r.status_code == 200, r.text
    done = r.json()
    assert not done["dry_run"] and done["org"]["name"] == "Ban Quản lý Dự án"
    assert {"old": org.address, "new": done["org"]["address"]} in done["changed"]
    assert done["lines"] == preview["lines"]
    # The old address still delivers (an alias of the organisation's mailbox).
    aliases = world.call("GET", f"/api/v1/orgs/{org.id}/aliases", token).json()
    assert org.address in [a["address"] for a in aliases]
    records = world.server.run(audit.records(world.server.app, action="directory.org_renamed", target=org.address))
    assert [rec.actor for rec in records] == [f"{world.accounts['admin2']} (api:test)"]


def test_merge_moves_people_and_mail(shared_world: World) -> None:
    world = shared_world
    token = world.token("admin2")
    source, people = make_org(world, people=2)
    target, _ = make_org(world)
    r = post(world, token, source.id, "merge", {"into": target.id, "dry_run": True})
    assert r.status_code == 200, r.text
    lines = r.json()["lines"]
    assert any(source.address in line and target.address in line for line in lines)
    assert sum(1 for line in lines if target.name in line and "<" in line) == 2  # each person shown
    assert get_org(world, source.id).status == "active"
    r = post(world, token, source.id, "merge", {"into": target.id})
    assert r.status_code == 200, r.text
    assert r.json()["org"]["id"] == target.id and r.json()["changed"] == [{"old": source.address,
                                                                            "new": target.address}]
    assert get_org(world, source.id).status == "merged"
    for person_id in people:
        assert world.call("GET", f"/api/v1/people/{person_id}", token).json()["org_id"] == target.id


def test_split_moves_the_chosen_ones_into_a_new_organisation(shared_world: World) -> None:
    world = shared_world
    token = world.token("admin2")
    org, people = make_org(world, people=2)
    unit, _ = make_org(world, parent=org.id)
    body = {"name": "Ban Mới Tách", "units": [unit.id], "people": [people[0]]}
    r = post(world, token, org.id, "split", {**body, "dry_run": True})
    assert r.status_code == 200, r.text
    assert r.json()["new_org"] is None and "Ban Mới Tách" in r.json()["lines"][0]
    r = post(world, token, org.id, "split", body)
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["new_org"]["name"] == "Ban Mới Tách" and done["password"]
    assert world.call("GET", f"/api/v1/people/{people[0]}", token).json()["org_id"] == done["new_org"]["id"]
    assert world.call("GET", f"/api/v1/people/{people[1]}", token).json()["org_id"] == org.id
    assert get_org(world, unit.id).parent_id == done["new_org"]["id"]


def test_dissolve(shared_world: World) -> None:
    world = shared_world
    token = world.token("admin2")
    full, _ = make_org(world, people=1)
    r = post(world, token, full.id, "dissolve", {"dry_run": True})
    assert r.status_code == 422 and "successor" in r.json()["detail"]
    empty, _ = make_org(world)
    r = post(world, token, empty.id, "dissolve", {"dry_run": True})
    assert r.status_code == 200 and "never reissued" in r.json()["lines"][0]
    assert get_org(world, empty.id).status == "active"
    r = post(world, token, empty.id, "dissolve", {})
    assert r.status_code == 200 and r.json()["org"]["status"] == "dissolved"
    successor, _ = make_org(world)
    r = post(world, token, full.id, "dissolve", {"successor": successor.id})
    assert r.status_code == 200, r.text
    assert r.json()["changed"] == [{"old": full.address, "new": successor.address}]


def test_who_may(shared_world: World) -> None:
    world = shared_world
    org, _ = make_org(world, parent=world.ids["dept"])
    other, _ = make_org(world)
    calls = [("rename", {"name": "Ban Khác", "dry_run": True}), ("merge", {"into": other.id, "dry_run": True}),
             ("dissolve", {"dry_run": True})]
    without = world.token("admin2", [s for s in ALL_SCOPES if s != "orgs:write"])
    for action, body in calls:
        r = post(world, without, org.id, action, body)
        assert r.status_code == 403 and r.json()["code"] == "insufficient_scope"
        assert 'scope="orgs:write"' in r.headers["www-authenticate"]
    expected = {"admin2": 200, "manager": 403, "supervisor": 403, "othermanager": 404, "records": 404}
    for owner, status in expected.items():
        token = world.token(owner)
        assert [post(world, token, org.id, action, body).status_code for action, body in calls] == [status] * 3, owner
    denied = world.server.run(audit.records(world.server.app, action="access.denied",
                                            actor=world.accounts["manager"]))
    assert any(rec.target.startswith(f"org:{org.id}") and rec.details["permission"] == "orgs.manage"
               for rec in denied)
    # A token limited to the department: its units yes, but not merged into another's.
    limited = world.token("admin2", org=world.ids["dept"])
    assert post(world, limited, org.id, "rename", {"name": "Ban Khác", "dry_run": True}).status_code == 200
    assert post(world, limited, org.id, "merge", {"into": other.id, "dry_run": True}).status_code == 404
    assert post(world, limited, other.id, "rename", {"name": "Ban Khác", "dry_run": True}).status_code == 404
    assert get_org(world, org.id).status == "active" and get_org(world, other.id).status == "active"


def test_bad_input_is_a_clear_4xx(shared_world: World) -> None:
    world = shared_world
    token = world.token("admin2")
    org, people = make_org(world, people=1)
    for action, body in [
        ("rename", {"name": ""}), ("rename", {"name": "   "}), ("rename", {"name": "a\nb"}), ("rename", {}),
        ("merge", {"into": org.id}), ("merge", {"into": 999_999}), ("merge", {"into": 0}), ("merge", {}),
        ("split", {"name": "Ban X"}), ("split", {"name": "Ban X", "units": [999_999]}),
        ("split", {"name": "Ban X", "people": [world.ids["hoa"]]}), ("split", {"name": "", "people": people}),
        ("split", {"name": "Ban X", "people": list(range(1, 6000))}),
        ("dissolve", {"successor": "abc"}), ("dissolve", {"successor": org.id}), ("dissolve", {"dry_run": "maybe"}),
    ]:
        r = post(world, token, org.id, action, body)
        assert 400 <= r.status_code < 500, (action, body, r.status_code, r.text)
        assert r.json()["detail"], r.text
    assert get_org(world, org.id).status == "active"
