"""The API's tokens managed over the API (issue 15), real HTTP with real tokens against
the module's server: the same ``Tokens`` as the console's page and the CLI, and a token
never makes a token with more than it has:

* an administrator's token with ``tokens:manage`` makes a token (its secret in the answer
  once, working at once, kept only hashed), lists it (never the secret), revokes it (the
  next call with it is 401); each audited;
* the new token's scopes within the caller's, its organisation within the caller's limit
  (a limited token never makes an unlimited one), its owner the caller's owner, its
  expiry no later than the caller's;
* without the scope 403; an organisation's manager (no ``roles.manage``) 403, audited; a
  limited token lists and revokes only the tokens within its reach (others 404);
* bad input 4xx: unknown scope, bad name, extra field, days out of bounds, an organisation
  that does not exist, an id of nothing;
* revoking a token revokes the tokens it made through the API, and theirs.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from congthu import audit
from congthu.api.tokens import Tokens
from tests.api.conftest import World

MANAGE = ["tokens:manage", "directory:read", "requests:read", "requests:write"]


def test_make_list_and_revoke(shared_world: World) -> None:
    w = shared_world
    admin = w.token("admin2", MANAGE, name="automation")
    r = w.call("POST", "/api/v1/tokens", admin, json={"name": "hr-system", "scopes": ["requests:read"],
                                                      "org": w.ids["dept"], "days": 30, "description": "Sở Nội vụ"})
    assert r.status_code == 201, r.text
    made = r.json()
    secret = made["secret"]
    assert secret.startswith("ctk_") and made["scopes"] == ["requests:read"] and made["org_id"] == w.ids["dept"]
    assert made["owner"] == w.accounts["admin2"] and made["hint"] == secret[:10]
    me = w.call("GET", "/api/v1/token", secret)
    assert me.status_code == 200 and me.json()["name"] == "hr-system"
    assert w.call("GET", f"/api/v1/orgs/{w.ids['dept']}", secret).status_code == 403  # requests:read only
    stored = w.server.run(w.server.app.db.run_read(
        lambda conn: [tuple(r) for r in conn.exec_driver_sql("SELECT * FROM api_tokens")]))
    assert secret not in repr(stored) and hashlib.sha256(secret.encode()).hexdigest() in repr(stored)
    listed = w.call("GET", "/api/v1/tokens", admin)
    assert listed.status_code == 200 and secret not in listed.text
    row = next(t for t in listed.json() if t["id"] == made["id"])
    assert row["state"] == "active" and row["name"] == "hr-system" and "secret" not in row
    created = w.server.run(audit.records(w.server.app, action="api.token_created"))
    assert created[-1].target == f"api-token:{made['id']}" and "(api:automation)" in created[-1].actor

    assert w.call("DELETE", f"/api/v1/tokens/{made['id']}", admin).status_code == 204
    assert w.call("GET", "/api/v1/token", secret).status_code == 401
    assert w.call("DELETE", f"/api/v1/tokens/{made['id']}", admin).status_code == 404  # already revoked
    revoked = w.server.run(audit.records(w.server.app, action="api.token_revoked"))
    assert revoked[-1].target == f"api-token:{made['id']}"
    listed = w.call("GET", "/api/v1/tokens", admin).json()
    assert next(t for t in listed if t["id"] == made["id"])["state"] == "revoked"



def test_revoking_a_token_revokes_what_it_made(shared_world: World) -> None:
    """A leaked automation token cannot leave behind tokens it made for itself: revoking
    it (here in the console's way, ``Tokens.revoke``) revokes its children and theirs;
    a token made elsewhere stays."""
    w = shared_world
    maker = w.token("admin2", MANAGE, name="maker")
    bystander = w.token("admin2", MANAGE, name="bystander")
    child = w.call("POST", "/api/v1/tokens", maker, json={"name": "child", "scopes": MANAGE, "days": 5}).json()
    grandchild = w.call("POST", "/api/v1/tokens", child["secret"],
                        json={"name": "grandchild", "scopes": ["directory:read"], "days": 2}).json()
    assert w.call("GET", "/api/v1/token", grandchild["secret"]).status_code == 200
    tokens = Tokens(w.server.app)
    found = w.server.run(tokens.find(maker))
    assert found is not None and w.server.run(tokens.revoke(found.id, actor="admin"))
    for secret in (maker, child["secret"], grandchild["secret"]):
        assert w.call("GET", "/api/v1/token", secret).status_code == 401
    assert w.call("GET", "/api/v1/token", bystander).status_code == 200
    revoked = [r.target for r in w.server.run(audit.records(w.server.app, action="api.token_revoked"))]
    assert {f"api-token:{child['id']}", f"api-token:{grandchild['id']}"} <= set(revoked)

def test_never_more_than_the_caller(shared_world: World) -> None:
    w = shared_world
    admin = w.token("admin2", MANAGE, days=20)
    # More scopes than its own: refused, nothing made.
    before = len(w.server.run(Tokens(w.server.app).listing()))
    r = w.call("POST", "/api/v1/tokens", admin, json={"name": "wide", "scopes": ["requests:read", "reports:read"]})
    assert r.status_code == 422 and "reports:read" in r.json()["detail"], r.text
    # Outliving the caller: refused; without days, cut to what the caller has left.
    r = w.call("POST", "/api/v1/tokens", admin, json={"name": "long", "scopes": ["requests:read"], "days": 30})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "days"], r.text
    assert len(w.server.run(Tokens(w.server.app).listing())) == before
    r = w.call("POST", "/api/v1/tokens", admin, json={"name": "short", "scopes": ["requests:read"]})
    assert r.status_code == 201, r.text
    mine = next(t for t in w.server.run(Tokens(w.server.app).listing()) if t.id == r.json()["id"])
    caller_expiry = w.call("GET", "/api/v1/token", admin).json()["expires_at"]
    assert mine.expires_at.isoformat() <= caller_expiry.replace("Z", "+00:00")
    assert mine.expires_at - mine.created_at <= timedelta(days=20)

    # A token limited to the department: its new tokens are limited to it or a sub-unit.
    limited = w.token("admin2", MANAGE, org=w.ids["dept"])
    r = w.call("POST", "/api/v1/tokens", limited, json={"name": "inherit", "scopes": ["directory:read"]})
    assert r.status_code == 201 and r.json()["org_id"] == w.ids["dept"], r.text
    r = w.call("POST", "/api/v1/tokens", limited, json={"name": "unit", "scopes": ["directory:read"],
                                                        "org": w.ids["unit"]})
    assert r.status_code == 201 and r.json()["org_id"] == w.ids["unit"], r.text
    unit_token = r.json()
    r = w.call("POST", "/api/v1/tokens", limited, json={"name": "other", "scopes": ["directory:read"],
                                                        "org": w.ids["other"]})
    assert r.status_code == 404, r.text
    # Its listing: only what lies within it; another's token is 404 to revoke.
    ids = {t["id"] for t in w.call("GET", "/api/v1/tokens", limited).json()}
    assert unit_token["id"] in ids and r.status_code == 404
    unlimited = [t.id for t in w.server.run(Tokens(w.server.app).listing()) if t.org_id is None]
    assert not ids & set(unlimited)
    assert w.call("DELETE", f"/api/v1/tokens/{unlimited[0]}", limited).status_code == 404
    assert w.call("DELETE", f"/api/v1/tokens/{unit_token['id']}", limited).status_code == 204
    # A narrower token does not see (nor revoke) a wider one.
    narrow = w.token("admin2", ["tokens:manage"])
    seen = w.call("GET", "/api/v1/tokens", narrow).json()
    assert seen and all(t["scopes"] == ["tokens:manage"] for t in seen)
    assert w.call("DELETE", f"/api/v1/tokens/{unlimited[0]}", narrow).status_code == 404


def test_who_may_manage(shared_world: World) -> None:
    w = shared_world
    r = w.call("GET", "/api/v1/tokens", w.token("admin2", ["requests:read"]))
    assert r.status_code == 403 and r.json()["code"] == "insufficient_scope"
    manager = w.token("manager", MANAGE, org=w.ids["dept"])
    for method, json in (("GET", None), ("POST", {"name": "x", "scopes": ["requests:read"]})):
        r = w.call(method, "/api/v1/tokens", manager, json=json)
        assert r.status_code == 403 and r.json()["code"] == "forbidden", r.text
    denied = w.server.run(audit.records(w.server.app, action="access.denied"))
    assert denied[-1].actor == w.accounts["manager"] and denied[-1].details["permission"] == "roles.manage"
    assert w.call("DELETE", "/api/v1/tokens/1", manager).status_code == 403
    r = w.call("GET", "/api/v1/tokens", w.token("supervisor", ["tokens:manage"]))
    assert r.status_code == 403


def test_bad_input(shared_world: World) -> None:
    w = shared_world
    admin = w.token("admin2", MANAGE)
    for body, status in (({"name": "x", "scopes": ["mail:send"]}, 422),
                         ({"name": "Bad Name", "scopes": ["requests:read"]}, 422),
                         ({"name": "x", "scopes": []}, 422),
                         ({"name": "x", "scopes": ["requests:read"], "owner": "someone@x"}, 422),
                         ({"name": "x", "scopes": ["requests:read"], "days": 0}, 422),
                         ({"name": "x", "scopes": ["requests:read"], "days": 99_999}, 422),
                         ({"name": "x", "scopes": ["requests:read"], "org": 999_999}, 404),
                         ({"name": "x", "scopes": "requests:read"}, 422)):
        r = w.call("POST", "/api/v1/tokens", admin, json=body)
        assert r.status_code == status, (body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    assert w.call("POST", "/api/v1/tokens", admin, content=b"{", headers={"Content-Type": "application/json"}
                  ).status_code == 400
    assert w.call("DELETE", "/api/v1/tokens/999999", admin).status_code == 404
    assert w.call("DELETE", "/api/v1/tokens/0", admin).status_code == 422
    assert w.call("DELETE", "/api/v1/tokens/abc", admin).status_code == 422
