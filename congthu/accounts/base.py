"""``AccountsBase``: the state every part of ``Accounts`` shares (settings, hasher, clock,
the remembered checks) and the small steps they all use: checking a hash, reading a
credential, deciding expiry, writing an audit record.

``Accounts`` is joined in ``accounts.py`` from one class per concern, like the store's
``MailStore``: ``login.py`` (the login check), ``second_factor.py`` (TOTP and app
passwords), ``password_changes.py`` (setting, changing, issuing and resetting passwords)
and ``services.py`` (service accounts).
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Connection

from congthu import audit, metrics
from congthu.accounts import lockout, scram
from congthu.accounts.credentials import credential_row
from congthu.accounts.generated import make_hasher
from congthu.accounts.model import Credential, aware, credential_of
from congthu.accounts.recent import RecentLogins
from congthu.accounts.states import LoginStates
from congthu.accounts.verified import VerifiedPasswords
from congthu.config import Settings
from congthu.db import Database
from congthu.store import MailStore, utcnow


class AccountsBase:
    def __init__(self, store: MailStore, settings: Settings) -> None:
        self.store = store
        self.db: Database = store.db
        self.config = settings
        self.settings = settings.passwords
        self.login = settings.login
        self.hasher = make_hasher(settings.passwords)
        self.verified = VerifiedPasswords(settings.login.verified_cache_seconds)
        # Successes written lately, for doors that log in per request (recent.py).
        self.recent = RecentLogins()
        # What logins are decided on, kept while the change feed is heard (states.py).
        hub = store.hub
        self.states = LoginStates(settings.login.state_cache_seconds, lambda: hub.listening)
        hub.on_accounts_changed(self.states.forget)
        # Injectable for tests: the time now (aware, UTC) and how delays are awaited.
        self.clock: Callable[[], datetime] = utcnow
        self.sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
        # Told of every successful login (mailbox id, protocol) after its commit: the
        # reports' counters (the App sets it: congthu/reports/counters.py).
        self.on_login: Callable[[int, str], None] = lambda _mailbox_id, _protocol: None
        # For SCRAM salts of unknown users (same answer for the same name in one process).
        self._fake_salt_key = secrets.token_bytes(32)
        # Attempts refused by a lock and not yet in the audit trail: (kind, key) -> (count, last record).
        self._refused: dict[tuple[str, str], tuple[int, datetime | None]] = {}
        # A hash of a random password, checked when the user is unknown (made on first use).
        self._dummy_hash: str | None = None
        # Threads that hash many passwords at once (``hash_many``), made on first use.
        self._hash_threads: ThreadPoolExecutor | None = None
        # Whether a stored hash has other parameters than the hasher's (``needs_rehash``).
        self._rehash: tuple[Any, dict[str, bool]] = (None, {})
        # Client address -> (its throttling key, loopback?) (``client_address``): parsed once, not
        # on every login of the application servers that bind again and again.
        self._clients: dict[str, tuple[str, bool]] = {}
        # (door, result) -> the child of ``congthu_logins_total`` (``count_login``).
        self._login_counts: dict[tuple[str, str], Any] = {}
        # id(kept state) -> what ``authenticate_kept`` decides of it once (``login._kept_plan``).
        self._kept_plans: dict[int, tuple[Any, ...]] = {}

    async def hash_many(self, passwords: Sequence[str]) -> list[str]:
        """argon2id hashes of many passwords (an import's first passwords), on every core:
        argon2-cffi releases the GIL while it hashes."""
        if self._hash_threads is None:
            self._hash_threads = ThreadPoolExecutor(os.cpu_count() or 2, thread_name_prefix="argon2")
        loop, threads = asyncio.get_running_loop(), self._hash_threads
        return list(await asyncio.gather(*[loop.run_in_executor(threads, self.hasher.hash, p)
                                           for p in passwords]))

    def close(self) -> None:
        """Let the hashing threads go (the App closes)."""
        if self._hash_threads is not None:
            self._hash_threads.shutdown(wait=False)
            self._hash_threads = None

    def plaintext_allowed(self, secure: bool, client_ip: str) -> bool:
        """May a password travel in the clear here? Over TLS yes; else only dev loopback."""
        return secure or (self.config.system.dev_allow_plaintext_loopback and self.client_address(client_ip)[1])

    def client_address(self, client_ip: str) -> tuple[str, bool]:
        """(``lockout.address_key``, ``lockout.is_loopback``) of a client address,
        remembered (a pure function of the text; bounded)."""
        found = self._clients.get(client_ip)
        if found is None:
            if len(self._clients) >= 10_000:
                self._clients.clear()
            found = self._clients[client_ip] = (lockout.address_key(client_ip), lockout.is_loopback(client_ip))
        return found

    def count_login(self, protocol: str, result: str) -> None:
        """One more ``congthu_logins_total`` of this door and result (its labelled child
        looked up once)."""
        child = self._login_counts.get((protocol, result))
        if child is None:
            child = self._login_counts[(protocol, result)] = metrics.logins.labels(protocol, result)
        child.inc()

    async def _check_hash(self, hashed: str, password: str) -> bool:
        if self.verified.known(hashed, password):
            return True  # checked lately (verified.py): a keyed hash, not argon2id again

        def work() -> bool:
            for candidate in dict.fromkeys((scram.normalise(password), password)):
                try:
                    if self.hasher.verify(hashed, candidate):
                        return True
                except (VerificationError, InvalidHashError):
                    continue
            return False
        if await asyncio.to_thread(work):
            self.verified.remember(hashed, password)
            return True
        return False

    def needs_rehash(self, hashed: str) -> bool:
        """``hasher.check_needs_rehash``, remembered per hash (and hasher): a login of
        someone verified lately need not parse their hash's parameters again."""
        hasher, known = self._rehash
        if hasher is not self.hasher:
            hasher, known = self._rehash = (self.hasher, {})
        found = known.get(hashed)
        if found is None:
            if len(known) >= 10_000:
                known.clear()
            found = known[hashed] = hasher.check_needs_rehash(hashed)
        return found

    async def _dummy_verify(self, password: str) -> None:
        # Same work as a real check, so timing does not reveal which addresses exist.
        if self._dummy_hash is None:
            self._dummy_hash = await asyncio.to_thread(self.hasher.hash, secrets.token_hex(8))
        await self._check_hash(self._dummy_hash, password)

    async def credential(self, mailbox_id: int) -> Credential | None:
        return self.to_credential(await self.db.run_small_read(credential_row, mailbox_id))

    def to_credential(self, row: Any) -> Credential | None:
        """The record of a ``credentials`` row (None for None)."""
        return None if row is None else credential_of(row, self.clock())

    def expired(self, cred: Credential, now: datetime | None = None) -> bool:
        """Điều 13.2: must change (one-time password), or older than max_age_days."""
        if cred.must_change:
            return True
        max_age = self.settings.max_age_days
        changed = aware(cred.changed_at)
        assert changed is not None
        return bool(max_age) and (now or self.clock()) - changed >= timedelta(days=max_age)

    def expires_at(self, cred: Credential) -> datetime | None:
        changed = aware(cred.changed_at)
        if not self.settings.max_age_days or changed is None:
            return None
        return changed + timedelta(days=self.settings.max_age_days)

    async def _audit(self, action: str, actor: str, target: str, details: dict[str, Any], client: str = "") -> None:
        at = self.clock()

        def write(conn: Connection) -> None:
            audit.append(conn, at=at, action=action, actor=actor, target=target, details=details, client=client)

        await self.db.run_write(write)


def b64decode(value: str) -> bytes:
    return base64.b64decode(value)
