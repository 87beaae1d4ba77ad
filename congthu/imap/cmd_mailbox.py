"""Mailbox commands: CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB, NAMESPACE
and STATUS (RFC 9051 sections 6.3.3-6.3.11), with LIST-EXTENDED (RFC 5258), LIST-STATUS
(RFC 5819), SPECIAL-USE and CREATE-SPECIAL-USE (RFC 6154), CHILDREN (RFC 3348),
NAMESPACE (RFC 2342), STATUS=SIZE (RFC 8438), OBJECTID's MAILBOXID (RFC 8474 section
4) and the ACL rights of RFC 4314 section 4. Subscriptions are names kept by the store
apart from the folders: a deleted mailbox's name stays subscribed and LIST (SUBSCRIBED)
and LSUB show it (\\NonExistent, RFC 5258 section 3.4), as Dovecot does.
STATUS RECENT (RFC 3501 section 6.3.10) counts the messages no session has been told of
(``congthu.store.recent``), or in the selected mailbox this session's \\Recent ones.

Names go out in modified UTF-7, or UTF-8 after ENABLE UTF8=ACCEPT / IMAP4rev2. A name
holding a control character or bytes that are not UTF-8 is never created (NO [CANNOT],
``Session.decode_name``; RFC 9051 section 5.1).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from typing import Any

from congthu import delegation
from congthu.imap.errors import bad, no
from congthu.imap.namespace import SHARED, Target
from congthu.imap.parser import Command
from congthu.imap.response import string
from congthu.imap.session import Result, Session
from congthu.log import event
from congthu.store import DELIMITER, Folder, normalise_folder_name, recent

SPECIAL_USES = {"\\all": "\\All", "\\archive": "\\Archive", "\\drafts": "\\Drafts", "\\flagged": "\\Flagged",
                "\\junk": "\\Junk", "\\sent": "\\Sent", "\\trash": "\\Trash", "\\important": "\\Important"}


def _check_name(name: str) -> None:
    """A name a folder may be given (CREATE, RENAME). Names that are not Net-Unicode are
    refused for every command by ``Session.decode_name``."""
    if len(name) > 500:
        raise bad("Tên thư mục không hợp lệ / invalid mailbox name")
    if "*" in name or "%" in name:
        raise no("Tên thư mục không được chứa * hoặc % / mailbox names cannot contain * or %", "CANNOT")


async def create(s: Session, cmd: Command) -> Result:
    """RFC 9051 section 6.3.4; RFC 6154 section 3 (USE); RFC 4314: "k" on the mailbox."""
    wire = cmd.args["mailbox"]
    _check_name(wire)
    if s.decode_name(wire).strip(DELIMITER).lower() == SHARED.lower():
        raise no(f"Tên {SHARED} dành cho thư mục được ủy quyền / {SHARED} is reserved", "CANNOT")
    target = await s.resolve(wire.rstrip(DELIMITER))
    if not target.may("k"):
        raise no("Không đủ quyền tạo thư mục / permission denied", "NOPERM")
    if not target.shared and target.folder.split(DELIMITER)[0].lower() == SHARED.lower():
        raise no(f"Tên {SHARED} dành cho thư mục được ủy quyền / {SHARED} is reserved", "CANNOT")
    use = None
    if cmd.args["use"]:
        if len(cmd.args["use"]) > 1:
            raise no("Chỉ một thuộc tính sử dụng / only one special use per mailbox", "USEATTR")
        use = SPECIAL_USES.get(cmd.args["use"][0].lower())
        if use is None:
            raise no("Thuộc tính không hỗ trợ / unsupported special use", "USEATTR")
    existing: set[str] = set()
    subscribed: set[str] = set()
    if not target.shared:
        existing = {f.name for f in await s.app.store.list_folders(target.mailbox_id)}
        subscribed = set(await s.app.store.subscribed_names(target.mailbox_id))
    # RFC 4314 section 4: a new folder inherits its parent's ACL.
    folder = await delegation.create_folder(s.app, target.mailbox_id, target.folder, use,
                                            created_by=s.user.address if s.user else "")
    if not target.shared:
        # RFC 9051 section 6.3.4: CREATE does not subscribe (SUBSCRIBE does, 6.3.7), as
        # Dovecot; the store subscribes the folders it makes (the mailbox's first
        # folders and the webmail's are), so the new name and the parents made for it
        # are unsubscribed here, unless they were subscribed before (a name keeps its
        # subscription while its mailbox is deleted and made again, RFC 5258 3.4).
        parts = normalise_folder_name(target.folder).split(DELIMITER)
        for n in range(1, len(parts) + 1):
            name = DELIMITER.join(parts[:n])
            if name not in existing and name not in subscribed:
                await s.app.store.set_subscribed(target.mailbox_id, name, False)
    # RFC 8474 section 4.1: the new mailbox's MAILBOXID in the tagged OK.
    return (f"MAILBOXID ({folder.objectid})", "CREATE hoàn tất / completed")


async def delete(s: Session, cmd: Command) -> Result:
    """RFC 9051 section 6.3.5; RFC 4314: "x"."""
    target, folder = await s.resolve_existing(cmd.args["mailbox"])
    if not target.may("x"):
        raise no("Không đủ quyền xóa thư mục / permission denied", "NOPERM")
    if s.selected is not None and s.selected.folder_id == folder.id:
        s.close_selected()
    await s.app.store.delete_folder(target.mailbox_id, target.folder)
    if target.shared:
        event("delegation.delete_folder", user=s.user.address if s.user else "", owner=target.owner,
              folder=target.folder)
    return None


async def rename(s: Session, cmd: Command) -> Result:
    """RFC 9051 section 6.3.6; RFC 4314: "x" on the old name, "k" where the new one goes."""
    old, _folder = await s.resolve_existing(cmd.args["old"])
    _check_name(cmd.args["new"])
    new = await s.resolve(cmd.args["new"].rstrip(DELIMITER))
    if old.mailbox_id != new.mailbox_id:
        raise no("Không thể đổi tên sang hộp thư khác / cannot rename across mailboxes", "CANNOT")
    if not old.may("x") or not new.may("k"):
        raise no("Không đủ quyền / permission denied", "NOPERM")
    if not new.shared and new.folder.split(DELIMITER)[0].lower() == SHARED.lower():
        raise no(f"Tên {SHARED} dành cho thư mục được ủy quyền / {SHARED} is reserved", "CANNOT")
    await s.app.store.rename_folder(old.mailbox_id, old.folder, new.folder)
    return None


async def subscribe(s: Session, cmd: Command) -> Result:
    """RFC 9051 sections 6.3.7 and 6.3.8. SUBSCRIBE needs the mailbox to exist (NO
    [NONEXISTENT] otherwise, as Dovecot); UNSUBSCRIBE takes any name off the list,
    a deleted mailbox's included, and is OK for a name that was not on it (as Dovecot).
    A delegated mailbox is always listed as subscribed."""
    if cmd.name == "SUBSCRIBE":
        target, _folder = await s.resolve_existing(cmd.args["mailbox"])
    else:
        target = await s.resolve(cmd.args["mailbox"])
    if not target.shared:
        await s.app.store.set_subscribed(target.mailbox_id, target.folder, cmd.name == "SUBSCRIBE")
    return None


async def namespace(s: Session, cmd: Command) -> Result:
    """RFC 2342: personal "" and shared "Shared/", "/" as the delimiter."""
    shared = string(s.encode_name(SHARED + DELIMITER))
    await s.send(b'* NAMESPACE (("" "/")) NIL ((' + shared + b' "/"))\r\n')
    return None


# -- LIST -----------------------------------------------------------------------------------

def pattern_regex(pattern: str) -> re.Pattern[str]:
    """RFC 9051 section 6.3.9: "*" matches anything, "%" anything but the delimiter;
    INBOX is case-insensitive."""
    out = []
    for ch in pattern:
        if ch == "*":
            out.append(".*")
        elif ch == "%":
            out.append(f"[^{re.escape(DELIMITER)}]*")
        else:
            out.append(re.escape(ch))
    text = "".join(out)
    if pattern[:5].upper() == "INBOX" and (len(pattern) == 5 or pattern[5] in (DELIMITER, "*", "%")):
        text = "INBOX" + "".join(out[5:])
    return re.compile(text, re.S)


class _Entry:
    __slots__ = ("name", "target", "folder", "attrs", "children", "subscribed", "child_subscribed")

    def __init__(self, name: str, target: Target | None, folder: Folder | None) -> None:
        self.name = name
        self.target = target
        self.folder = folder
        self.attrs: list[str] = []
        self.children = False
        self.subscribed = folder.subscribed if folder is not None and target is not None and not target.shared \
            else folder is not None
        self.child_subscribed = False


async def _entries(s: Session, subscriptions: bool) -> dict[str, _Entry]:
    """Every name the user can see, with virtual parents (\\Noselect) filled in; with
    ``subscriptions`` (LSUB, LIST (SUBSCRIBED)) also the subscribed names whose mailbox
    does not exist (RFC 5258 section 3.4: listed with \\NonExistent), which give their
    parents no children, only a subscribed descendant (CHILDINFO, LSUB's \\Noselect)."""
    assert s.names is not None and s.user is not None
    entries: dict[str, _Entry] = {}
    for target, folder in await s.names.visible():
        entries[target.display] = _Entry(target.display, target, folder)
    real = set(entries)
    ghosts = []
    if subscriptions:
        for name in await s.app.store.subscribed_names(s.user.id):
            if name not in entries:
                entry = entries[name] = _Entry(name, None, None)
                entry.subscribed = True
                ghosts.append(name)
    for name in [*real, *ghosts]:
        parts = name.split(DELIMITER)
        for i in range(1, len(parts)):
            parent = DELIMITER.join(parts[:i])
            if parent not in entries:
                entries[parent] = _Entry(parent, None, None)
            if name in real:
                entries[parent].children = True
            if entries[name].subscribed:
                entries[parent].child_subscribed = True
    return entries


async def list_(s: Session, cmd: Command) -> Result:
    """RFC 9051 section 6.3.9 and RFC 5258 (selection and return options), RFC 5819."""
    args = cmd.args
    select = set(args["select"])
    returns = set(args["returns"])
    unknown = select - {"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"}
    if unknown:
        raise bad(f"Tùy chọn LIST không hỗ trợ / unknown LIST selection option {sorted(unknown)[0]}")
    unknown = returns - {"SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "STATUS"}
    if unknown:
        # RFC 5258 section 3: an unknown return option is a BAD (as Dovecot answers).
        raise bad(f"Tùy chọn RETURN không hỗ trợ / unknown LIST return option {sorted(unknown)[0][:30]}")
    if "RECURSIVEMATCH" in select and not (select - {"RECURSIVEMATCH", "REMOTE"}):
        raise bad("RECURSIVEMATCH cần một tùy chọn khác / RECURSIVEMATCH needs another option")
    lsub = args.get("lsub", False)
    reference = s.decode_name(args["reference"])
    patterns = [s.decode_name(p) for p in args["patterns"]]
    if len(patterns) == 1 and patterns[0] == "" and not select:
        # The hierarchy delimiter and root (RFC 9051 section 6.3.9).
        await s.send(b'* ' + (b"LSUB" if lsub else b"LIST") + b' (\\Noselect) "/" ""\r\n')
        return None
    regexes = [pattern_regex(reference + p) for p in patterns if p != ""]
    wild = [pattern_regex(reference + p) for p in patterns if "%" in p]
    entries = await _entries(s, lsub or "SUBSCRIBED" in select)
    status_items = args["status"]
    for name in sorted(entries, key=lambda n: (n != "INBOX", n)):
        e = entries[name]
        matched = any(r.fullmatch(name) for r in regexes)
        if not matched:
            continue
        attrs: list[str] = []
        childinfo = False
        if lsub:
            # RFC 3501 section 6.3.9: the subscribed names; a name that is not, matched
            # where "%" stopped short of a subscribed one below it, as \Noselect.
            if e.subscribed:
                attrs = []
            elif e.child_subscribed and any(r.fullmatch(name) for r in wild) and any(
                    entries[other].subscribed and not any(r.fullmatch(other) for r in regexes)
                    for other in entries if other.startswith(name + DELIMITER)):
                attrs = ["\\Noselect"]
            else:
                continue
            line = b"* LSUB (" + " ".join(attrs).encode() + b') "/" ' + string(s.encode_name(name), utf8=s.utf8)
            await s.send(line + b"\r\n")
            continue
        if "SUBSCRIBED" in select and not e.subscribed:
            if not ("RECURSIVEMATCH" in select and e.child_subscribed):
                continue
            childinfo = True
        if "SPECIAL-USE" in select and not (e.folder and e.folder.special_use):
            continue
        if e.folder is None:
            attrs.append("\\NonExistent" if (s.rev2 or select or returns) and
                         not e.name.startswith(SHARED) else "\\Noselect")
        # RFC 5258 section 4: child information always (a server MAY give it without
        # RETURN (CHILDREN); Dovecot gives it then only).
        attrs.append("\\HasChildren" if e.children else "\\HasNoChildren")
        if e.folder is not None and e.folder.special_use:
            attrs.append(e.folder.special_use)  # RFC 6154 section 2: also in plain LIST
        if ("SUBSCRIBED" in select or "SUBSCRIBED" in returns) and e.subscribed:
            attrs.append("\\Subscribed")
        line = b"* LIST (" + " ".join(attrs).encode() + b') "/" ' + string(s.encode_name(name), utf8=s.utf8)
        if childinfo:
            line += b' ("CHILDINFO" ("SUBSCRIBED"))'
        await s.send(line + b"\r\n")
        if status_items and e.folder is not None and e.target is not None and e.target.may("r"):
            await _send_status(s, name, e.folder, status_items)
    return None


# -- STATUS ---------------------------------------------------------------------------------

async def _send_status(s: Session, name: str, folder: Folder, items: list[str]) -> None:
    """One STATUS response. ``folder`` is its row as read for this command. When a
    session of this App selected the folder lately, its index is kept in memory
    (``indexes.FolderIndexes``): it is brought up to that row and answers everything
    but SIZE without reading the folder (``_status_from_index``); otherwise, or for
    SIZE, the database counts."""
    sel = s.selected if s.selected is not None and s.selected.folder_id == folder.id else None
    values = None
    if "SIZE" not in items:
        values = await _status_from_index(s, folder, "RECENT" in items and sel is None)
    if values is None:
        st = await s.app.store.folder_status(folder.id)
        values = {"MESSAGES": st.messages, "UIDNEXT": st.uidnext, "UIDVALIDITY": st.uidvalidity,
                  "UNSEEN": st.unseen, "SIZE": st.size, "DELETED": st.deleted, "HIGHESTMODSEQ": st.highestmodseq}
        if "RECENT" in items and sel is None:
            values["RECENT"] = await recent.count_unclaimed(s.app.store, folder.id)
    values["APPENDLIMIT"] = s.app.settings.message_max_bytes
    values["MAILBOXID"] = f"({folder.objectid})"  # RFC 8474 section 4.2
    if sel is not None:
        # The selected mailbox: what this session has told its client (RFC 9051 6.3.11).
        values["MESSAGES"] = len(sel)
        # RFC 3501 section 6.3.10: the messages with \Recent, this session's; elsewhere
        # those no session has been told of, which would be \Recent for the next one to
        # select it (congthu.store.recent).
        values["RECENT"] = sel.recent_count()
    out = []
    for item in items:
        if item not in values:
            raise bad(f"Mục STATUS không hỗ trợ / unknown STATUS item {item[:30]}")
        out.append(f"{item} {values[item]}")
    await s.send(b"* STATUS " + string(s.encode_name(name), utf8=s.utf8)
                 + b" (" + " ".join(out).encode() + b")\r\n")


async def _status_from_index(s: Session, folder: Folder, unclaimed: bool) -> dict[str, Any] | None:
    """STATUS values (SIZE aside) from the folder's index kept in memory, brought up to
    ``folder`` (``FolderIndexes.caught_up``), or None when it is not kept. ``unclaimed``:
    RECENT too, the messages from the folder's \\Recent mark (read first, one row by
    key; counted in the index, as ``recent.count_unclaimed`` counts the rows)."""
    if not s.caches.folders.keeps(folder):
        return None
    mark = await recent.first_unclaimed(s.app.store, folder.id, folder.uidvalidity) if unclaimed else None
    index = await s.caches.folders.caught_up(s.app.store, s.app.hub, folder)
    if index is None:
        return None
    # No await from here: the index may move on at the next one.
    unseen, deleted = index.count_flags()
    values: dict[str, Any] = {
        "MESSAGES": len(index), "UIDNEXT": max(folder.uidnext, index.uidnext), "UIDVALIDITY": folder.uidvalidity,
        "UNSEEN": unseen, "DELETED": deleted, "HIGHESTMODSEQ": max(folder.highestmodseq, index.modseq),
    }
    if unclaimed:
        values["RECENT"] = 0 if mark is None else len(index) - bisect_left(index.uids, mark)
    return values


async def status(s: Session, cmd: Command) -> Result:
    """RFC 9051 section 6.3.11; RFC 4314: "r"."""
    target, folder = await s.resolve_existing(cmd.args["mailbox"], "r")
    if s.condstore is False and "HIGHESTMODSEQ" in cmd.args["items"]:
        s.enabled.add("CONDSTORE")  # RFC 7162 section 3.1: a CONDSTORE-enabling command
    await _send_status(s, normalise_folder_name(target.display), folder, cmd.args["items"])
    return None


HANDLERS = {
    "CREATE": create, "DELETE": delete, "RENAME": rename, "SUBSCRIBE": subscribe,
    "UNSUBSCRIBE": subscribe, "LIST": list_, "LSUB": list_, "NAMESPACE": namespace, "STATUS": status,
}
