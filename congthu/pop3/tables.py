"""Tables of POP3: the maildrop locks (RFC 1939 section 8), shared by every process and
node on the database (see ``congthu.pop3.lock``)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, Table

from congthu.db import metadata

pop3_locks = Table(
    "pop3_locks",
    metadata,
    # One row per locked maildrop: the mailbox whose INBOX a POP3 session holds.
    Column("mailbox_id", Integer, ForeignKey("mailboxes.id", ondelete="CASCADE"),
           primary_key=True),
    # Random token of the holding session ("host pid random"): only it renews or
    # releases the lock.
    Column("owner", String(100), nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
    # The lease: renewed while the session lives; past it, anyone may take the lock
    # over (the holder's node died).
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
