"""Password guessing: per-address delays and locks first, then per-account locks; alerts; unlock."""

from __future__ import annotations

import time

from congthu import audit
from congthu.accounts import AuthStatus, roles
from congthu.app import App
from tests.accounts.helpers import Clock, cli
from tests.folders import folder_index_of

OWNER = "ntbinh@soctrang.gov.vn"
PASSWORD = "Song@Hau7River"
ATTACKER = "203.0.113.66"


async def setup(app: App) -> tuple[int, int]:
    # Delays short enough for a test, the same shape as in production.
    app.settings.login.delay_base_seconds = 0.001
    app.settings.login.max_delay_seconds = 0.002
    owner = await app.store.create_mailbox(OWNER, "Nguyễn Thanh Bình")
    await app.accounts.set_password(owner.id, PASSWORD, must_change=False)
    admin = await app.store.create_mailbox("admin@soctrang.gov.vn", "Quản trị hệ thống", kind="organisation")
    await roles.grant(app, admin.id, "admin")
    return owner.id, admin.id


async def inbox_subjects(app: App, mailbox_id: int) -> list[str]:
    return [(await app.store.get_content(m.content_id)).subject for m in await folder_index_of(app.store, mailbox_id)]


async def test_1000_guesses_from_one_address_are_slowed_and_locked_while_the_owner_logs_in(app: App) -> None:
    _owner_id, admin_id = await setup(app)
    login = app.settings.login
    results = []
    started = time.monotonic()
    for i in range(1000):
        results.append(await app.accounts.authenticate(OWNER, f"Guess#{i:04d}x", protocol="imap",
                                                       client_ip=ATTACKER, secure=True))
        if i == 500:
            # Half-way through, the owner logs in from the office: not locked out.
            mine = await app.accounts.authenticate(OWNER, PASSWORD, protocol="imap", client_ip="198.51.100.20",
                                                   secure=True)
            assert mine.ok, mine
    elapsed = time.monotonic() - started
    statuses = [r.status for r in results]
    delays = [r.delay for r in results]
    # Slowed: no delay for the first failures, then growing ones up to the cap.
    assert delays[: login.address_delay_after - 1] == [0.0] * (login.address_delay_after - 1)
    growing = delays[login.address_delay_after - 1: login.address_delay_after + 2]
    assert growing == sorted(growing) and growing[0] > 0 and growing[-1] > growing[0]
    assert max(delays) == login.max_delay_seconds
    # Locked: after address_lock_after failures every attempt is refused unchecked.
    lock_at = login.address_lock_after - 1
    assert statuses[:lock_at] == [AuthStatus.FAILED] * lock_at
    assert set(statuses[lock_at:]) == {AuthStatus.LOCKED}
    assert "thử lại sau" in results[-1].message and "try again" in results[-1].message
    # Even the right password from the locked address is refused while the lock lasts.
    blocked = await app.accounts.authenticate(OWNER, PASSWORD, protocol="imap", client_ip=ATTACKER, secure=True)
    assert blocked.status is AuthStatus.LOCKED
    # ... and the owner from elsewhere is still fine: the account was not locked.
    assert (await app.accounts.authenticate(OWNER, PASSWORD, protocol="pop3", client_ip="198.51.100.21",
                                            secure=True)).ok
    assert elapsed < 60
    # Administrators were told once.
    subjects = await inbox_subjects(app, admin_id)
    assert len(subjects) == 1 and ATTACKER in subjects[0] and "khóa" in subjects[0]
    # Every attempt is in the audit trail.
    assert len(await audit.records(app, action="login.failed")) == login.address_lock_after
    # Refusals under the lock: recorded at once, then summarised once a minute.
    refused = await audit.records(app, action="login.locked")
    assert 1 <= len(refused) <= 2 and refused[0].details["attempts"] == 1 and refused[0].client == f"imap {ATTACKER}"
    assert [r.target for r in await audit.records(app, action="lockout.locked")] == [ATTACKER]


async def test_guessing_from_many_addresses_locks_the_account_until_unlocked(app: App) -> None:
    _owner_id, admin_id = await setup(app)
    login = app.settings.login
    clock = Clock()
    app.accounts.clock = clock
    for i in range(login.account_lock_after):
        result = await app.accounts.authenticate(OWNER, f"Guess#{i:04d}x", protocol="smtp",
                                                 client_ip=f"192.0.2.{i + 1}", secure=True)
    assert result.status is AuthStatus.LOCKED
    owner = await app.accounts.authenticate(OWNER, PASSWORD, protocol="imap", client_ip="198.51.100.20", secure=True)
    assert owner.status is AuthStatus.LOCKED and owner.code == "UNAVAILABLE"
    # Other accounts are not affected.
    other = await app.store.create_mailbox("dvthong@soctrang.gov.vn", "Đoàn Văn Thông")
    await app.accounts.set_password(other.id, "Cau#Vong-Mieu7", must_change=False)
    assert (await app.accounts.authenticate("dvthong@soctrang.gov.vn", "Cau#Vong-Mieu7", protocol="imap",
                                            client_ip="192.0.2.1", secure=True)).ok
    subjects = await inbox_subjects(app, admin_id)
    assert any(OWNER in s for s in subjects)

    # The administrator unlocks the account with the command.
    assert await cli(app, "user", "unlock", OWNER) == 0
    assert (await app.accounts.authenticate(OWNER, PASSWORD, protocol="imap", client_ip="198.51.100.20",
                                            secure=True)).ok
    unlocks = await audit.records(app, action="lockout.unlocked")
    assert [u.target for u in unlocks] == [OWNER] and unlocks[0].actor.startswith("cli")


async def test_locks_expire_and_a_stale_password_counts_once(app: App) -> None:
    await setup(app)
    login = app.settings.login
    clock = Clock()
    app.accounts.clock = clock
    # A phone retrying the same old password every minute for half an hour: one failure.
    for _ in range(30):
        stale = await app.accounts.authenticate(OWNER, "Old#Pass2025", protocol="imap", client_ip=ATTACKER,
                                                secure=True)
        clock.advance(minutes=1)
    assert stale.status is AuthStatus.FAILED and stale.delay == 0.0
    for i in range(login.address_lock_after):
        await app.accounts.authenticate(OWNER, f"Guess#{i}y", protocol="imap", client_ip=ATTACKER, secure=True)
    assert (await app.accounts.authenticate(OWNER, PASSWORD, protocol="imap", client_ip=ATTACKER,
                                            secure=True)).status is AuthStatus.LOCKED
    clock.advance(minutes=login.lock_minutes + 1)
    assert (await app.accounts.authenticate(OWNER, PASSWORD, protocol="imap", client_ip=ATTACKER, secure=True)).ok


async def test_ipv6_addresses_count_by_prefix(app: App) -> None:
    await setup(app)
    login = app.settings.login
    for i in range(login.address_lock_after):
        await app.accounts.authenticate(OWNER, f"Guess#{i}z", protocol="imap", client_ip=f"2001:db8:1:2::{i + 1:x}",
                                        secure=True)
    same_prefix = await app.accounts.authenticate(OWNER, PASSWORD, protocol="imap", client_ip="2001:db8:1:2::ffff",
                                                  secure=True)
    assert same_prefix.status is AuthStatus.LOCKED
    assert (await app.accounts.authenticate(OWNER, PASSWORD, protocol="imap", client_ip="2001:db8:1:3::1",
                                            secure=True)).ok


async def test_refusals_before_the_password_is_checked_are_counted_once(app: App) -> None:
    """A login refused by a lock or for want of TLS is still a login attempt in
    ``congthu_logins_total``: counted once, as "locked" or "failed"."""
    from congthu import metrics

    def count(result: str) -> float:
        return metrics.registry.get_sample_value(
            "congthu_logins_total", {"protocol": "ldap-test", "result": result}) or 0.0

    await setup(app)
    app.accounts.clock = Clock()
    for i in range(app.settings.login.account_lock_after):
        await app.accounts.authenticate(OWNER, f"Guess#{i:04d}x", protocol="smtp",
                                        client_ip=f"192.0.2.{i + 1}", secure=True)
    locked, failed = count("locked"), count("failed")
    result = await app.accounts.authenticate(OWNER, PASSWORD, protocol="ldap-test",
                                             client_ip="198.51.100.20", secure=True)
    assert result.status is AuthStatus.LOCKED
    assert (count("locked"), count("failed")) == (locked + 1, failed)
    result = await app.accounts.authenticate(OWNER, PASSWORD, protocol="ldap-test",
                                             client_ip="198.51.100.20", secure=False)
    assert result.code == "PRIVACYREQUIRED"
    assert (count("locked"), count("failed")) == (locked + 1, failed + 1)


async def test_an_application_server_address_is_not_locked_by_a_trickle_of_failures(app: App) -> None:
    """Failures of many accounts from one address (the users of an application server)
    leak away: a trickle all day long never locks the address, a burst does."""
    await setup(app)
    login = app.settings.login
    login.alert_on_lock = False
    clock = Clock()
    app.accounts.clock = clock
    server = "198.51.100.80"
    leak = login.lock_minutes * 60 / login.address_all_accounts_lock_after  # seconds per leaked failure
    # A day of people mistyping, one failure every 2 leak periods, each on another account.
    for i in range(3 * login.address_all_accounts_lock_after):
        result = await app.accounts.authenticate(f"nguoi{i}@soctrang.gov.vn", "Sai#MatKhau1", protocol="ldap",
                                                 client_ip=server, secure=True)
        assert result.status is AuthStatus.FAILED and result.delay == 0.0, (i, result)
        clock.advance(seconds=2 * leak)
    assert (await app.accounts.authenticate(OWNER, PASSWORD, protocol="ldap", client_ip=server, secure=True)).ok
    # About as many guesses in a burst (ten a second): slowed, then locked for all.
    results = []
    for i in range(login.address_all_accounts_lock_after + 2):
        results.append(await app.accounts.authenticate(f"khac{i}@soctrang.gov.vn", "Sai#MatKhau1",
                                                       protocol="ldap", client_ip=server, secure=True))
        clock.advance(seconds=0.1)
    assert results[-1].status is AuthStatus.LOCKED
    assert results[login.address_all_accounts_delay_after + 1].delay > 0
    locked = await app.accounts.authenticate(OWNER, PASSWORD, protocol="ldap", client_ip=server, secure=True)
    assert locked.status is AuthStatus.LOCKED
    locks = await audit.records(app, action="lockout.locked")
    assert [(r.target, r.details["kind"]) for r in locks] == [(server, "address")]
