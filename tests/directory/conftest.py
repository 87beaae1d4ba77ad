"""Fixtures of the directory tests: an App on an empty data directory with cheap argon2
parameters (the directory creates thousands of accounts; argon2id itself stays)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from congthu.app import App

CHEAP_ARGON2 = """\
[passwords]
argon2_time_cost = 1
argon2_memory_kib = 256
argon2_parallelism = 1
"""


def make_dir(path: Path, extra: str = "") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "congthu.toml").write_text(CHEAP_ARGON2 + extra, encoding="utf-8")
    return path


@pytest.fixture
def ddir(tmp_path: Path) -> Path:
    return make_dir(tmp_path / "data")


@pytest.fixture
async def dapp(ddir: Path) -> AsyncIterator[App]:
    app = await App.open(ddir)
    try:
        yield app
    finally:
        await app.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def eapp(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[App]:
    """Like ``dapp``, on SQLite and then on a real PostgreSQL server (the session's
    ``postgres`` fixture): the directory's core tests run on both engines."""
    extra = ""
    if request.param == "postgresql":
        extra = f'\n[database]\nurl = "{request.getfixturevalue("postgres").create_database()}"\n'
    app = await App.open(make_dir(tmp_path / "data", extra))
    try:
        yield app
    finally:
        await app.close()
