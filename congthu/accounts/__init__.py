"""Accounts: credentials and the one authentication core every door uses.

``Accounts.authenticate(username, password, protocol=..., client_ip=..., secure=...)`` is
the single login check of SMTP AUTH, IMAP, POP3, the web consoles and LDAP, so the rules
of the regulation hold on every path at once:

- plaintext passwords only over TLS (``secure``), or over loopback when the development
  setting ``system.dev_allow_plaintext_loopback`` is on (``make run``; never production);
- argon2id hashes (RFC 9106, argon2-cffi), parameters from ``[passwords]``; a hash made
  with other parameters is redone at the next successful login;
- SCRAM-SHA-256 keys (RFC 5802, RFC 7677) derived when a password is set, for ``sasl.py``;
- Điều 13.2: a new or reset account has a one-time password that must be changed at
  first login; a password older than ``max_age_days`` (30) has expired. Both give
  ``AuthStatus.EXPIRED`` with a message pointing to the change page ``/doi-mat-khau``.
  The rules for a new password are in ``passwords.py``; reminders in ``jobs.py``;
- guessing: per-address then per-account delays and locks (``lockout.py``). The delay is
  awaited inside ``authenticate`` and reported in ``AuthResult.delay``;
- a second factor (TOTP, RFC 6238, ``totp.py``) for the web protocols of users who turn
  it on; their mail clients then log in with app passwords;
- every success and failure is a record of the audit trail (``congthu.audit``).

Time comes from ``accounts.clock`` (a callable returning an aware UTC datetime) and delays
go through ``accounts.sleep``, so tests can move time forward.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import hmac
import secrets
import string
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import and_, bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from congthu import audit, metrics
from congthu.accounts import lockout, notices, scram, totp
from congthu.accounts.passwords import PasswordRejected, Refusal
from congthu.accounts.passwords import check as check_rules
from congthu.accounts.passwords import message as rule_message
from congthu.accounts.tables import (
    app_passwords,
    credentials,
    password_history,
    recovery_codes,
)
from congthu.accounts.tables import roles as roles_table
from congthu.accounts.tables import (
    totp as totp_table,
)
from congthu.accounts.verified import VerifiedPasswords
from congthu.config import PasswordSettings, Settings
from congthu.log import event
from congthu.store import Mailbox, MailStore, utcnow
from congthu.store import normalise_address as _normalise_address
from congthu.store.statements import TOUCH
from congthu.store.tables import mailboxes

__all__ = [
    "Accounts", "AuthResult", "AuthStatus", "Credential", "PasswordRejected", "Refusal",
    "change_password_url", "make_hasher", "one_time_password",
]

# Protocols of the web consoles: a second factor is asked there (if turned on).
WEB_PROTOCOLS = frozenset({"web", "webmail", "admin", "password"})


class AuthStatus(enum.Enum):
    OK = "ok"
    FAILED = "failed"  # wrong address or password (never say which)
    EXPIRED = "expired"  # must change the password first (Điều 13.2): RFC 5530 [EXPIRED]
    LOCKED = "locked"  # too many failures; try later
    DISABLED = "disabled"  # reclaimed or revoked mailbox


@dataclass(frozen=True)
class AuthResult:
    status: AuthStatus
    mailbox: Mailbox | None = None
    # Text for the user, Vietnamese then English.
    message: str = ""
    # RFC 5530 response code a door may show: AUTHENTICATIONFAILED, EXPIRED,
    # PRIVACYREQUIRED (plaintext without TLS), UNAVAILABLE (locked), CONTACTADMIN (disabled).
    code: str = ""
    # Seconds this attempt was held back before the answer (guessing protection).
    delay: float = 0.0
    # "password", "app-password", "scram" or "scram-app-password" when successful.
    via: str = ""

    @property
    def ok(self) -> bool:
        return self.status is AuthStatus.OK


def change_password_url(settings: Settings) -> str:
    """Where a user changes an expired or one-time password (the web page)."""
    port = settings.listen.https
    host = settings.system.hostname
    return f"https://{host}{'' if port in (0, 443) else f':{port}'}/doi-mat-khau"


def make_hasher(settings: PasswordSettings) -> PasswordHasher:
    return PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )


def one_time_password(length: int = 14) -> str:
    """A random password that satisfies Điều 13.2 (upper, lower, digit, special)."""
    alphabet = string.ascii_letters + string.digits + "!@#$%&*-_=+?"
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        if (any(c.isupper() for c in candidate) and any(c.islower() for c in candidate)
                and any(c.isdigit() for c in candidate)
                and any(not c.isalnum() for c in candidate)):
            return candidate


def new_app_password() -> str:
    """Four groups of four lower-case letters and digits (about 80 bits)."""
    alphabet = "abcdefghijkmnopqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@dataclass(frozen=True)
class Credential:
    mailbox_id: int
    password_hash: str
    must_change: bool
    changed_at: datetime
    scram_salt: str | None = None
    scram_iterations: int | None = None
    scram_stored_key: str | None = None
    scram_server_key: str | None = None
    reminded_days: int | None = None


@dataclass
class Verified:
    """What a credential check found, before lockout, expiry and audit decide."""

    mailbox: Mailbox | None  # set only when the credentials were right
    known: bool = False  # the username names a mailbox with a credential
    via: str = ""
    app_password_id: int | None = None
    # The credential that was checked (conclude need not read it again).
    credential: Credential | None = None
    # Updates to store on success: a hash with the current argon2 parameters, SCRAM keys.
    rehash: str | None = None
    scram_keys: scram.ScramKeys | None = None
    reason: str = "bad-credentials"
    hint: str = ""


@dataclass(frozen=True)
class ScramCandidate:
    via: str  # "scram" (the password) or "scram-app-password"
    app_password_id: int | None
    stored_key: bytes
    server_key: bytes


@dataclass
class ScramLookup:
    """What SCRAM needs before the client's proof: salt, iterations and the keys to try."""

    username: str
    salt: bytes
    iterations: int
    candidates: list[ScramCandidate] = field(default_factory=list)
    mailbox: Mailbox | None = None


class Accounts:
    def __init__(self, store: MailStore, settings: Settings) -> None:
        self.store = store
        self.config = settings
        self.settings = settings.passwords
        self.login = settings.login
        self.hasher = make_hasher(settings.passwords)
        self.verified = VerifiedPasswords(settings.login.verified_cache_seconds)
        # Injectable for tests: the time now (aware, UTC) and how delays are awaited.
        self.clock: Callable[[], datetime] = utcnow
        self.sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
        # For SCRAM salts of unknown users (same answer for the same name in one process).
        self._fake_salt_key = secrets.token_bytes(32)
        # Attempts refused by a lock and not yet in the audit trail: (kind, key) -> (count, last record).
        self._refused: dict[tuple[str, str], tuple[int, datetime | None]] = {}

    # -- the login check ----------------------------------------------------------------

    def plaintext_allowed(self, secure: bool, client_ip: str) -> bool:
        """May a password travel in the clear here? Over TLS yes; else only dev loopback."""
        return secure or (self.config.system.dev_allow_plaintext_loopback and lockout.is_loopback(client_ip))

    async def authenticate(
        self, username: str, password: str, *, protocol: str, client_ip: str = "", secure: bool = True,
        otp: str | None = None,
    ) -> AuthResult:
        """The one login check of every door (SMTP AUTH, IMAP, POP3, web, LDAP).

        ``secure``: the password arrived over TLS. ``otp``: the TOTP (or recovery) code,
        asked on the web protocols of users who turned the second factor on. On success
        records the access for the six-month rule (Điều 4.4). A password that must be
        changed (first login, reset) or is older than the limit (Điều 13.2) gives EXPIRED
        with a text that says where to change it. Every attempt is audited.
        """
        username = _normalise_address(username)
        refusal = await self.precheck(username, protocol=protocol, client_ip=client_ip,
                                      secure=secure, plaintext=True)
        if refusal is not None:
            return refusal
        verified = await self._verify(username, password, protocol, otp)
        return await self.conclude(username, verified, protocol=protocol, client_ip=client_ip,
                                   attempt=lockout.fingerprint(username, password))

    async def precheck(self, username: str, *, protocol: str, client_ip: str, secure: bool,
                       plaintext: bool) -> AuthResult | None:
        """Refusals decided before any credential is looked at: no TLS, a lock."""
        username = _normalise_address(username)
        client = f"{protocol} {client_ip or '-'}"
        if plaintext and not self.plaintext_allowed(secure, client_ip):
            await self._audit("login.refused", username, username, {"reason": "tls-required", "protocol": protocol},
                              client)
            return AuthResult(
                AuthStatus.FAILED, code="PRIVACYREQUIRED",
                message="Phải dùng kết nối mã hóa (TLS) để gửi mật khẩu / "
                        "a password may only be sent over an encrypted (TLS) connection",
            )
        now = self.clock()
        by_address, by_account = await self.store.db.run_small_read(
            lockout.read_both, lockout.address_key(client_ip), username, now, self.login)
        if by_address.locked(now) or by_account.locked(now):
            which = "address" if by_address.locked(now) else "account"
            key = lockout.address_key(client_ip) if which == "address" else username
            await self._audit_refusal(which, key, username, protocol, client, now)
            delay = lockout.delay_for(by_address.failures, self.login) if which == "address" else 0.0
            if delay:
                await self.sleep(delay)
            until = by_address.locked_until if which == "address" else by_account.locked_until
            assert until is not None
            minutes = max(1, int((until - now).total_seconds() // 60) + 1)
            return AuthResult(
                AuthStatus.LOCKED, code="UNAVAILABLE", delay=delay,
                message=f"Tạm khóa do đăng nhập sai nhiều lần, thử lại sau {minutes} phút / "
                        f"temporarily locked after too many failed logins, try again in {minutes} minutes",
            )
        return None

    async def _check_hash(self, hashed: str, password: str) -> bool:
        if self.verified.known(hashed, password):
            return True  # checked lately (verified.py): an HMAC, not argon2id again

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

    async def _dummy_verify(self, password: str) -> None:
        # Same work as a real check, so timing does not reveal which addresses exist.
        await self._check_hash(_DUMMY_HASH(self.hasher), password)

    async def _verify(self, username: str, password: str, protocol: str, otp: str | None) -> Verified:
        mailbox = await self.store.get_mailbox(username)
        cred = await self.credential(mailbox.id) if mailbox else None
        if mailbox is None or cred is None:
            await self._dummy_verify(password)
            return Verified(None, reason="unknown-user")
        two_factor = await self.totp_enabled(mailbox.id)
        web = protocol in WEB_PROTOCOLS
        if (not two_factor or web) and await self._check_hash(cred.password_hash, password):
            if two_factor and not (otp and await self.check_second_factor(mailbox.id, otp)):
                return Verified(None, known=True, reason="second-factor",
                                hint="Cần mã xác thực hai lớp / a two-factor code is required")
            verified = Verified(mailbox, known=True, via="password", credential=cred)
            if self.hasher.check_needs_rehash(cred.password_hash):
                verified.rehash = await asyncio.to_thread(self.hasher.hash, scram.normalise(password))
            if cred.scram_stored_key is None or cred.scram_iterations != self.settings.scram_iterations:
                salt = _b64decode(cred.scram_salt) if cred.scram_salt else scram.new_salt()
                verified.scram_keys = await asyncio.to_thread(
                    scram.derive, password, salt, self.settings.scram_iterations)
            return verified
        if not web:
            app_id = await self._app_password(mailbox.id, password)
            if app_id is not None:
                return Verified(mailbox, known=True, via="app-password", app_password_id=app_id)
        hint = ("Tài khoản đã bật xác thực hai lớp: hãy dùng mật khẩu ứng dụng / "
                "two-factor is on for this account: use an app password") if two_factor and not web else ""
        return Verified(None, known=True, hint=hint)

    def expired(self, cred: Credential, now: datetime | None = None) -> bool:
        """Điều 13.2: must change (one-time password), or older than max_age_days."""
        if cred.must_change:
            return True
        max_age = self.settings.max_age_days
        changed = _aware(cred.changed_at)
        assert changed is not None
        return bool(max_age) and (now or self.clock()) - changed >= timedelta(days=max_age)

    def expires_at(self, cred: Credential) -> datetime | None:
        changed = _aware(cred.changed_at)
        if not self.settings.max_age_days or changed is None:
            return None
        return changed + timedelta(days=self.settings.max_age_days)

    async def conclude(self, username: str, verified: Verified, *, protocol: str, client_ip: str,
                       attempt: str = "") -> AuthResult:
        """Count, lock, audit and answer, once the credentials were checked (any mechanism)."""
        username = _normalise_address(username)
        now = self.clock()
        client = f"{protocol} {client_ip or '-'}"
        address = lockout.address_key(client_ip)
        mailbox = verified.mailbox
        if mailbox is None:
            locks: list[tuple[str, str, lockout.Counter]] = []
            async with self.store.db.writer.begin() as conn:
                # One writer at a time (PostgreSQL): the counters are read, then written.
                await audit.serialise(conn)
                counter, newly = await lockout.fail(conn, lockout.ADDRESS, address, now, self.login,
                                                    self.login.address_lock_after, attempt)
                if newly:
                    locks.append((lockout.ADDRESS, address, counter))
                if verified.known:
                    account, newly_account = await lockout.fail(
                        conn, lockout.ACCOUNT, username, now, self.login, self.login.account_lock_after, attempt)
                    if newly_account:
                        locks.append((lockout.ACCOUNT, username, account))
                await audit.append(conn, at=now, action="login.failed", actor=username, target=username,
                                   details={"protocol": protocol, "reason": verified.reason,
                                            "address_failures": counter.failures}, client=client)
                for kind, key, c in locks:
                    await audit.append(conn, at=now, action="lockout.locked", actor="system", target=key,
                                       details={"kind": kind, "failures": c.failures,
                                                "until": c.locked_until}, client=client)
            for kind, key, c in locks:
                await self._alert_lock(kind, key, c, now)
            delay = lockout.delay_for(counter.failures, self.login)
            if delay:
                await self.sleep(delay)
            event("login.failed", protocol=protocol, user=username, client=client_ip, delay=delay)
            message = "Sai địa chỉ hoặc mật khẩu / invalid address or password"
            if verified.hint:
                message = f"{message}. {verified.hint}"
            metrics.logins.labels(protocol, "failed").inc()
            if counter.locked(now) or any(kind == lockout.ACCOUNT for kind, _k, _c in locks):
                return AuthResult(AuthStatus.LOCKED, code="UNAVAILABLE", delay=delay,
                                  message="Tạm khóa do đăng nhập sai nhiều lần / "
                                          "temporarily locked after too many failed logins")
            return AuthResult(AuthStatus.FAILED, code="AUTHENTICATIONFAILED", delay=delay, message=message)

        cred = verified.credential or await self.credential(mailbox.id)
        assert cred is not None
        if mailbox.status != "active":
            status, action = AuthStatus.DISABLED, "login.disabled"
        elif self.expired(cred, now):
            status, action = AuthStatus.EXPIRED, "login.expired"
        else:
            status, action = AuthStatus.OK, "login.ok"
        async with self.store.db.writer.begin() as conn:
            await lockout.clear(conn, lockout.ACCOUNT, username)
            values: dict[str, Any] = {}
            if verified.rehash:
                values["password_hash"] = verified.rehash
            if verified.scram_keys:
                keys = verified.scram_keys
                values.update(scram_salt=keys.salt_b64, scram_iterations=keys.iterations,
                              scram_stored_key=keys.stored_b64, scram_server_key=keys.server_b64)
            if values:
                await conn.execute(update(credentials).where(credentials.c.mailbox_id == mailbox.id)
                                   .values(**values))
            if verified.app_password_id is not None:
                await conn.execute(update(app_passwords).where(app_passwords.c.id == verified.app_password_id)
                                   .values(last_used_at=now))
            await audit.append(conn, at=now, action=action, actor=mailbox.address, target=mailbox.address,
                               details={"protocol": protocol, "via": verified.via,
                                        **({"rehashed": True} if verified.rehash else {})},
                               client=client)
            if status is AuthStatus.OK:
                # The access, for the six-month rule (Điều 4.4; MailStore.touch), in the
                # same transaction: one commit for a login, not two.
                await conn.execute(TOUCH, {"b_mailbox": mailbox.id, "b_when": now})
        event(action, protocol=protocol, user=mailbox.address, client=client_ip, via=verified.via)
        metrics.logins.labels(protocol, status.value).inc()
        if status is AuthStatus.DISABLED:
            return AuthResult(status, mailbox, code="CONTACTADMIN",
                              message="Hộp thư đã bị thu hồi hoặc khóa, hãy liên hệ quản trị / "
                                      "the mailbox was reclaimed or revoked, contact the administrator")
        if status is AuthStatus.EXPIRED:
            url = change_password_url(self.config)
            return AuthResult(
                status, mailbox, code="EXPIRED", via=verified.via,
                message=f"Mật khẩu đã hết hạn hoặc phải đổi, hãy đổi tại {url} / "
                        f"password expired or must be changed, change it at {url}",
            )
        return AuthResult(AuthStatus.OK, mailbox, via=verified.via)

    async def _audit_refusal(self, which: str, key: str, username: str, protocol: str, client: str,
                             now: datetime) -> None:
        """Audit attempts refused by a lock: the first at once, then one record a minute
        with the number refused since, so a flood cannot flood the trail (or the disk)."""
        pending, last = self._refused.get((which, key), (0, None))
        pending += 1
        if last is not None and now - last < timedelta(seconds=60):
            self._refused[(which, key)] = (pending, last)
            return
        self._refused[(which, key)] = (0, now)
        if len(self._refused) > 10000:
            self._refused.clear()
        await self._audit("login.locked", username, username,
                          {"lock": which, "protocol": protocol, "attempts": pending}, client)

    async def _audit(self, action: str, actor: str, target: str, details: dict[str, Any], client: str) -> None:
        async with self.store.db.writer.begin() as conn:
            await audit.append(conn, at=self.clock(), action=action, actor=actor, target=target,
                               details=details, client=client)

    async def admin_addresses(self) -> list[tuple[int, str]]:
        """(mailbox id, address) of the system administrators."""
        async with self.store.db.reader.connect() as conn:
            rows = (await conn.execute(
                select(mailboxes.c.id, mailboxes.c.address)
                .join(roles_table, roles_table.c.mailbox_id == mailboxes.c.id)
                .where(roles_table.c.role == "admin").distinct()
            )).all()
        return [(r.id, r.address) for r in rows]

    async def _alert_lock(self, kind: str, key: str, counter: lockout.Counter, now: datetime) -> None:
        event("login.locked", kind=kind, key=key, failures=counter.failures, until=counter.locked_until)
        if not self.login.alert_on_lock or counter.locked_until is None:
            return
        admins = await self.admin_addresses()
        if not admins:
            return
        raw = notices.lock_alert(self.config, [a for _i, a in admins], kind, key, counter.failures,
                                 counter.locked_until, now)
        try:
            await self.store.deliver(raw, [i for i, _a in admins], internal_date=now)
        except Exception as exc:  # an alert must never break a login answer
            event("login.alert_failed", error=str(exc))

    # -- SCRAM (see sasl.py) ------------------------------------------------------------

    async def scram_lookup(self, username: str, protocol: str) -> ScramLookup:
        """Salt, iteration count and the keys a SCRAM proof may match.

        An unknown user gets a stable made-up salt, so the exchange does not reveal which
        addresses exist. Users with the second factor on match only app passwords.
        """
        username = _normalise_address(username)
        iterations = self.settings.scram_iterations
        fake = hmac.new(self._fake_salt_key, username.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()[:16]
        mailbox = await self.store.get_mailbox(username)
        cred = await self.credential(mailbox.id) if mailbox else None
        if mailbox is None or cred is None or not cred.scram_salt:
            return ScramLookup(username, fake, iterations)
        lookup = ScramLookup(username, _b64decode(cred.scram_salt), cred.scram_iterations or iterations,
                             mailbox=mailbox)
        two_factor = await self.totp_enabled(mailbox.id)
        if not two_factor and cred.scram_stored_key and cred.scram_server_key:
            lookup.candidates.append(ScramCandidate("scram", None, _b64decode(cred.scram_stored_key),
                                                    _b64decode(cred.scram_server_key)))
        if protocol not in WEB_PROTOCOLS:
            async with self.store.db.reader.connect() as conn:
                rows = (await conn.execute(select(app_passwords).where(app_passwords.c.mailbox_id == mailbox.id))).all()
            for row in rows:
                lookup.candidates.append(ScramCandidate("scram-app-password", row.id,
                                                        _b64decode(row.scram_stored_key),
                                                        _b64decode(row.scram_server_key)))
        return lookup

    # -- passwords ----------------------------------------------------------------------

    async def set_password(self, mailbox_id: int, password: str, *, must_change: bool) -> None:
        """Store a password (no rules: see ``change_password``): argon2id hash, SCRAM keys,
        history; clears the reminder mark."""
        existing = await self.credential(mailbox_id)
        salt = _b64decode(existing.scram_salt) if existing and existing.scram_salt else scram.new_salt()
        hashed = await asyncio.to_thread(self.hasher.hash, scram.normalise(password))
        keys = await asyncio.to_thread(scram.derive, password, salt, self.settings.scram_iterations)
        now = self.clock()
        values = dict(password_hash=hashed, must_change=must_change, changed_at=now, reminded_days=None,
                      scram_salt=keys.salt_b64, scram_iterations=keys.iterations,
                      scram_stored_key=keys.stored_b64, scram_server_key=keys.server_b64)
        async with self.store.db.writer.begin() as conn:
            result = await conn.execute(
                update(credentials).where(credentials.c.mailbox_id == mailbox_id).values(**values)
            )
            if not result.rowcount:
                await conn.execute(insert(credentials).values(mailbox_id=mailbox_id, **values))
            await conn.execute(insert(password_history).values(mailbox_id=mailbox_id, password_hash=hashed,
                                                               set_at=now))
            keep = max(self.settings.history, 1)
            old = (await conn.execute(
                select(password_history.c.id).where(password_history.c.mailbox_id == mailbox_id)
                .order_by(password_history.c.id.desc()).offset(keep)
            )).scalars().all()
            if old:
                await conn.execute(delete(password_history).where(password_history.c.id.in_(old)))

    async def check_new_password(self, mailbox: Mailbox, password: str, *,
                                 names: list[str] | None = None) -> list[Refusal]:
        """Every Điều 13.2 rule the new password breaks, the history included."""
        refusals = check_rules(password, self.settings, address=mailbox.address,
                               names=[mailbox.display_name, *(names or [])])
        if self.settings.history:
            async with self.store.db.reader.connect() as conn:
                hashes = (await conn.execute(
                    select(password_history.c.password_hash).where(password_history.c.mailbox_id == mailbox.id)
                    .order_by(password_history.c.id.desc()).limit(self.settings.history)
                )).scalars().all()
            for hashed in hashes:
                if await self._check_hash(hashed, password):
                    refusals.append(Refusal("history", rule_message("history", self.settings)))
                    break
        return refusals

    async def change_password(self, mailbox_id: int, new_password: str, *, actor: str, client: str = "",
                              names: list[str] | None = None) -> None:
        """Apply the rules, store the password and clear the must-change mark; raises
        PasswordRejected with every broken rule. The caller checked the current password
        (the page) or the caller's authority (the CLI)."""
        mailbox = await self.store.get_mailbox_by_id(mailbox_id)
        if mailbox is None:
            raise KeyError(mailbox_id)
        refusals = await self.check_new_password(mailbox, new_password, names=names)
        if refusals:
            await self._audit("password.refused", actor, mailbox.address,
                              {"rules": [r.rule for r in refusals]}, client)
            raise PasswordRejected(refusals)
        await self.set_password(mailbox_id, new_password, must_change=False)
        await self._audit("password.changed", actor, mailbox.address, {}, client)

    async def reset_password(self, mailbox_id: int, *, actor: str, client: str = "") -> str:
        """A new one-time password that must be changed at first login (Điều 13.2, 4.1)."""
        mailbox = await self.store.get_mailbox_by_id(mailbox_id)
        if mailbox is None:
            raise KeyError(mailbox_id)
        password = one_time_password()
        await self.set_password(mailbox_id, password, must_change=True)
        async with self.store.db.writer.begin() as conn:
            await lockout.clear(conn, lockout.ACCOUNT, mailbox.address)
            await audit.append(conn, at=self.clock(), action="password.reset", actor=actor,
                               target=mailbox.address, details={}, client=client)
        return password

    async def unlock(self, key: str, *, actor: str, client: str = "") -> int:
        """Lift the lock and counters of an account (an address with @) or a client address."""
        if "@" in key:
            kind, key = lockout.ACCOUNT, _normalise_address(key)
        else:
            kind, key = lockout.ADDRESS, lockout.address_key(key)
        async with self.store.db.writer.begin() as conn:
            count = await lockout.clear(conn, kind, key)
            await audit.append(conn, at=self.clock(), action="lockout.unlocked", actor=actor, target=key,
                               details={"kind": kind, "cleared": count}, client=client)
        return count

    async def credential(self, mailbox_id: int) -> Credential | None:
        row = await self.store.db.run_small_read(_first, _CREDENTIAL, mailbox_id)
        if row is None:
            return None
        return Credential(row.mailbox_id, row.password_hash, row.must_change, _aware(row.changed_at) or self.clock(),
                          row.scram_salt, row.scram_iterations, row.scram_stored_key, row.scram_server_key,
                          row.reminded_days)

    async def verify_password(self, address: str, password: str) -> Mailbox | None:
        """The mailbox if the password is right and the mailbox active, else None (no
        lockout, no audit: for re-checks inside an open session, not for logins)."""
        mailbox = await self.store.get_mailbox(address)
        cred = await self.credential(mailbox.id) if mailbox else None
        if mailbox is None or cred is None or mailbox.status != "active":
            await self._dummy_verify(password)
            return None
        return mailbox if await self._check_hash(cred.password_hash, password) else None

    # -- second factor and app passwords --------------------------------------------------

    async def totp_enabled(self, mailbox_id: int) -> bool:
        row = await self.store.db.run_small_read(_first, _TOTP_ENABLED, mailbox_id)
        return bool(row and row.enabled)

    async def totp_begin(self, mailbox_id: int) -> str:
        """Start enrolment: a new secret, not enforced until ``totp_confirm``."""
        secret = totp.new_secret()
        async with self.store.db.writer.begin() as conn:
            await conn.execute(delete(totp_table).where(totp_table.c.mailbox_id == mailbox_id))
            await conn.execute(insert(totp_table).values(mailbox_id=mailbox_id, secret=secret, enabled=False,
                                                         created_at=self.clock(), last_step=0))
        return secret

    async def totp_confirm(self, mailbox_id: int, code: str, *, actor: str) -> list[str] | None:
        """Turn the second factor on with a first valid code; returns the recovery codes."""
        async with self.store.db.writer.begin() as conn:
            row = (await conn.execute(select(totp_table).where(totp_table.c.mailbox_id == mailbox_id))).first()
            if row is None:
                return None
            step = totp.match(row.secret, code, self.clock().timestamp(), row.last_step)
            if step is None:
                return None
            codes = totp.new_recovery_codes()
            await conn.execute(update(totp_table).where(totp_table.c.mailbox_id == mailbox_id)
                               .values(enabled=True, last_step=step))
            await conn.execute(delete(recovery_codes).where(recovery_codes.c.mailbox_id == mailbox_id))
            await conn.execute(insert(recovery_codes), [
                {"mailbox_id": mailbox_id, "code_hash": totp.recovery_hash(c)} for c in codes])
            mailbox = await self.store.get_mailbox_by_id(mailbox_id)
            await audit.append(conn, at=self.clock(), action="totp.enabled", actor=actor,
                               target=mailbox.address if mailbox else str(mailbox_id), details={})
        return codes

    async def totp_disable(self, mailbox_id: int, *, actor: str) -> None:
        mailbox = await self.store.get_mailbox_by_id(mailbox_id)
        async with self.store.db.writer.begin() as conn:
            await conn.execute(delete(totp_table).where(totp_table.c.mailbox_id == mailbox_id))
            await conn.execute(delete(recovery_codes).where(recovery_codes.c.mailbox_id == mailbox_id))
            await audit.append(conn, at=self.clock(), action="totp.disabled", actor=actor,
                               target=mailbox.address if mailbox else str(mailbox_id), details={})

    async def check_second_factor(self, mailbox_id: int, code: str) -> bool:
        """A current TOTP code (once only, RFC 6238 section 5.2) or an unused recovery code."""
        async with self.store.db.writer.begin() as conn:
            row = (await conn.execute(select(totp_table).where(totp_table.c.mailbox_id == mailbox_id))).first()
            if row is None:
                return False
            step = totp.match(row.secret, code, self.clock().timestamp(), row.last_step)
            if step is not None:
                await conn.execute(update(totp_table).where(totp_table.c.mailbox_id == mailbox_id)
                                   .values(last_step=step))
                return True
            used = await conn.execute(update(recovery_codes).where(and_(
                recovery_codes.c.mailbox_id == mailbox_id, recovery_codes.c.code_hash == totp.recovery_hash(code),
                recovery_codes.c.used_at.is_(None))).values(used_at=self.clock()))
            return bool(used.rowcount)

    async def add_app_password(self, mailbox_id: int, label: str, *, actor: str) -> str:
        """A new app password for a mail client; shown once, stored as SHA-256 and SCRAM keys."""
        cred = await self.credential(mailbox_id)
        if cred is None:
            raise KeyError(mailbox_id)
        password = new_app_password()
        salt = _b64decode(cred.scram_salt) if cred.scram_salt else scram.new_salt()
        keys = await asyncio.to_thread(scram.derive, password, salt, cred.scram_iterations or self.settings.scram_iterations)
        mailbox = await self.store.get_mailbox_by_id(mailbox_id)
        async with self.store.db.writer.begin() as conn:
            await conn.execute(insert(app_passwords).values(
                mailbox_id=mailbox_id, label=label[:100], password_hash=_sha256(password),
                scram_stored_key=keys.stored_b64, scram_server_key=keys.server_b64, created_at=self.clock()))
            await audit.append(conn, at=self.clock(), action="app_password.added", actor=actor,
                               target=mailbox.address if mailbox else str(mailbox_id), details={"label": label})
        return password

    async def list_app_passwords(self, mailbox_id: int) -> list[dict[str, Any]]:
        async with self.store.db.reader.connect() as conn:
            rows = (await conn.execute(select(app_passwords).where(app_passwords.c.mailbox_id == mailbox_id)
                                       .order_by(app_passwords.c.id))).all()
        return [{"id": r.id, "label": r.label, "created_at": _aware(r.created_at),
                 "last_used_at": _aware(r.last_used_at)} for r in rows]

    async def revoke_app_password(self, mailbox_id: int, app_password_id: int, *, actor: str) -> bool:
        mailbox = await self.store.get_mailbox_by_id(mailbox_id)
        async with self.store.db.writer.begin() as conn:
            result = await conn.execute(delete(app_passwords).where(and_(
                app_passwords.c.mailbox_id == mailbox_id, app_passwords.c.id == app_password_id)))
            if result.rowcount:
                await audit.append(conn, at=self.clock(), action="app_password.revoked", actor=actor,
                                   target=mailbox.address if mailbox else str(mailbox_id),
                                   details={"id": app_password_id})
        return bool(result.rowcount)

    async def _app_password(self, mailbox_id: int, password: str) -> int | None:
        async with self.store.db.reader.connect() as conn:
            row = (await conn.execute(select(app_passwords.c.id).where(and_(
                app_passwords.c.mailbox_id == mailbox_id,
                app_passwords.c.password_hash == _sha256(password.strip()))))).first()
        return row.id if row else None

    # -- reminders (see jobs.py) --------------------------------------------------------

    async def mark_reminded(self, conn: AsyncConnection, mailbox_id: int, days: int) -> None:
        await conn.execute(update(credentials).where(credentials.c.mailbox_id == mailbox_id)
                           .values(reminded_days=days))


# Read before every login, by mailbox id (run_small_read: no hop to a reader thread).
_CREDENTIAL = select(credentials).where(credentials.c.mailbox_id == bindparam("b_mailbox"))
_TOTP_ENABLED = select(totp_table.c.enabled).where(totp_table.c.mailbox_id == bindparam("b_mailbox"))


def _first(conn: Connection, statement: Any, mailbox_id: int) -> Any:
    return conn.execute(statement, {"b_mailbox": mailbox_id}).first()


def _b64decode(value: str) -> bytes:
    import base64

    return base64.b64decode(value)


_dummy: dict[int, str] = {}


def _DUMMY_HASH(hasher: PasswordHasher) -> str:  # noqa: N802
    key = id(hasher)
    if key not in _dummy:
        _dummy[key] = hasher.hash(secrets.token_hex(8))
    return _dummy[key]
