"""QUOTA (RFC 9208): GETQUOTA, GETQUOTAROOT, SETQUOTA.

Each mailbox has one quota root holding every folder: "" for the user's own mailbox
(Điều 8.1: 500 MB), "Shared/<address>" for a delegated one. STORAGE is reported in
units of 1024 octets (RFC 9208 section 5.1). Quotas are set by administrators, not
over IMAP.
"""

from __future__ import annotations

from congthu.imap.namespace import SHARED
from congthu.imap.parser import Command
from congthu.imap.response import string
from congthu.imap.session import Result, Session, no
from congthu.store import DELIMITER


def _root(s: Session, mailbox_id: int, owner: str) -> str:
    assert s.user is not None
    return "" if mailbox_id == s.user.id else f"{SHARED}{DELIMITER}{owner}"


async def _send_quota(s: Session, root: str, mailbox_id: int) -> None:
    used, limit = await s.app.store.quota(mailbox_id)
    await s.send(b"* QUOTA " + string(s.encode_name(root), utf8=s.utf8)
                 + b" (STORAGE %d %d)\r\n" % ((used + 1023) // 1024, limit // 1024))


async def getquotaroot(s: Session, cmd: Command) -> Result:
    target, _folder = await s.resolve_existing(cmd.args["mailbox"])
    root = _root(s, target.mailbox_id, target.owner)
    await s.send(b"* QUOTAROOT " + string(cmd.args["mailbox"], utf8=s.utf8) + b" "
                 + string(s.encode_name(root), utf8=s.utf8) + b"\r\n")
    await _send_quota(s, root, target.mailbox_id)
    return None


async def getquota(s: Session, cmd: Command) -> Result:
    assert s.user is not None and s.names is not None
    root = s.decode_name(cmd.args["root"])
    if root == "":
        await _send_quota(s, "", s.user.id)
        return None
    prefix = SHARED + DELIMITER
    if root.lower().startswith(prefix.lower()) and DELIMITER not in root[len(prefix):]:
        try:
            target = await s.names.resolve(root + DELIMITER + "INBOX")
        except Exception:
            target = None
        if target is not None:
            await _send_quota(s, root, target.mailbox_id)
            return None
    raise no("Không có gốc hạn mức này / no such quota root", "NONEXISTENT")


async def setquota(s: Session, cmd: Command) -> Result:
    raise no("Hạn mức do quản trị viên đặt (Điều 8.1) / quotas are set by administrators", "NOPERM")


HANDLERS = {"GETQUOTA": getquota, "GETQUOTAROOT": getquotaroot, "SETQUOTA": setquota}
