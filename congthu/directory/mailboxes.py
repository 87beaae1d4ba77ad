"""Mailboxes of the directory's organisations and people: their first passwords hashed on
every core, the mailboxes made in the directory's own transaction (by the store, the one
creator of mailboxes and folders, with the first credentials set by accounts), and the
mail of one mailbox moved into another (what a merged organisation's mail does)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from congthu.accounts.initial import set_initial_passwords
from congthu.directory.addresses import Addresses
from congthu.store import NewMailbox as StoreMailbox
from congthu.store import utcnow


@dataclass(frozen=True)
class NewMailbox:
    """A mailbox to create in the directory's own transaction, with its first password's
    hash (None: no credentials yet, a reset sets them)."""

    address: str
    display_name: str
    kind: str
    password_hash: str | None


class MailboxWriter(Addresses):
    """Mailboxes written in the caller's transaction."""

    async def hash_passwords(self, passwords: Sequence[str]) -> list[str]:
        """argon2id hashes of many passwords (``Accounts.hash_many``: the accounts' own
        parameters, on every core)."""
        return await self.app.accounts.hash_many(passwords)

    def insert_mailboxes(self, conn: Connection, specs: Sequence[NewMailbox]) -> list[int]:
        """Create mailboxes with their special folders (``MailStore.insert_mailboxes``)
        and credentials (changed at first login, Điều 13.2), in bulk, in ``conn``'s
        transaction. Returns the ids in the order of ``specs``."""
        quota = self.settings.mailbox_quota_bytes
        ids = self.app.store.insert_mailboxes(
            conn, [StoreMailbox(s.address, s.display_name, s.kind, quota) for s in specs])
        set_initial_passwords(conn, [(mailbox_id, s.password_hash)
                                     for mailbox_id, s in zip(ids, specs, strict=True) if s.password_hash],
                              utcnow())
        return ids

    async def move_mail(self, src_mailbox: int, dst_mailbox: int, under: str) -> int:
        """Move every message of one mailbox into folders ``under/<folder>`` of another,
        raising the destination's quota by what moves (no mail is refused or lost).
        Returns the number of messages moved."""
        store = self.app.store
        src_folders = [f for f in await store.list_folders(src_mailbox)]
        moved = 0
        used, _limit = await store.quota(src_mailbox)
        if used:
            dst_used, dst_limit = await store.quota(dst_mailbox)
            if dst_used + used > dst_limit:
                await store.update_mailbox(dst_mailbox, quota_bytes=dst_limit + used)
        for folder in src_folders:
            uids = [m.uid for m in await store.folder_index(folder.id)]
            if not uids:
                continue
            name = f"{under}/{folder.name}"
            target = await store.get_folder(dst_mailbox, name) or await store.create_folder(dst_mailbox, name)
            await store.move(folder.id, uids, target.id)
            moved += len(uids)
        return moved
