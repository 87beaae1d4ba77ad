"""The state a password login is decided on, kept between logins, so that a login of an
account verified lately reads nothing from the database (issue 16: an application server
binds over LDAP for every page it serves; a phone polls POP3 every few minutes).

What ``login.read_login_state`` reads is kept here, per process (on the App's
``Accounts``):

- per account (the name logged in with): its mailbox (status, address), its credential
  (the password hash, the must-change mark, when it was set) and whether its second
  factor is on; only for a mailbox that has a credential;
- per service account (``services.py``): the hash of its secret (a bind by its client
  certificate, SASL EXTERNAL, asks only that it be there);
- per guessing counter (``lockout.py``: the client address, the (address, account)
  pair, the account): that it is not locked. A lock holds until its time ends, so a
  counter not locked stays unlocked until a new failure locks it; a locked counter is
  not kept (a login under a lock reads the database, as a refusal should).

Nothing kept is ever stale on purpose: every change of it is announced on the change feed
by the function that makes it (``store/changes.account_changed``: the store's
``set_mailbox`` and ``update_mailbox`` for a status, an address or a name, so a
reclamation, a departure, a rename or a moved mailbox; the credentials' ``store_password``,
``after_login`` and second-factor functions; a service account's reset and removal,
``service_key``; ``lockout.fail`` for a new lock), to this
process once the transaction commits and before the writer goes on, to the other
processes of the data directory in the same moment (SQLite: datagrams) and to the other
nodes with the commit (PostgreSQL: NOTIFY in the transaction), and what it names is
dropped (``forget``). A read that was under way while a change was announced is not kept
(``epoch``). So:

- it is kept only in a process that hears the feed (``congthu serve``, which listens;
  not a command run beside it, nor a test server that does not listen): ``active``;
- entries also end after ``login.state_cache_seconds`` (the safety net: a datagram
  lost to a crash, a NOTIFY to a dropped connection; a lost PostgreSQL listener drops
  everything at once);
- the password is still checked every time (the verified-password cache makes that a
  keyed hash, ``verified.py``), the expiry is decided with the time now, and throttling,
  auditing and the last access (``recent.py``) are those of every login;
- bounded (``MAX_ENTRIES`` accounts and counters, oldest out first).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from congthu.accounts import lockout
from congthu.accounts.model import Credential
from congthu.store import Mailbox
from congthu.store.changes import ALL_ACCOUNTS

__all__ = ["KeptLogin", "LoginStates", "service_key"]

MAX_ENTRIES = 100_000
_NOT_LOCKED = lockout.Counters(lockout.Counter(), lockout.Counter(), lockout.Counter())


def service_key(name: str) -> str:
    """The account-feed key of a service account (its secret)."""
    return f"s{name}"


@dataclass(frozen=True)
class KeptLogin:
    """What a login of an account needs of the database, as kept: the guessing counters
    (none locked), the mailbox, its credential and whether its second factor is on."""

    counters: lockout.Counters
    mailbox: Mailbox
    credential: Credential
    two_factor: bool


class LoginStates:
    def __init__(self, seconds: float, active: Callable[[], bool],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.active = active  # does this process hear the change feed?
        self.clock = clock
        # Bumped by every change heard: a read begun before it is not kept.
        self.epoch = 0
        # account -> (until, what a login of it needs): one record made when kept, handed
        # out as it is to every kept login (it is frozen, and so is what it holds).
        self._accounts: OrderedDict[str, tuple[float, KeptLogin]] = OrderedDict()
        self._names: dict[int, set[str]] = {}  # mailbox id -> the accounts kept for it
        # lockout.lock_key(kind, key) of a counter not locked -> until
        self._unlocked: OrderedDict[str, float] = OrderedDict()
        # service_key(name) -> (until, the hash of its secret)
        self._services: OrderedDict[str, tuple[float, str]] = OrderedDict()
        # (account, address) -> (generation, until, login): what ``get`` found whole, so
        # that the next login of the same pair looks up one key instead of making the
        # three counter keys and four lookups (an application server binds the same
        # people from the same address again and again). ``until`` is the earliest end
        # of the parts; anything dropped (a change heard, an entry ended or pushed out,
        # a login kept anew) bumps ``_generation``, and an entry of an older generation
        # is not used.
        self._whole: dict[tuple[str, str], tuple[int, float, KeptLogin]] = {}
        self._generation = 0

    def get(self, account: str, address: str) -> KeptLogin | None:
        """The kept state of a login of ``account`` from the client ``address``
        (``lockout.address_key``), if all of it is kept and fresh."""
        if self.seconds <= 0 or not self.active():
            return None
        pair = (account, address)
        whole = self._whole.get(pair)
        now = self.clock()
        if whole is not None and whole[0] == self._generation and now <= whole[1]:
            return whole[2]
        kept = self._accounts.get(account)
        if kept is None:
            return None
        until, login = kept
        if until < now:
            self._drop(account)
            return None
        for key in self._counter_keys(account, address):
            open_until = self._unlocked.get(key)
            if open_until is None or open_until < now:
                return None
            until = min(until, open_until)
        if len(self._whole) >= MAX_ENTRIES:
            self._whole.clear()
        self._whole[pair] = (self._generation, until, login)
        return login

    def keep(self, account: str, address: str, counters: lockout.Counters, mailbox: Mailbox | None,
             credential: Credential | None, two_factor: bool, epoch: int, now_at: Any) -> None:
        """Keep what ``read_login_state`` read (``epoch``: ``self.epoch`` before the
        read; ``now_at``: the time the counters were judged at)."""
        if self.seconds <= 0 or epoch != self.epoch or not self.active():
            return
        self._keep_counters(account, address, counters, now_at)
        if mailbox is None or credential is None:
            return
        self._drop(account)
        self._accounts[account] = (self.clock() + self.seconds, KeptLogin(_NOT_LOCKED, mailbox, credential, two_factor))
        self._names.setdefault(mailbox.id, set()).add(account)
        while len(self._accounts) > MAX_ENTRIES:
            self._drop(next(iter(self._accounts)))

    def get_service(self, name: str, account: str, address: str) -> str | None:
        """The kept secret hash of service account ``name`` (``account``: its key in the
        guessing counters) bound from ``address``, if it and its counters are kept."""
        if self.seconds <= 0 or not self.active():
            return None
        kept = self._services.get(service_key(name))
        now = self.clock()
        if kept is None or kept[0] < now:
            return None
        for key in self._counter_keys(account, address):
            open_until = self._unlocked.get(key)
            if open_until is None or open_until < now:
                return None
        return kept[1]

    def keep_service(self, name: str, account: str, address: str, counters: lockout.Counters,
                     secret_hash: str | None, epoch: int, now_at: Any) -> None:
        """Keep what ``services._bind_state`` read (as ``keep``)."""
        if self.seconds <= 0 or epoch != self.epoch or not self.active():
            return
        self._keep_counters(account, address, counters, now_at)
        if secret_hash is None:
            return
        key = service_key(name)
        self._services[key] = (self.clock() + self.seconds, secret_hash)
        self._services.move_to_end(key)
        while len(self._services) > MAX_ENTRIES:
            self._services.popitem(last=False)

    def _keep_counters(self, account: str, address: str, counters: lockout.Counters, now_at: Any) -> None:
        until = self.clock() + self.seconds
        for key, counter in zip(self._counter_keys(account, address),
                                (counters.address, counters.pair, counters.account), strict=True):
            if counter.locked(now_at):
                continue
            self._unlocked[key] = until
            self._unlocked.move_to_end(key)
        while len(self._unlocked) > MAX_ENTRIES:
            self._unlocked.popitem(last=False)
            self._generation += 1

    def forget(self, keys: Iterable[str]) -> None:
        """The change feed: drop what these keys name (``store/changes.mailbox_key``: "m"
        and the id; ``service_key``: "s..."; ``lockout.lock_key``: "l..."; ``ALL_ACCOUNTS``:
        everything)."""
        self.epoch += 1
        self._generation += 1
        for key in keys:
            if key == ALL_ACCOUNTS:
                self._accounts.clear()
                self._names.clear()
                self._unlocked.clear()
                self._services.clear()
            elif key.startswith("s"):
                self._services.pop(key, None)
            elif key.startswith("m") and key.isascii() and key[1:].isdigit():
                for account in list(self._names.get(int(key[1:]), ())):
                    self._drop(account)
            else:
                self._unlocked.pop(key, None)

    def _drop(self, account: str) -> None:
        kept = self._accounts.pop(account, None)
        if kept is None:
            return
        self._generation += 1
        mailbox_id = kept[1].mailbox.id
        names = self._names.get(mailbox_id)
        if names is not None:
            names.discard(account)
            if not names:
                del self._names[mailbox_id]

    @staticmethod
    def _counter_keys(account: str, address: str) -> tuple[str, str, str]:
        return (lockout.lock_key(lockout.ADDRESS, address),
                lockout.lock_key(lockout.PAIR, lockout.pair_key(address, account)),
                lockout.lock_key(lockout.ACCOUNT, account))
