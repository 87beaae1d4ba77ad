"""Tables of the mail store: mailboxes, folders, messages, their shared contents."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from congthu.db import metadata

# One row per mailbox (an account's mail storage). The directory links organisations and
# people to these rows; credentials live in congthu.accounts.
mailboxes = Table(
    "mailboxes",
    metadata,
    Column("id", Integer, primary_key=True),
    # Full address, lower case, NFC: "ntbinh@soctrang.gov.vn".
    Column("address", String(320), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False, default=""),
    # "personal", "organisation" or "subunit" (Điều 2.4, 3.1b).
    Column("kind", String(20), nullable=False, default="personal"),
    Column("quota_bytes", BigInteger, nullable=False),
    Column("used_bytes", BigInteger, nullable=False, default=0),
    # "active", "disabled", "reclaimed" (Điều 4.4) or "revoked" (Điều 4.5).
    Column("status", String(20), nullable=False, default="active"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Last login on any protocol or the webmail (Điều 4.4).
    Column("last_access_at", DateTime(timezone=True), nullable=True),
    # Set when the owner was warned at the quota warning level; cleared below it.
    Column("quota_warned", Boolean, nullable=False, default=False),
)

folders = Table(
    "folders",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("mailbox_id", Integer, ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False),
    # Full name with "/" as the hierarchy delimiter, NFC: "INBOX", "Dự án/2026".
    Column("name", String(1000), nullable=False),
    # RFC 6154 special use: "\\Sent", "\\Drafts", ... or None.
    Column("special_use", String(20), nullable=True),
    Column("uidvalidity", BigInteger, nullable=False),
    Column("uidnext", BigInteger, nullable=False, default=1),
    # RFC 7162: every change in the folder takes the next modification sequence.
    Column("highestmodseq", BigInteger, nullable=False, default=1),
    # Not read since store_0005: subscriptions are kept by name in ``subscriptions``,
    # apart from the folders (RFC 9051 section 6.3.7: a name stays subscribed when its
    # mailbox is deleted). Kept so that older code on the same database still works.
    Column("subscribed", Boolean, nullable=False, default=True),
    # RFC 3501 section 2.3.2 \Recent: the lowest UID no IMAP session has been told of
    # yet. A read-write session claims [first_recent_uid, its UIDNEXT) and moves it on
    # (congthu.store.recent); STATUS RECENT counts the messages from it.
    Column("first_recent_uid", BigInteger, nullable=False, default=1, server_default="1"),
    # RFC 8474 MAILBOXID: given when the folder is made, kept by RENAME, never reused
    # (a folder id may be, on SQLite). NULL for folders made before store_0006, whose
    # MAILBOXID is made from their id and UIDVALIDITY (congthu.store.objectid).
    Column("mailboxid", String(64), nullable=True),
    UniqueConstraint("mailbox_id", "name"),
)

# The names a mailbox's owner subscribed to (RFC 9051 sections 6.3.7-6.3.8, RFC 5258
# section 3.4): a name, not a folder, so it outlives DELETE (LIST (SUBSCRIBED) then shows
# it \NonExistent, as Dovecot) and follows RENAME.
subscriptions = Table(
    "subscriptions",
    metadata,
    Column("mailbox_id", Integer, ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True),
    # The folder name as in ``folders.name`` ("/"-separated, NFC, INBOX in upper case).
    Column("name", String(1000), primary_key=True),
)

# The bytes of a message, stored once however many mailboxes hold it.
contents = Table(
    "contents",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("size", BigInteger, nullable=False),
    # JSON list of [blob_sha256, length]: the message is their concatenation. Large
    # attachments are blobs of their own, so one sent in many messages is stored once.
    Column("segments", Text, nullable=False),
    # JSON from congthu.mime: envelope, body structure, part offsets.
    Column("structure", Text, nullable=False),
    # Header fields for SORT, THREAD and listing (decoded, NFC).
    Column("subject", Text, nullable=False, default=""),
    Column("from_addr", Text, nullable=False, default=""),
    Column("to_addr", Text, nullable=False, default=""),
    Column("cc_addr", Text, nullable=False, default=""),
    Column("sent_date", DateTime(timezone=True), nullable=True),
    Column("message_id", Text, nullable=False, default=""),
    # Folded text (congthu.text.fold) of headers and text parts, for accent-insensitive
    # search: at most its first congthu.store.search.INDEXED_CHARS characters (what the
    # trigram index holds); search_cut says the text was longer, and search makes it
    # again from the message when it must (congthu.store.search, migration store_0012).
    Column("search_text", Text, nullable=False, default=""),
    Column("search_cut", Boolean, nullable=False, default=False, server_default=false()),
    # The four fields above, each folded the same way (congthu.text.fold): IMAP SEARCH
    # SUBJECT / FROM / TO / CC check these in SQL (congthu.store.search.field_query).
    # Columns of their own, not one with separators: each reads as what it is, the query
    # is one substring test on one column, and a term can never match across two fields.
    Column("subject_key", Text, nullable=False, default="", server_default=""),
    Column("from_key", Text, nullable=False, default="", server_default=""),
    Column("to_key", Text, nullable=False, default="", server_default=""),
    Column("cc_key", Text, nullable=False, default="", server_default=""),
    Column("refcount", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # RFC 8970 PREVIEW: the start of the message's first text part as plain text, white
    # space made single spaces, at most congthu.mime.preview.MAX_PREVIEW characters; made
    # at delivery (NULL for contents stored before store_0006 until ``congthu store
    # reindex`` or the first FETCH PREVIEW makes it).
    Column("preview", Text, nullable=True),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("folder_id", Integer, ForeignKey("folders.id", ondelete="CASCADE"), nullable=False),
    Column("uid", BigInteger, nullable=False),
    Column("content_id", Integer, ForeignKey("contents.id"), nullable=False),
    # Bit mask of system flags (congthu.store.flags) and a space-separated keyword list.
    Column("flags", Integer, nullable=False, default=0),
    Column("keywords", Text, nullable=False, default=""),
    Column("internal_date", DateTime(timezone=True), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("modseq", BigInteger, nullable=False),
    # RFC 8514 SAVEDATE: when the message was put in this folder (delivery, APPEND, COPY,
    # MOVE). NULL for messages stored before store_0006: their internal date is used.
    Column("saved_at", DateTime(timezone=True), nullable=True),
    # The list's sort keys of the message's content (store_0008): the base subject
    # (RFC 5256 section 2.1) and the first sender, folded and cut to 80 characters.
    Column("sort_subject", Text, nullable=False, default="", server_default=""),
    Column("sort_from", Text, nullable=False, default="", server_default=""),
    UniqueConstraint("folder_id", "uid"),
    Index("ix_messages_folder_modseq", "folder_id", "modseq"),
    # The messages holding a content, by folder: the candidates the text index gives
    # (congthu.store.search) are looked up here instead of walking the whole folder, and
    # deleting a content does not scan messages for its foreign key (store_0002).
    Index("ix_messages_content_folder", "content_id", "folder_id", "uid"),
    # A page of a folder by arrival date or by size, read on the index (the webmail's
    # list, congthu.store.listing; store_0007). The unread counts' expression index
    # (folder_id, flags & 1) is made by hand in the same migration.
    Index("ix_messages_folder_date", "folder_id", "internal_date", "uid"),
    Index("ix_messages_folder_size", "folder_id", "size", "uid"),
    # A page by subject or sender, and the list grouped by conversation, read on these
    # indexes (store_0008): the keys are copied from the content when the row is written
    # (congthu.store.listing.sort_keys), so no order needs the contents table.
    Index("ix_messages_folder_subject", "folder_id", "sort_subject", "internal_date", "uid"),
    Index("ix_messages_folder_from", "folder_id", "sort_from", "internal_date", "uid"),
)

# Expunged UIDs with the modseq of their removal (RFC 7162 QRESYNC VANISHED).
expunged = Table(
    "expunged",
    metadata,
    Column("folder_id", Integer, ForeignKey("folders.id", ondelete="CASCADE"), nullable=False),
    Column("uid", BigInteger, nullable=False),
    Column("modseq", BigInteger, nullable=False),
    Index("ix_expunged_folder_modseq", "folder_id", "modseq"),
)

# A folder's index (UIDs, system flags, modseqs, keywords of its messages) as of a modseq,
# packed in one blob (congthu.store.snapshots, store_0009): a worker's first SELECT of a big
# folder reads it and the rows changed since, instead of every row of the folder.
folder_snapshots = Table(
    "folder_snapshots",
    metadata,
    Column("folder_id", Integer, ForeignKey("folders.id", ondelete="CASCADE"), primary_key=True),
    # The folder's UIDVALIDITY when packed: a folder id may be given again (SQLite).
    Column("uidvalidity", BigInteger, nullable=False),
    # The folder as of this modseq: every change up to it is in, none after it is missing.
    Column("modseq", BigInteger, nullable=False),
    # The packing's version (snapshots.FORMAT): another one is ignored and written again.
    Column("format", Integer, nullable=False),
    Column("messages", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("written_at", DateTime(timezone=True), nullable=False),
)
