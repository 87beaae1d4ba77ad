"""Tables of the migration: how far each user's each old folder has been copied."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from congthu.db import metadata

migrate_folders = Table(
    "migrate_folders",
    metadata,
    Column("id", Integer, primary_key=True),
    # The old server ("imaps://host:port") and the login there.
    Column("source", String(300), nullable=False),
    Column("old_login", String(320), nullable=False),
    Column("mailbox_id", Integer, ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False),
    # The old folder's name (decoded from modified UTF-7) and ours it is copied into.
    Column("old_folder", String(1000), nullable=False),
    Column("dest_folder", String(1000), nullable=False),
    # RFC 9051 section 2.3.1.1: old UIDs mean something only with this UIDVALIDITY; a
    # new one starts the folder over (duplicates then caught by the fingerprints).
    Column("old_uidvalidity", BigInteger, nullable=False),
    # The highest old UID copied (or skipped for good) and our highest UID appended from
    # this folder at that moment: messages of ours above it are the ones whose
    # checkpoint was lost in a crash, recognised by Message-ID and size.
    Column("last_uid", BigInteger, nullable=False, server_default="0"),
    Column("dest_uid", BigInteger, nullable=False, server_default="0"),
    Column("copied", Integer, nullable=False, server_default="0"),
    Column("copied_bytes", BigInteger, nullable=False, server_default="0"),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("source", "old_login", "mailbox_id", "old_folder"),
)
