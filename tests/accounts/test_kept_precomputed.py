"""What the kept login path works out once instead of per login (issue 16) is dropped
when it must be:

- ``LoginStates.get`` remembers the whole answer per (account, address): a lock of any
  of the three counters announced, a change of the mailbox, the end of the earliest
  part, a state kept anew, each make the next ``get`` decide again (and say None, or the
  new state);
- ``authenticate_kept``'s plan of a kept state (``_kept_plan``: the expiry instant, the
  rehash and SCRAM checks) follows the settings: a shorter maximum age makes the next
  kept login refuse to answer, so the full check says EXPIRED (Điều 13.2), and a new
  hasher sends it to the full check (rehash), as before;
- ``RecentLogins.repeat``'s end of the period follows ``within`` and a failure's
  ``forget``;
- the verified-password entry made from a keyed hash copied is the keyed hash's.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from congthu.accounts import AuthStatus, lockout
from congthu.accounts.generated import make_hasher
from congthu.accounts.model import Credential
from congthu.accounts.recent import RecentLogins
from congthu.accounts.states import LoginStates
from congthu.accounts.verified import VerifiedPasswords
from congthu.app import App
from congthu.store import Mailbox
from congthu.store.changes import mailbox_key
from tests.accounts.helpers import Clock

PASSWORD = "Mk@12345678x"
ADDRESS = "an@soctrang.gov.vn"
CLIENT = "10.1.2.3"
AT = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


class Seconds:
    """A monotonic clock moved by hand (``LoginStates``' own clock)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _kept(states: LoginStates, mailbox: Mailbox, *, must_change: bool = False) -> None:
    credential = Credential(mailbox.id, "$argon2id$x", must_change, AT)
    none = lockout.Counters(lockout.Counter(), lockout.Counter(), lockout.Counter())
    states.keep(ADDRESS, CLIENT, none, mailbox, credential, False, states.epoch, AT)


def _mailbox(mailbox_id: int = 7) -> Mailbox:
    return Mailbox(mailbox_id, ADDRESS, "An", "person", 0, 0, "active", AT, None)


def test_a_whole_answer_ends_with_a_lock_a_change_or_its_time() -> None:
    seconds = Seconds()
    states = LoginStates(60.0, lambda: True, clock=seconds)
    mailbox = _mailbox()
    _kept(states, mailbox)
    first = states.get(ADDRESS, CLIENT)
    assert first is not None and states.get(ADDRESS, CLIENT) is first  # the second from the pair's entry

    # A new lock of each counter, announced on the change feed: no answer from it.
    address = lockout.address_key(CLIENT)
    for kind, key in ((lockout.ADDRESS, address), (lockout.PAIR, lockout.pair_key(address, ADDRESS)),
                      (lockout.ACCOUNT, ADDRESS)):
        _kept(states, mailbox)
        assert states.get(ADDRESS, CLIENT) is not None
        states.forget([lockout.lock_key(kind, key)])
        assert states.get(ADDRESS, CLIENT) is None, kind

    # The mailbox changed (a reclamation, a new password): dropped.
    _kept(states, mailbox)
    assert states.get(ADDRESS, CLIENT) is not None
    states.forget([mailbox_key(mailbox.id)])
    assert states.get(ADDRESS, CLIENT) is None

    # Kept anew (another credential): the new state, not the one remembered.
    _kept(states, mailbox)
    old = states.get(ADDRESS, CLIENT)
    _kept(states, mailbox, must_change=True)
    new = states.get(ADDRESS, CLIENT)
    assert new is not None and new is not old and new.credential.must_change

    # The earliest part's end: a counter kept later than the account ends later, the
    # account's end is what counts.
    seconds.now += 30
    _kept_counters_only(states)
    seconds.now += 29.5
    assert states.get(ADDRESS, CLIENT) is new
    seconds.now += 1
    assert states.get(ADDRESS, CLIENT) is None


def _kept_counters_only(states: LoginStates) -> None:
    none = lockout.Counters(lockout.Counter(), lockout.Counter(), lockout.Counter())
    states.keep(ADDRESS, CLIENT, none, None, None, False, states.epoch, AT)


def test_the_end_of_a_recorded_period_follows_within_and_forget() -> None:
    recent = RecentLogins()
    recent.recorded(ADDRESS, "ldap", CLIENT, AT)
    assert recent.repeat(ADDRESS, "ldap", CLIENT, AT + timedelta(seconds=59), 60.0)
    assert not recent.repeat(ADDRESS, "ldap", CLIENT, AT + timedelta(seconds=60), 60.0)
    assert recent.repeat(ADDRESS, "ldap", CLIENT, AT + timedelta(seconds=60), 120.0)  # a longer period
    assert not recent.repeat(ADDRESS, "ldap", CLIENT, AT + timedelta(seconds=60), 30.0)  # a shorter one
    recent.forget(ADDRESS)  # a failure: the next success is written
    assert not recent.repeat(ADDRESS, "ldap", CLIENT, AT + timedelta(seconds=1), 60.0)
    assert recent.recorded(ADDRESS, "ldap", CLIENT, AT + timedelta(seconds=2)) == 2
    assert recent.repeat(ADDRESS, "ldap", CLIENT, AT + timedelta(seconds=3), 60.0)


async def _kept_login(app: App) -> object:
    accounts = app.accounts
    for _ in range(4):
        kept = accounts.authenticate_kept(ADDRESS, PASSWORD, protocol="ldap", client_ip=CLIENT, record_within=300.0)
        if kept is not None:
            return kept
        full = await accounts.authenticate(ADDRESS, PASSWORD, protocol="ldap", client_ip=CLIENT,
                                           record_within=300.0)
        assert full.status is AuthStatus.OK, full
    raise AssertionError("never kept")


async def test_the_kept_plan_follows_the_settings(any_app: App) -> None:
    app = any_app
    accounts = app.accounts
    clock = Clock()
    accounts.clock = clock
    mailbox = await app.store.create_mailbox(ADDRESS, "An")
    await accounts.set_password(mailbox.id, PASSWORD, must_change=False)
    url = app.settings.database.url
    if url:
        await app.hub.listen_postgres(url)
    else:
        await app.hub.listen_local()
    clock.advance(days=10)
    await _kept_login(app)
    assert accounts.authenticate_kept(ADDRESS, PASSWORD, protocol="ldap", client_ip=CLIENT,
                                      record_within=300.0) is not None

    # The maximum age shortened under the password (10 days old): expired at once.
    max_age = accounts.settings.max_age_days
    accounts.settings.max_age_days = 10
    try:
        assert accounts.authenticate_kept(ADDRESS, PASSWORD, protocol="ldap", client_ip=CLIENT,
                                          record_within=300.0) is None
        full = await accounts.authenticate(ADDRESS, PASSWORD, protocol="ldap", client_ip=CLIENT, record_within=300.0)
        assert full.status is AuthStatus.EXPIRED
    finally:
        accounts.settings.max_age_days = max_age
    await _kept_login(app)

    # Another hasher: the hash is to be upgraded, which only the full check does.
    hasher = accounts.hasher
    accounts.hasher = make_hasher(accounts.settings.__class__(
        **{**vars(accounts.settings), "argon2_time_cost": accounts.settings.argon2_time_cost + 1}))
    try:
        assert accounts.authenticate_kept(ADDRESS, PASSWORD, protocol="ldap", client_ip=CLIENT,
                                          record_within=300.0) is None
    finally:
        accounts.hasher = hasher


def test_a_verified_entry_is_the_keyed_blake2b_of_hash_and_password() -> None:
    """``VerifiedPasswords._entry`` copies a keyed hash made once: the same MAC as keyed
    BLAKE2b made anew (RFC 7693 section 2.5), each entry its own (the copy not shared)."""
    verified = VerifiedPasswords(60.0)
    for hashed, password in (("$argon2id$a", "Mật@Khẩu2026"), ("$argon2id$b", "x"), ("$argon2id$a", "Mật@Khẩu2026")):
        message = hashed.encode() + b"\0" + password.encode("utf-8", "surrogatepass")
        assert verified._entry(hashed, password) == hashlib.blake2b(message, key=verified._key, digest_size=32).digest()
    verified.remember("$argon2id$a", "right")
    assert verified.known("$argon2id$a", "right")
    assert not verified.known("$argon2id$a", "wrong") and not verified.known("$argon2id$b", "right")
