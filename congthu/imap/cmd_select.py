"""Selecting a mailbox and leaving it: SELECT, EXAMINE (RFC 9051 sections 6.3.2-6.3.3)
with CONDSTORE and QRESYNC parameters (RFC 7162), CHECK, CLOSE, UNSELECT (RFC 3691),
EXPUNGE and UID EXPUNGE (RFC 4315).

For IMAP4rev1 sessions SELECT answers ``n RECENT`` with the true count (RFC 3501 sections
6.3.1 and 7.3.2): a read-write SELECT claims the messages no session has been told of
(``Selected.take_recent``, ``congthu.store.recent``), so a second session selecting the
same folder sees 0; EXAMINE and read-only delegates see them without claiming them
(6.3.2). IMAP4rev2 sessions get no RECENT response (RFC 9051 removed \\Recent).

Opening a delegated mailbox is recorded in the audit trail (Điều 12, 13.3).
"""

from __future__ import annotations

from congthu import audit
from congthu.imap.errors import bad, no
from congthu.imap.namespace import Target
from congthu.imap.parser import Command
from congthu.imap.selected import Selected
from congthu.imap.sequence import SeqSet, format_set
from congthu.imap.session import Result, Session, State
from congthu.store import Folder, normalise_folder_name
from congthu.store.changes import FolderWatch


async def _audit_access(s: Session, owner: str, folder: str, mode: str) -> None:
    user = s.user.address if s.user else ""
    await audit.record(s.app, "delegation.access", user, owner,
                       {"protocol": "imap", "folder": folder, "mode": mode}, client=s.conn.peer)


async def select(s: Session, cmd: Command) -> Result:
    """RFC 9051 section 6.3.2 (SELECT) and 6.3.3 (EXAMINE)."""
    args = cmd.args
    was_selected = s.selected is not None
    s.close_selected()
    if was_selected and (s.qresync or s.rev2):
        await s.untagged("OK [CLOSED] Đã đóng thư mục trước / previous mailbox closed")
    qresync = args["qresync"]
    if qresync is not None and not s.qresync:
        raise bad("Cần ENABLE QRESYNC trước / QRESYNC must be enabled first")
    if args["condstore"]:
        s.enabled.add("CONDSTORE")
    target = await s.resolve(args["mailbox"])
    watch, folder, read_after_watch = await _watched_folder(s, target)
    try:
        if not target.may("r"):
            raise no("Không đủ quyền / permission denied (need 'r')", "NOPERM")
        examine = cmd.name == "EXAMINE"
        # RFC 4314 section 5.2: READ-WRITE when any of "i", "e" or the flag rights is held.
        readonly = examine or not any(target.may(r) for r in "swtei")
        sel = Selected(target, folder, readonly, watch)
        sel.condstore = s.condstore
        await sel.load(s.caches.folders, s.app.store, s.app.hub, folder, s.app.spawn,
                       read_after_watch=read_after_watch)
    except BaseException:
        watch.close()
        raise
    s.selected = sel
    s.state = State.SELECTED
    if not s.rev2:
        # RFC 3501 section 2.3.2: SELECT claims the messages no session has seen yet
        # (\Recent in this session only); EXAMINE looks without claiming (6.3.2).
        await sel.take_recent(s.app.store)
    if target.shared:
        await _audit_access(s, target.owner, target.folder, "examine" if readonly else "select")

    await s.untagged(s.flags_response())
    await s.untagged(f"{len(sel)} EXISTS")
    if not s.rev2:
        await s.untagged(f"{sel.recent_count()} RECENT")  # RFC 3501 section 7.3.2
        first_unseen = sel.first_unseen()
        if first_unseen is not None:
            await s.untagged(f"OK [UNSEEN {first_unseen + 1}] Thư chưa đọc đầu tiên / first unseen")
    await s.send_permanent_flags([] if readonly else target.permanent_flags())
    await s.untagged(f"OK [UIDVALIDITY {sel.uidvalidity}] UID hợp lệ / UIDs valid")
    await s.untagged(f"OK [UIDNEXT {sel.uidnext}] UID tiếp theo / predicted next UID")
    await s.untagged(f"OK [HIGHESTMODSEQ {sel.modseq}] Mod-sequence cao nhất / highest")
    await s.untagged(f"OK [MAILBOXID ({folder.objectid})] Mã thư mục / mailbox id")  # RFC 8474 section 4.2
    if qresync is not None and qresync["uidvalidity"] == sel.uidvalidity:
        await _qresync(s, sel, qresync)
    mode = "READ-ONLY" if readonly else "READ-WRITE"
    return (mode, f"{cmd.name} hoàn tất / completed")


async def _watched_folder(s: Session, target: Target) -> tuple[FolderWatch, Folder, bool]:
    """The folder's watch and its row; True when the row was read after the watch
    began (the kept index is then brought up to it without reading it again,
    ``FolderIndexes.current``). A folder this App's sessions selected lately is watched
    by the id its name had (``ImapCaches.folder_ids``), then read by that id: one read,
    if the row still has that mailbox and name (else it was renamed or deleted, and the
    name is looked up). Otherwise the row is read by name, then watched. NO
    [NONEXISTENT] if there is no such folder."""
    key = (target.mailbox_id, normalise_folder_name(target.folder))
    known = s.caches.folder_ids.get(key)
    if known is not None:
        watch = s.app.hub.watch(known)
        try:
            folder = await s.app.store.get_folder_by_id(known)
        except BaseException:
            watch.close()
            raise
        if folder is not None and (folder.mailbox_id, folder.name) == key:
            return watch, folder, True
        watch.close()
        s.caches.folder_ids.pop(key, None)
    found = await s.app.store.get_folder(*key)
    if found is None:
        raise no("Không có thư mục này / no such mailbox", "NONEXISTENT")
    s.caches.remember_folder_id(key[0], key[1], found.id)
    return s.app.hub.watch(found.id), found, False


async def _qresync(s: Session, sel: Selected, q: dict) -> None:  # type: ignore[type-arg]
    """RFC 7162 section 3.2.5.2: what vanished and what changed since the client's modseq."""
    changed, gone, _highest = await s.app.store.changes_since(sel.folder_id, q["modseq"])
    known: SeqSet | None = q["known_uids"]
    largest = sel.uids[-1] if sel.uids else 0
    if known is not None:
        gone = [u for u in gone if known.contains(u, max(largest, max(gone, default=0)))]
    gone = [u for u in gone if sel.index_of(u) is None]
    if gone:
        await s.untagged(f"VANISHED (EARLIER) {format_set(gone)}")
    for meta in changed:
        i = sel.index_of(meta.uid)
        if i is None or (known is not None and not known.contains(meta.uid, largest)):
            continue
        await s.send_flags(i)


def _clean_at(sel: Selected) -> int | None:
    """``MessageMethods.expunge``'s ``clean_at``: the index's modseq if no message in it
    has \\Deleted (those expunged by others already do not count), else None. The index
    is complete up to its modseq, so the store needs to look only at what changed since,
    and writes nothing when that has no \\Deleted either. With \\Deleted in the index,
    the write is made at once: under imaptest's load another session had often expunged
    the message already, but a look first found nothing in only 1 of 15 of those."""
    if any(uid not in sel.pending_expunge for uid in sel.deleted_uids()):
        return None
    return sel.modseq


async def close(s: Session, cmd: Command) -> Result:
    """RFC 9051 section 6.4.1: expunge silently (if writable), then deselect."""
    sel = s.selected
    assert sel is not None
    if not sel.readonly and sel.target.may("e"):
        await s.app.store.expunge(sel.folder_id, clean_at=_clean_at(sel))
    s.close_selected()
    return None


async def unselect(s: Session, cmd: Command) -> Result:
    """RFC 3691 / RFC 9051 section 6.4.2: deselect without expunging."""
    s.close_selected()
    return None


async def check(s: Session, cmd: Command) -> Result:
    """RFC 3501 section 6.4.1: nothing to do, every change is already durable."""
    return None


async def expunge(s: Session, cmd: Command) -> Result:
    """RFC 9051 section 6.4.3; UID EXPUNGE (RFC 4315 section 2.1); RFC 4314: "e"."""
    sel = s.selected
    assert sel is not None
    if sel.readonly:
        raise no("Thư mục chỉ đọc / mailbox is read-only", "READ-ONLY")
    if not sel.target.may("e"):
        raise no("Không đủ quyền xóa hẳn thư / permission denied (expunge)", "NOPERM")
    uids = None
    if cmd.uid:
        seqset: SeqSet = cmd.args["set"]
        uids = [sel.uids[i] for i in sel.indexes(seqset, uid=True, saved=s.saved_search)]
        if not uids:
            return None
    removed = await s.app.store.expunge(sel.folder_id, uids, clean_at=_clean_at(sel) if uids is None else None)
    await s.announce_expunged(removed)
    if s.condstore:
        # RFC 7162 section 3.2.10: the mailbox's HIGHESTMODSEQ after the expunge. The
        # folder's watch knows the highest modseq committed in this process (the
        # expunge's own among them: the store publishes it before returning) and those
        # other workers and nodes relayed; the catch-up after this command (Session.sync)
        # tells the client every change up to it before this tagged OK, so no change the
        # value covers goes untold. No database read.
        return (f"HIGHESTMODSEQ {max(sel.modseq, sel.watch.modseq)}", "EXPUNGE hoàn tất / completed")
    return None


HANDLERS = {"SELECT": select, "EXAMINE": select}
SELECTED_HANDLERS = {"CLOSE": close, "UNSELECT": unselect, "CHECK": check, "EXPUNGE": expunge}
