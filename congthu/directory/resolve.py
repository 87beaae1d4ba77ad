"""Recipient resolution: the mailbox a local address delivers to. The SMTP server asks
``resolve_recipient(app, address)`` for every local recipient."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.engine import Connection

from congthu.directory.addresses import Addresses
from congthu.directory.aliases import is_live
from congthu.directory.records import aware
from congthu.directory.tables import dir_aliases
from congthu.store import normalise_address, utcnow
from congthu.store.lookup import mailbox_by_address, mailboxes_by_ids

if TYPE_CHECKING:
    from congthu.app import App


class Resolver(Addresses):
    """Where mail for a local address goes."""

    async def resolve_recipient(self, address: str) -> int | None:
        """The mailbox id mail for ``address`` goes to: a live alias first (the old address
        of a merged organisation points to its successor; a leaver's own address during
        its handover, to their revoked mailbox), else an active mailbox."""
        address = normalise_address(address)
        if "@" not in address or address.rpartition("@")[2] not in self.settings.local_domains:
            return None
        if address.rpartition("@")[2] != self.domain:
            address = self.full(address.rpartition("@")[0])
        now = utcnow()

        def read(conn: Connection) -> int | None:
            alias = conn.execute(select(dir_aliases.c.mailbox_id, dir_aliases.c.expires_at)
                                 .where(dir_aliases.c.address == address)).first()
            if alias is not None and is_live(aware(alias.expires_at), now):
                target = mailboxes_by_ids(conn, [alias.mailbox_id]).get(alias.mailbox_id)
                if target is not None:
                    # A leaver's own address kept receiving (Điều 4.5, ``receive_until``):
                    # the revoked mailbox takes the mail so its handover rules answer it.
                    handover = target.status == "revoked" and target.address == address
                    return target.id if target.status == "active" or handover else None
            mailbox = mailbox_by_address(conn, address)
            return mailbox.id if mailbox is not None and mailbox.status == "active" else None

        # Two rows by unique key: on the loop's own connection (run_small_read).
        return await self.db.run_small_read(read)


async def resolve_recipient(app: App, address: str) -> int | None:
    """The mailbox id mail for ``address`` is delivered to, or None (see
    ``Resolver.resolve_recipient``)."""
    return await Resolver(app).resolve_recipient(address)
