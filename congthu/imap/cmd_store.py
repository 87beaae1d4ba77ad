"""STORE and UID STORE (RFC 9051 section 6.4.6), with UNCHANGEDSINCE and MODIFIED
(RFC 7162 section 3.1.3) and the rights of RFC 4314 section 4: changing \\Seen needs
"s", \\Deleted "t", any other flag or keyword "w". A STORE that would change a flag the
user has no right to is refused whole with NO [NOPERM] (nothing is changed), so that a
delegate with read-only rights can never mark mail for deletion.
"""

from __future__ import annotations

from congthu.imap.errors import no
from congthu.imap.flags import check_keywords
from congthu.imap.parser import Command
from congthu.imap.sequence import format_set
from congthu.imap.session import Result, Session
from congthu.store import flags as flagbits


def _new_flags(mode: str, old_bits: int, old_kw: tuple[str, ...], bits: int,
               keywords: list[str]) -> tuple[int, tuple[str, ...]]:
    if mode == "set":
        return bits, tuple(dict.fromkeys(keywords))
    if mode == "add":
        return old_bits | bits, old_kw + tuple(k for k in keywords if k not in old_kw)
    return old_bits & ~bits, tuple(k for k in old_kw if k not in keywords)


async def store(s: Session, cmd: Command) -> Result:
    sel = s.selected
    assert sel is not None
    args = cmd.args
    if sel.readonly:
        raise no("Thư mục chỉ đọc / mailbox is read-only", "READ-ONLY")
    check_keywords(args["flags"])
    bits, keywords = flagbits.from_names([f for f in args["flags"] if f.lower() != "\\recent"])
    mode = args["mode"]
    indexes = sel.indexes(args["set"], uid=cmd.uid, saved=s.saved_search)
    unchanged = args["unchangedsince"]
    if unchanged is not None:
        await s.enable_condstore()  # RFC 7162 section 3.1: CONDSTORE-enabling

    # RFC 4314 section 4: the rights the change needs, from what it would change.
    need: set[str] = set()
    for i in indexes:
        old_kw = sel.keywords.get(sel.uids[i], ())
        new_bits, new_kw = _new_flags(mode, sel.flags[i], old_kw, bits, keywords)
        diff = new_bits ^ sel.flags[i]
        if diff & flagbits.SEEN:
            need.add("s")
        if diff & flagbits.DELETED:
            need.add("t")
        if diff & ~(flagbits.SEEN | flagbits.DELETED) or set(new_kw) != set(old_kw):
            need.add("w")
    lacking = sorted(r for r in need if not sel.target.may(r))
    if lacking:
        raise no(f"Không đủ quyền đổi cờ / permission denied (need {''.join(lacking)!r})", "NOPERM")

    uids = [sel.uids[i] for i in indexes]
    changed, refused = await s.app.store.store_flags(sel.folder_id, uids, mode, bits, keywords, unchanged)
    changed_uids = set()
    for m in changed:
        at = sel.index_of(m.uid)
        if at is not None:
            sel.set_flags(at, m.flags, tuple(m.keywords), m.modseq)
            changed_uids.add(m.uid)
    await s.announce_keywords()  # before a FETCH shows a new keyword (RFC 9051 7.3.5)
    refused_set = set(refused)
    for i in indexes:
        uid = sel.uids[i]
        if uid in refused_set:
            continue
        if args["silent"]:
            if unchanged is not None and uid in changed_uids:
                # RFC 7162 section 3.1.3: MODSEQ of changed messages even when silent.
                items = (f"UID {uid} " if cmd.uid else "") + f"MODSEQ ({sel.modseqs[i]})"
                await s.untagged(f"{i + 1} FETCH ({items})")
            continue
        await s.send_flags(i, with_uid=cmd.uid)
    if refused:
        if cmd.uid:
            modified = format_set(refused)
        else:
            modified = format_set(j + 1 for u in refused if (j := sel.index_of(u)) is not None)
        return (f"MODIFIED {modified}", "Một số thư đã thay đổi / some messages were modified")
    return None


HANDLERS = {"STORE": store}
