"""ACL (RFC 4314): MYRIGHTS, GETACL, LISTRIGHTS, SETACL, DELETEACL.

Rights are granted per mailbox, not per folder (Điều 12 delegates an organisation's
mailbox as a whole, ``congthu.delegation``): a SETACL on any folder of a mailbox sets
the grantee's rights on all its folders, and GETACL shows the same list for each. The
identifier is the grantee's address; "anyone" and negative rights are not supported.
Only a holder of the "a" right (the owner, or a delegate given "a") may see or change
the list, and every change is audited.
"""

from __future__ import annotations

from congthu import delegation
from congthu.imap.parser import Command
from congthu.imap.response import string
from congthu.imap.session import Result, Session, bad, no


async def myrights(s: Session, cmd: Command) -> Result:
    target, _folder = await s.resolve_existing(cmd.args["mailbox"])
    await s.send(b"* MYRIGHTS " + string(cmd.args["mailbox"], utf8=s.utf8) + b" "
                 + string(target.rights) + b"\r\n")
    return None


async def getacl(s: Session, cmd: Command) -> Result:
    target, _folder = await s.resolve_existing(cmd.args["mailbox"], "a")
    entries = [(target.owner, delegation.ALL_RIGHTS)]
    entries += [(g.grantee_address, g.rights) for g in await delegation.grants_of(s.app, target.mailbox_id)]
    body = b" ".join(string(who) + b" " + string(rights) for who, rights in entries)
    await s.send(b"* ACL " + string(cmd.args["mailbox"], utf8=s.utf8) + b" " + body + b"\r\n")
    return None


async def listrights(s: Session, cmd: Command) -> Result:
    await s.resolve_existing(cmd.args["mailbox"], "a")
    rights = " ".join(delegation.ALL_RIGHTS)
    await s.send(b"* LISTRIGHTS " + string(cmd.args["mailbox"], utf8=s.utf8) + b" "
                 + string(cmd.args["identifier"]) + b' "" ' + rights.encode() + b"\r\n")
    return None


async def _grantee(s: Session, identifier: str, owner_id: int) -> int:
    if identifier.lower() in ("anyone", "authenticated") or identifier.startswith("-"):
        raise no("Chỉ ủy quyền cho một địa chỉ cụ thể / only grants to one address are supported", "CANNOT")
    grantee = await s.app.store.get_mailbox(identifier)
    if grantee is None:
        raise no("Không có hộp thư này / no such identifier", "NONEXISTENT")
    if grantee.id == owner_id:
        raise no("Không thể đổi quyền của chủ hộp thư / the owner's rights cannot change", "CANNOT")
    return grantee.id


async def setacl(s: Session, cmd: Command) -> Result:
    assert s.user is not None
    target, _folder = await s.resolve_existing(cmd.args["mailbox"], "a")
    grantee_id = await _grantee(s, cmd.args["identifier"], target.mailbox_id)
    rights = cmd.args["rights"]
    current = await delegation.rights_of(s.app, target.mailbox_id, grantee_id)
    try:
        if rights.startswith("+"):
            new = delegation.normalise_rights(current + rights[1:])
        elif rights.startswith("-"):
            remove = set(delegation.normalise_rights(rights[1:]))
            new = "".join(r for r in current if r not in remove)
        else:
            new = delegation.normalise_rights(rights)
    except delegation.InvalidRights as exc:
        raise bad(str(exc)) from None
    await delegation.grant(s.app, target.mailbox_id, grantee_id, new, granted_by=s.user.address)
    return None


async def deleteacl(s: Session, cmd: Command) -> Result:
    assert s.user is not None
    target, _folder = await s.resolve_existing(cmd.args["mailbox"], "a")
    grantee_id = await _grantee(s, cmd.args["identifier"], target.mailbox_id)
    await delegation.revoke(s.app, target.mailbox_id, grantee_id, revoked_by=s.user.address)
    return None


HANDLERS = {"MYRIGHTS": myrights, "GETACL": getacl, "LISTRIGHTS": listrights, "SETACL": setacl,
            "DELETEACL": deleteacl}
