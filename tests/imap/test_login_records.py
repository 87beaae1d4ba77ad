"""IMAP LOGINs in the audit trail (``imap.login_record_seconds``, congthu/accounts/recent.py):
a client that reconnects to look for mail logs in again and again from one address;
the first success is written (audit record, last access), the ones repeated within the
period are checked in full and counted on the next record; a failure is written at once,
and so is the success after it."""

from __future__ import annotations

import imaplib
from collections.abc import Iterator

import pytest

from congthu import audit
from congthu.store import utcnow
from tests.accounts.helpers import Clock
from tests.conftest import ServerThread
from tests.imap.conftest import PASSWORD, User


@pytest.fixture
def clock(server: ServerThread) -> Iterator[Clock]:
    accounts = server.app.accounts
    kept, period = accounts.clock, server.app.settings.imap.login_record_seconds
    accounts.clock = Clock(utcnow())
    try:
        yield accounts.clock
    finally:
        accounts.clock = kept
        server.app.settings.imap.login_record_seconds = period


def _logins(user: User) -> list[tuple[str, dict[str, object]]]:
    records = user.server.run(audit.records(user.server.app, target=user.address))
    return [(r.action, r.details) for r in records if r.action.startswith("login.")]


def _last_access(user: User) -> object:
    mailbox = user.server.run(user.server.app.store.get_mailbox(user.address))
    assert mailbox is not None
    return mailbox.last_access_at


def _login(user: User, password: str = PASSWORD) -> None:
    c = imaplib.IMAP4("127.0.0.1", user.server.port("imap"), timeout=30)
    try:
        c.login(user.address, password)
    finally:
        c.logout()


def test_repeated_logins_are_written_once_per_period_with_their_count(user: User, clock: Clock) -> None:
    _login(user)
    first_access = _last_access(user)
    for _ in range(3):
        clock.advance(seconds=10)
        _login(user)
    assert [a for a, _d in _logins(user)] == ["login.ok"]
    assert _last_access(user) == first_access
    # A failure is written at once, and the success after it too, with the count so far.
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        _login(user, "Sai@mat-khau1")
    clock.advance(seconds=10)
    _login(user)
    found = _logins(user)
    assert [a for a, _d in found] == ["login.ok", "login.failed", "login.ok"]
    assert found[2][1]["repeats"] == 3 and found[2][1]["protocol"] == "imap"
    # After the period the next success is written again, with the access stamp.
    clock.advance(seconds=user.server.app.settings.imap.login_record_seconds + 1)
    _login(user)
    assert [a for a, _d in _logins(user)] == ["login.ok", "login.failed", "login.ok", "login.ok"]
    assert _last_access(user) == clock.now


def test_every_login_written_when_the_period_is_zero(user: User, clock: Clock) -> None:
    user.server.app.settings.imap.login_record_seconds = 0.0
    for _ in range(3):
        clock.advance(seconds=10)
        _login(user)
    assert [a for a, _d in _logins(user)] == ["login.ok"] * 3


def test_authenticate_plain_is_counted_like_login(user: User, clock: Clock) -> None:
    """Thunderbird and Outlook log in with AUTHENTICATE PLAIN, not LOGIN: the same rule."""
    def authenticate() -> None:
        c = imaplib.IMAP4("127.0.0.1", user.server.port("imap"), timeout=30)
        try:
            c.authenticate("PLAIN", lambda _challenge: f"\0{user.address}\0{PASSWORD}".encode())
        finally:
            c.logout()

    authenticate()
    for _ in range(2):
        clock.advance(seconds=10)
        authenticate()
    _login(user)
    assert [a for a, _d in _logins(user)] == ["login.ok"]
