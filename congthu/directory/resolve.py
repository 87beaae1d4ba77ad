"""Recipient resolution: the mailbox a local address delivers to. The SMTP server asks
``resolve_recipient(app, address)`` for every local recipient."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from congthu.directory.addresses import Addresses
from congthu.directory.aliases import is_live
from congthu.directory.records import aware
from congthu.directory.tables import dir_aliases
from congthu.store import normalise_address, utcnow
from congthu.store.tables import mailboxes

if TYPE_CHECKING:
    from congthu.app import App


class Resolver(Addresses):
    """Where mail for a local address goes."""

    async def resolve_recipient(self, address: str) -> int | None:
        """The mailbox id mail for ``address`` goes to: a live alias first (the old address
        of a merged organisation points to its successor), else an active mailbox."""
        address = normalise_address(address)
        if "@" not in address or address.rpartition("@")[2] not in self.settings.local_domains:
            return None
        if address.rpartition("@")[2] != self.domain:
            address = self.full(address.rpartition("@")[0])
        now = utcnow()
        async with self.db.reader.connect() as conn:
            alias: Any = (await conn.execute(
                select(dir_aliases.c.mailbox_id, dir_aliases.c.expires_at, mailboxes.c.status)
                .join(mailboxes, mailboxes.c.id == dir_aliases.c.mailbox_id)
                .where(dir_aliases.c.address == address)
            )).first()
            if alias is not None and is_live(aware(alias.expires_at), now):
                return int(alias.mailbox_id) if alias.status == "active" else None
            row = (await conn.execute(
                select(mailboxes.c.id, mailboxes.c.status).where(mailboxes.c.address == address)
            )).first()
        if row is not None and row.status == "active":
            return int(row.id)
        return None


async def resolve_recipient(app: App, address: str) -> int | None:
    """The mailbox id mail for ``address`` is delivered to, or None (see
    ``Resolver.resolve_recipient``)."""
    return await Resolver(app).resolve_recipient(address)
