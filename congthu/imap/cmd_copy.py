"""COPY, MOVE and their UID forms (RFC 9051 sections 6.4.7-6.4.8, RFC 6851), with
COPYUID (RFC 4315) and the rights of RFC 4314 section 4: "i" on the destination, and for
MOVE "t" and "e" on the source. Copies may go between a user's own folders and the
mailboxes delegated to them; the destination mailbox's quota is charged.
"""

from __future__ import annotations

from congthu.content import learning
from congthu.imap.errors import ImapError, no
from congthu.imap.parser import Command
from congthu.imap.sequence import format_set
from congthu.imap.session import Result, Session


async def copy(s: Session, cmd: Command) -> Result:
    sel = s.selected
    assert sel is not None
    move = cmd.name == "MOVE"
    indexes = sel.indexes(cmd.args["set"], uid=cmd.uid, saved=s.saved_search)
    try:
        target, folder = await s.resolve_existing(cmd.args["mailbox"])
    except ImapError as exc:
        raise no(exc.text, "TRYCREATE") from None
    if not target.may("i"):
        raise no("Không đủ quyền thêm thư vào thư mục đích / permission denied (insert)", "NOPERM")
    if move:
        if sel.readonly:
            raise no("Thư mục chỉ đọc / mailbox is read-only", "READ-ONLY")
        if not (sel.target.may("t") and sel.target.may("e")):
            raise no("Không đủ quyền chuyển thư đi / permission denied (move needs t and e)", "NOPERM")
    uids = [sel.uids[i] for i in indexes]
    if not uids:
        return None
    store = s.app.store
    pairs = await (store.move if move else store.copy)(sel.folder_id, uids, folder.id)
    if not pairs:
        raise no("Các thư đã bị xóa / the messages were expunged", "EXPUNGEISSUED")
    # Điều 9.9: into or out of Junk teaches rspamd for the mailbox's owner (in the background).
    await learning.after_move(s.app, target.owner, sel.folder_id, folder, [b for _a, b in pairs])
    copyuid = (f"COPYUID {folder.uidvalidity} {format_set(a for a, _b in pairs)} "
               f"{format_set(b for _a, b in pairs)}")
    if not move:
        return (copyuid, "COPY hoàn tất / completed")
    # RFC 6851 section 4.3: COPYUID in an untagged OK, then the expunges.
    await s.untagged(f"OK [{copyuid}] Đã chuyển / moved")
    await s.announce_expunged([a for a, _b in pairs])
    return None


HANDLERS = {"COPY": copy, "MOVE": copy}
