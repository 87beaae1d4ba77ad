"""`congthu serve` with two workers (real processes): each keeps its own LDAP tree, and a
change made elsewhere (a ``congthu`` command, another process, as another worker or node
would make it) shows in the searches of both within ``tree.CHECK_SECONDS``, though they
keep their trees for an hour (``ldap.cache_seconds`` 3600): each reads the directory's
generation from the database, not from its own memory (issue 16)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ldap3 import NONE, SUBTREE, Connection, Server

from congthu.app import App
from congthu.directory import Directory
from tests.conftest import make_data_dir
from tests.core.test_workers import Served
from tests.ldap.conftest import BASE, PASSWORD

PATIENCE = 60.0


async def _prepare(path: Path) -> tuple[Path, str, str]:
    """Two workers, two officials: (the data directory, the one who binds, the one who leaves)."""
    data = await make_data_dir(path, server={"workers": 2, "drain_seconds": 1}, ldap={"cache_seconds": 3600.0})
    app = await App.open(data)
    try:
        directory = Directory(app)
        await directory.add_org("Sở Tài chính")
        binh, _proposal, _password = await directory.add_person("Nguyễn Thanh Bình", "sotc")
        hoa, _proposal, _password = await directory.add_person("Trần Thị Hoa", "sotc")
        assert binh.mailbox_id is not None
        await app.accounts.set_password(binh.mailbox_id, PASSWORD, must_change=False)
        return data, binh.address, hoa.address
    finally:
        await app.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Served, str, str]]:
    data, binh, hoa = asyncio.run(_prepare(tmp_path / "data"))
    running = Served(data)
    try:
        yield running, binh, hoa
    finally:
        running.stop()


def _worker_of(served: Served, conn: Connection, attempt: int) -> int:
    """The worker serving ``conn``: a bind that fails is logged, with the worker (binds
    are made one at a time, so the newest line is this one's)."""
    before = len(served.events("ldap.bind"))
    conn.rebind(f"uid=khong-co-ai-{attempt},ou=people,{BASE}", "sai")
    deadline = time.monotonic() + 30
    while len(records := served.events("ldap.bind")) <= before:
        assert time.monotonic() < deadline, "no ldap.bind line"
        time.sleep(0.05)
    return int(records[-1]["worker"])


def _people(conn: Connection, uid: str) -> int:
    conn.search(BASE, f"(uid={uid})", SUBTREE, attributes=["cn"])
    assert conn.result["result"] == 0, conn.result
    return len(conn.entries)


def test_a_change_by_another_process_shows_in_both_workers(served: tuple[Served, str, str]) -> None:
    running, binh, hoa = served
    server = Server("127.0.0.1", port=running.settings.listen.ldap, get_info=NONE)
    dn = f"uid={binh.split('@')[0]},ou=people,{BASE}"
    hoa_uid = hoa.split("@")[0]
    by_worker: dict[int, Connection] = {}
    spare = []
    for attempt in range(40):
        conn = Connection(server, receive_timeout=30)
        conn.open()
        worker = _worker_of(running, conn, attempt)
        assert conn.rebind(dn, PASSWORD), conn.result
        if worker in by_worker:
            spare.append(conn)
        else:
            by_worker[worker] = conn
        if len(by_worker) == 2:
            break
    assert len(by_worker) == 2, "every connection went to one worker"
    for conn in by_worker.values():
        assert _people(conn, hoa_uid) == 1  # each worker's tree built

    left = subprocess.run([sys.executable, "-m", "congthu", "--data", str(running.data), "user", "leave", hoa],
                          capture_output=True, text=True, timeout=120)
    assert left.returncode == 0, left.stderr
    deadline = time.monotonic() + PATIENCE
    for worker, conn in by_worker.items():
        while _people(conn, hoa_uid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _people(conn, hoa_uid) == 0, f"worker {worker} still shows her"
    for conn in [*by_worker.values(), *spare]:
        conn.unbind()
