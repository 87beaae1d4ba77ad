"""Aliases (extra addresses delivering to a mailbox, such as the old address of a renamed
or merged organisation, for a time or for good) and reserved addresses (never issued
again: a removed alias stays reserved)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from congthu.content.rules import automatic_forwarding_refusal
from congthu.directory import naming
from congthu.directory.addresses import Addresses
from congthu.directory.records import DirectoryError, aware
from congthu.directory.tables import dir_aliases, dir_orgs, dir_reserved
from congthu.store import utcnow
from congthu.store.lookup import addresses_of, mailbox_by_address, mailboxes_by_ids


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
              reason: str, keep_days: int | None, expires_at: datetime | None = None) -> None:
    """``address`` delivers to ``mailbox_id`` (for ``keep_days``, until ``expires_at``, or
    for good), replacing what it delivered to before."""
    expires = utcnow() + timedelta(days=keep_days) if keep_days else expires_at
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
        refusal = automatic_forwarding_refusal(self.settings, target_address)  # Điều 7.7
        if refusal is not None:
            raise DirectoryError(refusal.text)

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

    async def receive_until(self, mailbox_id: int, until: datetime, reason: str) -> None:
        """Điều 4.5: a leaver's own address keeps taking mail into their revoked mailbox
        until ``until``, so its handover rules (forwarding to the successor, the reply
        naming them: ``congthu.mailrules.leaver``) answer it; the mailbox stays closed to
        every door. Kept as an alias of the address to its own mailbox
        (``Resolver.resolve_recipient``); after ``until`` the address refuses mail."""
        def tx(conn: Connection) -> None:
            mailbox = mailboxes_by_ids(conn, [mailbox_id]).get(mailbox_id)
            if mailbox is None:
                raise DirectoryError(f"Không có hộp thư / no such mailbox: {mailbox_id}")
            set_alias(conn, mailbox.address, mailbox_id, org_id=None, reason=reason, keep_days=None,
                      expires_at=until)

        await self.db.run_write(tx)

    async def aliases_of(self, mailbox_id: int, *, include_expired: bool = False) -> list[Alias]:
        """The aliases delivering to one mailbox."""
        return [a for a in await self.list_aliases(include_expired=include_expired) if a.mailbox_id == mailbox_id]

    async def org_addresses(self, org_ids: Iterable[int]) -> set[str]:
        """Every address the organisations ``org_ids`` and their sub-units have or had
        (any status: a merged unit's mail is still theirs): their mailboxes' addresses,
        the aliases of those mailboxes and their old addresses (aliases kept with the
        organisation's id). What a records officer scoped to them reads (Điều 7.4)."""
        wanted = set(org_ids)

        def read(conn: Connection) -> set[str]:
            rows = conn.execute(select(dir_orgs.c.id, dir_orgs.c.parent_id, dir_orgs.c.address,
                                       dir_orgs.c.mailbox_id)).all()
            children: dict[int | None, list[Any]] = {}
            for row in rows:
                children.setdefault(row.parent_id, []).append(row)
            found = [r for r in rows if r.id in wanted]
            seen = {r.id for r in found}
            queue = list(found)
            while queue:  # the sub-units, depth first
                for child in children.get(queue.pop().id, []):
                    if child.id not in seen:
                        seen.add(child.id)
                        found.append(child)
                        queue.append(child)
            mailbox_ids = [r.mailbox_id for r in found if r.mailbox_id is not None]
            addresses = {r.address for r in found}
            addresses |= {m.address for m in mailboxes_by_ids(conn, mailbox_ids).values()}
            addresses |= set(conn.execute(select(dir_aliases.c.address).where(
                (dir_aliases.c.mailbox_id.in_(mailbox_ids)) | (dir_aliases.c.org_id.in_(seen)))).scalars())
            return addresses

        return await self.db.run_read(read) if wanted else set()
