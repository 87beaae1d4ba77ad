"""Who may do what in whose mailbox: the grants (mailbox-wide and per folder) read back as
``Access`` (one user in one owner's mailbox) and ``Grant`` records, the effective rights
on a folder (its own grant, else the mailbox-wide one), ACLs, and send-as.

Only the grants in force at ``app.accounts.clock()`` count (``term.in_force``, the one
check of a delegation's end): every read here that a door acts on leaves the expired ones
out; ``grants_of`` / ``delegated_to`` / ``list_grants`` with ``expired=True`` give them
too, for the console and ``congthu delegate list``.

The delegation tables hold only ids; the owners' and grantees' addresses and the folders'
names and mailboxes come from the store (``congthu.store.lookup``) in the same read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, bindparam, select, true

from congthu.delegation.rights import ALL_RIGHTS, SEND_AS
from congthu.delegation.tables import delegations, folder_delegations
from congthu.delegation.term import aware, in_force
from congthu.store.lookup import folder_ids_of, folder_mailbox_id, folders_by_ids, mailboxes_by_ids
from congthu.store.rows import Compiled

if TYPE_CHECKING:
    from congthu.app import App


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
    # The delegation's end (None: none); see ``congthu.delegation.term``.
    expires_at: datetime | None = None

    def in_force(self, now: datetime) -> bool:
        return in_force(self.expires_at, now)


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


# The grants to one grantee (of one owner): built and compiled once, with parameters, and
# run on SQLite straight on the driver (``Compiled``), so that a read before every LIST or
# delegated command costs little more than its query (SQLAlchemy's cost per statement was
# several times the query's).
_WHOLE = select(delegations.c.owner_mailbox_id, delegations.c.rights, delegations.c.expires_at) \
    .where(delegations.c.grantee_mailbox_id == bindparam("b_grantee"))
_WHOLE_TO = Compiled(_WHOLE)
_WHOLE_TO_FROM = Compiled(_WHOLE.where(delegations.c.owner_mailbox_id == bindparam("b_owner")))
_FOLDERS_TO = Compiled(
    select(folder_delegations.c.folder_id, folder_delegations.c.rights, folder_delegations.c.expires_at)
    .where(folder_delegations.c.grantee_mailbox_id == bindparam("b_grantee")))


# (rights, expires_at) of one grant: on a folder, on a whole mailbox (``rights_of``).
_FOLDER_GRANT = Compiled(
    select(folder_delegations.c.rights, folder_delegations.c.expires_at)
    .where(and_(folder_delegations.c.folder_id == bindparam("b_folder"),
                folder_delegations.c.grantee_mailbox_id == bindparam("b_grantee"))))
_WHOLE_GRANT = Compiled(
    select(delegations.c.rights, delegations.c.expires_at)
    .where(and_(delegations.c.owner_mailbox_id == bindparam("b_owner"),
                delegations.c.grantee_mailbox_id == bindparam("b_grantee"))))


def _read_accesses(conn: Connection, grantee_id: int, owner_id: int | None, now: datetime) -> dict[int, Access]:
    # Rows of (owner or folder id, rights, expires_at).
    whole = _WHOLE_TO.typed(conn, b_grantee=grantee_id) if owner_id is None \
        else _WHOLE_TO_FROM.typed(conn, b_grantee=grantee_id, b_owner=owner_id)
    mailbox_rights = {int(owner): rights for owner, rights, ends in whole if in_force(ends, now)}
    per_folder = [(folder_id, rights) for folder_id, rights, ends in _FOLDERS_TO.typed(conn, b_grantee=grantee_id)
                  if in_force(ends, now)]
    folders = folders_by_ids(conn, [folder_id for folder_id, _rights in per_folder]) if per_folder else {}
    folder_rights: dict[int, dict[int, str]] = {}
    for folder_id, rights in per_folder:
        folder = folders.get(folder_id)
        if folder is not None and (owner_id is None or folder.mailbox_id == owner_id):
            folder_rights.setdefault(folder.mailbox_id, {})[folder.id] = rights
    owners = mailboxes_by_ids(conn, set(mailbox_rights) | set(folder_rights))
    return {oid: Access(oid, owner.address, owner.status == "active", mailbox_rights.get(oid, ""),
                        folder_rights.get(oid, {}))
            for oid, owner in owners.items()}


async def access_of(app: App, owner_mailbox_id: int, user_mailbox_id: int) -> Access:
    """What ``user`` may do in ``owner``'s mailbox (everything for the owner)."""
    if owner_mailbox_id == user_mailbox_id:
        owner = await app.store.get_mailbox_by_id(owner_mailbox_id)
        return Access(owner_mailbox_id, owner.address if owner else "", owner is not None and owner.status == "active",
                      ALL_RIGHTS, {})
    # A few rows by key, read again before every IMAP command on a delegated folder: on
    # the loop's own connection (run_small_read), no thread hop.
    found = await app.db.run_small_read(_read_accesses, user_mailbox_id, owner_mailbox_id, app.accounts.clock())
    if owner_mailbox_id in found:
        return found[owner_mailbox_id]
    return Access(owner_mailbox_id, "", False)


async def accesses_of(app: App, user_mailbox_id: int) -> list[Access]:
    """Every other mailbox in which the user has a grant (mailbox-wide or on a folder),
    by owner address."""
    # Rows found by grantee (both tables are indexed by it), read before every LIST: on
    # the loop's own connection (run_small_read), no thread hop.
    found = await app.db.run_small_read(_read_accesses, user_mailbox_id, None, app.accounts.clock())
    return sorted(found.values(), key=lambda a: a.owner_address)


async def rights_of(app: App, owner_mailbox_id: int, user_mailbox_id: int, folder_id: int | None = None) -> str:
    """The rights ``user`` has on ``owner``'s mailbox: all for the owner; else, without
    ``folder_id``, the mailbox-wide grant's, and with it the effective rights on that
    folder (its own grant, else the mailbox-wide one)."""
    if owner_mailbox_id == user_mailbox_id:
        return ALL_RIGHTS
    now = app.accounts.clock()

    def read(conn: Connection) -> str:
        if folder_id is not None:
            own = _FOLDER_GRANT.first(conn, b_folder=folder_id, b_grantee=user_mailbox_id)
            if (own is not None and in_force(own[1], now)
                    and folder_mailbox_id(conn, folder_id) == owner_mailbox_id):
                return str(own[0])
        whole = _WHOLE_GRANT.first(conn, b_owner=owner_mailbox_id, b_grantee=user_mailbox_id)
        return str(whole[0]) if whole is not None and in_force(whole[1], now) else ""

    return await app.db.run_small_read(read)  # two rows by key, before every delegated command


def _read_grants(conn: Connection, on: int | None, to: int | None, either: int | None,
                 now: datetime | None) -> list[Grant]:
    """Grants on mailbox ``on``, to mailbox ``to``, on or to ``either`` (None: any); only
    those in force at ``now``, or every one with ``now`` None."""
    cw: Any = true()
    cf: Any = true()
    if on is not None:
        cw = delegations.c.owner_mailbox_id == on
        cf = folder_delegations.c.folder_id.in_(folder_ids_of(conn, on))
    if to is not None:
        cw, cf = delegations.c.grantee_mailbox_id == to, folder_delegations.c.grantee_mailbox_id == to
    if either is not None:
        cw = (delegations.c.owner_mailbox_id == either) | (delegations.c.grantee_mailbox_id == either)
        cf = (folder_delegations.c.folder_id.in_(folder_ids_of(conn, either))
              | (folder_delegations.c.grantee_mailbox_id == either))
    whole = [r for r in conn.execute(select(delegations.c.owner_mailbox_id, delegations.c.grantee_mailbox_id,
                                            delegations.c.rights, delegations.c.expires_at).where(cw))
             if now is None or in_force(r.expires_at, now)]
    per_folder = [r for r in conn.execute(select(folder_delegations.c.folder_id,
                                                 folder_delegations.c.grantee_mailbox_id,
                                                 folder_delegations.c.rights, folder_delegations.c.expires_at)
                                          .where(cf))
                  if now is None or in_force(r.expires_at, now)]
    folders = folders_by_ids(conn, [r.folder_id for r in per_folder])
    boxes = mailboxes_by_ids(conn, {r.owner_mailbox_id for r in whole} | {r.grantee_mailbox_id for r in whole}
                             | {f.mailbox_id for f in folders.values()}
                             | {r.grantee_mailbox_id for r in per_folder})
    out = [Grant(r.owner_mailbox_id, boxes[r.owner_mailbox_id].address, r.grantee_mailbox_id,
                 boxes[r.grantee_mailbox_id].address, r.rights, expires_at=_end(r.expires_at))
           for r in whole if r.owner_mailbox_id in boxes and r.grantee_mailbox_id in boxes]
    for r in per_folder:
        folder = folders.get(r.folder_id)
        if folder is None or folder.mailbox_id not in boxes or r.grantee_mailbox_id not in boxes:
            continue
        out.append(Grant(folder.mailbox_id, boxes[folder.mailbox_id].address, r.grantee_mailbox_id,
                         boxes[r.grantee_mailbox_id].address, r.rights, folder.id, folder.name,
                         _end(r.expires_at)))
    out.sort(key=lambda g: (g.owner_address, g.grantee_address, g.folder is not None, g.folder or ""))
    return out


def _end(expires_at: datetime | None) -> datetime | None:
    return aware(expires_at) if expires_at is not None else None


def _at(app: App, expired: bool) -> datetime | None:
    """The moment grants must be in force at (None: every grant, the expired too)."""
    return None if expired else app.accounts.clock()


async def grants_of(app: App, owner_mailbox_id: int, *, expired: bool = False) -> list[Grant]:
    """Every grant in force on this mailbox, mailbox-wide and per folder (``expired``:
    the expired ones too)."""
    return await app.db.run_read(_read_grants, owner_mailbox_id, None, None, _at(app, expired))


async def delegated_to(app: App, grantee_mailbox_id: int, *, expired: bool = False) -> list[Grant]:
    """Every grant in force to this mailbox, mailbox-wide and per folder (``expired``: the
    expired ones too)."""
    return await app.db.run_read(_read_grants, None, grantee_mailbox_id, None, _at(app, expired))


async def list_grants(app: App, mailbox_id: int | None = None, *, expired: bool = False) -> list[Grant]:
    """Grants in force on or to this mailbox, or every grant in force (``congthu delegate
    list``; ``expired``: the expired ones too)."""
    return await app.db.run_read(_read_grants, None, None, mailbox_id, _at(app, expired))


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
