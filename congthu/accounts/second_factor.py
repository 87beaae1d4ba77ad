"""The second factor of the web consoles (TOTP, RFC 6238) and the app passwords that mail
clients of users who turned it on log in with."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.engine import Connection

from congthu import audit
from congthu.accounts import credentials as sql
from congthu.accounts import scram, totp
from congthu.accounts.base import AccountsBase, b64decode
from congthu.accounts.generated import new_app_password, sha256_hex
from congthu.accounts.model import aware


class SecondFactor(AccountsBase):
    async def totp_enabled(self, mailbox_id: int) -> bool:
        return await self.db.run_small_read(sql.totp_enabled, mailbox_id)

    async def totp_begin(self, mailbox_id: int) -> str:
        """Start enrolment: a new secret, not enforced until ``totp_confirm``."""
        secret = totp.new_secret()
        await self.db.run_write(sql.totp_begin, mailbox_id, secret, self.clock())
        return secret

    async def _target(self, mailbox_id: int) -> str:
        mailbox = await self.store.get_mailbox_by_id(mailbox_id)
        return mailbox.address if mailbox else str(mailbox_id)

    async def totp_confirm(self, mailbox_id: int, code: str, *, actor: str) -> list[str] | None:
        """Turn the second factor on with a first valid code; returns the recovery codes."""
        now = self.clock()
        target = await self._target(mailbox_id)
        codes = totp.new_recovery_codes()

        def write(conn: Connection) -> bool:
            row = sql.totp_row(conn, mailbox_id)
            if row is None:
                return False
            step = totp.match(row.secret, code, now.timestamp(), row.last_step)
            if step is None:
                return False
            sql.totp_enable(conn, mailbox_id, step, [totp.recovery_hash(c) for c in codes])
            audit.append(conn, at=now, action="totp.enabled", actor=actor, target=target, details={})
            return True

        return codes if await self.db.run_write(write) else None

    async def totp_disable(self, mailbox_id: int, *, actor: str) -> None:
        now = self.clock()
        target = await self._target(mailbox_id)

        def write(conn: Connection) -> None:
            sql.totp_remove(conn, mailbox_id)
            audit.append(conn, at=now, action="totp.disabled", actor=actor, target=target, details={})

        await self.db.run_write(write)

    async def check_second_factor(self, mailbox_id: int, code: str) -> bool:
        """A current TOTP code (once only, RFC 6238 section 5.2) or an unused recovery code."""
        now = self.clock()

        def write(conn: Connection) -> bool:
            row = sql.totp_row(conn, mailbox_id)
            if row is None:
                return False
            step = totp.match(row.secret, code, now.timestamp(), row.last_step)
            if step is not None:
                sql.totp_used(conn, mailbox_id, step)
                return True
            return sql.use_recovery_code(conn, mailbox_id, totp.recovery_hash(code), now)

        return await self.db.run_write(write)

    async def add_app_password(self, mailbox_id: int, label: str, *, actor: str) -> str:
        """A new app password for a mail client; shown once, stored as SHA-256 and SCRAM keys."""
        cred = await self.credential(mailbox_id)
        if cred is None:
            raise KeyError(mailbox_id)
        password = new_app_password()
        salt = b64decode(cred.scram_salt) if cred.scram_salt else scram.new_salt()
        keys = await asyncio.to_thread(scram.derive, password, salt,
                                       cred.scram_iterations or self.settings.scram_iterations)
        target = await self._target(mailbox_id)
        now = self.clock()

        def write(conn: Connection) -> None:
            sql.add_app_password(conn, mailbox_id, label, sha256_hex(password), keys.stored_b64, keys.server_b64, now)
            audit.append(conn, at=now, action="app_password.added", actor=actor, target=target,
                         details={"label": label})

        await self.db.run_write(write)
        return password

    async def list_app_passwords(self, mailbox_id: int) -> list[dict[str, Any]]:
        rows = await self.db.run_read(sql.app_password_rows, mailbox_id)
        return [{"id": r.id, "label": r.label, "created_at": aware(r.created_at),
                 "last_used_at": aware(r.last_used_at)} for r in rows]

    async def revoke_app_password(self, mailbox_id: int, app_password_id: int, *, actor: str) -> bool:
        target = await self._target(mailbox_id)
        now = self.clock()

        def write(conn: Connection) -> bool:
            if not sql.revoke_app_password(conn, mailbox_id, app_password_id):
                return False
            audit.append(conn, at=now, action="app_password.revoked", actor=actor, target=target,
                         details={"id": app_password_id})
            return True

        return await self.db.run_write(write)

    async def _app_password(self, mailbox_id: int, password: str) -> int | None:
        return await self.db.run_small_read(sql.app_password_id, mailbox_id, sha256_hex(password.strip()))
