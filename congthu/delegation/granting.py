"""Changing the grants: granting and revoking rights on a mailbox or one of its folders,
with the delegation's end (``term``), each change audited (Điều 12, 13.3), and creating a
folder whose new folders inherit their parent's folder grants (RFC 4314 section 4).

A delegation's rows share one end. A grant given an end (``expires_at``) sets it on
every row of the delegation; a grant without one (``KEEP``) takes the end of the rows in
force. An expired delegation is over: a new grant to the same delegate starts a new one,
and the expired rows are removed first (so an expired "nothing on this folder" never
outlives the delegation it hid the folder from)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, delete, insert, select, update

from congthu import audit
from congthu.delegation.access import grants_of
from congthu.delegation.rights import INBOX, SEND_AS, InvalidRights, normalise_rights
from congthu.delegation.tables import delegations, folder_delegations
from congthu.delegation.term import KEEP, Keep, aware, in_force
from congthu.store import DELIMITER, normalise_folder_name
from congthu.store.lookup import folder_ids_of, folders_by_ids

if TYPE_CHECKING:
    from congthu.app import App
    from congthu.store import Folder


async def _folder_of(app: App, owner_mailbox_id: int, folder_id: int) -> Folder:
    folder = await app.store.get_folder_by_id(folder_id)
    if folder is None or folder.mailbox_id != owner_mailbox_id:
        raise LookupError("Không có thư mục / no such folder")
    if folder.name == INBOX:
        raise InvalidRights("Quyền trên INBOX là quyền trên cả hộp thư: ủy quyền không chỉ định thư mục / "
                            "INBOX's rights are the mailbox-wide grant: grant without a folder")
    return folder


def _pair(conn: Connection, owner_mailbox_id: int, grantee_mailbox_id: int) -> tuple[Any, Any]:
    """The conditions on both tables selecting one delegation's rows (owner, grantee)."""
    return (and_(delegations.c.owner_mailbox_id == owner_mailbox_id,
                 delegations.c.grantee_mailbox_id == grantee_mailbox_id),
            and_(folder_delegations.c.grantee_mailbox_id == grantee_mailbox_id,
                 folder_delegations.c.folder_id.in_(folder_ids_of(conn, owner_mailbox_id))))


def _delegation_end(conn: Connection, owner_mailbox_id: int, grantee_mailbox_id: int,
                    now: datetime) -> datetime | None:
    """The end of the delegation's rows in force (None: no end, or no row in force); the
    expired rows are removed (the delegation they belonged to is over)."""
    whole, per_folder = _pair(conn, owner_mailbox_id, grantee_mailbox_id)
    ends = [r.expires_at for r in conn.execute(select(delegations.c.expires_at).where(whole))]
    ends += [r.expires_at for r in conn.execute(select(folder_delegations.c.expires_at).where(per_folder))]
    if ends and not any(in_force(e, now) for e in ends):
        conn.execute(delete(delegations).where(whole))
        conn.execute(delete(folder_delegations).where(per_folder))
        return None
    live = [aware(e) for e in ends if e is not None and in_force(e, now)]
    return min(live) if live else None


async def grant(app: App, owner_mailbox_id: int, grantee_mailbox_id: int, rights: str, *,
                folder_id: int | None = None, granted_by: str = "",
                expires_at: datetime | None | Keep = KEEP) -> str:
    """Set the grantee's rights on the owner's mailbox (``folder_id`` None: the
    mailbox-wide grant) or on one of its folders, replacing earlier ones; returns the
    canonical rights. Empty mailbox-wide rights remove the mailbox-wide grant (folder
    grants stay); empty folder rights are kept: "nothing on this folder".

    ``expires_at`` is the delegation's end, set on all its rows (None: no end); left
    out, the row takes the end the delegation has (``term``)."""
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
    clock = app.accounts.clock()

    def tx(conn: Connection) -> datetime | None:
        end = _delegation_end(conn, owner_mailbox_id, grantee_mailbox_id, clock)
        if not isinstance(expires_at, Keep):
            end = expires_at
            whole, per_folder = _pair(conn, owner_mailbox_id, grantee_mailbox_id)
            conn.execute(update(delegations).where(whole).values(expires_at=end))
            conn.execute(update(folder_delegations).where(per_folder).values(expires_at=end))
        if folder_id is None:
            table, where = delegations, and_(delegations.c.owner_mailbox_id == owner_mailbox_id,
                                             delegations.c.grantee_mailbox_id == grantee_mailbox_id)
            key = {"owner_mailbox_id": owner_mailbox_id}
        else:
            table, where = folder_delegations, and_(folder_delegations.c.folder_id == folder_id,
                                                    folder_delegations.c.grantee_mailbox_id == grantee_mailbox_id)
            key = {"folder_id": folder_id}
        values = {"rights": rights, "granted_by": granted_by, "updated_at": now, "expires_at": end}
        result = conn.execute(update(table).where(where).values(**values))
        if not result.rowcount:
            conn.execute(insert(table).values(grantee_mailbox_id=grantee_mailbox_id, created_at=now, **values,
                                              **key))
        return end

    end = await app.db.run_write(tx)
    details = {"grantee": grantee.address, "rights": rights}
    if folder is not None:
        details["folder"] = folder.name
    if end is not None:
        details["until"] = aware(end).isoformat()
    await audit.record(app, "delegation.granted", granted_by or "system", owner.address, details)
    return rights


async def set_end(app: App, owner_mailbox_id: int, grantee_mailbox_id: int, expires_at: datetime | None, *,
                  changed_by: str = "") -> bool:
    """Set (or, with None, clear) the end of a delegation in force, on every row of it
    (``term``: the end belongs to the delegation), its rights unchanged; audited
    ``delegation.end_changed``. False if the grantee has no delegation in force on the
    owner's mailbox (none, or one already over: a new grant starts a new one)."""
    clock = app.accounts.clock()

    def tx(conn: Connection) -> datetime | None | bool:
        whole, per_folder = _pair(conn, owner_mailbox_id, grantee_mailbox_id)
        ends = [r.expires_at for r in conn.execute(select(delegations.c.expires_at).where(whole))]
        ends += [r.expires_at for r in conn.execute(select(folder_delegations.c.expires_at).where(per_folder))]
        if not any(in_force(e, clock) for e in ends):
            return False
        live = [aware(e) for e in ends if e is not None]
        before = min(live) if live else None
        conn.execute(update(delegations).where(whole).values(expires_at=expires_at))
        conn.execute(update(folder_delegations).where(per_folder).values(expires_at=expires_at))
        return before

    before = await app.db.run_write(tx)
    if before is False:
        return False
    owner = await app.store.get_mailbox_by_id(owner_mailbox_id)
    grantee = await app.store.get_mailbox_by_id(grantee_mailbox_id)
    await audit.record(app, "delegation.end_changed", changed_by or "system",
                       owner.address if owner else str(owner_mailbox_id), {
                           "grantee": grantee.address if grantee else str(grantee_mailbox_id),
                           "until": aware(expires_at).isoformat() if expires_at is not None else "",
                           "before": before.isoformat() if isinstance(before, datetime) else ""})
    return True


async def _remove(app: App, owner_mailbox_id: int, grantee_mailbox_id: int, *, whole: bool,
                  folder_ids: list[int] | None, by: str) -> bool:
    """Delete the mailbox-wide grant (``whole``) and the folder grants of ``folder_ids``
    (None: all of them on this mailbox); audit each one removed."""
    def tx(conn: Connection) -> tuple[bool, list[str]]:
        removed_whole = False
        if whole:
            removed_whole = bool(conn.execute(delete(delegations).where(and_(
                delegations.c.owner_mailbox_id == owner_mailbox_id,
                delegations.c.grantee_mailbox_id == grantee_mailbox_id))).rowcount)
        condition = and_(folder_delegations.c.grantee_mailbox_id == grantee_mailbox_id,
                         folder_delegations.c.folder_id.in_(folder_ids_of(conn, owner_mailbox_id)))
        if folder_ids is not None:
            condition = and_(condition, folder_delegations.c.folder_id.in_(folder_ids))
        rows = conn.execute(select(folder_delegations.c.id, folder_delegations.c.folder_id).where(condition)).all()
        names = folders_by_ids(conn, [r.folder_id for r in rows])
        if rows:
            conn.execute(delete(folder_delegations).where(folder_delegations.c.id.in_([r.id for r in rows])))
        return removed_whole, sorted(names[r.folder_id].name for r in rows if r.folder_id in names)

    removed_whole, removed_folders = await app.db.run_write(tx)
    if removed_whole or removed_folders:
        owner = await app.store.get_mailbox_by_id(owner_mailbox_id)
        grantee = await app.store.get_mailbox_by_id(grantee_mailbox_id)
        target = owner.address if owner else str(owner_mailbox_id)
        details = {"grantee": grantee.address if grantee else str(grantee_mailbox_id)}
        if removed_whole:
            await audit.record(app, "delegation.revoked", by or "system", target, details)
        for name in removed_folders:
            await audit.record(app, "delegation.revoked", by or "system", target, {**details, "folder": name})
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
