"""Mailboxes: creating them (one, or many in another package's transaction, each with
its special folders), finding, listing and changing them, recording access, and reading
the quota (``MailboxMethods``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Integer,
    String,
    and_,
    any_,
    insert,
    literal,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.types import ARRAY

from congthu.db import allocate_ids, bulk_insert
from congthu.store.base import StoreBase
from congthu.store.changes import account_changed, mailbox_key
from congthu.store.model import SPECIAL_FOLDERS, AlreadyExists, Mailbox, NotFound, normalise_address, utcnow
from congthu.store.rows import to_mailbox
from congthu.store.statements import MAILBOX_BY_ADDRESS, MAILBOX_BY_ID, MAILBOX_COLUMNS, QUOTA, TOUCH
from congthu.store.tables import folders, mailboxes, subscriptions
from congthu.text import nfc


# The small reads of a mailbox by key, on the event loop (``_ro_small``) or in a caller's
# transaction: statements compiled once (``rows.Compiled``), rows made records by
# ``rows.to_mailbox``.
def _mailbox_by_id(conn: Connection, mailbox_id: int) -> Mailbox | None:
    row = MAILBOX_BY_ID.first(conn, b_mailbox=mailbox_id)
    return to_mailbox(row) if row is not None else None


def _mailbox_by_address(conn: Connection, address: str) -> Mailbox | None:
    row = MAILBOX_BY_ADDRESS.first(conn, b_address=address)
    return to_mailbox(row) if row is not None else None


def _quota(conn: Connection, mailbox_id: int) -> Sequence[Any] | None:
    return QUOTA.first(conn, b_mailbox=mailbox_id)


def _address_taken(address: str | None) -> AlreadyExists:
    return AlreadyExists(f"Địa chỉ đã tồn tại / address already exists: {address}")


@dataclass(frozen=True)
class NewMailbox:
    """A mailbox to create (``MailboxMethods.insert_mailboxes``)."""

    address: str
    display_name: str = ""
    kind: str = "personal"  # "personal", "organisation" or "subunit"
    quota_bytes: int = 500 * 1024 * 1024


class MailboxMethods(StoreBase):
    if TYPE_CHECKING:  # from FolderMethods
        def _new_uidvalidity(self) -> int: ...

    def insert_mailboxes(self, conn: Connection, specs: Sequence[NewMailbox]) -> list[int]:
        """Create mailboxes with the special folders (``SPECIAL_FOLDERS``) in ``conn``'s
        transaction, in bulk: the one way mailboxes are made, for ``create_mailbox`` and
        for the directory (one person, or the import of 50,000). Returns their ids in the
        order of ``specs``; IntegrityError if an address is taken."""
        if not specs:
            return []
        now = utcnow()
        ids = allocate_ids(conn, mailboxes, len(specs))
        bulk_insert(
            conn, mailboxes,
            [{"id": mid, "address": normalise_address(s.address), "display_name": nfc(s.display_name),
              "kind": s.kind, "quota_bytes": s.quota_bytes} for mid, s in zip(ids, specs, strict=True)],
            constants={"used_bytes": 0, "status": "active", "created_at": now, "quota_warned": False})
        # The folders of every new mailbox in one INSERT ... SELECT: no row goes through
        # Python (300,000 rows for 50,000 mailboxes). They share one UIDVALIDITY, the
        # store's (folders.py): names differ within a mailbox, so none is reused.
        special = union_all(*[
            select(literal(name, String).label("name"), literal(use, String).label("special_use"),
                   literal(order, Integer).label("ord"))
            for order, (name, use) in enumerate(SPECIAL_FOLDERS)
        ]).subquery("special")
        new_ids = (mailboxes.c.id.between(ids[0], ids[-1]) if conn.dialect.name == "sqlite"
                   else mailboxes.c.id == any_(literal(ids, ARRAY(Integer))))
        conn.execute(insert(folders).from_select(
            ["mailbox_id", "name", "special_use", "uidvalidity", "uidnext", "highestmodseq", "subscribed"],
            select(mailboxes.c.id, special.c.name, special.c.special_use,
                   literal(self._new_uidvalidity(), BigInteger), literal(1, BigInteger), literal(1, BigInteger),
                   literal(True, Boolean))
            .select_from(mailboxes.join(special, true()))  # every mailbox × every folder
            .where(new_ids).order_by(mailboxes.c.id, special.c.ord)))
        # Their names subscribed (store_0005), in one INSERT ... SELECT too.
        conn.execute(insert(subscriptions).from_select(
            ["mailbox_id", "name"],
            select(folders.c.mailbox_id, folders.c.name).where(
                folders.c.mailbox_id.between(ids[0], ids[-1]) if conn.dialect.name == "sqlite"
                else folders.c.mailbox_id == any_(literal(ids, ARRAY(Integer))))))
        return ids

    async def create_mailbox(
        self, address: str, display_name: str = "", kind: str = "personal",
        quota_bytes: int = 500 * 1024 * 1024,
    ) -> Mailbox:
        """Create a mailbox with the special folders (Inbox, Drafts, Sent, Trash, Junk, Archive)."""
        address = normalise_address(address)
        spec = NewMailbox(address, display_name, kind, quota_bytes)

        def tx(conn: Connection) -> Mailbox:
            (mailbox_id,) = self.insert_mailboxes(conn, [spec])
            mailbox = _mailbox_by_id(conn, mailbox_id)
            assert mailbox is not None  # made in this transaction
            return mailbox

        try:
            return await self._tx(tx)
        except IntegrityError:
            raise _address_taken(address) from None

    async def get_mailbox(self, address: str) -> Mailbox | None:
        return await self._ro_small(_mailbox_by_address, normalise_address(address))

    async def get_mailbox_by_id(self, mailbox_id: int) -> Mailbox | None:
        return await self._ro_small(_mailbox_by_id, mailbox_id)

    async def list_mailboxes(self) -> list[Mailbox]:
        def read(conn: Connection) -> list[Mailbox]:
            return [to_mailbox(r) for r in conn.execute(select(*MAILBOX_COLUMNS).order_by(mailboxes.c.address))]

        return await self._ro(read)

    async def update_mailbox(self, mailbox_id: int, **values: Any) -> None:
        """Change address, display_name, kind, quota_bytes or status (any status but
        "active" ends the mailbox's open sessions)."""
        allowed = {"address", "display_name", "kind", "quota_bytes", "status"}
        if not set(values) <= allowed:
            raise ValueError(f"cannot update {set(values) - allowed}")
        if "address" in values:
            values["address"] = normalise_address(values["address"])

        def tx(conn: Connection) -> None:
            conn.execute(update(mailboxes).where(mailboxes.c.id == mailbox_id).values(**values))
            account_changed(conn, mailbox_key(mailbox_id))  # logins see it at once, everywhere

        try:
            await self._tx(tx)
        except IntegrityError:
            raise _address_taken(values.get("address")) from None
        if values.get("status", "active") != "active":
            await self.hub.end_sessions(mailbox_id)  # a disabled mailbox's sessions end (Điều 4.4, 4.5)

    async def touch(self, mailbox_id: int, when: datetime | None = None) -> None:
        """Record an access (a login on any protocol), for the six-month rule (Điều 4.4)."""
        value = when or utcnow()

        def tx(conn: Connection) -> None:
            conn.execute(TOUCH, {"b_mailbox": mailbox_id, "b_when": value})

        await self._tx(tx)

    async def quota(self, mailbox_id: int) -> tuple[int, int]:
        """(used bytes, limit bytes)."""
        row = await self._ro_small(_quota, mailbox_id)
        if row is None:
            raise NotFound(f"mailbox {mailbox_id}")
        return int(row[0]), int(row[1])

    async def set_quota_warned(self, mailbox_id: int, warned: bool) -> bool:
        """Set the warned mark; True if it changed (so a warning is sent once per crossing)."""
        def tx(conn: Connection) -> bool:
            result = conn.execute(
                update(mailboxes)
                .where(and_(mailboxes.c.id == mailbox_id, mailboxes.c.quota_warned != warned))
                .values(quota_warned=warned)
            )
            return bool(result.rowcount)

        return await self._tx(tx)
