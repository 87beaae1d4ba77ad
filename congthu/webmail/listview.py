"""What the pages that list messages share (the folder page, search results, the
change stream's new rows): the folder list with unread counts in the order shown, the
list's orders, one row of a list, and the counts kept between pages (``FolderCounts``).
"""

from __future__ import annotations

from dataclasses import dataclass

from congthu.store import Folder, Listed, MailStore
from congthu.store import flags as flagbits
from congthu.store.listing import Thread
from congthu.webmail import i18n

PAGE_SIZE = 50
# The list's orders: the page's word -> (the store's order, newest/largest first).
ORDERS = {"ngay": ("arrival", True), "ngay-cu": ("arrival", False), "co": ("size", True),
          "co-nho": ("size", False), "nguoi-gui": ("from", False), "tieu-de": ("subject", False)}
SORTS = tuple(ORDERS)
_SPECIAL_ORDER = {"INBOX": 0, "\\Drafts": 1, "\\Sent": 2, "\\Archive": 3, "\\Junk": 4, "\\Trash": 5}
MAX_COUNTED = 10_000  # folders and mailboxes whose counts are kept (then forgotten at once)

# A folder's state: every change to its messages moves it. A message added raises
# UIDNEXT; a flag changed or a message removed raises HIGHESTMODSEQ (the store's RESERVE
# and BUMP, which CONDSTORE/QRESYNC rely on, RFC 7162); a re-created folder (an id
# SQLite may reuse) or a renamed one has a new UIDVALIDITY.
FolderState = tuple[int, int, int, int]


def state_of(folder: Folder) -> FolderState:
    return folder.id, folder.uidvalidity, folder.uidnext, folder.highestmodseq


class FolderCounts:
    """The counts every page shows, kept per App while what they count stays the same:
    a folder's messages (the list's total) and a mailbox's unread messages per folder
    (the folder pane, the event stream). Counting walks an index of the folder (up to 10-15
    ms of CPU for 100,000 messages, each page, each tab's stream); kept, a page costs it
    once after each change. The key is the state of the folders counted, read before
    counting: a change between the two leaves a count newer than its key, which no later
    page asks for (it reads the newer state), never an older one."""

    def __init__(self, store: MailStore) -> None:
        self.store = store
        self.totals: dict[int, tuple[FolderState, int]] = {}
        self.unseen: dict[int, tuple[tuple[FolderState, ...], dict[int, int]]] = {}

    async def messages(self, folder: Folder) -> int:
        """How many messages ``folder`` (as just read) holds."""
        key = state_of(folder)
        known = self.totals.get(folder.id)
        if known is not None and known[0] == key:
            return known[1]
        total = await self.store.message_count(folder.id)
        if len(self.totals) >= MAX_COUNTED:
            self.totals.clear()
        self.totals[folder.id] = (key, total)
        return total

    async def unseen_of(self, mailbox_id: int, folders: list[Folder]) -> dict[int, int]:
        """Folder id -> unread messages, for the mailbox's ``folders`` (all of them, as
        just read: ``list_folders``) that have any."""
        key = tuple(sorted(state_of(f) for f in folders))
        known = self.unseen.get(mailbox_id)
        if known is not None and known[0] == key:
            return dict(known[1])
        counts = await self.store.unseen_counts(mailbox_id)
        if len(self.unseen) >= MAX_COUNTED:
            self.unseen.clear()
        self.unseen[mailbox_id] = (key, counts)
        return dict(counts)


@dataclass
class FolderEntry:
    """A folder as the pages show it: ``shown`` is its own name (the last level, or the
    Vietnamese name of a special folder), indented by ``depth`` in the folder list;
    ``full`` is the whole path ("Dự án / Năm 2026") where a folder is chosen from a list."""

    id: int
    name: str
    shown: str
    special_use: str | None
    unseen: int
    full: str = ""

    @property
    def depth(self) -> int:
        """How deep in the hierarchy ("/"-separated names): indentation in the list."""
        return self.name.count("/") if self.name != "INBOX" else 0

    @property
    def protected(self) -> bool:
        """The Inbox and the special folders (RFC 6154) are never renamed or deleted here."""
        return self.name == "INBOX" or self.special_use is not None


@dataclass
class Row:
    uid: int
    subject: str
    sender: str
    date: str
    size: int
    seen: bool
    flagged: bool
    folder_id: int = 0
    count: int = 1  # messages of its conversation (the list by conversation)
    unseen_in_thread: int = 0


def row_of(item: Listed, lang: str) -> Row:
    """A list row from the store's ``Listed``."""
    meta = item.meta
    return Row(uid=meta.uid, subject=item.subject, sender=item.from_addr,
               date=i18n.show_date(meta.internal_date, lang), size=meta.size,
               seen=bool(meta.flags & flagbits.SEEN), flagged=bool(meta.flags & flagbits.FLAGGED),
               folder_id=item.folder_id)


def thread_row_of(thread: Thread, lang: str) -> Row:
    """A row of the list by conversation: the newest message, the conversation's size
    and unread count (the row is bold if any of its messages is unread)."""
    row = row_of(thread.newest, lang)
    row.count, row.unseen_in_thread = thread.count, thread.unseen
    row.seen = thread.unseen == 0
    return row


def sort_key(folder: Folder) -> tuple[int, str]:
    key = "INBOX" if folder.name == "INBOX" else (folder.special_use or "")
    return _SPECIAL_ORDER.get(key, 10), folder.name.casefold()


async def folder_entries(counts: FolderCounts, mailbox_id: int, lang: str) -> list[FolderEntry]:
    """The mailbox's folders in the order shown (Inbox, special folders, the others by
    name) with their unread counts (one query on the unread index, unless kept)."""
    folders = sorted(await counts.store.list_folders(mailbox_id), key=sort_key)
    unseen = await counts.unseen_of(mailbox_id, folders)
    entries = []
    for f in folders:
        full = i18n.folder_name(f.name, f.special_use, lang)
        shown = full if f.special_use or f.name == "INBOX" else f.name.rpartition("/")[2]
        entries.append(FolderEntry(f.id, f.name, shown, f.special_use, unseen.get(f.id, 0),
                                   full.replace("/", " / ") if shown != full else full))
    return entries


def number(value: str, default: int = 0) -> int:
    """A page number or id from a form or query: digits only, else ``default``."""
    return int(value) if value.isdigit() and len(value) < 10 else default
