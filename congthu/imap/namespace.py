"""Mailbox names: the personal namespace and the shared one (RFC 2342, RFC 4314).

A user's own folders are named as in the store ("INBOX", "Sent", "Dự án/2026"). The
folders delegated to them (``congthu.delegation``, Điều 12) appear under
``Shared/<owner address>/<folder>``, e.g. ``Shared/vanthu@soctrang.gov.vn/INBOX``;
"Shared" and "Shared/<address>" themselves are \\Noselect.

Rights are per folder (RFC 4314 section 2: an ACL belongs to a mailbox name): a folder's
own grant, else the mailbox-wide one. A delegated folder without "l" does not exist for
the user: LIST leaves it out and every command naming it answers NO [NONEXISTENT], as
for a folder that is not there (RFC 4314 sections 4 and 6: never reveal its existence).
With "l" but not "r" it is listed, and SELECT/EXAMINE/STATUS answer NO [NOPERM]. A user
with no grant at all on a mailbox sees nothing of it. A personal folder cannot be called
"Shared".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from congthu import delegation
from congthu.store import DELIMITER, Folder, Mailbox, normalise_folder_name

if TYPE_CHECKING:
    from congthu.app import App

SHARED = "Shared"

__all__ = ["SHARED", "Namespaces", "Target", "NoSuchName"]


class NoSuchName(Exception):
    """The name is not a mailbox this user can see (NO [NONEXISTENT])."""


@dataclass(frozen=True)
class Target:
    mailbox_id: int
    owner: str  # the owner's address
    folder: str  # the folder's name in the store
    rights: str  # RFC 4314 rights of this user on it
    shared: bool

    @property
    def display(self) -> str:
        """The IMAP name (before modified UTF-7 encoding)."""
        if self.shared:
            return f"{SHARED}{DELIMITER}{self.owner}{DELIMITER}{self.folder}"
        return self.folder

    def may(self, right: str) -> bool:
        return right in self.rights

    def permanent_flags(self) -> list[str]:
        """The flags these rights let the user store (RFC 4314 section 4: "w" for
        \\Answered, \\Flagged, \\Draft and keywords, "t" for \\Deleted, "s" for \\Seen):
        the PERMANENTFLAGS of a read-write SELECT."""
        return [flag for right, flag in _FLAG_RIGHTS if right in self.rights]


_FLAG_RIGHTS = (("w", "\\Answered"), ("w", "\\Flagged"), ("t", "\\Deleted"), ("s", "\\Seen"),
                ("w", "\\Draft"), ("w", "\\*"))


class Namespaces:
    __slots__ = ("app", "user")

    def __init__(self, app: App, user: Mailbox) -> None:
        self.app = app
        self.user = user

    async def resolve(self, name: str) -> Target:
        """Map an IMAP name (Unicode) to a mailbox, folder and rights. The folder may not
        exist (CREATE, RENAME's new name): then the rights are those on its nearest
        existing parent (RFC 4314 section 4: CREATE and RENAME need "k" there), or the
        mailbox-wide ones at the top. NoSuchName if the name is outside anything visible."""
        name = normalise_folder_name(name)
        if not name:
            raise NoSuchName(name)
        parts = name.split(DELIMITER)
        if parts[0].lower() != SHARED.lower():
            return Target(self.user.id, self.user.address, name, delegation.ALL_RIGHTS, False)
        if len(parts) < 3:
            raise NoSuchName(name)
        owner_address = parts[1].lower()
        folder_name = normalise_folder_name(DELIMITER.join(parts[2:]))
        if owner_address == self.user.address:
            return Target(self.user.id, self.user.address, folder_name, delegation.ALL_RIGHTS, False)
        owner = await self.app.store.get_mailbox(owner_address)
        if owner is None or owner.status != "active":
            raise NoSuchName(name)
        access = await delegation.access_of(self.app, owner.id, self.user.id)
        if not access.any_lookup:
            raise NoSuchName(name)
        folder = await self.app.store.get_folder(owner.id, folder_name)
        if folder is not None:
            rights = access.rights(folder.id)
            if "l" not in rights:
                raise NoSuchName(name)
            return Target(owner.id, owner.address, folder.name, rights, True)
        rights = access.mailbox
        names = folder_name.split(DELIMITER)
        for i in range(len(names) - 1, 0, -1):
            parent = await self.app.store.get_folder(owner.id, DELIMITER.join(names[:i]))
            if parent is not None:
                # A parent the user cannot see gives no right (and no sign that it is there).
                rights = access.rights(parent.id) if "l" in access.rights(parent.id) else ""
                break
        return Target(owner.id, owner.address, folder_name, rights, True)

    async def visible(self) -> list[tuple[Target, Folder]]:
        """Every folder this user can see: their own, then the delegated ones with "l"."""
        out = [(Target(self.user.id, self.user.address, f.name, delegation.ALL_RIGHTS, False), f)
               for f in await self.app.store.list_folders(self.user.id)]
        for access in await delegation.accesses_of(self.app, self.user.id):
            if not access.owner_active or not access.any_lookup:
                continue
            for f in await self.app.store.list_folders(access.owner_mailbox_id):
                rights = access.rights(f.id)
                if "l" in rights:
                    out.append((Target(access.owner_mailbox_id, access.owner_address, f.name, rights, True), f))
        return out
