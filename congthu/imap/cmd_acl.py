"""ACL (RFC 4314): MYRIGHTS, GETACL, LISTRIGHTS, SETACL, DELETEACL.

Every folder has its own ACL (RFC 4314 section 2: an ACL applies to a mailbox name),
stored as in ``congthu.delegation``:

- The ACL of INBOX is the mailbox-wide grant: SETACL/DELETEACL on INBOX (the owner's
  "INBOX", a delegate's "Shared/<owner>/INBOX") change the rights on INBOX and on every
  folder that has no grant of its own for that identifier, and the send-as right "0"
  can only be set there. This is how a whole mailbox is delegated over IMAP; ``congthu
  delegate grant`` without ``--folder`` does the same. The other folders' own ACLs are
  not modified (they have no entry for the identifier; GETACL shows the one of INBOX
  that reaches them), so no unsolicited ACL response is sent for them (RFC 4314
  section 5.1.1 asks for one only when a server modifies other ACLs).
- SETACL on any other folder sets that folder's own grant, which replaces the
  mailbox-wide one there ("+"/"-" start from the rights the identifier has there now).
  "0" is never granted on such a folder: RFC 4314 section 2 lets a server refuse to
  grant a right and asks it to be conservative, and LISTRIGHTS does not offer it.
  DELETEACL removes the identifier from that folder's ACL (section 3.2): it deletes the
  folder's grant, or, when the mailbox-wide grant would still reach the folder, keeps
  an empty one, so the identifier has no right there either way. Only ``congthu
  delegate revoke --folder`` makes a folder follow the mailbox-wide grant again.

MYRIGHTS and LISTRIGHTS add the virtual "c" (= "k") and "d" (= any of "x", "t", "e") of
RFC 4314 section 2.1.1 for RFC 2086 clients; ACL responses give the stored letters only.

GETACL, LISTRIGHTS, SETACL and DELETEACL need "a" on the folder (section 4): the owner,
or a delegate given "a" there. MYRIGHTS needs to see the folder. A folder the user cannot
see answers NO [NONEXISTENT], as if it did not exist (section 6). Identifiers are
addresses of mailboxes. "anyone", "authenticated" and negative rights ("-user", section
2, optional for servers) are refused with NO [CANNOT]: an official mailbox is opened to
named officials only (Điều 12), never to everyone, and a right is taken away by setting
the rights one wants. Every change is audited.
"""

from __future__ import annotations

from congthu import delegation
from congthu.imap.errors import bad, no
from congthu.imap.namespace import Target
from congthu.imap.parser import Command
from congthu.imap.response import string
from congthu.imap.session import Result, Session
from congthu.store import Folder

_EVERYONE = ("anyone", "authenticated", "anonymous")


def _is_inbox(target: Target) -> bool:
    return target.folder == delegation.INBOX


def _grantable(target: Target) -> str:
    """Rights that may be granted on this folder: "0" only on INBOX (mailbox-wide)."""
    return delegation.ALL_RIGHTS if _is_inbox(target) else delegation.FOLDER_RIGHTS


async def _send_acl(s: Session, wire_name: str, target: Target, folder: Folder) -> None:
    """An ACL response (RFC 4314 section 3.6): the owner, then each grantee with its
    effective rights on this folder."""
    folder_id = None if _is_inbox(target) else folder.id
    entries = [(target.owner, _grantable(target))]
    entries += [(address, rights) for _id, address, rights in
                await delegation.acl_of(s.app, target.mailbox_id, folder_id)]
    body = b" ".join(string(who) + b" " + string(rights) for who, rights in entries)
    await s.send(b"* ACL " + string(wire_name, utf8=s.utf8) + b" " + body + b"\r\n")


async def myrights(s: Session, cmd: Command) -> Result:
    """RFC 4314 section 3.5."""
    target, _folder = await s.resolve_existing(cmd.args["mailbox"])
    await s.send(b"* MYRIGHTS " + string(cmd.args["mailbox"], utf8=s.utf8) + b" "
                 + string(delegation.with_virtual_rights(target.rights)) + b"\r\n")
    return None


async def getacl(s: Session, cmd: Command) -> Result:
    """RFC 4314 section 3.3."""
    target, folder = await s.resolve_existing(cmd.args["mailbox"], "a")
    await _send_acl(s, cmd.args["mailbox"], target, folder)
    return None


def _refused_identifier(identifier: str) -> bool:
    return identifier.lower() in _EVERYONE or identifier.startswith("-")


async def listrights(s: Session, cmd: Command) -> Result:
    """RFC 4314 section 3.4: the rights always granted, then each right that may be
    (none tied together), with the virtual "c" and "d" (section 2.1.1)."""
    target, _folder = await s.resolve_existing(cmd.args["mailbox"], "a")
    identifier = cmd.args["identifier"]
    grantable = _grantable(target)
    who = None if _refused_identifier(identifier) or not identifier else await s.app.store.get_mailbox(identifier)
    if who is None:
        required, optional = "", ""  # nothing can be granted to it
    elif who.id == target.mailbox_id:
        required, optional = grantable, ""  # the owner has every right, always
    else:
        required, optional = "", grantable
    items = [string(required)] + [ch.encode() for ch in optional]
    if optional:
        items += [b"c", b"d"]
    await s.send(b"* LISTRIGHTS " + string(cmd.args["mailbox"], utf8=s.utf8) + b" "
                 + string(identifier) + b" " + b" ".join(items) + b"\r\n")
    return None


async def _grantee(s: Session, identifier: str, owner_id: int) -> int:
    if not identifier.strip():
        raise bad("Định danh rỗng / empty identifier")  # RFC 4314 section 3
    if identifier.lower() in _EVERYONE:
        raise no("Hộp thư công vụ không mở cho mọi người, chỉ ủy quyền cho từng địa chỉ / an official mailbox "
                 f"is never opened to everyone: grant to one address, not {identifier!r}", "CANNOT")
    if identifier.startswith("-"):
        raise no("Không hỗ trợ quyền phủ định; hãy đặt đúng các quyền cần có / negative rights are not "
                 "supported: set the rights the identifier should have", "CANNOT")
    grantee = await s.app.store.get_mailbox(identifier)
    if grantee is None:
        raise no("Không có hộp thư này / no such identifier", "NONEXISTENT")
    if grantee.id == owner_id:
        raise no("Không thể đổi quyền của chủ hộp thư / the owner's rights cannot change", "CANNOT")
    return grantee.id


def _modified(current: str, modification: str) -> str:
    """RFC 4314 section 3.1: "+" adds, "-" removes, else replaces; BAD on an unknown right."""
    try:
        if modification.startswith("+"):
            return delegation.normalise_rights(current + modification[1:])
        if modification.startswith("-"):
            remove = set(delegation.normalise_rights(modification[1:]))
            return "".join(r for r in current if r not in remove)
        return delegation.normalise_rights(modification)
    except delegation.InvalidRights as exc:
        raise bad(str(exc)) from None


async def setacl(s: Session, cmd: Command) -> Result:
    """RFC 4314 section 3.1."""
    assert s.user is not None
    target, folder = await s.resolve_existing(cmd.args["mailbox"], "a")
    grantee_id = await _grantee(s, cmd.args["identifier"], target.mailbox_id)
    if _is_inbox(target):
        current = await delegation.rights_of(s.app, target.mailbox_id, grantee_id)
        new = _modified(current, cmd.args["rights"])
        await delegation.grant(s.app, target.mailbox_id, grantee_id, new, granted_by=s.user.address)
        return None
    current = await delegation.rights_of(s.app, target.mailbox_id, grantee_id, folder.id)
    new = _modified(current, cmd.args["rights"]).replace(delegation.SEND_AS, "")
    await delegation.grant(s.app, target.mailbox_id, grantee_id, new, folder_id=folder.id,
                           granted_by=s.user.address)
    return None


async def deleteacl(s: Session, cmd: Command) -> Result:
    """RFC 4314 section 3.2."""
    assert s.user is not None
    target, folder = await s.resolve_existing(cmd.args["mailbox"], "a")
    grantee_id = await _grantee(s, cmd.args["identifier"], target.mailbox_id)
    whole = await delegation.rights_of(s.app, target.mailbox_id, grantee_id)
    if _is_inbox(target):
        if whole:
            await delegation.grant(s.app, target.mailbox_id, grantee_id, "", granted_by=s.user.address)
    elif whole:
        await delegation.grant(s.app, target.mailbox_id, grantee_id, "", folder_id=folder.id,
                               granted_by=s.user.address)
    else:
        await delegation.revoke(s.app, target.mailbox_id, grantee_id, folder_id=folder.id,
                                revoked_by=s.user.address)
    return None


HANDLERS = {"MYRIGHTS": myrights, "GETACL": getacl, "LISTRIGHTS": listrights, "SETACL": setacl,
            "DELETEACL": deleteacl}
