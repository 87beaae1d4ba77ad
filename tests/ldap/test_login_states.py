"""The login state kept between binds (``accounts/states.py``, issue 16): a bind of an
account verified lately reads nothing from the database in a server that hears the change
feed, and every change of what a bind depends on, made by ANOTHER worker (a second App
on the same data directory, as ``tests/imap/test_shared_index.py`` does), acts on the
very next bind: a new password, a disabled mailbox, a rename, a departure, a
reclamation, a lock."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, event

from congthu import metrics
from congthu.app import App
from congthu.directory import Directory
from congthu.requests import reclaim
from congthu.store import rows, search, utcnow
from tests.accounts.helpers import Clock
from tests.ldap.conftest import BASE, PASSWORD, LDAPWorld, listening_world
from tests.ldap.test_binds import bind

T = TypeVar("T")
BINH, HOA, DUC, TAM = "Nguyễn Thanh Bình", "Trần Thị Hoa", "Lê Văn Đức", "Phạm Minh Tâm"
NEW_PASSWORD = "Mới@MatKhau2027"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LDAPWorld]:
    """A server that listens to the change feed, as ``congthu serve`` does."""
    with listening_world(tmp_path_factory.mktemp("states")) as world:
        yield world


def on_other_worker(world: LDAPWorld, work: Callable[[App], Awaitable[T]]) -> T:
    """Run ``work(app)`` on a second App of the server's data directory (another worker)."""
    async def run() -> T:
        app = await App.open(world.server.data_dir)
        try:
            return await work(app)
        finally:
            await app.close()
    return asyncio.run(run())


def kept(world: LDAPWorld, name: str) -> bool:
    """Does the server keep the state of a bind of ``name`` from loopback?"""
    return world.server.app.accounts.states.get(world.address(name), "127.0.0.1") is not None


@contextlib.contextmanager
def statements(world: LDAPWorld) -> Iterator[list[str]]:
    """The SQL statements the server's threads run meanwhile on any engine (the
    background jobs aside: the reports' counters, written every few seconds, and the
    search indexer's look for pending contents, every half second): those through
    SQLAlchemy, and the store's statements compiled once and run on the driver itself
    (``rows.Compiled``, which SQLAlchemy's events do not see)."""
    seen: list[str] = []
    server_threads = {world.server._thread.ident}

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "report" in statement or search.CONTENTS_FTS in statement:
            return
        if threading.get_ident() in server_threads or threading.current_thread().name.startswith("congthu-db"):
            seen.append(statement)

    on_driver = rows._on_driver

    def on_driver_seen(conn: Any, driver: Any, sql: str, args: Any) -> Any:
        before(conn, None, sql)
        return on_driver(conn, driver, sql, args)

    event.listen(Engine, "before_cursor_execute", before)
    rows._on_driver = on_driver_seen  # type: ignore[assignment]
    try:
        yield seen
    finally:
        rows._on_driver = on_driver  # type: ignore[assignment]
        event.remove(Engine, "before_cursor_execute", before)


def logins_ok() -> float:
    """``congthu_logins_total`` of successful LDAP binds (the server runs in this process)."""
    return metrics.registry.get_sample_value("congthu_logins_total", {"protocol": "ldap", "result": "ok"}) or 0.0


def test_kept_states_end_after_their_time(world: LDAPWorld) -> None:
    """The safety net: an entry is not used after ``login.state_cache_seconds``."""
    states = world.server.app.accounts.states
    now = [0.0]
    saved = states.clock
    states.clock = lambda: now[0]
    try:
        conn = bind(world, world.dn(TAM), PASSWORD)
        assert conn.rebind(world.dn(TAM), PASSWORD) and kept(world, TAM)
        now[0] += states.seconds + 1
        assert not kept(world, TAM)
        with statements(world) as seen:
            assert conn.rebind(world.dn(TAM), PASSWORD)
        assert any("credentials" in s for s in seen)
    finally:
        states.clock = saved


def test_a_kept_bind_reads_nothing_and_every_change_elsewhere_acts_at_once(world: LDAPWorld) -> None:
    conn = bind(world, world.dn(BINH), PASSWORD)
    assert conn.result["result"] == 0
    assert conn.rebind(world.dn(BINH), PASSWORD)
    assert kept(world, BINH)
    # Kept and written lately (ldap.bind_record_seconds): no statement at all.
    counted = logins_ok()
    with statements(world) as seen:
        for _ in range(5):
            assert conn.rebind(world.dn(BINH), PASSWORD), conn.result
    assert seen == []
    # Each still counted as a login, and bound as the person.
    assert logins_ok() == counted + 5
    assert conn.extend.standard.who_am_i() == f"dn:{world.dn(BINH)}"

    # A new password set by another worker: the old one is refused at once.
    mailbox_id = world.people[BINH][1]
    on_other_worker(world, lambda app: app.accounts.set_password(mailbox_id, NEW_PASSWORD, must_change=False))
    assert not conn.rebind(world.dn(BINH), PASSWORD)
    assert conn.rebind(world.dn(BINH), NEW_PASSWORD)
    # Reset by an administrator (must change): refused with the expiry's diagnostic.
    on_other_worker(world, lambda app: app.accounts.set_password(mailbox_id, PASSWORD, must_change=True))
    assert not conn.rebind(world.dn(BINH), PASSWORD)
    assert "đổi" in conn.result["message"]
    on_other_worker(world, lambda app: app.accounts.set_password(mailbox_id, PASSWORD, must_change=False))
    assert conn.rebind(world.dn(BINH), PASSWORD) and kept(world, BINH)

    # Disabled, then enabled again.
    on_other_worker(world, lambda app: app.store.update_mailbox(mailbox_id, status="disabled"))
    assert not conn.rebind(world.dn(BINH), PASSWORD)
    on_other_worker(world, lambda app: app.store.update_mailbox(mailbox_id, status="active"))
    assert conn.rebind(world.dn(BINH), PASSWORD) and kept(world, BINH)

    # A lock of this account from this address (another worker counted the failures).
    async def lock(app: App) -> None:
        app.accounts.login.address_lock_after = 1
        result = await app.accounts.authenticate(world.address(BINH), "Sai@mat-khau1", protocol="imap",
                                                 client_ip="127.0.0.1")
        assert not result.ok
    on_other_worker(world, lock)
    assert not conn.rebind(world.dn(BINH), PASSWORD)
    assert "khóa" in conn.result["message"]
    world.server.run(world.server.app.accounts.unlock(world.address(BINH), actor="test", client="test"))
    assert conn.rebind(world.dn(BINH), PASSWORD) and kept(world, BINH)

    # Renamed: the old name (now an alias) no longer binds, the new one does.
    old_dn = world.dn(BINH)
    person, _proposal, _old = on_other_worker(
        world, lambda app: Directory(app).rename_person(world.address(BINH), "Nguyễn Thanh Bình An"))
    assert person.address != world.address(BINH)
    assert not conn.rebind(old_dn, PASSWORD)
    assert conn.rebind(f"uid={person.address.split('@')[0]},ou=people,{BASE}", PASSWORD)
    world.people[BINH] = (person.address, mailbox_id)
    assert kept(world, BINH)

    # Departure (Điều 4.5).
    on_other_worker(world, lambda app: Directory(app).person_leaves(world.address(BINH)))
    assert not conn.rebind(world.dn(BINH), PASSWORD)
    assert "thu hồi" in conn.result["message"]

    # Reclamation after six months without access (Điều 4.4), by another worker's pass.
    other = bind(world, world.dn(HOA), PASSWORD)
    assert other.rebind(world.dn(HOA), PASSWORD) and kept(world, HOA)

    async def reclaim_pass(app: App) -> reclaim.Pass:
        app.accounts.clock = Clock(utcnow() + timedelta(days=370))
        return await reclaim.run(app)
    done = on_other_worker(world, reclaim_pass)
    assert world.address(HOA) in done.reclaimed
    assert not other.rebind(world.dn(HOA), PASSWORD)
    assert "thu hồi" in other.result["message"]


def test_a_kept_service_bind_reads_nothing_and_a_reset_or_removal_elsewhere_acts_at_once(
        world: LDAPWorld) -> None:
    secret = world.server.run(world.server.app.accounts.add_service("van-ban", actor="test"))
    service_dn = f"cn=van-ban,ou=services,{BASE}"
    conn = bind(world, service_dn, secret)
    assert conn.result["result"] == 0
    assert conn.rebind(service_dn, secret)
    with statements(world) as seen:
        for _ in range(3):
            assert conn.rebind(service_dn, secret), conn.result
    assert seen == []
    # A new secret made by another worker: the old one is refused at once.
    new_secret = on_other_worker(world, lambda app: app.accounts.reset_service("van-ban", actor="test"))
    assert not conn.rebind(service_dn, secret)
    assert conn.rebind(service_dn, new_secret)
    assert conn.rebind(service_dn, new_secret)
    # Removed there: refused here at once.
    on_other_worker(world, lambda app: app.accounts.remove_service("van-ban", actor="test"))
    assert not conn.rebind(service_dn, new_secret)
