"""What the store hands out and takes in: the records (``Mailbox``, ``Folder``,
``FolderStatus``, ``MessageMeta``, ``Content``, ``DeliveryResult``), the errors, the
special folders every mailbox has, and how addresses and folder names are normalised.

Nothing here touches the database; every other module of the store builds on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from congthu.store import flags as flagbits
from congthu.text import nfc

__all__ = [
    "AlreadyExists", "Content", "DELIMITER", "DeliveryResult", "Folder", "FolderStatus", "Mailbox",
    "MessageMeta", "NotFound", "QuotaExceeded", "SPECIAL_FOLDERS", "StoreError", "normalise_address",
    "normalise_folder_name", "utcnow",
]

# Every mailbox is created with these folders (RFC 6154 special-use attributes).
SPECIAL_FOLDERS: list[tuple[str, str | None]] = [
    ("INBOX", None),
    ("Drafts", "\\Drafts"),
    ("Sent", "\\Sent"),
    ("Trash", "\\Trash"),
    ("Junk", "\\Junk"),
    ("Archive", "\\Archive"),
]

DELIMITER = "/"


def utcnow() -> datetime:
    return datetime.now(UTC)


def normalise_address(address: str) -> str:
    return nfc(address.strip()).lower()


def normalise_folder_name(name: str) -> str:
    """NFC, and INBOX in any case is INBOX (RFC 9051 section 5.1)."""
    name = nfc(name).strip(DELIMITER)
    if name.upper() == "INBOX":
        return "INBOX"
    if name.upper().startswith("INBOX" + DELIMITER):
        return "INBOX" + name[5:]
    return name


class StoreError(Exception):
    """Base of the store's errors; the text is shown to the user."""


class NotFound(StoreError):
    pass


class AlreadyExists(StoreError):
    pass


class QuotaExceeded(StoreError):
    """The mailbox cannot take the message. ``permanent``: it could never fit (Điều 8.1)."""

    def __init__(self, address: str, used: int, limit: int, size: int) -> None:
        self.address, self.used, self.limit, self.size = address, used, limit, size
        self.permanent = size > limit
        super().__init__(
            f"Hộp thư {address} đã đầy / mailbox full ({used} + {size} > {limit} bytes)"
        )


@dataclass(frozen=True)
class Mailbox:
    id: int
    address: str
    display_name: str
    kind: str
    quota_bytes: int
    used_bytes: int
    status: str
    created_at: datetime
    last_access_at: datetime | None
    # Điều 8.1: whether the owner was warned that the mailbox is nearly full (so a delivery
    # below the level knows, without writing, that there is no warning to re-arm).
    quota_warned: bool = False


@dataclass(frozen=True)
class Folder:
    id: int
    mailbox_id: int
    name: str
    special_use: str | None
    uidvalidity: int
    uidnext: int
    highestmodseq: int
    subscribed: bool
    # RFC 8474 MAILBOXID as stored (set by RENAME); ``objectid`` is the one to show.
    mailboxid: str | None = None

    @property
    def objectid(self) -> str:
        """RFC 8474 section 4 MAILBOXID: the stored one, else made from the folder's id
        and UIDVALIDITY (a folder id may be reused on SQLite, with another UIDVALIDITY;
        RENAME stores the id before it changes the UIDVALIDITY, so it never changes)."""
        return self.mailboxid or f"F{self.id}-{self.uidvalidity}"


@dataclass(frozen=True)
class FolderStatus:
    messages: int
    unseen: int
    uidnext: int
    uidvalidity: int
    highestmodseq: int
    size: int
    deleted: int


@dataclass(frozen=True)
class MessageMeta:
    uid: int
    flags: int
    keywords: tuple[str, ...]
    size: int
    internal_date: datetime
    modseq: int
    content_id: int

    @property
    def flag_names(self) -> list[str]:
        return flagbits.to_names(self.flags) + list(self.keywords)


@dataclass(frozen=True)
class Content:
    id: int
    sha256: str
    size: int
    segments: list[tuple[str, int]]
    structure: dict[str, Any]
    subject: str
    from_addr: str
    to_addr: str
    cc_addr: str
    sent_date: datetime | None
    message_id: str
    # RFC 8970 PREVIEW text made at delivery; None for contents stored before store_0006.
    preview: str | None = None

    @property
    def objectid(self) -> str:
        """RFC 8474 section 5.1 EMAILID: made from the SHA-256 of the bytes, so a message
        keeps it when copied or moved (the copy shares the content) and it tells nothing
        of other messages (a row id would tell how many the server holds). Identical
        bytes stored twice share it, which section 5.1 allows."""
        return "M" + self.sha256[:24]


@dataclass(frozen=True)
class DeliveryResult:
    mailbox_id: int
    uid: int | None = None
    error: StoreError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None
