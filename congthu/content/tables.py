"""Tables of the content pipeline: the quarantine (messages held for an administrator,
Điều 9.9), owned by ``quarantine.py``."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, String, Table, Text

from congthu.db import metadata

content_quarantine = Table(
    "content_quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("held_at", DateTime(timezone=True), nullable=False),
    # "mx" or "submission": the door it came in by.
    Column("door", String(20), nullable=False),
    Column("mail_from", String(320), nullable=False),
    # JSON list of [address, mailbox id or null]: the recipients it was meant for.
    Column("recipients", Text, nullable=False),
    Column("subject", String(500), nullable=False),
    # The article or step that held it ("9.9 virus", "9.9 spam") and why, in English.
    Column("rule", String(40), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("size", Integer, nullable=False),
    # The message's bytes: a file in the data directory (``content.quarantine_dir``),
    # named by this SHA-256.
    Column("sha256", String(64), nullable=False),
)
