"""Folders of a mailbox: listing, finding, creating (with missing parents), deleting,
renaming, subscribing, their status counts, and the UIDVALIDITY a new or renamed
folder takes (``FolderMethods``).

Subscriptions are names (``tables.subscriptions``, RFC 9051 sections 6.3.7-6.3.8): a
folder made here is subscribed (the mailbox's first folders and the webmail's are;
IMAP CREATE takes that back, as Dovecot does), DELETE leaves the name subscribed (RFC
5258 section 3.4: LIST (SUBSCRIBED) shows it \\NonExistent), and RENAME moves the
subscriptions of the folder and its children to the new names, so a folder renamed
stays in the clients that show only subscribed folders.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from congthu.store import accounting
from congthu.store.base import StoreBase
from congthu.store.model import (
    DELIMITER,
    AlreadyExists,
    Folder,
    FolderStatus,
    MessageMeta,
    NotFound,
    StoreError,
    normalise_folder_name,
)
from congthu.store.rows import to_folder
from congthu.store.statements import FOLDER_BY_ID, FOLDER_BY_NAME, FOLDERS_OF, STATUS
from congthu.store.tables import expunged, folders, messages, subscriptions


def _invalid_name(name: str) -> StoreError:
    return StoreError(f"Tên thư mục không hợp lệ / invalid folder name: {name!r}")


def _exists(name: str) -> AlreadyExists:
    return AlreadyExists(f"Thư mục đã tồn tại / folder exists: {name}")


def _no_such(name: str) -> NotFound:
    return NotFound(f"Không có thư mục / no such folder: {name}")


def _missing_parents(name: str, existing: Collection[str]) -> list[str]:
    """The parents of ``name`` ("a" and "a/b" of "a/b/c") not among ``existing``."""
    parts = name.split(DELIMITER)
    parents = (DELIMITER.join(parts[:i]) for i in range(1, len(parts)))
    return [parent for parent in parents if parent not in existing]


# The small reads of folders by key, on the event loop (``_ro_small``) or in a caller's
# transaction: statements compiled once (``rows.Compiled``), rows made records by
# ``rows.to_folder``.
def _folders_of(conn: Connection, mailbox_id: int) -> list[Folder]:
    return [to_folder(row) for row in FOLDERS_OF.typed(conn, b_mailbox=mailbox_id)]


def _folder_by_name(conn: Connection, mailbox_id: int, name: str) -> Folder | None:
    row = FOLDER_BY_NAME.first(conn, b_mailbox=mailbox_id, b_name=name)
    return to_folder(row) if row is not None else None


def _folder_by_id(conn: Connection, folder_id: int) -> Folder | None:
    row = FOLDER_BY_ID.first(conn, b_folder=folder_id)
    return to_folder(row) if row is not None else None


def _subscribe(conn: Connection, mailbox_id: int, name: str) -> None:
    """Add a name to the subscriptions, unless it is there."""
    present = conn.execute(select(subscriptions.c.name).where(
        and_(subscriptions.c.mailbox_id == mailbox_id, subscriptions.c.name == name))).first()
    if present is None:
        conn.execute(insert(subscriptions).values(mailbox_id=mailbox_id, name=name))


class FolderMethods(StoreBase):
    if TYPE_CHECKING:  # from ReadingMethods and MessageMethods
        async def folder_index(self, folder_id: int) -> list[MessageMeta]: ...
        async def move(self, src_folder_id: int, uids: Sequence[int],
                       dst_folder_id: int) -> list[tuple[int, int]]: ...

    def _folder_values(self, mailbox_id: int, name: str, special: str | None) -> dict[str, Any]:
        return {"mailbox_id": mailbox_id, "name": name, "special_use": special,
                "uidvalidity": self._new_uidvalidity(), "uidnext": 1, "highestmodseq": 1,
                "subscribed": True}

    def _insert_folder(self, conn: Connection, mailbox_id: int, name: str, special: str | None) -> int:
        result = conn.execute(insert(folders).values(**self._folder_values(mailbox_id, name, special)))
        _subscribe(conn, mailbox_id, name)
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def _new_uidvalidity(self) -> int:
        # RFC 9051 section 2.3.1.1: UIDVALIDITY must grow when a name is reused;
        # seconds since the epoch, strictly increasing within this process. The one rule
        # for every folder made (create, rename, new mailboxes); called on the writer
        # thread and on the event loop, hence the lock.
        with self._uidvalidity_lock:
            value = max(int(time.time()), self._uidvalidity_last + 1)
            self._uidvalidity_last = value
        return value

    async def list_folders(self, mailbox_id: int) -> list[Folder]:
        return await self._ro_small(_folders_of, mailbox_id)  # a mailbox has tens of folders, not thousands

    async def get_folder(self, mailbox_id: int, name: str) -> Folder | None:
        return await self._ro_small(_folder_by_name, mailbox_id, normalise_folder_name(name))

    async def get_folder_by_id(self, folder_id: int) -> Folder | None:
        return await self._ro_small(_folder_by_id, folder_id)

    async def create_folder(self, mailbox_id: int, name: str, special_use: str | None = None) -> Folder:
        """Create a folder, and its missing parents (RFC 9051 section 6.3.4)."""
        name = normalise_folder_name(name)
        if not name or any(not part for part in name.split(DELIMITER)):
            raise _invalid_name(name)

        def tx(conn: Connection) -> Folder:
            existing = set(conn.execute(
                select(folders.c.name).where(folders.c.mailbox_id == mailbox_id)
            ).scalars())
            if name in existing:
                raise _exists(name)
            for parent in _missing_parents(name, existing):
                self._insert_folder(conn, mailbox_id, parent, None)
            folder_id = self._insert_folder(conn, mailbox_id, name, special_use)
            folder = _folder_by_id(conn, folder_id)
            assert folder is not None  # made in this transaction
            return folder

        try:
            return await self._tx(tx)
        except IntegrityError:
            raise _exists(name) from None

    async def delete_folder(self, mailbox_id: int, name: str) -> None:
        """Delete a folder and its messages (RFC 9051 section 6.3.5); INBOX cannot be deleted."""
        name = normalise_folder_name(name)
        if name == "INBOX":
            raise StoreError("Không thể xóa INBOX / INBOX cannot be deleted")

        def tx(conn: Connection) -> int:
            row = conn.execute(
                select(folders.c.id).where(and_(folders.c.mailbox_id == mailbox_id, folders.c.name == name))
            ).first()
            if row is None:
                raise _no_such(name)
            folder_id = int(row.id)
            rows = conn.execute(
                select(messages.c.content_id, messages.c.size).where(messages.c.folder_id == folder_id)
            ).all()
            conn.execute(delete(messages).where(messages.c.folder_id == folder_id))
            conn.execute(delete(expunged).where(expunged.c.folder_id == folder_id))
            conn.execute(delete(folders).where(folders.c.id == folder_id))
            accounting.release(conn, mailbox_id, rows)
            self._folder_ids.pop((mailbox_id, name), None)
            return folder_id

        folder_id = await self._tx(tx)
        await self.hub.publish(folder_id, 0)  # every process and node: the folder is gone

    async def rename_folder(self, mailbox_id: int, old: str, new: str) -> None:
        """Rename a folder and its children (RFC 9051 section 6.3.6).

        Renaming INBOX moves its messages to the new folder and leaves INBOX empty.
        """
        old, new = normalise_folder_name(old), normalise_folder_name(new)
        if not new or new == "INBOX":
            raise _invalid_name(new)
        if old == "INBOX":
            target = await self.create_folder(mailbox_id, new)
            inbox = await self.get_folder(mailbox_id, "INBOX")
            assert inbox is not None
            uids = [m.uid for m in await self.folder_index(inbox.id)]
            if uids:
                await self.move(inbox.id, uids, target.id)
            return

        def tx(conn: Connection) -> None:
            rows = {r.name: r for r in conn.execute(
                select(folders.c.name, folders.c.id, folders.c.uidvalidity, folders.c.mailboxid)
                .where(folders.c.mailbox_id == mailbox_id)
            )}
            names = {name: r.id for name, r in rows.items()}
            if old not in names:
                raise _no_such(old)
            if new in names:
                raise _exists(new)
            for parent in _missing_parents(new, names):  # never ``old``: it is in names
                self._insert_folder(conn, mailbox_id, parent, None)
            for name, folder_id in names.items():
                if name == old or name.startswith(old + DELIMITER):
                    # A renamed folder gets a new UIDVALIDITY (RFC 9051 section 2.3.1.1)
                    # and keeps its MAILBOXID (RFC 8474 section 4.1), stored now if it
                    # was made from the old UIDVALIDITY (model.Folder.objectid).
                    row = rows[name]
                    conn.execute(
                        update(folders).where(folders.c.id == folder_id)
                        .values(name=new + name[len(old):], uidvalidity=self._new_uidvalidity(),
                                mailboxid=row.mailboxid or f"F{row.id}-{row.uidvalidity}")
                    )
                    self._folder_ids.pop((mailbox_id, name), None)
            moved = [name for name in conn.execute(
                select(subscriptions.c.name).where(subscriptions.c.mailbox_id == mailbox_id)).scalars()
                if name == old or name.startswith(old + DELIMITER)]
            for name in moved:
                conn.execute(delete(subscriptions).where(
                    and_(subscriptions.c.mailbox_id == mailbox_id, subscriptions.c.name == name)))
            for name in moved:
                _subscribe(conn, mailbox_id, new + name[len(old):])

        await self._tx(tx)

    async def set_subscribed(self, mailbox_id: int, name: str, subscribed: bool) -> None:
        """Subscribe to an existing folder's name (NotFound if there is none, as Dovecot
        answers SUBSCRIBE), or take a name off the subscriptions, whether a folder has
        it or not (RFC 9051 section 6.3.8: how a client drops a deleted mailbox's name)."""
        folder_name = normalise_folder_name(name)

        def tx(conn: Connection) -> bool:
            if not subscribed:
                conn.execute(delete(subscriptions).where(
                    and_(subscriptions.c.mailbox_id == mailbox_id, subscriptions.c.name == folder_name)))
                return True
            if conn.execute(select(folders.c.id).where(
                    and_(folders.c.mailbox_id == mailbox_id, folders.c.name == folder_name))).first() is None:
                return False
            _subscribe(conn, mailbox_id, folder_name)
            return True

        if not await self._tx(tx):
            raise _no_such(name)

    async def subscribed_names(self, mailbox_id: int) -> list[str]:
        """Every subscribed name of a mailbox, its folder existing or not, sorted."""
        def read(conn: Connection) -> list[str]:
            return list(conn.execute(select(subscriptions.c.name).where(subscriptions.c.mailbox_id == mailbox_id)
                                     .order_by(subscriptions.c.name)).scalars())

        return await self._ro_small(read)  # tens of names, read by key

    async def folder_status(self, folder_id: int) -> FolderStatus:
        def read(conn: Connection) -> FolderStatus:
            folder = _folder_by_id(conn, folder_id)
            if folder is None:
                raise NotFound(f"folder {folder_id}")
            counts = conn.execute(STATUS, {"b_folder": folder_id}).one()
            return FolderStatus(
                messages=counts[0], size=int(counts[1]), unseen=int(counts[2]), deleted=int(counts[3]),
                uidnext=folder.uidnext, uidvalidity=folder.uidvalidity, highestmodseq=folder.highestmodseq,
            )

        return await self._ro(read)
