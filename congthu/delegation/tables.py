"""Tables of delegated access: who may open which mailbox with which rights (Điều 12)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, String, Table, UniqueConstraint

from congthu.db import metadata

# One row per (owner mailbox, grantee mailbox): the grantee may open every folder of the
# owner's mailbox with these rights (RFC 4314 letters, plus "0" = send as the owner).
delegations = Table(
    "delegations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("owner_mailbox_id", Integer, ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False),
    Column("grantee_mailbox_id", Integer, ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False),
    # Canonical order, e.g. "lrs" (read-only) or "lrswitedkxa0" (full management).
    Column("rights", String(32), nullable=False),
    # Address of whoever granted it (an administrator or the owner), for the audit trail.
    Column("granted_by", String(320), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("owner_mailbox_id", "grantee_mailbox_id"),
    Index("ix_delegations_grantee", "grantee_mailbox_id"),
)
