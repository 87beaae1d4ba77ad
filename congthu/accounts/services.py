"""Service accounts: accounts of applications, not of people (an LDAP bind of an
address book, a monitoring probe, a program that reads the directory).

They are a kind of their own, with their own rules, never a person's mailbox with an
exception flag:

- made by an administrator with ``congthu service add NAME``; the secret is 256 random
  bits made by the system and shown once (``service reset NAME`` makes a new one). No
  person chooses it, so Điều 13.2's first-login change and monthly expiry, which protect
  a person's password, do not apply: it never expires and is never "changed at first
  login";
- the name is never an address (no ``@``): a service account has no mailbox, receives no
  mail, and ``Accounts.authenticate`` (the mail doors: IMAP, POP3, SMTP submission, the
  web pages) never finds it;
- its only check is ``authenticate_service`` (the LDAP bind, or a client certificate
  mapped to it: SASL EXTERNAL): over TLS only, counted by the guessing counters of its
  (address, account) pair and of the address, every failure audited, and every success
  too, or, for binds repeated per request, once per period with their count
  (``recent.py``); the secret's hash is kept between binds (``states.py``), its reset
  and removal announced on the change feed.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from congthu import audit
from congthu.accounts import lockout
from congthu.accounts.base import AccountsBase
from congthu.accounts.generated import new_service_secret, sha256_hex
from congthu.accounts.model import aware
from congthu.accounts.states import service_key
from congthu.accounts.tables import service_accounts
from congthu.config import LoginSettings
from congthu.log import event
from congthu.store.changes import account_changed

NAME = re.compile(r"[a-z][a-z0-9._-]{1,63}")
# The key of a service account in the guessing counters (never an address, which has "@").
_ACCOUNT_KEY = "service:"


class ServiceError(Exception):
    """A refused service-account command (bad name, name taken, no such account)."""


@dataclass(frozen=True)
class ServiceAccount:
    name: str
    description: str
    created_at: datetime
    secret_set_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True)
class ServiceCheck:
    """The answer of ``authenticate_service``."""

    ok: bool
    name: str = ""
    # Text for the client, Vietnamese then English; an RFC 5530-like code.
    message: str = ""
    code: str = ""
    delay: float = 0.0


def check_name(name: str) -> str:
    """The name, lower-cased, if it is a valid service account name; else ServiceError."""
    name = name.strip().lower()
    if not NAME.fullmatch(name):
        raise ServiceError(
            f"Tên tài khoản dịch vụ không hợp lệ / invalid service account name {name!r}: 2-64 characters, "
            "a-z first, then a-z 0-9 . - _ (never an address)")
    return name


def _to_service(row: Any) -> ServiceAccount:
    created = aware(row.created_at)
    set_at = aware(row.secret_set_at)
    assert created is not None and set_at is not None
    return ServiceAccount(row.name, row.description, created, set_at, aware(row.last_used_at))


def _insert(conn: Connection, name: str, description: str, secret_hash: str, now: datetime, actor: str) -> None:
    conn.execute(insert(service_accounts).values(name=name, description=description[:200],
                                                 secret_hash=secret_hash, created_at=now, secret_set_at=now))
    audit.append(conn, at=now, action="service.added", actor=actor, target=name, details={})


def _rows(conn: Connection) -> list[Any]:
    return list(conn.execute(select(service_accounts).order_by(service_accounts.c.name)).all())


def _remove(conn: Connection, name: str, now: datetime, actor: str) -> bool:
    if not conn.execute(delete(service_accounts).where(service_accounts.c.name == name)).rowcount:
        return False
    account_changed(conn, service_key(name))  # kept secrets go, in every process (states.py)
    audit.append(conn, at=now, action="service.removed", actor=actor, target=name, details={})
    return True


def _reset(conn: Connection, name: str, secret_hash: str, now: datetime, actor: str) -> bool:
    if not conn.execute(update(service_accounts).where(service_accounts.c.name == name)
                        .values(secret_hash=secret_hash, secret_set_at=now)).rowcount:
        return False
    account_changed(conn, service_key(name))
    audit.append(conn, at=now, action="service.reset", actor=actor, target=name, details={})
    return True


def _secret_hash(conn: Connection, name: str) -> str | None:
    row = conn.execute(select(service_accounts.c.secret_hash).where(service_accounts.c.name == name)).first()
    return None if row is None else str(row.secret_hash)


def _bind_state(conn: Connection, address: str, account: str, name: str, now: datetime,
                settings: LoginSettings) -> tuple[lockout.Counters, str | None]:
    """The guessing counters and, unless they lock, the stored secret's hash: what a
    service account's bind is decided on, in one read transaction."""
    counters = lockout.read_counters(conn, address, account, now, settings)
    if counters.address.locked(now) or counters.pair.locked(now) or not NAME.fullmatch(name):
        return counters, None
    return counters, _secret_hash(conn, name)


class ServiceAccounts(AccountsBase):
    async def add_service(self, name: str, *, description: str = "", actor: str) -> str:
        """Create a service account; returns its secret (shown once)."""
        name = check_name(name)
        secret = new_service_secret()
        try:
            await self.db.run_write(_insert, name, description, sha256_hex(secret), self.clock(), actor)
        except IntegrityError:
            raise ServiceError(f"Tài khoản dịch vụ đã tồn tại / service account exists: {name}") from None
        return secret

    async def list_services(self) -> list[ServiceAccount]:
        return [_to_service(r) for r in await self.db.run_read(_rows)]

    async def remove_service(self, name: str, *, actor: str) -> None:
        name = name.strip().lower()
        if not await self.db.run_write(_remove, name, self.clock(), actor):
            raise ServiceError(f"Không có tài khoản dịch vụ / no such service account: {name}")

    async def reset_service(self, name: str, *, actor: str) -> str:
        """A new secret for a service account (the old one stops working); returns it."""
        name = name.strip().lower()
        secret = new_service_secret()
        if not await self.db.run_write(_reset, name, sha256_hex(secret), self.clock(), actor):
            raise ServiceError(f"Không có tài khoản dịch vụ / no such service account: {name}")
        return secret

    async def _service_state(self, name: str, account: str, address: str,
                             now: datetime) -> tuple[lockout.Counters, str | None]:
        """``_bind_state``, kept (``states.py``: a kept one is never locked) or read once."""
        stored = self.states.get_service(name, account, address)
        if stored is not None:
            return lockout.Counters(lockout.Counter(), lockout.Counter(), lockout.Counter()), stored
        epoch = self.states.epoch
        counters, stored = await self.db.run_small_read(_bind_state, address, account, name, now, self.login)
        self.states.keep_service(name, account, address, counters, stored, epoch, now)
        return counters, stored

    async def authenticate_service_certificate(self, name: str, subject: str, *, protocol: str = "ldap",
                                               client_ip: str = "", record_within: float = 0.0) -> ServiceCheck:
        """The login of a service account by a client certificate that TLS verified and
        ``ldap.certificate_map`` mapped to ``name`` (SASL EXTERNAL): nothing to guess, so
        nothing is counted, but the account must exist (a removed account's certificate
        binds no more) and the locks of its address hold; audited as the secret's
        login is, with ``via: certificate`` and the subject."""
        name = name.strip().lower()
        client = f"{protocol} {client_ip or '-'}"
        now = self.clock()
        address = self.client_address(client_ip)[0]
        account = _ACCOUNT_KEY + name
        # Whether the account exists (its removal is announced, so it binds no more).
        counters, stored = await self._service_state(name, account, address, now)
        if counters.address.locked(now) or counters.pair.locked(now):
            await self._audit("service.login.locked", name, name, {"protocol": protocol, "via": "certificate"},
                              client)
            return ServiceCheck(False, code="UNAVAILABLE",
                                message="Tạm khóa do đăng nhập sai nhiều lần / "
                                        "temporarily locked after too many failed logins")
        exists = stored is not None
        if exists and self.recent.repeat(account, protocol, client_ip, now, record_within):
            self.count_login(protocol, "ok")
            return ServiceCheck(True, name)
        details: dict[str, Any] = {"protocol": protocol, "via": "certificate", "subject": subject[:300]}
        if exists and record_within > 0:
            repeats = self.recent.recorded(account, protocol, client_ip, now)
            if repeats:
                details["repeats"] = repeats
        if not exists:
            details["reason"] = "unknown-service"

        def write(conn: Connection) -> None:
            if exists:
                conn.execute(update(service_accounts).where(service_accounts.c.name == name)
                             .values(last_used_at=now))
            audit.append(conn, at=now, action="service.login.ok" if exists else "service.login.failed", actor=name,
                         target=name, details=details, client=client)

        try:
            await self.db.run_write(write)
        except BaseException:
            self.recent.forget(account)
            raise
        self.count_login(protocol, "ok" if exists else "failed")
        event("service.login.ok" if exists else "service.login.failed", protocol=protocol, user=name,
              client=client_ip, via="certificate")
        if exists:
            return ServiceCheck(True, name)
        return ServiceCheck(False, code="AUTHENTICATIONFAILED",
                            message="Chứng chỉ ứng với tài khoản dịch vụ không còn tồn tại / the certificate maps to "
                                    "a service account that does not exist")

    async def authenticate_service(self, name: str, secret: str, *, protocol: str = "ldap", client_ip: str = "",
                                   secure: bool = True, record_within: float = 0.0) -> ServiceCheck:
        """The check of a service account's secret (an LDAP simple bind): TLS only, the
        client address's guessing counters, every attempt counted and audited; with
        ``record_within``, a success repeated from the same address within that many
        seconds is a count on the next record (``recent.py``), every failure a record."""
        name = name.strip().lower()
        client = f"{protocol} {client_ip or '-'}"
        now = self.clock()
        if not self.plaintext_allowed(secure, client_ip):
            await self._audit("service.login.refused", name, name, {"reason": "tls-required", "protocol": protocol},
                              client)
            return ServiceCheck(False, code="PRIVACYREQUIRED",
                                message="Phải dùng kết nối mã hóa (TLS) / an encrypted (TLS) connection is required")
        address = self.client_address(client_ip)[0]
        account = _ACCOUNT_KEY + name
        counters, stored = await self._service_state(name, account, address, now)
        if counters.address.locked(now) or counters.pair.locked(now):
            await self._audit("service.login.locked", name, name, {"protocol": protocol}, client)
            return ServiceCheck(False, code="UNAVAILABLE",
                                message="Tạm khóa do đăng nhập sai nhiều lần / "
                                        "temporarily locked after too many failed logins")
        ok = stored is not None and hmac.compare_digest(stored, sha256_hex(secret))
        login = self.login
        if ok and self.recent.repeat(account, protocol, client_ip, now, record_within):
            self.count_login(protocol, "ok")
            return ServiceCheck(True, name)
        details: dict[str, Any] = {"protocol": protocol}
        if ok and record_within > 0:
            repeats = self.recent.recorded(account, protocol, client_ip, now)
            if repeats:
                details["repeats"] = repeats
        elif not ok:
            self.recent.forget(account)

        def write(conn: Connection) -> tuple[lockout.Counter, lockout.Counter]:
            by_address = by_pair = lockout.Counter()
            if ok:
                conn.execute(update(service_accounts).where(service_accounts.c.name == name)
                             .values(last_used_at=now))
            else:
                # The same counters as a person's (lockout.py): this account from this
                # address, and the address over every account.
                audit.serialise(conn)
                attempt = lockout.fingerprint(name, secret)
                by_address, _newly = lockout.fail(conn, lockout.ADDRESS, address, now, login,
                                                  login.address_all_accounts_lock_after, attempt, leaking=True)
                by_pair, _newly = lockout.fail(conn, lockout.PAIR, lockout.pair_key(address, account), now, login,
                                               login.address_lock_after, attempt)
            audit.append(conn, at=now, action="service.login.ok" if ok else "service.login.failed", actor=name,
                         target=name, details=details, client=client)
            return by_address, by_pair

        try:
            by_address, by_pair = await self.db.run_write(write)
        except BaseException:
            self.recent.forget(account)  # not written: the next success must be
            raise
        self.count_login(protocol, "ok" if ok else "failed")
        event("service.login.ok" if ok else "service.login.failed", protocol=protocol, user=name, client=client_ip)
        if ok:
            return ServiceCheck(True, name)
        delay = lockout.failure_delay(by_address, by_pair, login)
        if delay:
            await self.sleep(delay)
        return ServiceCheck(False, code="AUTHENTICATIONFAILED", delay=delay,
                            message="Sai tên hoặc khóa bí mật / invalid name or secret")
