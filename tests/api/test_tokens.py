"""The API's tokens: made by the CLI and shown once, kept hashed, refused when missing,
unknown, revoked or expired (401, RFC 6750), following their owner's rights and state,
recording their last use, audited call by call, and rate limited."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from congthu import audit
from congthu.accounts import roles
from congthu.api.tokens import Tokens
from congthu.directory import Directory
from tests.api.conftest import World
from tests.clirunner import Cli
from tests.conftest import ServerThread, serving


@pytest.fixture(scope="module")
def congthu() -> Iterator[Cli]:
    runner = Cli()
    try:
        yield runner
    finally:
        runner.close()


def test_cli_runner_is_the_command(congthu: Cli, tmp_path: Path) -> None:
    """The runner gives what ``python -m congthu`` gives: output, error and exit code
    (a refusal of the CLI itself, its usage code 2, one line on stderr)."""
    ran = congthu.same_as_a_process("--data", str(tmp_path / "none"), "api", "token", "list")
    assert ran.returncode == 2 and "not initialised" in ran.stderr


def test_cli_creates_lists_and_revokes(world: World, congthu: Cli) -> None:
    data = world.server.data_dir
    made = congthu(data, "api", "token", "create", "hr-system", "--scope", "requests:write",
                   "--scope", "directory:read", "--owner", world.accounts["manager"], "--days", "30")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.splitlines()[0]
    assert secret.startswith("ctk_") and len(secret) > 40
    # Only its SHA-256 is kept.
    tokens = world.server.run(Tokens(world.server.app).listing())
    assert len(tokens) == 1 and tokens[0].scopes == ("directory:read", "requests:write")
    stored = world.server.run(world.server.app.db.run_read(
        lambda conn: [tuple(r) for r in conn.exec_driver_sql("SELECT * FROM api_tokens")]))
    assert secret not in repr(stored) and hashlib.sha256(secret.encode()).hexdigest() in repr(stored)
    r = world.call("GET", "/api/v1/token", secret)
    assert r.status_code == 200 and r.json()["owner"] == world.accounts["manager"]
    assert r.json()["scopes"] == ["directory:read", "requests:write"]
    listed = congthu(data, "api", "token", "list")
    assert listed.returncode == 0 and "hr-system" in listed.stdout and "active" in listed.stdout
    assert secret not in listed.stdout and "from 127.0.0.1" in listed.stdout
    revoked = congthu(data, "api", "token", "revoke", str(tokens[0].id))
    assert revoked.returncode == 0, revoked.stderr
    r = world.call("GET", "/api/v1/token", secret)
    assert r.status_code == 401 and "thu hồi" in r.json()["detail"] and "revoked" in r.json()["detail"]
    assert "revoked" in congthu(data, "api", "token", "list").stdout


REFUSED = [
    (["--scope", "mail:send"], "unknown scope"),
    (["--scope", "reports:read", "--owner", "official@soctrang.gov.vn"], "holds no console role"),
    (["--scope", "reports:read", "--owner", "nobody@soctrang.gov.vn"], "no active mailbox"),
    (["--scope", "reports:read", "--org", "khong-co"], "no such organisation"),
    (["--scope", "reports:read", "--days", "10000"], "days valid"),
    (["--scope", "reports:read", "--days", "0"], "days valid"),
]


def test_cli_refusals_are_one_clear_line(world: World, congthu: Cli) -> None:
    for args, message in REFUSED:
        made = congthu(world.server.data_dir, "api", "token", "create", "x", "--owner", world.accounts["admin2"],
                       *args)
        assert made.returncode != 0 and message in made.stderr and "Traceback" not in made.stderr, (args, made)
    assert world.server.run(Tokens(world.server.app).listing()) == []
    made = congthu(world.server.data_dir, "api", "token", "revoke", "42")
    assert made.returncode != 0 and "no such active token" in made.stderr


def test_missing_unknown_and_malformed_tokens(world: World) -> None:
    r = world.call("GET", "/api/v1/orgs")
    assert r.status_code == 401 and r.headers["www-authenticate"] == 'Bearer realm="congthu-api"'
    assert r.headers["content-type"] == "application/problem+json"
    r = world.call("GET", "/api/v1/orgs", "ctk_" + "A" * 43)
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]
    r = world.call("GET", "/api/v1/orgs", headers={"Authorization": "Basic YWRtaW46eA=="})
    assert r.status_code == 401 and 'error="invalid_request"' in r.headers["www-authenticate"]
    refused = world.server.run(audit.records(world.server.app, action="api.refused"))
    assert len(refused) == 3 and all(rec.client == "127.0.0.1" for rec in refused)


def test_an_expired_token_is_refused(world: World) -> None:
    token = world.token("admin2", days=1)
    assert world.call("GET", "/api/v1/token", token).status_code == 200
    app = world.server.app
    later = datetime.now(UTC) + timedelta(days=1, minutes=1)
    app.accounts.clock = lambda: later
    r = world.call("GET", "/api/v1/token", token)
    assert r.status_code == 401 and "expired" in r.json()["detail"]


def test_the_token_follows_its_owner(world: World) -> None:
    app = world.server.app
    token = world.token("manager")
    dept = world.ids["dept"]
    assert world.call("GET", f"/api/v1/orgs/{dept}", token).status_code == 200
    manager = world.server.run(app.store.get_mailbox(world.accounts["manager"]))
    assert manager is not None
    world.server.run(roles.revoke(app, manager.id, roles.ORG_MANAGER, dept))
    assert world.call("GET", f"/api/v1/orgs/{dept}", token).status_code == 404
    world.server.run(roles.grant(app, manager.id, roles.ORG_MANAGER, dept))
    assert world.call("GET", f"/api/v1/orgs/{dept}", token).status_code == 200

    # Điều 4.5: an official who leaves takes their tokens' rights with them at once.
    binh = world.server.run(app.store.get_mailbox(world.accounts["binh"]))
    assert binh is not None
    world.server.run(roles.grant(app, binh.id, roles.ORG_MANAGER, dept))
    token = world.token("binh")
    assert world.call("GET", f"/api/v1/orgs/{dept}", token).status_code == 200
    world.server.run(Directory(app).person_leaves(world.ids["binh"]))
    r = world.call("GET", f"/api/v1/orgs/{dept}", token)
    assert r.status_code == 401 and "owner" in r.json()["detail"]


def test_every_call_is_audited_with_the_last_use(world: World) -> None:
    token = world.token("admin2", name="bao-cao")
    before = world.server.run(Tokens(world.server.app).listing())[0]
    assert before.last_used_at is None
    for path in ("/api/v1/orgs", "/api/v1/requests", f"/api/v1/orgs/{world.ids['dept']}/people"):
        assert world.call("GET", path, token).status_code == 200
    assert world.call("GET", "/api/v1/orgs/999", token).status_code == 404
    calls = world.server.run(audit.records(world.server.app, action="api.call"))
    assert [(c.details["path"], c.details["status"]) for c in calls] == [
        ("/api/v1/orgs", 200), ("/api/v1/requests", 200), (f"/api/v1/orgs/{world.ids['dept']}/people", 200),
        ("/api/v1/orgs/999", 404)]
    assert all(c.actor == f"{world.accounts['admin2']} (api:bao-cao)" and c.client == "127.0.0.1" for c in calls)
    after = world.server.run(Tokens(world.server.app).listing())[0]
    assert after.last_used_at is not None and after.last_used_from == "127.0.0.1"
    assert world.server.run(audit.verify(world.server.app)).ok


@pytest.fixture
def slow_server(tmp_path: Path) -> Iterator[ServerThread]:
    with serving(tmp_path / "data", api={"calls_per_minute": 5, "refused_per_minute": 3}) as running:
        yield running


def test_rate_limits(slow_server: ServerThread) -> None:
    from tests.api.conftest import build_world

    world = build_world(slow_server)
    token = world.token("admin2")
    statuses = [world.call("GET", "/api/v1/token", token).status_code for _ in range(7)]
    assert statuses[:5] == [200] * 5 and statuses[5:] == [429, 429]
    r = world.call("GET", "/api/v1/token", token)
    assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 13 and r.json()["code"] == "rate_limited"
    # Another token has its own bucket.
    assert world.call("GET", "/api/v1/token", world.token("supervisor")).status_code == 200
    # Calls without a valid token: a few from one address, then 429 (not audited one by one).
    statuses = [world.call("GET", "/api/v1/orgs", "ctk_wrong").status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    assert len(slow_server.run(audit.records(slow_server.app, action="api.refused"))) == 3
    # Another address (loopback has a whole /8) is not limited by this one.
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2")) as other:
        assert other.get(world.base + "/api/v1/orgs").status_code == 401
    world.client.close()
