"""The one login check of every door (SMTP AUTH, IMAP, POP3, the web pages, LDAP).

``authenticate`` = the checks of ``precheck`` (TLS, locks) + ``_verify`` (the credentials) +
``conclude`` (counters, expiry, audit, the answer), with what they read of the database
(the counters, the mailbox, its credential and second factor) read in one transaction
(``read_login_state``). SASL mechanisms that check the credentials
themselves (SCRAM, ``sasl.py``) call ``precheck``, ``scram_lookup`` and ``conclude``, so
each attempt is counted, audited and answered in one place, once per login, whatever
the door (``congthu_logins_total`` is counted here and nowhere else).
``authenticate_kept`` is ``authenticate``'s answer for the one case decided without the
database or a write (a repeated success from what is kept), as a plain call for doors
whose clients log in per request (LDAP); every other case is left to ``authenticate``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from congthu import audit
from congthu.accounts import credentials as sql
from congthu.accounts import lockout, notices, roles, scram
from congthu.accounts.base import b64decode
from congthu.accounts.model import (
    WEB_PROTOCOLS,
    AuthResult,
    AuthStatus,
    Credential,
    ScramCandidate,
    ScramLookup,
    Verified,
    aware,
    change_password_url,
    credential_of,
)
from congthu.accounts.second_factor import SecondFactor
from congthu.accounts.states import KeptLogin
from congthu.config import LoginSettings
from congthu.log import event
from congthu.store import Mailbox, normalise_address
from congthu.store.access import record_access
from congthu.store.lookup import addresses_of, mailbox_by_address

# Kept states whose fixed part ``authenticate_kept`` remembers (``_kept_plan``) at once.
MAX_KEPT_PLANS = 10_000


@dataclass(frozen=True)
class LoginState:
    """What a password login reads before it decides: the guessing counters, the mailbox
    of the name, its credential row and whether its second factor is on."""

    counters: lockout.Counters
    mailbox: Mailbox | None = None
    credential: Credential | None = None
    two_factor: bool = False


def read_login_state(conn: Connection, address: str, username: str, now: datetime,
                     settings: LoginSettings) -> LoginState:
    """The state a login is decided on, in one read transaction (``run_small_read``: on
    SQLite on the event loop's own connection), instead of one transaction for each
    part: a bind of an application server is mostly these reads. Under a lock nothing
    more than the counters is read (the attempt is refused without a credential check)."""
    counters = lockout.read_counters(conn, address, username, now, settings)
    if counters.lock(now) is not None:
        return LoginState(counters)
    mailbox = mailbox_by_address(conn, username)
    if mailbox is None:
        return LoginState(counters)
    row, two_factor = sql.credential_and_totp(conn, mailbox.id)
    return LoginState(counters, mailbox, credential_of(row, now), two_factor)


class LoginChecks(SecondFactor):
    async def authenticate(
        self, username: str, password: str, *, protocol: str, client_ip: str = "", secure: bool = True,
        otp: str | None = None, record_within: float = 0.0,
    ) -> AuthResult:
        """The one login check of every door (SMTP AUTH, IMAP, POP3, web, LDAP).

        ``secure``: the password arrived over TLS. ``otp``: the TOTP (or recovery) code,
        asked on the web protocols of users who turned the second factor on. On success
        records the access for the six-month rule (Điều 4.4). A password that must be
        changed (first login, reset, any password set by someone else) or is older than
        the limit (Điều 13.2) gives EXPIRED with a text that says where to change it.
        Every attempt is audited; ``record_within`` (seconds, for doors whose clients log
        in per request: LDAP) writes a repeated success of the same account from the same
        address within that time as a count on the next record (``recent.py``).
        """
        username = normalise_address(username)
        refusal = await self._plaintext_refusal(username, protocol, client_ip, secure, plaintext=True)
        if refusal is not None:
            return refusal
        now = self.clock()
        address = self.client_address(client_ip)[0]
        # The counters, the mailbox, its credential and second factor: kept (states.py),
        # else one read.
        state: LoginState | KeptLogin | None = self.states.get(username, address)
        if state is None:
            epoch = self.states.epoch
            state = await self.db.run_small_read(read_login_state, address, username, now, self.login)
            self.states.keep(username, address, state.counters, state.mailbox, state.credential, state.two_factor,
                             epoch, now)
        refusal = await self._lock_refusal(state.counters, address, username, protocol, client_ip, now)
        if refusal is not None:
            return refusal
        verified = await self._verify(password, protocol, otp, state.mailbox, state.credential, state.two_factor)
        # The fingerprint of a wrong password (``lockout.fail``: the same one again counts once).
        attempt = lockout.fingerprint(username, password) if verified.mailbox is None else ""
        return await self.conclude(username, verified, protocol=protocol, client_ip=client_ip, attempt=attempt,
                                   record_within=record_within)

    def authenticate_kept(self, username: str, password: str, *, protocol: str, client_ip: str = "",
                          secure: bool = True, record_within: float = 0.0) -> AuthResult | None:
        """``authenticate``'s answer when every part of it is kept and nothing is to be
        written, without awaiting: the login state kept (``states.py``: no counter
        locked), the password verified lately (``verified.py``), no second factor, no
        rehash nor SCRAM keys to store, the mailbox active, the password not expired and
        a success of this account from this address written lately (``recent.py``). Then
        the success is counted as ``conclude`` counts a repeat and returned; otherwise
        None, and the caller runs ``authenticate`` (which decides every other case: a
        refusal, a wrong password, a first login, a write). For doors whose clients log
        in per request (an LDAP bind per page, issue 16): no coroutine chain for them."""
        username = normalise_address(username)
        if not self.plaintext_allowed(secure, client_ip):
            return None  # refused, and the refusal is audited: ``authenticate``
        if record_within <= 0:
            return None  # every success is written
        address = self.client_address(client_ip)[0]
        state = self.states.get(username, address)
        if state is None:
            return None
        settings = self.settings
        plan = self._kept_plans.get(id(state))
        if (plan is None or plan[0] is not state or plan[1] is not self.hasher
                or plan[2] != settings.scram_iterations or plan[3] != settings.max_age_days):
            plan = self._kept_plan(state)
        if not plan[4]:
            return None
        if not self.verified.known(state.credential.password_hash, password):
            return None
        now = self.clock()
        expires = plan[5]
        if (expires is not None and now >= expires) or not self.recent.repeat(username, protocol, client_ip, now,
                                                                              record_within):
            return None
        # As ``conclude`` for a success written lately: counted, not written.
        self.count_login(protocol, AuthStatus.OK.value)
        mailbox = state.mailbox
        self.on_login(mailbox.id, protocol)
        return AuthResult(AuthStatus.OK, mailbox, via="password")

    def _kept_plan(self, state: KeptLogin) -> tuple[KeptLogin, Any, int, int, bool, datetime | None]:
        """What ``authenticate_kept`` decides of a kept state that is the same for every
        login of it, worked out once per state and settings (the state is frozen; a
        change of the account is a new state, ``states.py``): (the state, the hasher,
        the SCRAM iterations and the maximum age it was worked out for, whether the
        kept path may answer at all (no second factor, the mailbox active, no SCRAM
        keys to store, no rehash, no must-change mark: Điều 13.2), and the instant the
        password expires at, None if never: ``expired`` with the time now is ``now >=``
        that instant)."""
        settings = self.settings
        mailbox, cred = state.mailbox, state.credential
        usable = (not state.two_factor and mailbox.status == "active" and cred.scram_stored_key is not None
                  and cred.scram_iterations == settings.scram_iterations
                  and not self.needs_rehash(cred.password_hash) and not cred.must_change)
        max_age = settings.max_age_days
        changed = aware(cred.changed_at)
        assert changed is not None
        expires = changed + timedelta(days=max_age) if max_age else None
        plan = (state, self.hasher, settings.scram_iterations, max_age, usable, expires)
        plans = self._kept_plans
        if len(plans) >= MAX_KEPT_PLANS:
            plans.clear()
        plans[id(state)] = plan
        return plan

    async def precheck(self, username: str, *, protocol: str, client_ip: str, secure: bool,
                       plaintext: bool) -> AuthResult | None:
        """Refusals decided before any credential is looked at: no TLS, a lock."""
        username = normalise_address(username)
        refusal = await self._plaintext_refusal(username, protocol, client_ip, secure, plaintext=plaintext)
        if refusal is not None:
            return refusal
        now = self.clock()
        address = self.client_address(client_ip)[0]
        counters = await self.db.run_small_read(lockout.read_counters, address, username, now, self.login)
        return await self._lock_refusal(counters, address, username, protocol, client_ip, now)

    async def _plaintext_refusal(self, username: str, protocol: str, client_ip: str, secure: bool, *,
                                 plaintext: bool) -> AuthResult | None:
        """A password sent in the clear where that is not allowed: refused, audited."""
        if not plaintext or self.plaintext_allowed(secure, client_ip):
            return None
        await self._audit("login.refused", username, username, {"reason": "tls-required", "protocol": protocol},
                          f"{protocol} {client_ip or '-'}")
        self.count_login(protocol, "failed")
        return AuthResult(
            AuthStatus.FAILED, code="PRIVACYREQUIRED",
            message="Phải dùng kết nối mã hóa (TLS) để gửi mật khẩu / "
                    "a password may only be sent over an encrypted (TLS) connection",
        )

    async def _lock_refusal(self, counters: lockout.Counters, address: str, username: str, protocol: str,
                            client_ip: str, now: datetime) -> AuthResult | None:
        """A lock of the address, the (address, account) pair or the account: refused,
        audited (``_audit_refusal``), held back by the failure delay."""
        lock = counters.lock(now)
        client = f"{protocol} {client_ip or '-'}"
        if lock is not None:
            which, counter = lock
            key = {lockout.ADDRESS: address, lockout.PAIR: lockout.pair_key(address, username)}.get(which, username)
            await self._audit_refusal(which, key, username, protocol, client, now)
            self.count_login(protocol, "locked")
            delay = lockout.failure_delay(counters.address, counters.pair, self.login) if which != lockout.ACCOUNT \
                else 0.0
            if delay:
                await self.sleep(delay)
            until = counter.locked_until
            assert until is not None
            minutes = max(1, int((until - now).total_seconds() // 60) + 1)
            return AuthResult(
                AuthStatus.LOCKED, code="UNAVAILABLE", delay=delay,
                message=f"Tạm khóa do đăng nhập sai nhiều lần, thử lại sau {minutes} phút / "
                        f"temporarily locked after too many failed logins, try again in {minutes} minutes",
            )
        return None

    async def _verify(self, password: str, protocol: str, otp: str | None, mailbox: Mailbox | None,
                      cred: Credential | None, two_factor: bool) -> Verified:
        """Check the password (or app password, and the second factor on the web) of a
        mailbox against what ``read_login_state`` found."""
        if mailbox is None or cred is None:
            await self._dummy_verify(password)
            return Verified(None, reason="unknown-user")
        web = protocol in WEB_PROTOCOLS
        if (not two_factor or web) and await self._check_hash(cred.password_hash, password):
            if two_factor and not (otp and await self.check_second_factor(mailbox.id, otp)):
                return Verified(None, known=True, reason="second-factor",
                                hint="Cần mã xác thực hai lớp / a two-factor code is required")
            verified = Verified(mailbox, known=True, via="password", credential=cred)
            if self.needs_rehash(cred.password_hash):
                verified.rehash = await asyncio.to_thread(self.hasher.hash, scram.normalise(password))
            if cred.scram_stored_key is None or cred.scram_iterations != self.settings.scram_iterations:
                salt = b64decode(cred.scram_salt) if cred.scram_salt else scram.new_salt()
                verified.scram_keys = await asyncio.to_thread(
                    scram.derive, password, salt, self.settings.scram_iterations)
            return verified
        if not web:
            app_id = await self._app_password(mailbox.id, password)
            if app_id is not None:
                return Verified(mailbox, known=True, via="app-password", app_password_id=app_id, credential=cred)
        hint = ("Tài khoản đã bật xác thực hai lớp: hãy dùng mật khẩu ứng dụng / "
                "two-factor is on for this account: use an app password") if two_factor and not web else ""
        return Verified(None, known=True, hint=hint)

    async def conclude(self, username: str, verified: Verified, *, protocol: str, client_ip: str,
                       attempt: str = "", record_within: float = 0.0) -> AuthResult:
        """Count, lock, audit and answer, once the credentials were checked (any mechanism)."""
        username = normalise_address(username)
        mailbox = verified.mailbox
        if mailbox is None:
            return await self._failed(username, verified, protocol, client_ip, attempt)
        now = self.clock()
        client = f"{protocol} {client_ip or '-'}"
        cred = verified.credential or await self.credential(mailbox.id)
        assert cred is not None
        if mailbox.status != "active":
            status, action = AuthStatus.DISABLED, "login.disabled"
        elif self.expired(cred, now):
            status, action = AuthStatus.EXPIRED, "login.expired"
        else:
            status, action = AuthStatus.OK, "login.ok"
        values: dict[str, Any] = {}
        if verified.rehash:
            values["password_hash"] = verified.rehash
        if verified.scram_keys:
            keys = verified.scram_keys
            values.update(scram_salt=keys.salt_b64, scram_iterations=keys.iterations,
                          scram_stored_key=keys.stored_b64, scram_server_key=keys.server_b64)
        if (status is AuthStatus.OK and not values and verified.app_password_id is None
                and self.recent.repeat(username, protocol, client_ip, now, record_within)):
            # Written lately for this account and address (recent.py): counted only.
            self.count_login(protocol, status.value)
            self.on_login(mailbox.id, protocol)
            return AuthResult(AuthStatus.OK, mailbox, via=verified.via)
        details: dict[str, Any] = {"protocol": protocol, "via": verified.via,
                                   **({"rehashed": True} if verified.rehash else {})}
        if status is AuthStatus.OK and record_within > 0:
            repeats = self.recent.recorded(username, protocol, client_ip, now)
            if repeats:
                details["repeats"] = repeats

        def write(conn: Connection) -> None:
            # The audit writer's lock before the counters' rows, as ``_failed`` takes them
            # (PostgreSQL): taken after, a success and a failure of one account at once
            # waited for each other (a deadlock, seen under the audit test's load).
            audit.serialise(conn)
            lockout.clear(conn, lockout.ACCOUNT, username)
            sql.after_login(conn, mailbox.id, values, verified.app_password_id, now)
            audit.append(conn, at=now, action=action, actor=mailbox.address, target=mailbox.address,
                         details=details, client=client)
            if status is AuthStatus.OK:
                # The access, for the six-month rule (Điều 4.4), in the same transaction:
                # one commit for a login, not two.
                record_access(conn, mailbox.id, now)

        try:
            await self.db.run_write(write)
        except BaseException:
            self.recent.forget(username)  # not written: the next success must be
            raise
        event(action, protocol=protocol, user=mailbox.address, client=client_ip, via=verified.via)
        self.count_login(protocol, status.value)
        if status is AuthStatus.OK:
            self.on_login(mailbox.id, protocol)
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

    async def _failed(self, username: str, verified: Verified, protocol: str, client_ip: str,
                      attempt: str) -> AuthResult:
        now = self.clock()
        client = f"{protocol} {client_ip or '-'}"
        address = self.client_address(client_ip)[0]
        login = self.login
        self.recent.forget(username)

        def write(conn: Connection) -> tuple[lockout.Counter, lockout.Counter,
                                             list[tuple[str, str, lockout.Counter]]]:
            locks: list[tuple[str, str, lockout.Counter]] = []
            # One writer at a time (PostgreSQL): the counters are read, then written.
            audit.serialise(conn)
            by_address, newly = lockout.fail(conn, lockout.ADDRESS, address, now, login,
                                             login.address_all_accounts_lock_after, attempt, leaking=True)
            if newly:
                locks.append((lockout.ADDRESS, address, by_address))
            pair = lockout.pair_key(address, username)
            by_pair, newly = lockout.fail(conn, lockout.PAIR, pair, now, login, login.address_lock_after, attempt)
            if newly:
                locks.append((lockout.PAIR, pair, by_pair))
            if verified.known:
                account, newly_account = lockout.fail(conn, lockout.ACCOUNT, username, now, login,
                                                      login.account_lock_after, attempt)
                if newly_account:
                    locks.append((lockout.ACCOUNT, username, account))
            audit.append(conn, at=now, action="login.failed", actor=username, target=username,
                         details={"protocol": protocol, "reason": verified.reason,
                                  "address_failures": by_pair.failures,
                                  "all_accounts_failures": by_address.failures}, client=client)
            for kind, key, c in locks:
                audit.append(conn, at=now, action="lockout.locked", actor="system",
                             target=address if kind == lockout.PAIR else key,
                             details={"kind": kind, "failures": c.failures, "until": c.locked_until,
                                      **({"account": username} if kind == lockout.PAIR else {})},
                             client=client)
            return by_address, by_pair, locks

        by_address, by_pair, locks = await self.db.run_write(write)
        for kind, key, c in locks:
            await self._alert_lock(kind, key, c, now)
        delay = lockout.failure_delay(by_address, by_pair, login)
        if delay:
            await self.sleep(delay)
        event("login.failed", protocol=protocol, user=username, client=client_ip, delay=delay)
        message = "Sai địa chỉ hoặc mật khẩu / invalid address or password"
        if verified.hint:
            message = f"{message}. {verified.hint}"
        self.count_login(protocol, "failed")
        if by_address.locked(now) or by_pair.locked(now) or any(kind == lockout.ACCOUNT for kind, _k, _c in locks):
            return AuthResult(AuthStatus.LOCKED, code="UNAVAILABLE", delay=delay,
                              message="Tạm khóa do đăng nhập sai nhiều lần / "
                                      "temporarily locked after too many failed logins")
        return AuthResult(AuthStatus.FAILED, code="AUTHENTICATIONFAILED", delay=delay, message=message)

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

    async def admin_addresses(self) -> list[tuple[int, str]]:
        """(mailbox id, address) of the system administrators."""
        def read(conn: Connection) -> list[tuple[int, str]]:
            found = addresses_of(conn, roles.holders(conn, roles.ADMIN))
            return sorted(found.items())

        return await self.db.run_read(read)

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
        username = normalise_address(username)
        iterations = self.settings.scram_iterations
        fake = hmac.new(self._fake_salt_key, username.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()[:16]
        mailbox = await self.store.get_mailbox(username)
        cred = await self.credential(mailbox.id) if mailbox else None
        if mailbox is None or cred is None or not cred.scram_salt:
            return ScramLookup(username, fake, iterations)
        lookup = ScramLookup(username, b64decode(cred.scram_salt), cred.scram_iterations or iterations,
                             mailbox=mailbox)
        two_factor = await self.totp_enabled(mailbox.id)
        if not two_factor and cred.scram_stored_key and cred.scram_server_key:
            lookup.candidates.append(ScramCandidate("scram", None, b64decode(cred.scram_stored_key),
                                                    b64decode(cred.scram_server_key)))
        if protocol not in WEB_PROTOCOLS:
            for row in await self.db.run_read(sql.app_password_rows, mailbox.id):
                lookup.candidates.append(ScramCandidate("scram-app-password", row.id,
                                                        b64decode(row.scram_stored_key),
                                                        b64decode(row.scram_server_key)))
        return lookup

    async def verify_password(self, address: str, password: str) -> Mailbox | None:
        """The mailbox if the password is right and the mailbox active, else None (no
        lockout, no audit: for re-checks inside an open session, not for logins)."""
        mailbox = await self.store.get_mailbox(address)
        cred = await self.credential(mailbox.id) if mailbox else None
        if mailbox is None or cred is None or mailbox.status != "active":
            await self._dummy_verify(password)
            return None
        return mailbox if await self._check_hash(cred.password_hash, password) else None
