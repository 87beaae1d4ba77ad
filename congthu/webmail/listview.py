"""What the pages that list messages share (the folder page, search results, the
change stream's new rows): the folder list with unread counts in the order shown, the
list's orders, and one row of a list.
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


async def folder_entries(store: MailStore, mailbox_id: int, lang: str) -> list[FolderEntry]:
    """The mailbox's folders in the order shown (Inbox, special folders, the others by
    name) with their unread counts (one query on the unread index)."""
    folders = sorted(await store.list_folders(mailbox_id), key=sort_key)
    unseen = await store.unseen_counts(mailbox_id)
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
