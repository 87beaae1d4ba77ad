"""Mailbox names: the personal namespace and the shared one (RFC 2342, RFC 4314).

A user's own folders are named as in the store ("INBOX", "Sent", "Dự án/2026"). The
mailboxes delegated to them (``congthu.delegation``, Điều 12) appear under
``Shared/<owner address>/<folder>``, e.g. ``Shared/vanthu@soctrang.gov.vn/INBOX``;
"Shared" and "Shared/<address>" themselves are \\Noselect. A user can see a delegated
mailbox only with the "l" right; without any grant it does not exist for them (RFC 4314
section 4: no NOPERM that would reveal it). A personal folder cannot be called "Shared".
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


class Namespaces:
    __slots__ = ("app", "user")

    def __init__(self, app: App, user: Mailbox) -> None:
        self.app = app
        self.user = user

    async def resolve(self, name: str) -> Target:
        """Map an IMAP name (Unicode) to a mailbox, folder and rights. The folder may not
        exist (CREATE); NoSuchName if the name is outside anything visible."""
        name = normalise_folder_name(name)
        if not name:
            raise NoSuchName(name)
        parts = name.split(DELIMITER)
        if parts[0].lower() != SHARED.lower():
            return Target(self.user.id, self.user.address, name, delegation.ALL_RIGHTS, False)
        if len(parts) < 3:
            raise NoSuchName(name)
        owner_address = parts[1].lower()
        if owner_address == self.user.address:
            return Target(self.user.id, self.user.address, normalise_folder_name(DELIMITER.join(parts[2:])),
                          delegation.ALL_RIGHTS, False)
        owner = await self.app.store.get_mailbox(owner_address)
        if owner is None or owner.status != "active":
            raise NoSuchName(name)
        rights = await delegation.rights_of(self.app, owner.id, self.user.id)
        if "l" not in rights:
            raise NoSuchName(name)
        return Target(owner.id, owner.address, normalise_folder_name(DELIMITER.join(parts[2:])), rights, True)

    async def visible(self) -> list[tuple[Target, Folder]]:
        """Every folder this user can see: their own, then the delegated ones with "l"."""
        out = [(Target(self.user.id, self.user.address, f.name, delegation.ALL_RIGHTS, False), f)
               for f in await self.app.store.list_folders(self.user.id)]
        for g in await delegation.delegated_to(self.app, self.user.id):
            if "l" not in g.rights:
                continue
            owner = await self.app.store.get_mailbox_by_id(g.owner_mailbox_id)
            if owner is None or owner.status != "active":
                continue
            for f in await self.app.store.list_folders(g.owner_mailbox_id):
                out.append((Target(g.owner_mailbox_id, g.owner_address, f.name, g.rights, True), f))
        return out

    async def shared_roots(self) -> list[str]:
        """"Shared/<address>" of each visible delegated mailbox (\\Noselect nodes)."""
        return [f"{SHARED}{DELIMITER}{g.owner_address}"
                for g in await delegation.delegated_to(self.app, self.user.id) if "l" in g.rights]
