"""The LDAP tree is rebuilt when the directory changed, not on a timer (issue 16): a
server keeping its tree for an hour (``ldap.cache_seconds`` 3600) shows, within
``tree.CHECK_SECONDS``, a change made by each kind of path (the directory's functions
as the console and the import call them, the store's mailbox functions, a role, a
service account, a hand-written UPDATE as a job might make, a ``congthu`` command in
another process as another worker or node would), on SQLite and PostgreSQL; with no
change it builds nothing (the metric ``congthu_ldap_tree_builds_total``), whatever binds and searches come."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ldap3 import SUBTREE, Connection
from sqlalchemy import text
from sqlalchemy.engine import Connection as DbConnection

from congthu import metrics
from congthu.accounts import roles
from congthu.directory import Directory
from congthu.ldap.tree import CHECK_SECONDS
from tests.conftest import ServerThread, make_data_dir
from tests.ldap.conftest import BASE, LDAP_SETTINGS, PASSWORD, LDAPWorld, build_world
from tests.ldap.test_ldap3 import connect

BINH, HOA, DUC = "Nguyễn Thanh Bình", "Trần Thị Hoa", "Lê Văn Đức"
# How long a test waits for a change to show: far below cache_seconds, far above
# CHECK_SECONDS (a loaded machine).
PATIENCE = 60.0


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LDAPWorld]:
    database = {}
    if request.param == "postgresql":
        database["url"] = request.getfixturevalue("postgres").create_database()
    settings = {**LDAP_SETTINGS, "ldap": {"cache_seconds": 3600.0}}
    running = ServerThread(asyncio.run(make_data_dir(tmp_path / "data", database=database, **settings))).start()
    try:
        yield LDAPWorld(running, build_world(running), tmp_path)
    finally:
        running.stop()


def builds() -> int:
    """The LDAP trees built in this process (the metric: one test server at a time)."""
    return int(sum(metrics.registry.get_sample_value("congthu_ldap_tree_builds_total", {"reason": reason}) or 0
                   for reason in ("first", "changed", "age")))


def search(conn: Connection, filter_: str, attributes: list[str]) -> dict[str, dict[str, list[str]]]:
    conn.search(BASE, filter_, SUBTREE, attributes=attributes)  # False when nothing found
    assert conn.result["result"] == 0, conn.result
    return {entry.entry_dn: {name: [str(v) for v in entry[name].values] for name in attributes if name in entry}
            for entry in conn.entries}


def shows(conn: Connection, filter_: str, attributes: list[str],
          wanted: Callable[[dict[str, dict[str, list[str]]]], bool]) -> dict[str, dict[str, list[str]]]:
    """Search until the answer is ``wanted`` (the tree rebuilt); fail after PATIENCE."""
    deadline = time.monotonic() + PATIENCE
    while True:
        found = search(conn, filter_, attributes)
        if wanted(found) or time.monotonic() > deadline:
            assert wanted(found), found
            return found
        time.sleep(0.2)


def test_a_change_by_every_path_shows_without_waiting_cache_seconds(world: LDAPWorld) -> None:
    app = world.server.app
    directory = Directory(app)
    secret = world.server.run(app.accounts.add_service("cong-thong-tin", actor="test"))
    service = connect(world, f"cn=cong-thong-tin,ou=services,{BASE}", secret)
    assert service.bind(), service.result
    person = connect(world, world.dn(BINH), PASSWORD)
    assert person.bind(), person.result

    # The directory's functions (the console, the CLI and the import call them): a new official...
    world.server.run(directory.add_person("Võ Thị Lan", "sotc", title="Chuyên viên"))
    shows(person, "(cn=Võ Thị Lan)", ["title"], lambda found: len(found) == 1)
    # ... and a moved one, with a new title.
    world.server.run(directory.move_person(world.address(HOA), "sotc", title="Phó Giám đốc"))
    shows(person, f"(uid={world.uid(HOA)})", ["title", "o"],
          lambda found: [e["title"] for e in found.values()] == [["Phó Giám đốc"]])
    # The store's mailbox functions: a new address.
    mailbox_id = world.people[DUC][1]
    world.server.run(app.store.update_mailbox(mailbox_id, address="ducle@soctrang.gov.vn"))
    shows(person, "(uid=ducle)", ["mail"],
          lambda found: [e["mail"] for e in found.values()] == [["ducle@soctrang.gov.vn"]])
    # A role (its group is seen by service accounts).
    world.server.run(roles.grant(app, world.people[BINH][1], roles.SUPERVISOR))
    shows(service, f"(cn={roles.SUPERVISOR})", ["member"],
          lambda found: [e["member"] for e in found.values()] == [[world.dn(BINH)]])
    # A service account.
    world.server.run(app.accounts.add_service("ke-toan", actor="test"))
    shows(person, "(cn=ke-toan)", ["cn"], lambda found: len(found) == 1)

    # A hand-written UPDATE, as any job might make: the database counts it, not our code.
    def retitle(conn: DbConnection) -> None:
        conn.execute(text("UPDATE dir_people SET title = 'Chánh Văn phòng' WHERE mailbox_id = :m"),
                     {"m": world.people[BINH][1]})

    world.server.run(app.db.run_write(retitle))
    shows(person, f"(uid={world.uid(BINH)})", ["title"],
          lambda found: [e["title"] for e in found.values()] == [["Chánh Văn phòng"]])

    # Another process (a command beside the server, as another worker or node would
    # write): an official leaves.
    left = subprocess.run([sys.executable, "-m", "congthu", "--data", str(world.server.data_dir), "user", "leave",
                           world.address(HOA)], capture_output=True, text=True, timeout=120)
    assert left.returncode == 0, left.stderr
    shows(person, f"(uid={world.uid(HOA)})", ["cn"], lambda found: not found)
    service.unbind()
    person.unbind()


def test_nothing_changed_nothing_built(world: LDAPWorld) -> None:
    """Binds (a person's last access, a service account's last use) and searches for
    several CHECK_SECONDS: the one tree of the first search serves them all."""
    app = world.server.app
    secret = world.server.run(app.accounts.add_service("cong-thong-tin", actor="test"))
    person = connect(world, world.dn(BINH), PASSWORD)
    assert person.bind(), person.result
    assert search(person, f"(uid={world.uid(DUC)})", ["cn"])
    built = builds()
    assert built >= 1
    deadline = time.monotonic() + 4 * CHECK_SECONDS
    while time.monotonic() < deadline:
        service = connect(world, f"cn=cong-thong-tin,ou=services,{BASE}", secret)
        assert service.bind(), service.result
        assert search(service, f"(uid={world.uid(DUC)})", ["cn"])
        service.unbind()
        assert person.rebind(world.dn(BINH), PASSWORD), person.result
        assert search(person, f"(uid={world.uid(HOA)})", ["cn"])
        time.sleep(0.3)
    assert builds() == built
    # One change: one more tree.
    world.server.run(Directory(app).add_person("Võ Thị Lan", "sotc"))
    shows(person, "(cn=Võ Thị Lan)", ["cn"], lambda found: len(found) == 1)
    assert builds() == built + 1
    person.unbind()
