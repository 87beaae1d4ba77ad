"""The audit trail's one table: append-only, each row chained to the previous by SHA-256."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, String, Table, Text

from congthu.db import metadata

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    # e.g. "login.ok", "login.failed", "password.changed", "user.unlock", "mailbox.delegated_access".
    Column("action", String(64), nullable=False),
    # Who did it: an address, "cli:<os user>", "system".
    Column("actor", String(320), nullable=False),
    # What it was done to: an address, an organisation, "-".
    Column("target", String(320), nullable=False),
    # Client address and protocol, e.g. "imap 203.0.113.7".
    Column("client", String(200), nullable=False),
    # JSON object (sorted keys).
    Column("details", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_target", "target"),
)
