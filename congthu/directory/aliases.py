"""Aliases (extra addresses delivering to a mailbox, such as the old address of a renamed
or merged organisation, for a time or for good) and reserved addresses (never issued
again: a removed alias stays reserved)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from congthu.directory import naming
from congthu.directory.addresses import Addresses
from congthu.directory.records import DirectoryError, aware
from congthu.directory.tables import dir_aliases, dir_reserved
from congthu.store import utcnow
from congthu.store.lookup import addresses_of, mailbox_by_address


def is_live(expires_at: datetime | None, now: datetime | None = None) -> bool:
    """Whether an alias that expires at ``expires_at`` (None: never) still delivers."""
    return expires_at is None or expires_at > (now or utcnow())


@dataclass(frozen=True)
class Alias:
    address: str
    mailbox_id: int
    target: str
    reason: str
    created_at: datetime
    expires_at: datetime | None

    @property
    def live(self) -> bool:
        return is_live(self.expires_at)


def set_alias(conn: Connection, address: str, mailbox_id: int, *, org_id: int | None,
              reason: str, keep_days: int | None) -> None:
    """``address`` delivers to ``mailbox_id`` (for ``keep_days``, or for good), replacing
    what it delivered to before."""
    expires = utcnow() + timedelta(days=keep_days) if keep_days else None
    existing = conn.execute(select(dir_aliases.c.id).where(dir_aliases.c.address == address)).first()
    if existing:
        conn.execute(update(dir_aliases).where(dir_aliases.c.id == existing.id).values(
            mailbox_id=mailbox_id, org_id=org_id, reason=reason, expires_at=expires))
    else:
        conn.execute(insert(dir_aliases).values(
            address=address, mailbox_id=mailbox_id, org_id=org_id, reason=reason,
            created_at=utcnow(), expires_at=expires))


def reserve_address(conn: Connection, address: str, reason: str) -> None:
    """Put ``address`` in the reserved table unless it is there already."""
    if not conn.execute(select(dir_reserved).where(dir_reserved.c.address == address)).first():
        conn.execute(insert(dir_reserved).values(address=address, reason=reason, created_at=utcnow()))


class Aliases(Addresses):
    """The operator's aliases and reserved addresses."""

    async def add_alias(self, alias: str, target: str, *, days: int | None = None, reason: str = "") -> Alias:
        """An extra address delivering to ``target``'s mailbox; validated like any address."""
        local = self.local_of(self.address_of(alias))
        # Every local domain shares one namespace (resolve_recipient reads x@extra-domain
        # as x@main-domain), so the alias is kept under the main domain.
        alias_address = self.full(local)
        problem = naming.validate_local(local)
        if problem:
            raise DirectoryError(f"Địa chỉ không hợp lệ / invalid address {alias_address}: {problem}")
        target_address = self.address_of(target)

        def tx(conn: Connection) -> None:
            mailbox = mailbox_by_address(conn, target_address)
            if mailbox is None:
                raise DirectoryError(f"Không có hộp thư / no such mailbox: {target}")
            holder = self.holder(self.taken(conn, [local]))(local)
            if holder:
                raise DirectoryError(f"Địa chỉ đã dùng / address taken: {alias_address}: {holder}")
            set_alias(conn, alias_address, mailbox.id, org_id=None, reason=reason or "alias", keep_days=days)

        await self.db.run_write(tx)
        return next(a for a in await self.list_aliases(include_expired=True) if a.address == alias_address)

    async def list_aliases(self, *, include_expired: bool = False) -> list[Alias]:
        def read(conn: Connection) -> tuple[list[Any], dict[int, str]]:
            rows = list(conn.execute(select(dir_aliases).order_by(dir_aliases.c.address)))
            return rows, addresses_of(conn, [r.mailbox_id for r in rows])

        rows, targets = await self.db.run_read(read)
        aliases = [Alias(r.address, r.mailbox_id, targets[r.mailbox_id], r.reason, aware(r.created_at) or utcnow(),
                         aware(r.expires_at)) for r in rows if r.mailbox_id in targets]
        return aliases if include_expired else [a for a in aliases if a.live]

    async def remove_alias(self, alias: str) -> None:
        """Stop an alias delivering; the address stays reserved (never issued again)."""
        address = self.address_of(alias)

        def tx(conn: Connection) -> None:
            row = conn.execute(select(dir_aliases).where(dir_aliases.c.address == address)).first()
            if row is None:
                raise DirectoryError(f"Không có bí danh / no such alias: {address}")
            conn.execute(dir_aliases.delete().where(dir_aliases.c.id == row.id))
            reserve_address(conn, address, f"bí danh đã xóa / removed alias ({row.reason})")

        await self.db.run_write(tx)
