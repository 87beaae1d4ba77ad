"""Accounts: credentials and the one authentication core every door uses.

(Foundation version: argon2id hashes, one-time passwords and must-change. The password
rules of Điều 13.2, lockout, roles, TOTP and the audit trail build on this.)
"""

from __future__ import annotations

import secrets
import string
import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import insert, select, update

from congthu.accounts.tables import credentials
from congthu.config import PasswordSettings, Settings
from congthu.store import MailStore, Mailbox, utcnow


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


@dataclass(frozen=True)
class Credential:
    mailbox_id: int
    password_hash: str
    must_change: bool
    changed_at: datetime


class Accounts:
    def __init__(self, store: MailStore, settings: Settings) -> None:
        self.store = store
        self.config = settings
        self.settings = settings.passwords
        self.hasher = make_hasher(settings.passwords)

    async def authenticate(
        self, username: str, password: str, *, protocol: str, client_ip: str = "", secure: bool = True,
    ) -> AuthResult:
        """The one login check of every door (SMTP AUTH, IMAP, POP3, web, LDAP).

        On success records the access for the six-month rule (Điều 4.4). A password that
        must be changed (first login, reset) or is older than the limit (Điều 13.2) gives
        EXPIRED with a text that says where to change it.
        """
        mailbox = await self.verify_password(username, password)
        if mailbox is None:
            return AuthResult(AuthStatus.FAILED, message="Sai địa chỉ hoặc mật khẩu / invalid address or password")
        cred = await self.credential(mailbox.id)
        assert cred is not None
        max_age = self.settings.max_age_days
        changed_at = cred.changed_at if cred.changed_at.tzinfo else cred.changed_at.replace(tzinfo=utcnow().tzinfo)
        if cred.must_change or (max_age and utcnow() - changed_at > timedelta(days=max_age)):
            url = change_password_url(self.config)
            return AuthResult(
                AuthStatus.EXPIRED, mailbox,
                f"Mật khẩu đã hết hạn hoặc phải đổi, hãy đổi tại {url} / "
                f"password expired or must be changed, change it at {url}",
            )
        await self.store.touch(mailbox.id)
        return AuthResult(AuthStatus.OK, mailbox)

    async def set_password(self, mailbox_id: int, password: str, *, must_change: bool) -> None:
        hashed = self.hasher.hash(password)
        now = utcnow()
        async with self.store.db.writer.begin() as conn:
            result = await conn.execute(
                update(credentials).where(credentials.c.mailbox_id == mailbox_id)
                .values(password_hash=hashed, must_change=must_change, changed_at=now)
            )
            if not result.rowcount:
                await conn.execute(insert(credentials).values(
                    mailbox_id=mailbox_id, password_hash=hashed, must_change=must_change, changed_at=now,
                ))

    async def credential(self, mailbox_id: int) -> Credential | None:
        async with self.store.db.reader.connect() as conn:
            row = (await conn.execute(
                select(credentials).where(credentials.c.mailbox_id == mailbox_id)
            )).first()
        if row is None:
            return None
        return Credential(row.mailbox_id, row.password_hash, row.must_change, row.changed_at)

    async def verify_password(self, address: str, password: str) -> Mailbox | None:
        """The mailbox if the password is right and the mailbox active, else None."""
        mailbox = await self.store.get_mailbox(address)
        if mailbox is None or mailbox.status != "active":
            # Same work as a real check, so timing does not reveal which addresses exist.
            try:
                self.hasher.verify(_DUMMY_HASH(self.hasher), password)
            except VerificationError:
                pass
            return None
        cred = await self.credential(mailbox.id)
        if cred is None:
            return None
        try:
            self.hasher.verify(cred.password_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        return mailbox


_dummy: dict[int, str] = {}


def _DUMMY_HASH(hasher: PasswordHasher) -> str:  # noqa: N802
    key = id(hasher)
    if key not in _dummy:
        _dummy[key] = hasher.hash(secrets.token_hex(8))
    return _dummy[key]
