"""``authenticate_kept`` (issue 16: a kept LDAP bind without its coroutine chain) against
``authenticate``, state by state: whenever the kept path answers, the full check in the
same state answers the same (status, mailbox, code, text, via) and neither writes
anything; whenever it does not answer (None), it has counted and written nothing, and
the full check decides: a first login, a new address, every success written (period
0), a password in the clear, a wrong password and the success after it, an expired
password with the state still kept, a must-change password, a disabled mailbox, a
hash to upgrade, a lock, a second factor. On SQLite and on PostgreSQL."""

from __future__ import annotations

from congthu import audit, metrics
from congthu.accounts import AuthStatus
from congthu.accounts.generated import make_hasher
from congthu.accounts.model import AuthResult
from congthu.accounts.totp import code_at
from congthu.app import App
from tests.accounts.helpers import Clock

PASSWORD = "Mk@12345678x"
WRONG = "Sai@mat-khau1"
ADDRESS = "an@soctrang.gov.vn"
RECORD = 300.0


def _counts() -> dict[str, float]:
    return {result: metrics.logins.labels("ldap", result)._value.get()
            for result in ("ok", "failed", "locked", "expired", "disabled")}


def _answer(result: AuthResult) -> tuple[object, ...]:
    return (result.status, result.mailbox.id if result.mailbox else None, result.code, result.message, result.via)


async def _trail(app: App) -> int:
    return len(await audit.records(app))


async def both(app: App, password: str = PASSWORD, *, client_ip: str = "127.0.0.1", secure: bool = True,
               record_within: float = RECORD) -> tuple[AuthResult | None, AuthResult]:
    """The kept path's answer, then the full check's in the same state."""
    accounts = app.accounts
    counts, trail = _counts(), await _trail(app)
    kept = accounts.authenticate_kept(ADDRESS, password, protocol="ldap", client_ip=client_ip, secure=secure,
                                      record_within=record_within)
    after_kept = _counts()
    assert await _trail(app) == trail  # the kept path never writes
    if kept is None:
        assert after_kept == counts  # nor counts what it leaves to the full check
    else:
        assert after_kept == {**counts, "ok": counts["ok"] + 1}
    full = await accounts.authenticate(ADDRESS, password, protocol="ldap", client_ip=client_ip, secure=secure,
                                       record_within=record_within)
    if kept is not None:
        assert _answer(kept) == _answer(full)
        assert await _trail(app) == trail  # a repeat of a success written lately: counted only
        assert _counts() == {**counts, "ok": counts["ok"] + 2}
    return kept, full


async def kept_again(app: App, **kwargs: object) -> AuthResult:
    """Log in until the kept path answers (the first logins read, verify, write)."""
    for _ in range(4):
        kept, full = await both(app, **kwargs)  # type: ignore[arg-type]
        assert full.status is AuthStatus.OK, full
        if kept is not None:
            return kept
    raise AssertionError("never kept")


async def test_the_kept_path_answers_as_the_full_check_in_every_state(any_app: App) -> None:
    app = any_app
    accounts = app.accounts
    clock = Clock(accounts.clock())
    accounts.clock = clock
    accounts.sleep = _no_delay
    mailbox = await app.store.create_mailbox(ADDRESS, "An")
    await accounts.set_password(mailbox.id, PASSWORD, must_change=False)

    # Not hearing the change feed: nothing is kept, the full check answers.
    kept, full = await both(app)
    assert kept is None and full.status is AuthStatus.OK
    url = app.settings.database.url
    if url:
        await app.hub.listen_postgres(url)
    else:
        await app.hub.listen_local()
    assert (await kept_again(app)).mailbox.id == mailbox.id  # type: ignore[union-attr]

    # Every success written (no period): never the kept path.
    kept, full = await both(app, record_within=0)
    assert kept is None and full.status is AuthStatus.OK
    # A password in the clear from another host: refused (and audited) by the full check.
    kept, full = await both(app, client_ip="10.9.9.9", secure=False)
    assert kept is None and full.code == "PRIVACYREQUIRED"
    # A new address: its counters and its first success are the full check's; then kept.
    kept, full = await both(app, client_ip="10.0.0.5")
    assert kept is None and full.status is AuthStatus.OK
    await kept_again(app, client_ip="10.0.0.5")

    # A wrong password after kept right ones: the full check (argon2id, counted, written);
    # the success after it is written at once (recent.py), then kept again.
    kept, full = await both(app, WRONG)
    assert kept is None and full.status is AuthStatus.FAILED
    kept, full = await both(app)
    assert kept is None and full.status is AuthStatus.OK
    await kept_again(app)

    # The password grows old between two binds, the state and the last success's record
    # still kept: the full check says EXPIRED.
    max_age = accounts.settings.max_age_days
    clock.advance(days=max_age, minutes=-1)
    await kept_again(app)
    clock.advance(minutes=2)
    assert accounts.states.get(ADDRESS, "127.0.0.1") is not None
    kept, full = await both(app)
    assert kept is None and full.status is AuthStatus.EXPIRED
    clock.advance(days=-max_age, minutes=-1)
    await kept_again(app)

    # A hash made with other parameters: upgraded by the full check, then kept again.
    hasher = accounts.hasher
    accounts.hasher = make_hasher(accounts.settings.__class__(
        **{**vars(accounts.settings), "argon2_time_cost": accounts.settings.argon2_time_cost + 1}))
    kept, full = await both(app)
    assert kept is None and full.status is AuthStatus.OK
    await kept_again(app)
    accounts.hasher = hasher

    # Disabled, then active again.
    await app.store.update_mailbox(mailbox.id, status="disabled")
    kept, full = await both(app)
    assert kept is None and full.status is AuthStatus.DISABLED
    await app.store.update_mailbox(mailbox.id, status="active")
    await kept_again(app)

    # A password to change (set by someone else).
    await accounts.set_password(mailbox.id, PASSWORD, must_change=True)
    kept, full = await both(app)
    assert kept is None and full.status is AuthStatus.EXPIRED
    await accounts.set_password(mailbox.id, PASSWORD, must_change=False)
    await kept_again(app)

    # The account locked by failures from elsewhere.
    accounts.login.account_lock_after = 2
    for wrong in (WRONG, WRONG + "2"):  # two different ones (the same again counts once)
        await accounts.authenticate(ADDRESS, wrong, protocol="ldap", client_ip="10.0.0.7")
    kept, full = await both(app)
    assert kept is None and full.status is AuthStatus.LOCKED
    clock.advance(days=1)
    accounts.login.account_lock_after = 50
    await kept_again(app)

    # The second factor turned on: only app passwords at this door.
    secret = await accounts.totp_begin(mailbox.id)
    assert await accounts.totp_confirm(mailbox.id, code_at(secret, clock().timestamp()), actor=ADDRESS)
    kept, full = await both(app)
    assert kept is None and full.status is AuthStatus.FAILED
    kept, full = await both(app)
    assert kept is None and full.status is AuthStatus.FAILED


async def _no_delay(_seconds: float) -> None:
    """The failure delay, not waited for here."""
