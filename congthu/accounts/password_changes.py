"""Setting passwords: the owner's change, and every password chosen for someone else.

Điều 13.2 asks that a password be the owner's: "đổi mật khẩu ngay lần đầu đăng nhập".
So a password chosen by anyone but the owner (``user add --password``, ``user reset``,
``org add --password``, ``user add --org --password``, an import, the future console)
goes through one function, ``prepare_issued``: a password the system generates is a
one-time password; one an administrator typed must meet the strength rules
(``passwords.py``) as the owner's own would. Either way it is stored only with the
must-change mark (``issue_password`` here, or ``initial.set_initial_passwords`` in the
directory's own transaction), so every door answers [EXPIRED] until the owner has
changed it on the change page.

``change_password`` is the owner's change (after the page checked the current password,
or on the operator's command ``user passwd``): every rule, the history included, and the
must-change mark cleared. ``set_password`` only stores (no rules): for those two and for
tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy.engine import Connection

from congthu import audit
from congthu.accounts import credentials as sql
from congthu.accounts import lockout, scram
from congthu.accounts.base import AccountsBase, b64decode
from congthu.accounts.generated import one_time_password
from congthu.accounts.model import IssuedPassword
from congthu.accounts.passwords import PasswordRejected, Refusal
from congthu.accounts.passwords import check as check_rules
from congthu.accounts.passwords import message as rule_message
from congthu.store import Mailbox, normalise_address


class PasswordChanges(AccountsBase):
    async def set_password(self, mailbox_id: int, password: str, *, must_change: bool) -> None:
        """Store a password (no rules: see ``change_password`` and ``issue_password``):
        argon2id hash, SCRAM keys, history; clears the reminder mark."""
        await self._store(mailbox_id, password, None, must_change=must_change)

    async def _store(self, mailbox_id: int, password: str, hashed: str | None, *, must_change: bool) -> None:
        existing = await self.credential(mailbox_id)
        salt = b64decode(existing.scram_salt) if existing and existing.scram_salt else scram.new_salt()
        if hashed is None:
            hashed = await asyncio.to_thread(self.hasher.hash, scram.normalise(password))
        keys = await asyncio.to_thread(scram.derive, password, salt, self.settings.scram_iterations)
        now = self.clock()
        values = dict(password_hash=hashed, must_change=must_change, changed_at=now, reminded_days=None,
                      scram_salt=keys.salt_b64, scram_iterations=keys.iterations,
                      scram_stored_key=keys.stored_b64, scram_server_key=keys.server_b64)
        await self.db.run_write(sql.store_password, mailbox_id, values, hashed, now, max(self.settings.history, 1))

    async def check_new_password(self, mailbox: Mailbox, password: str, *,
                                 names: list[str] | None = None) -> list[Refusal]:
        """Every Điều 13.2 rule the new password breaks, the history included."""
        refusals = check_rules(password, self.settings, address=mailbox.address,
                               names=[mailbox.display_name, *(names or [])])
        if self.settings.history:
            for hashed in await self.db.run_read(sql.history_hashes, mailbox.id, self.settings.history):
                if await self._check_hash(hashed, password):
                    refusals.append(Refusal("history", rule_message("history", self.settings)))
                    break
        return refusals

    async def change_password(self, mailbox_id: int, new_password: str, *, actor: str, client: str = "",
                              names: list[str] | None = None) -> None:
        """The owner's change: apply the rules, store the password and clear the
        must-change mark; raises PasswordRejected with every broken rule. The caller
        checked the current password (the page) or the caller's authority (the CLI)."""
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

    # -- passwords chosen for someone else ------------------------------------------------

    def check_issued(self, password: str, *, address: str = "", names: Sequence[str] = ()) -> list[Refusal]:
        """The Điều 13.2 rules an administrator's choice of someone's password breaks
        (the same rules as the owner's own; a new account has no history)."""
        return check_rules(password, self.settings, address=address, names=[n for n in names if n])

    async def prepare_issued(self, password: str | None = None, *, address: str = "",
                             names: Sequence[str] = ()) -> IssuedPassword:
        """The one way to make a password for someone else (Điều 13.2): ``None`` gives a
        generated one-time password; a given one must meet the strength rules
        (PasswordRejected otherwise). The result is hashed, to be stored with the
        must-change mark (``issue_password``, ``initial.set_initial_passwords``)."""
        generated = password is None
        if password is None:
            password = one_time_password()
        else:
            refusals = self.check_issued(password, address=normalise_address(address) if address else "",
                                         names=names)
            if refusals:
                raise PasswordRejected(refusals)
        hashed = await asyncio.to_thread(self.hasher.hash, scram.normalise(password))
        return IssuedPassword(password, hashed, generated)

    async def issue_password(self, mailbox_id: int, password: str | IssuedPassword | None = None, *,
                             actor: str, client: str = "") -> IssuedPassword:
        """Set a password chosen for the owner of ``mailbox_id`` by someone else (see
        ``prepare_issued``); it must be changed at first login on every door. Audited as
        ``password.issued``. Returns what was stored (the plain password, to hand over)."""
        mailbox = await self.store.get_mailbox_by_id(mailbox_id)
        if mailbox is None:
            raise KeyError(mailbox_id)
        issued = password if isinstance(password, IssuedPassword) else await self.prepare_issued(
            password, address=mailbox.address, names=[mailbox.display_name])
        await self._store(mailbox_id, issued.password, issued.hash, must_change=True)
        await self._audit("password.issued", actor, mailbox.address, {"generated": issued.generated}, client)
        return issued

    async def reset_password(self, mailbox_id: int, *, actor: str, client: str = "") -> str:
        """A new one-time password that must be changed at first login (Điều 13.2, 4.1);
        lifts the account's guessing lock."""
        mailbox = await self.store.get_mailbox_by_id(mailbox_id)
        if mailbox is None:
            raise KeyError(mailbox_id)
        issued = await self.prepare_issued(None)
        await self._store(mailbox_id, issued.password, issued.hash, must_change=True)
        now = self.clock()

        def write(conn: Connection) -> None:
            audit.serialise(conn)  # before the counters' rows, as every writer of them (login.py)
            lockout.clear_with_pairs(conn, lockout.ACCOUNT, mailbox.address)
            audit.append(conn, at=now, action="password.reset", actor=actor, target=mailbox.address, details={},
                         client=client)

        await self.db.run_write(write)
        return issued.password

    async def unlock(self, key: str, *, actor: str, client: str = "") -> int:
        """Lift the lock and counters of an account (an address with @) or a client
        address, with those of its (address, account) pairs."""
        if "@" in key:
            kind, key = lockout.ACCOUNT, normalise_address(key)
        else:
            kind, key = lockout.ADDRESS, lockout.address_key(key)
        now = self.clock()

        def write(conn: Connection) -> int:
            audit.serialise(conn)  # before the counters' rows, as every writer of them (login.py)
            count = lockout.clear_with_pairs(conn, kind, key)
            audit.append(conn, at=now, action="lockout.unlocked", actor=actor, target=key,
                         details={"kind": kind, "cleared": count}, client=client)
            return count

        return await self.db.run_write(write)
