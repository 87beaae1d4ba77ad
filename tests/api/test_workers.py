"""The API's rate limit holds across the worker processes of one `congthu serve` (issue
15's tokens "for automation" must not get ``server.workers`` times their rate): a real
server with two workers, called over a new connection each time (the kernel hands them to
either worker), grants a token its ``api.calls_per_minute`` once in all, and both
workers refuse it after (each logs ``api.rate_limited`` with its worker number). And the
leases that keep the database out of most calls: two limiters on one database (two
workers' worth) never give more than the limit between them, and a busy key's leases
grow to a twentieth of the limit."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from congthu.accounts import roles
from congthu.api.limits import LEASE_SHARE, SharedLimiter
from congthu.api.tokens import Tokens
from congthu.app import App
from tests.conftest import make_data_dir
from tests.core.test_workers import Served

LIMIT = 10


async def prepare(path: Path) -> tuple[Path, str]:
    data = await make_data_dir(path, server={"workers": 2}, api={"calls_per_minute": LIMIT,
                                                                 "refused_per_minute": 1000})
    app = await App.open(data)
    try:
        box = await app.store.create_mailbox(f"admin2@{app.settings.system.domain}", "admin2")
        await roles.grant(app, box.id, roles.ADMIN, None)
        _token, secret = await Tokens(app).create("hr-system", ["directory:read"], owner=box.address, actor="test")
    finally:
        await app.close()
    return data, secret


def test_the_rate_limit_holds_across_two_workers(tmp_path: Path) -> None:
    data, secret = asyncio.run(prepare(tmp_path / "data"))
    served = Served(data)
    try:
        url = f"http://127.0.0.1:{served.settings.listen.http}/api/v1/token"
        headers = {"Authorization": f"Bearer {secret}", "Connection": "close"}
        statuses: list[int] = []
        started = time.monotonic()
        refusing: set[int] = set()
        with httpx.Client(timeout=30) as client:
            for call in range(400):
                statuses.append(client.get(url, headers=headers).status_code)
                if call >= LIMIT and call % 10 == 0:
                    refusing = {int(r["worker"]) for r in served.events("api.rate_limited")}
                    if refusing == {1, 2}:
                        break
        elapsed = time.monotonic() - started
        assert refusing == {1, 2}, "the calls never reached both workers"
        assert set(statuses) == {200, 429}
        granted = statuses.count(200)
        # The bucket refills at LIMIT a minute while the calls are made.
        assert LIMIT <= granted <= LIMIT + 1 + int(elapsed * LIMIT / 60), (granted, elapsed)
        assert statuses[:LIMIT] == [200] * LIMIT
    finally:
        served.stop()


async def test_leases_share_the_limit_and_grow(app: App) -> None:
    one, two = SharedLimiter(app.db), SharedLimiter(app.db)
    per_minute = 120
    granted = 0
    started = time.monotonic()
    for call in range(400):
        if await (one if call % 3 else two).take("token:1", per_minute) == 0:
            granted += 1
    elapsed = time.monotonic() - started
    # The bucket's capacity, taken in leases, nothing stranded (each limiter keeps being
    # called), and what refilled meanwhile.
    assert per_minute <= granted <= per_minute + 1 + int(elapsed * per_minute / 60), (granted, elapsed)
    assert one.leases["token:1"].size == per_minute // LEASE_SHARE
    # Refused now, and then without asking the database, until a call is there again.
    wait = await one.take("token:1", per_minute)
    assert 0 < wait <= 60 / per_minute
    # Another key has its own bucket.
    assert await two.take("address:127.0.0.2", per_minute) == 0
