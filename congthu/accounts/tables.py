"""Tables of the authentication core: one credential row per mailbox."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Integer, String, Table

from congthu.db import metadata

credentials = Table(
    "credentials",
    metadata,
    Column("mailbox_id", Integer, ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True),
    # argon2id (RFC 9106) encoded hash, parameters included.
    Column("password_hash", String(255), nullable=False),
    # Điều 13.2: a new or reset account must change its one-time password at first login.
    Column("must_change", Boolean, nullable=False, default=True),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)
