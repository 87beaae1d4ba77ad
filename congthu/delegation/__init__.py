"""Delegated access to mailboxes (Điều 12, 13.3): who may open, read, change or send as
another mailbox (an organisation mailbox managed by a delegate), as a whole or folder by
folder. Every grant is explicit, and every grant, change and use is audited.

The rights are the letters of RFC 4314 section 2.1:

    l lookup (see the folder)       r read (SELECT, FETCH, SEARCH, COPY from)
    s keep \\Seen                    w write other flags and keywords
    i insert (APPEND, COPY into)    p post (unused: no submission address per folder)
    k create folders                x delete folders
    t set \\Deleted                  e expunge
    a administer (change the grants)

and one right of our own (RFC 4314 reserves the digits for such): "0", send as the
owner (From / MAIL FROM of the owner's address, Điều 12: the delegate answers for the
organisation). The owner has every right. The obsolete "c" and "d" of RFC 2086 are
accepted and stored as "k" and "xte" (RFC 4314 section 2.1.1).

Two kinds of grant (RFC 4314 section 2: an ACL belongs to each mailbox name, that is to
each folder):

- the mailbox-wide grant (owner, grantee, rights): the grantee's rights on INBOX and on
  every folder that has no grant of its own. It is the only one that can hold "0":
  sending as the organisation is not a property of a folder. Grants made before folder
  grants existed are of this kind and keep their meaning, the whole mailbox.
- a folder grant (folder, grantee, rights): replaces the mailbox-wide grant on that one
  folder, in either direction ("lr" on "Công văn đến" for a delegate with nothing else,
  or "" to hide one folder from a delegate of the whole mailbox). It is stored by the
  folder's id, so it follows RENAME and is deleted with the folder (RFC 4314 section 4:
  "The DELETE command MUST delete the ACL associated with the deleted mailbox"; RENAME
  "SHOULD NOT change the ACLs"). INBOX has none: its rights are the mailbox-wide grant,
  so over IMAP the ACL of INBOX is the mailbox-wide ACL (``congthu.imap.cmd_acl``).

So the effective rights on a folder are its own grant if there is one, else the
mailbox-wide grant. IMAP shows the delegated folders under the shared namespace
``Shared/<owner address>/...`` (``congthu.imap.namespace``); a folder without "l" is not
there at all for the delegate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, delete, insert, select, true, update

from congthu.delegation.tables import delegations, folder_delegations
from congthu.log import event

if TYPE_CHECKING:
    from congthu.app import App
    from congthu.store import Folder

__all__ = ["ALL_RIGHTS", "FOLDER_RIGHTS", "INBOX", "READ_ONLY", "SEND_AS", "Access", "Grant", "InvalidRights",
           "access_of", "accesses_of", "acl_of", "can_send_as", "create_folder", "delegated_to", "grant",
           "grants_of", "list_grants", "normalise_rights", "revoke", "rights_of", "with_virtual_rights"]

# RFC 4314 section 2.1, in canonical order.
RFC4314_RIGHTS = "lrswipkxtea"
SEND_AS = "0"
ALL_RIGHTS = RFC4314_RIGHTS + SEND_AS
# What a folder grant may hold: everything but send-as, which is mailbox-wide.
FOLDER_RIGHTS = RFC4314_RIGHTS
READ_ONLY = "lrs"
# The folder whose rights are the mailbox-wide grant.
INBOX = "INBOX"


class InvalidRights(ValueError):
    """A rights string with letters RFC 4314 does not define, or a grant that cannot be."""


@dataclass(frozen=True)
class Grant:
    owner_mailbox_id: int
    owner_address: str
    grantee_mailbox_id: int
    grantee_address: str
    rights: str
    # None: the mailbox-wide grant; else the folder's id and its current name.
    folder_id: int | None = None
    folder: str | None = None


@dataclass(frozen=True)
class Access:
    """Everything one user may do in one owner's mailbox: the mailbox-wide rights and
    the folders' own grants."""

    owner_mailbox_id: int
    owner_address: str
    owner_active: bool
    mailbox: str = ""
    folders: Mapping[int, str] = field(default_factory=dict)

    def rights(self, folder_id: int | None) -> str:
        """Effective rights on a folder: its own grant, else the mailbox-wide one."""
        if folder_id is not None and folder_id in self.folders:
            return self.folders[folder_id]
        return self.mailbox

    @property
    def any_lookup(self) -> bool:
        """May the user see anything of this mailbox ("l" somewhere)?"""
        return "l" in self.mailbox or any("l" in r for r in self.folders.values())


def normalise_rights(rights: str) -> str:
    """Canonical rights string; the obsolete "c" is "k", "d" is "xte" (RFC 4314 2.1.1)."""
    letters = set()
    for ch in rights:
        if ch == "c":
            letters.add("k")
        elif ch == "d":
            letters.update("xte")
        elif ch in ALL_RIGHTS:
            letters.add(ch)
        else:
            raise InvalidRights(f"Quyền không hợp lệ / invalid right {ch!r} (allowed: {ALL_RIGHTS})")
    return "".join(ch for ch in ALL_RIGHTS if ch in letters)


def with_virtual_rights(rights: str) -> str:
    """Rights as shown in MYRIGHTS and ACL responses: with the virtual "c" when "k" is
    there and "d" when any of "x", "t", "e" is (RFC 4314 section 2.1.1, for RFC 2086
    clients; we define "c" as "k" and "d" as "xte")."""
    out = rights
    if "k" in rights:
        out += "c"
    if any(r in rights for r in "xte"):
        out += "d"
    return out


async def _audit(app: App, action: str, actor: str, target: str, details: dict[str, str]) -> None:
    try:
        from congthu import audit
    except ImportError:  # pragma: no cover - the audit trail ships with the same release
        event(action, actor=actor, target=target, **details)
        return
    await audit.record(app, action, actor, target, details)


# -- reading ------------------------------------------------------------------------------

def _read_accesses(conn: Connection, grantee_id: int, owner_id: int | None) -> dict[int, Access]:
    from congthu.store.tables import folders, mailboxes

    owner = mailboxes.alias("owner")
    whole = select(delegations.c.owner_mailbox_id, owner.c.address, owner.c.status, delegations.c.rights) \
        .join(owner, owner.c.id == delegations.c.owner_mailbox_id) \
        .where(delegations.c.grantee_mailbox_id == grantee_id)
    per_folder = select(folders.c.mailbox_id, owner.c.address, owner.c.status, folder_delegations.c.folder_id,
                        folder_delegations.c.rights) \
        .join(folders, folders.c.id == folder_delegations.c.folder_id) \
        .join(owner, owner.c.id == folders.c.mailbox_id) \
        .where(folder_delegations.c.grantee_mailbox_id == grantee_id)
    if owner_id is not None:
        whole = whole.where(delegations.c.owner_mailbox_id == owner_id)
        per_folder = per_folder.where(folders.c.mailbox_id == owner_id)
    mailbox_rights: dict[int, str] = {}
    folder_rights: dict[int, dict[int, str]] = {}
    owners: dict[int, tuple[str, bool]] = {}
    for r in conn.execute(whole):
        mailbox_rights[r.owner_mailbox_id] = r.rights
        owners[r.owner_mailbox_id] = (r.address, r.status == "active")
    for f in conn.execute(per_folder):
        folder_rights.setdefault(f.mailbox_id, {})[f.folder_id] = f.rights
        owners[f.mailbox_id] = (f.address, f.status == "active")
    return {oid: Access(oid, address, active, mailbox_rights.get(oid, ""), folder_rights.get(oid, {}))
            for oid, (address, active) in owners.items()}


async def access_of(app: App, owner_mailbox_id: int, user_mailbox_id: int) -> Access:
    """What ``user`` may do in ``owner``'s mailbox (everything for the owner)."""
    if owner_mailbox_id == user_mailbox_id:
        owner = await app.store.get_mailbox_by_id(owner_mailbox_id)
        return Access(owner_mailbox_id, owner.address if owner else "", owner is not None and owner.status == "active",
                      ALL_RIGHTS, {})
    found = await app.db.run_read(_read_accesses, user_mailbox_id, owner_mailbox_id)
    if owner_mailbox_id in found:
        return found[owner_mailbox_id]
    return Access(owner_mailbox_id, "", False)


async def accesses_of(app: App, user_mailbox_id: int) -> list[Access]:
    """Every other mailbox in which the user has a grant (mailbox-wide or on a folder),
    by owner address."""
    found = await app.db.run_read(_read_accesses, user_mailbox_id, None)
    return sorted(found.values(), key=lambda a: a.owner_address)


async def rights_of(app: App, owner_mailbox_id: int, user_mailbox_id: int, folder_id: int | None = None) -> str:
    """The rights ``user`` has on ``owner``'s mailbox: all for the owner; else, without
    ``folder_id``, the mailbox-wide grant's, and with it the effective rights on that
    folder (its own grant, else the mailbox-wide one)."""
    if owner_mailbox_id == user_mailbox_id:
        return ALL_RIGHTS
    from congthu.store.tables import folders

    def read(conn: Connection) -> str:
        if folder_id is not None:
            own = conn.execute(
                select(folder_delegations.c.rights)
                .join(folders, folders.c.id == folder_delegations.c.folder_id)
                .where(and_(folder_delegations.c.folder_id == folder_id,
                            folder_delegations.c.grantee_mailbox_id == user_mailbox_id,
                            folders.c.mailbox_id == owner_mailbox_id))
            ).scalar()
            if own is not None:
                return str(own)
        whole = conn.execute(
            select(delegations.c.rights).where(and_(delegations.c.owner_mailbox_id == owner_mailbox_id,
                                                    delegations.c.grantee_mailbox_id == user_mailbox_id))
        ).scalar()
        return str(whole or "")

    return await app.db.run_read(read)


def _read_grants(conn: Connection, on: int | None, to: int | None, either: int | None) -> list[Grant]:
    """Grants on mailbox ``on``, to mailbox ``to``, on or to ``either`` (None: any)."""
    from congthu.store.tables import folders, mailboxes

    owner = mailboxes.alias("owner")
    grantee = mailboxes.alias("grantee")
    whole = select(delegations.c.owner_mailbox_id, owner.c.address.label("owner_address"),
                   delegations.c.grantee_mailbox_id, grantee.c.address.label("grantee_address"),
                   delegations.c.rights) \
        .join(owner, owner.c.id == delegations.c.owner_mailbox_id) \
        .join(grantee, grantee.c.id == delegations.c.grantee_mailbox_id)
    per_folder = select(folders.c.mailbox_id.label("owner_mailbox_id"), owner.c.address.label("owner_address"),
                        folder_delegations.c.grantee_mailbox_id, grantee.c.address.label("grantee_address"),
                        folder_delegations.c.rights, folders.c.id.label("folder_id"), folders.c.name) \
        .join(folders, folders.c.id == folder_delegations.c.folder_id) \
        .join(owner, owner.c.id == folders.c.mailbox_id) \
        .join(grantee, grantee.c.id == folder_delegations.c.grantee_mailbox_id)
    cw: Any = true()
    cf: Any = true()
    if on is not None:
        cw, cf = delegations.c.owner_mailbox_id == on, folders.c.mailbox_id == on
    if to is not None:
        cw, cf = delegations.c.grantee_mailbox_id == to, folder_delegations.c.grantee_mailbox_id == to
    if either is not None:
        cw = (delegations.c.owner_mailbox_id == either) | (delegations.c.grantee_mailbox_id == either)
        cf = (folders.c.mailbox_id == either) | (folder_delegations.c.grantee_mailbox_id == either)
    out = [Grant(r.owner_mailbox_id, r.owner_address, r.grantee_mailbox_id, r.grantee_address, r.rights)
           for r in conn.execute(whole.where(cw))]
    out += [Grant(r.owner_mailbox_id, r.owner_address, r.grantee_mailbox_id, r.grantee_address, r.rights,
                  r.folder_id, r.name) for r in conn.execute(per_folder.where(cf))]
    out.sort(key=lambda g: (g.owner_address, g.grantee_address, g.folder is not None, g.folder or ""))
    return out


async def grants_of(app: App, owner_mailbox_id: int) -> list[Grant]:
    """Every grant on this mailbox, mailbox-wide and per folder."""
    return await app.db.run_read(_read_grants, owner_mailbox_id, None, None)


async def delegated_to(app: App, grantee_mailbox_id: int) -> list[Grant]:
    """Every grant to this mailbox, mailbox-wide and per folder."""
    return await app.db.run_read(_read_grants, None, grantee_mailbox_id, None)


async def list_grants(app: App, mailbox_id: int | None = None) -> list[Grant]:
    """Grants on or to this mailbox, or every grant (``congthu delegate list``)."""
    return await app.db.run_read(_read_grants, None, None, mailbox_id)


async def acl_of(app: App, owner_mailbox_id: int, folder_id: int | None) -> list[tuple[int, str, str]]:
    """The ACL of one folder without its owner: (grantee id, address, effective rights)
    of each grantee with any right there. ``folder_id`` None (or INBOX's id, which has no
    grant of its own) gives the mailbox-wide grants."""
    grants = await grants_of(app, owner_mailbox_id)
    whole = {g.grantee_mailbox_id: g for g in grants if g.folder_id is None}
    own = {g.grantee_mailbox_id: g for g in grants if g.folder_id is not None and g.folder_id == folder_id}
    out = []
    for grantee_id in sorted(set(whole) | set(own), key=lambda i: (whole.get(i) or own[i]).grantee_address):
        g = own.get(grantee_id) or whole[grantee_id]
        if g.rights:
            out.append((grantee_id, g.grantee_address, g.rights))
    return out


# -- changing -----------------------------------------------------------------------------

async def _folder_of(app: App, owner_mailbox_id: int, folder_id: int) -> Folder:
    folder = await app.store.get_folder_by_id(folder_id)
    if folder is None or folder.mailbox_id != owner_mailbox_id:
        raise LookupError("Không có thư mục / no such folder")
    if folder.name == INBOX:
        raise InvalidRights("Quyền trên INBOX là quyền trên cả hộp thư: ủy quyền không chỉ định thư mục / "
                            "INBOX's rights are the mailbox-wide grant: grant without a folder")
    return folder


async def grant(app: App, owner_mailbox_id: int, grantee_mailbox_id: int, rights: str, *,
                folder_id: int | None = None, granted_by: str = "") -> str:
    """Set the grantee's rights on the owner's mailbox (``folder_id`` None: the
    mailbox-wide grant) or on one of its folders, replacing earlier ones; returns the
    canonical rights. Empty mailbox-wide rights remove the mailbox-wide grant (folder
    grants stay); empty folder rights are kept: "nothing on this folder"."""
    rights = normalise_rights(rights)
    if owner_mailbox_id == grantee_mailbox_id:
        raise InvalidRights("Không thể ủy quyền cho chính mình / cannot delegate to oneself")
    owner = await app.store.get_mailbox_by_id(owner_mailbox_id)
    grantee = await app.store.get_mailbox_by_id(grantee_mailbox_id)
    if owner is None or grantee is None:
        raise LookupError("Không có hộp thư / no such mailbox")
    folder = None
    if folder_id is not None:
        folder = await _folder_of(app, owner_mailbox_id, folder_id)
        if SEND_AS in rights:
            raise InvalidRights("Quyền gửi thay (0) chỉ cấp cho cả hộp thư / the send-as right (0) is "
                                "mailbox-wide, not per folder")
    elif not rights:
        await _remove(app, owner_mailbox_id, grantee_mailbox_id, whole=True, folder_ids=[], by=granted_by)
        return ""
    now = datetime.now(UTC)

    def tx(conn: Connection) -> None:
        if folder_id is None:
            table, where = delegations, and_(delegations.c.owner_mailbox_id == owner_mailbox_id,
                                             delegations.c.grantee_mailbox_id == grantee_mailbox_id)
            key = {"owner_mailbox_id": owner_mailbox_id}
        else:
            table, where = folder_delegations, and_(folder_delegations.c.folder_id == folder_id,
                                                    folder_delegations.c.grantee_mailbox_id == grantee_mailbox_id)
            key = {"folder_id": folder_id}
        result = conn.execute(update(table).where(where).values(rights=rights, granted_by=granted_by, updated_at=now))
        if not result.rowcount:
            conn.execute(insert(table).values(grantee_mailbox_id=grantee_mailbox_id, rights=rights,
                                              granted_by=granted_by, created_at=now, updated_at=now, **key))

    await app.db.run_write(tx)
    details = {"grantee": grantee.address, "rights": rights}
    if folder is not None:
        details["folder"] = folder.name
    await _audit(app, "delegation.granted", granted_by or "system", owner.address, details)
    return rights


async def _remove(app: App, owner_mailbox_id: int, grantee_mailbox_id: int, *, whole: bool,
                  folder_ids: list[int] | None, by: str) -> bool:
    """Delete the mailbox-wide grant (``whole``) and the folder grants of ``folder_ids``
    (None: all of them on this mailbox); audit each one removed."""
    from congthu.store.tables import folders

    def tx(conn: Connection) -> tuple[bool, list[str]]:
        removed_whole = False
        if whole:
            removed_whole = bool(conn.execute(delete(delegations).where(and_(
                delegations.c.owner_mailbox_id == owner_mailbox_id,
                delegations.c.grantee_mailbox_id == grantee_mailbox_id))).rowcount)
        condition = and_(folder_delegations.c.grantee_mailbox_id == grantee_mailbox_id,
                         folders.c.mailbox_id == owner_mailbox_id)
        if folder_ids is not None:
            condition = and_(condition, folder_delegations.c.folder_id.in_(folder_ids))
        rows = conn.execute(select(folder_delegations.c.id, folders.c.name)
                            .join(folders, folders.c.id == folder_delegations.c.folder_id).where(condition)).all()
        if rows:
            conn.execute(delete(folder_delegations).where(folder_delegations.c.id.in_([r.id for r in rows])))
        return removed_whole, sorted(r.name for r in rows)

    removed_whole, removed_folders = await app.db.run_write(tx)
    if removed_whole or removed_folders:
        owner = await app.store.get_mailbox_by_id(owner_mailbox_id)
        grantee = await app.store.get_mailbox_by_id(grantee_mailbox_id)
        target = owner.address if owner else str(owner_mailbox_id)
        details = {"grantee": grantee.address if grantee else str(grantee_mailbox_id)}
        if removed_whole:
            await _audit(app, "delegation.revoked", by or "system", target, details)
        for name in removed_folders:
            await _audit(app, "delegation.revoked", by or "system", target, {**details, "folder": name})
    return removed_whole or bool(removed_folders)


async def revoke(app: App, owner_mailbox_id: int, grantee_mailbox_id: int, *, folder_id: int | None = None,
                 revoked_by: str = "") -> bool:
    """Without ``folder_id``: take away every right of the grantee on the owner's
    mailbox (the mailbox-wide grant and every folder grant). With it: remove that
    folder's own grant, so the folder follows the mailbox-wide grant again. True if
    there was something to remove."""
    if folder_id is None:
        return await _remove(app, owner_mailbox_id, grantee_mailbox_id, whole=True, folder_ids=None, by=revoked_by)
    return await _remove(app, owner_mailbox_id, grantee_mailbox_id, whole=False, folder_ids=[folder_id],
                         by=revoked_by)


async def create_folder(app: App, mailbox_id: int, name: str, special_use: str | None = None, *,
                        created_by: str = "") -> Folder:
    """Create a folder (and its missing parents) like ``store.create_folder``; the new
    folders inherit the folder grants of their nearest existing parent (RFC 4314
    section 4, CREATE: "it SHOULD inherit the ACL from the parent mailbox"). A folder
    whose parent has no grant of its own follows the mailbox-wide grant anyway."""
    from congthu.store import DELIMITER, normalise_folder_name

    name = normalise_folder_name(name)
    parts = name.split(DELIMITER)
    parent = None
    for i in range(len(parts) - 1, 0, -1):
        parent = await app.store.get_folder(mailbox_id, DELIMITER.join(parts[:i]))
        if parent is not None:
            break
    folder = await app.store.create_folder(mailbox_id, name, special_use)
    if parent is None or parent.name == INBOX:
        return folder
    inherited = [g for g in await grants_of(app, mailbox_id) if g.folder_id == parent.id]
    if not inherited:
        return folder
    depth = len(parent.name.split(DELIMITER))
    for j in range(depth + 1, len(parts) + 1):
        child = folder if j == len(parts) else await app.store.get_folder(mailbox_id, DELIMITER.join(parts[:j]))
        if child is None:
            continue
        for g in inherited:
            await grant(app, mailbox_id, g.grantee_mailbox_id, g.rights, folder_id=child.id,
                        granted_by=created_by or "system")
    return folder


async def can_send_as(app: App, mailbox_id: int, address: str) -> bool:
    """May the owner of ``mailbox_id`` send with ``address`` as sender (From / MAIL FROM)?
    Yes for its own address, and for a mailbox delegated to it with the send-as right in
    the mailbox-wide grant (folder grants never carry it)."""
    mailbox = await app.store.get_mailbox_by_id(mailbox_id)
    if mailbox is None:
        return False
    wanted = address.strip().lower()
    if mailbox.address == wanted:
        return True
    owner = await app.store.get_mailbox(wanted)
    if owner is None or owner.status != "active":
        return False
    return SEND_AS in await rights_of(app, owner.id, mailbox_id)
