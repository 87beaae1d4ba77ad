"""A real server for the API tests, with a small province: a department with a unit, a
second department, people in each, and accounts in every role (administrator,
supervisor, a manager of each department, a manager of the unit, a plain official, the
records office of the first department).

``World.token(...)`` makes a token through ``congthu.api.tokens`` on the server's App;
``World.call(...)`` calls the API over HTTP with httpx.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from congthu.accounts import roles
from congthu.api.tokens import SCOPES, Tokens
from congthu.directory import Directory
from tests.conftest import ServerThread, make_data_dir

# Every scope there is (``congthu.api.tokens.SCOPES``), new ones included.
ALL_SCOPES = list(SCOPES)


@dataclass
class World:
    server: ServerThread
    ids: dict[str, int] = field(default_factory=dict)  # organisations and people
    accounts: dict[str, str] = field(default_factory=dict)  # role name -> address
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=60))

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.port('http')}"

    def token(self, owner: str, scopes: list[str] | None = None, *, org: int | None = None, days: int | None = None,
              name: str = "test") -> str:
        async def make() -> str:
            _token, secret = await Tokens(self.server.app).create(
                name, scopes or ALL_SCOPES, owner=self.accounts[owner], actor="test", org=org, days=days)
            return secret
        return self.server.run(make())

    def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.request(method, self.base + path, headers=headers, **kwargs)


def build_world(server: ServerThread) -> World:
    world = World(server)
    app = server.app
    domain = app.settings.system.domain

    async def populate() -> None:
        d = Directory(app)
        dept, _p, _pw = await d.add_org("Sở Tư pháp")
        unit, _p, _pw = await d.add_org("Phòng Hành chính", parent=dept.id)
        other, _p, _pw = await d.add_org("Sở Y tế")
        world.ids.update(dept=dept.id, unit=unit.id, other=other.id)
        binh, _p, _pw = await d.add_person("Nguyễn Thanh Bình", dept.id, title="Chánh Văn phòng")
        lan, _p, _pw = await d.add_person("Trần Thị Lan", unit.id)
        hoa, _p, _pw = await d.add_person("Lê Văn Hòa", other.id)
        world.ids.update(binh=binh.id, lan=lan.id, hoa=hoa.id)
        world.accounts.update(binh=binh.address, lan=lan.address, hoa=hoa.address, dept_box=dept.address,
                              other_box=other.address)
        for name, role, scope in (("admin2", roles.ADMIN, None), ("supervisor", roles.SUPERVISOR, None),
                                  ("manager", roles.ORG_MANAGER, dept.id), ("unitmanager", roles.ORG_MANAGER, unit.id),
                                  ("othermanager", roles.ORG_MANAGER, other.id), ("official", None, None),
                                  ("records", roles.RECORDS, dept.id)):
            box = await app.store.create_mailbox(f"{name}@{domain}", name)
            world.accounts[name] = box.address
            if role is not None:
                await roles.grant(app, box.id, role, scope)

    server.run(populate())
    return world


@pytest.fixture
def api_server(tmp_path: Path) -> Iterator[ServerThread]:
    data = asyncio.run(make_data_dir(tmp_path / "data", api={"calls_per_minute": 100_000,
                                                             "refused_per_minute": 100_000}))
    running = ServerThread(data).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def world(api_server: ServerThread) -> Iterator[World]:
    built = build_world(api_server)
    try:
        yield built
    finally:
        built.client.close()


def served_world(tmp_path_factory: pytest.TempPathFactory, **settings: dict[str, Any]) -> Iterator[World]:
    """A server of its own (rate limits out of the way, and ``settings`` sections) and its
    world, for a module-scoped fixture."""
    data = asyncio.run(make_data_dir(tmp_path_factory.mktemp("api") / "data",
                                     api={"calls_per_minute": 100_000, "refused_per_minute": 100_000}, **settings))
    running = ServerThread(data).start()
    try:
        built = build_world(running)
        try:
            yield built
        finally:
            built.client.close()
    finally:
        running.stop()


@pytest.fixture(scope="module")
def shared_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One server and world for a module's tests that make fresh things for each call
    (the suite's time: a server start per test adds up)."""
    yield from served_world(tmp_path_factory)
