"""Accounts: credentials and the one authentication core every door uses.

(Foundation version: argon2id hashes, one-time passwords and must-change. The password
rules of Điều 13.2, lockout, roles, TOTP and the audit trail build on this.)
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import insert, select, update

from congthu.accounts.tables import credentials
from congthu.config import PasswordSettings
from congthu.store import MailStore, Mailbox, utcnow


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
    def __init__(self, store: MailStore, settings: PasswordSettings) -> None:
        self.store = store
        self.settings = settings
        self.hasher = make_hasher(settings)

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
