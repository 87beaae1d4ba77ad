"""Tables of the webmail: its server-side sessions (``congthu.webmail.sessions``) and each
user's choices (``congthu.webmail.prefs``: the list grouped by conversation, writing in
rich text or plain, the senders whose remote images are shown without asking).

A browser holds only a random session id in a cookie; the table keeps its SHA-256, so a
copy of the database opens no session. One row per signed-in browser, listed on the
settings page, where each can be signed out.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Index, Integer, String, Table, false

from congthu.db import metadata

web_sessions = Table(
    "webmail_sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    # SHA-256 (hex) of the random id the cookie carries.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("mailbox_id", Integer, ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False,
           index=True),
    # The password must be changed first (Điều 13.2): this session reaches only the
    # change form until it is.
    Column("must_change", Boolean, nullable=False, default=False),
    # What the settings page shows to tell devices apart.
    Column("user_agent", String(300), nullable=False, default=""),
    Column("client_ip", String(64), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    # The earlier of the absolute limit and the idle limit; moved on with last_seen_at.
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_webmail_sessions_expires_at", "expires_at"),
)

# One row per user who changed a choice (no row: the defaults).
web_prefs = Table(
    "webmail_prefs",
    metadata,
    Column("mailbox_id", Integer, ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True),
    # The message list grouped by conversation (base subject) instead of one row a message.
    Column("thread_list", Boolean, nullable=False, default=False),
    # New messages written as rich text (HTML with a plain alternative) instead of plain.
    Column("compose_html", Boolean, nullable=False, default=False, server_default=false()),
)

# Senders (the From address, lower case) whose remote images the user chose to see.
web_image_senders = Table(
    "webmail_image_senders",
    metadata,
    Column("mailbox_id", Integer, ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True),
    Column("address", String(320), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
