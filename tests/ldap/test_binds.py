"""What a bind writes, and guessing through LDAP (issue 16).

Application servers bind per request (Apache mod_authnz_ldap, PHP applications), so a
repeated success of one account from one address within ``ldap.bind_record_seconds`` is
counted, not written; the next record carries the count (``accounts/recent.py``). Every
failure is written at once, and after a failure the next success is written again.
Failed binds, of people and of service accounts alike, count on the guessing counters
every door shares (``accounts/lockout.py``): per (address, account), and per address over
every account."""

from __future__ import annotations

import imaplib
import ssl
from datetime import datetime
from typing import Any

import pytest
from ldap3 import NONE, Connection, Server, Tls

from congthu import audit
from congthu.store import utcnow
from tests.accounts.helpers import Clock
from tests.conftest import database_calls
from tests.ldap.conftest import BASE, PASSWORD, LDAPWorld

BINH = "Nguyễn Thanh Bình"


def bind(world: LDAPWorld, user: str, password: str) -> Connection:
    conn = Connection(Server("127.0.0.1", port=world.port, tls=Tls(validate=ssl.CERT_NONE), get_info=NONE),
                      user=user, password=password, receive_timeout=30)
    conn.open()
    assert conn.start_tls()
    conn.bind()
    return conn


def actions(world: LDAPWorld, target: str) -> list[tuple[str, dict[str, object]]]:
    return [(r.action, r.details) for r in world.server.run(audit.records(world.server.app, target=target))
            if r.action.startswith(("login.", "service.login."))]


def last_access(world: LDAPWorld, address: str) -> datetime | None:
    mailbox = world.server.run(world.server.app.store.get_mailbox(address))
    assert mailbox is not None
    return mailbox.last_access_at


def test_repeated_binds_are_written_once_per_period_with_their_count(world: LDAPWorld) -> None:
    clock = Clock(utcnow())
    world.server.app.accounts.clock = clock
    address = world.address(BINH)
    conn = bind(world, world.dn(BINH), PASSWORD)
    assert conn.result["result"] == 0
    first_access = last_access(world, address)
    for _ in range(4):
        clock.advance(seconds=10)
        assert conn.rebind(world.dn(BINH), PASSWORD), conn.result
    # Five successes: one record, one access stamp.
    assert [a for a, _d in actions(world, address)] == ["login.ok"]
    assert last_access(world, address) == first_access
    # A failure is written at once, and the success after it too (with the count so far).
    assert not conn.rebind(world.dn(BINH), "Sai@mat-khau1")
    assert conn.result["result"] == 49
    clock.advance(seconds=10)
    assert conn.rebind(world.dn(BINH), PASSWORD)
    found = actions(world, address)
    assert [a for a, _d in found] == ["login.ok", "login.failed", "login.ok"]
    assert found[2][1]["repeats"] == 4
    # After the period, the next success is written again, with the access stamp.
    clock.advance(seconds=10)
    assert conn.rebind(world.dn(BINH), PASSWORD)
    clock.advance(seconds=world.server.app.settings.ldap.bind_record_seconds)
    assert conn.rebind(world.dn(BINH), PASSWORD)
    found = actions(world, address)
    assert [a for a, _d in found] == ["login.ok", "login.failed", "login.ok", "login.ok"]
    assert found[3][1]["repeats"] == 1
    assert last_access(world, address) == clock.now


def test_every_bind_written_when_the_period_is_zero(world: LDAPWorld) -> None:
    world.server.app.settings.ldap.bind_record_seconds = 0.0
    conn = bind(world, world.dn(BINH), PASSWORD)
    assert conn.rebind(world.dn(BINH), PASSWORD)
    assert conn.rebind(world.dn(BINH), PASSWORD)
    assert [a for a, _d in actions(world, world.address(BINH))] == ["login.ok"] * 3


def test_service_account_binds_counted_failures_written(world: LDAPWorld) -> None:
    clock = Clock(utcnow())
    world.server.app.accounts.clock = clock
    secret = world.server.run(world.server.app.accounts.add_service("cong-thong-tin", actor="test"))
    service_dn = f"cn=cong-thong-tin,ou=services,{BASE}"
    conn = bind(world, service_dn, secret)
    assert conn.result["result"] == 0
    for _ in range(3):
        clock.advance(seconds=5)
        assert conn.rebind(service_dn, secret)
    assert not conn.rebind(service_dn, "sai")
    assert conn.rebind(service_dn, secret)
    found = actions(world, "cong-thong-tin")
    assert [a for a, _d in found] == ["service.login.ok", "service.login.failed", "service.login.ok"]
    assert found[2][1]["repeats"] == 3


def test_failed_binds_lock_the_account_from_that_address_not_the_others(world: LDAPWorld) -> None:
    """People's and service accounts' failures count on the guessing counters every door
    shares (``accounts/lockout.py``), per (address, account): an application server
    binding with a wrong secret locks its own account from there, not the people who
    bind through the same server; a person's account locked from that address is
    locked on the other doors too, from that address only. Once locked, even the right
    password is refused with the lock's diagnostic."""
    login = world.server.app.settings.login
    login.address_delay_after, login.address_lock_after, login.delay_base_seconds = 1, 3, 0.01
    login.alert_on_lock = False
    secret = world.server.run(world.server.app.accounts.add_service("cong-thong-tin", actor="test"))
    service_dn = f"cn=cong-thong-tin,ou=services,{BASE}"
    for number, user in enumerate((world.dn(BINH), service_dn, world.dn(BINH), service_dn, world.dn(BINH),
                                   service_dn)):
        refused = bind(world, user, f"Sai@mat-khau{number}")
        assert refused.result["result"] == 49
    for user, right in ((world.dn(BINH), PASSWORD), (service_dn, secret)):
        locked = bind(world, user, right)
        assert locked.result["result"] == 49
        assert "Tạm khóa" in locked.result["message"]
    # Everyone else behind the same address binds.
    assert bind(world, world.dn("Trần Thị Hoa"), PASSWORD).result["result"] == 0
    # The same counters as the mail doors': IMAP for Bình from this address is locked,
    # for Hoa it is not.
    with imaplib.IMAP4("127.0.0.1", world.server.port("imap")) as imap, \
            pytest.raises(imaplib.IMAP4.error, match="UNAVAILABLE"):
        imap.login(world.address(BINH), "any-password")
    with imaplib.IMAP4("127.0.0.1", world.server.port("imap")) as imap:
        imap.authenticate("PLAIN", lambda _c: f"\0{world.address('Trần Thị Hoa')}\0{PASSWORD}".encode())


def login_calls(world: LDAPWorld) -> Any:
    """The transactions the server runs meanwhile for logins (the accounts, the store,
    LDAP, the audit trail; not the reports' counters, which write every 5 s), as
    "run_small_read FUNCTION" lines."""
    return database_calls(world.server.app.db,
                          ("congthu.accounts", "congthu.store", "congthu.ldap", "congthu.audit"))


def test_a_repeated_bind_is_one_read_and_a_change_still_acts_at_once(world: LDAPWorld) -> None:
    """The cost of a bind (issue 16): a person whose password was verified lately, and
    whose success was written lately, binds with one read transaction of the database
    (the guessing counters, the mailbox, its credential and second factor together:
    ``accounts/login.read_login_state``) and no write; a service account likewise (its
    counters and secret). Nothing of it is kept between binds, so a new password, a
    revoked mailbox or a lock made elsewhere acts on the very next bind."""
    app = world.server.app
    conn = bind(world, world.dn(BINH), PASSWORD)
    assert conn.result["result"] == 0
    assert conn.rebind(world.dn(BINH), PASSWORD)
    with login_calls(world) as calls:
        for _ in range(5):
            assert conn.rebind(world.dn(BINH), PASSWORD), conn.result
    assert calls == ["run_small_read read_login_state"] * 5
    secret = world.server.run(app.accounts.add_service("cong-thong-tin", actor="test"))
    service_dn = f"cn=cong-thong-tin,ou=services,{BASE}"
    assert conn.rebind(service_dn, secret)
    with login_calls(world) as calls:
        for _ in range(3):
            assert conn.rebind(service_dn, secret), conn.result
    assert calls == ["run_small_read _bind_state"] * 3
    # A new password (as the webmail sets it) acts at once: the old one is refused.
    mailbox_id = world.people[BINH][1]
    world.server.run(app.accounts.set_password(mailbox_id, "Mới@MatKhau2027", must_change=False))
    assert not conn.rebind(world.dn(BINH), PASSWORD)
    assert conn.rebind(world.dn(BINH), "Mới@MatKhau2027")
    # A revoked mailbox (a departure) is refused on the next bind.
    world.server.run(app.store.update_mailbox(mailbox_id, status="revoked"))
    assert not conn.rebind(world.dn(BINH), "Mới@MatKhau2027")
    assert "thu hồi" in conn.result["message"]
