"""The API's own table and checks on both engines (SQLite, then a real PostgreSQL): a token
found by its text only, its states with the clock moved, its last use, revocation once,
the caller it becomes (the owner's console ``Viewer``, the token's organisation), and
every step in a valid audit chain; the rate limits' shared buckets (two workers' worth
of limiters on one database give the limit once, concurrently, and a refused key is
not written again); and the directory's search with a NUL (which PostgreSQL refuses in
any text) answering nothing rather than failing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from congthu import audit
from congthu.accounts import roles
from congthu.api import callers
from congthu.api.errors import ApiError
from congthu.api.limits import SharedLimiter
from congthu.api.tokens import ACTIVE, EXPIRED, REVOKED, Tokens, mark_used
from congthu.app import App
from congthu.directory import Directory


async def test_tokens_on_both_engines(any_app: App) -> None:
    app = any_app
    d = Directory(app)
    dept, _p, _pw = await d.add_org("Sở Tư pháp")
    unit, _p, _pw = await d.add_org("Phòng Hành chính", parent=dept.id)
    other, _p, _pw = await d.add_org("Sở Y tế")
    domain = app.settings.system.domain
    admin = await app.store.create_mailbox(f"quantri@{domain}", "")
    await roles.grant(app, admin.id, roles.ADMIN)
    tokens = Tokens(app)
    token, secret = await tokens.create("hr-system", ["requests:read, directory:read"], owner=admin.address,
                                        actor="test", org=unit.address, days=2)
    assert token.scopes == ("directory:read", "requests:read") and token.org_id == unit.id
    assert (await tokens.find(secret)) == token
    assert await tokens.find(secret + "x") is None and await tokens.find("not-a-token") is None
    caller = await callers.authenticate(app, tokens, f"Bearer {secret}", "192.0.2.1")
    assert caller.viewer.is_admin and caller.viewer.address == admin.address
    assert await callers.can(d, caller, "directory.read", unit.id)
    assert not await callers.can(d, caller, "directory.read", dept.id)  # above the token's organisation
    assert not await callers.can(d, caller, "directory.read", other.id)
    assert not await callers.can(d, caller, "reports.read")  # the whole system
    now = tokens.now()
    await app.db.run_write(mark_used, token.id, now, "192.0.2.1")
    used = (await tokens.listing())[0]
    assert used.last_used_from == "192.0.2.1" and used.last_used_at is not None
    assert used.state(now) == ACTIVE and used.state(now + timedelta(days=2, seconds=1)) == EXPIRED
    app.accounts.clock = lambda: datetime.now(UTC) + timedelta(days=3)
    with pytest.raises(ApiError) as expired:
        await callers.authenticate(app, tokens, f"Bearer {secret}", "192.0.2.1")
    assert expired.value.status == 401 and "expired" in expired.value.detail
    assert await tokens.revoke(token.id, actor="test")
    assert not await tokens.revoke(token.id, actor="test")
    assert (await tokens.listing())[0].state(tokens.now()) == REVOKED
    actions = [r.action for r in await audit.records(app, action="api.")]
    assert actions == ["api.token_created", "api.token_revoked"]
    assert (await audit.verify(app)).ok
    # Control characters in a search: words apart, never a failure (a NUL is no text on PostgreSQL).
    await d.add_person("Nguyễn Thanh Bình", dept.id)
    assert [h.name for h in await d.search("nguyen\x00binh")] == ["Nguyễn Thanh Bình"]
    assert await d.search("\x00") == []


async def test_shared_rate_limit_on_both_engines(any_app: App) -> None:
    one, two = SharedLimiter(any_app.db), SharedLimiter(any_app.db)
    # Both "workers" at once, as concurrent calls: the bucket's 5, never more.
    waits = await asyncio.gather(*[(one if i % 2 else two).take("token:7", 5) for i in range(12)])
    assert waits.count(0.0) == 5 and all(0 < w <= 12 for w in waits if w)
    assert await one.take("token:7", 5) > 0 and await two.take("token:7", 5) > 0
    assert await one.take("token:8", 5) == 0
