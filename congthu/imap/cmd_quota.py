"""QUOTA (RFC 9208): GETQUOTA, GETQUOTAROOT, SETQUOTA.

Each mailbox has one quota root holding every folder: "" for the user's own mailbox
(Điều 8.1: 500 MB), "Shared/<address>" for a delegated one. STORAGE is reported in
units of 1024 octets (RFC 9208 section 5.1). Quotas are set by administrators, not
over IMAP.

Another mailbox's usage is confidential (RFC 9208 section 8: not to be divulged to
unauthorised persons): a delegate sees the quota of a delegated mailbox only with the
administer right "a" (RFC 4314 section 2.1) on the whole mailbox (the ACL of its
INBOX, ``cmd_acl``), the right to run it. Without it GETQUOTAROOT and GETQUOTA answer
NO [NOPERM] and show no QUOTAROOT or QUOTA (Dovecot 2.3 answers every user but the
owner "NO Not showing other users' quota"); a folder the user cannot see stays NO
[NONEXISTENT].
"""

from __future__ import annotations

from congthu import delegation
from congthu.imap.errors import no
from congthu.imap.namespace import SHARED, NoSuchName, Target
from congthu.imap.parser import Command
from congthu.imap.response import string
from congthu.imap.session import Result, Session
from congthu.store import DELIMITER


def _root(target: Target) -> str:
    return f"{SHARED}{DELIMITER}{target.owner}" if target.shared else ""


async def _check_may_see(s: Session, target: Target) -> None:
    """NO [NOPERM] unless the quota of this target's mailbox is the user's to see."""
    if not target.shared:
        return
    inbox: Target | None = target
    if target.folder != delegation.INBOX:
        assert s.names is not None
        try:
            inbox = await s.names.resolve(_root(target) + DELIMITER + delegation.INBOX)
        except NoSuchName:
            inbox = None
    if inbox is None or not inbox.may("a"):
        raise no("Không xem được hạn mức của hộp thư người khác khi không có quyền quản trị (a) / "
                 "not showing another mailbox's quota without the administer right", "NOPERM")


async def _send_quota(s: Session, root: str, mailbox_id: int) -> None:
    used, limit = await s.app.store.quota(mailbox_id)
    await s.send(b"* QUOTA " + string(s.encode_name(root), utf8=s.utf8)
                 + b" (STORAGE %d %d)\r\n" % ((used + 1023) // 1024, limit // 1024))


async def getquotaroot(s: Session, cmd: Command) -> Result:
    """RFC 9208 section 4.1.2."""
    target, _folder = await s.resolve_existing(cmd.args["mailbox"])
    await _check_may_see(s, target)
    root = _root(target)
    await s.send(b"* QUOTAROOT " + string(cmd.args["mailbox"], utf8=s.utf8) + b" "
                 + string(s.encode_name(root), utf8=s.utf8) + b"\r\n")
    await _send_quota(s, root, target.mailbox_id)
    return None


async def getquota(s: Session, cmd: Command) -> Result:
    """RFC 9208 section 4.1.1."""
    assert s.user is not None and s.names is not None
    root = s.decode_name(cmd.args["root"])
    if root == "":
        await _send_quota(s, "", s.user.id)
        return None
    prefix = SHARED + DELIMITER
    if root.lower().startswith(prefix.lower()) and DELIMITER not in root[len(prefix):]:
        try:
            target = await s.names.resolve(root + DELIMITER + delegation.INBOX)
        except NoSuchName:
            target = None
        if target is not None:
            await _check_may_see(s, target)
            await _send_quota(s, root, target.mailbox_id)
            return None
    raise no("Không có gốc hạn mức này / no such quota root", "NONEXISTENT")


async def setquota(s: Session, cmd: Command) -> Result:
    raise no("Hạn mức do quản trị viên đặt (Điều 8.1) / quotas are set by administrators", "NOPERM")


HANDLERS = {"GETQUOTA": getquota, "GETQUOTAROOT": getquotaroot, "SETQUOTA": setquota}
