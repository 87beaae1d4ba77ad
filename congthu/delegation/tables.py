"""Tables of delegated access: who may open which mailbox, or which of its folders, with
which rights, until when (Điều 12)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, String, Table, UniqueConstraint

from congthu.db import metadata

# One row per (owner mailbox, grantee mailbox): the mailbox-wide grant. The grantee has
# these rights (RFC 4314 letters, plus "0" = send as the owner) on INBOX and on every
# folder of the owner's mailbox that has no row of its own in ``folder_delegations``.
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
    # When the delegation ends (``congthu.delegation.term``); NULL: no end. The same on
    # every row of one owner and grantee (the delegation's end, not the row's).
    Column("expires_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("owner_mailbox_id", "grantee_mailbox_id"),
    Index("ix_delegations_grantee", "grantee_mailbox_id"),
)

# One row per (folder, grantee mailbox): the folder's own grant, which replaces the
# mailbox-wide one for that folder (RFC 4314: an ACL belongs to each mailbox name). Keyed
# by the folder's id, so it follows RENAME and goes with DELETE (the cascade). Never on
# INBOX (INBOX's rights are the mailbox-wide grant) and never with "0" (send-as is
# mailbox-wide).
folder_delegations = Table(
    "folder_delegations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("folder_id", Integer, ForeignKey("folders.id", ondelete="CASCADE"), nullable=False),
    Column("grantee_mailbox_id", Integer, ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False),
    # Canonical RFC 4314 letters; "" = no right at all on this folder (hides it from a
    # delegate who has the mailbox-wide grant).
    Column("rights", String(32), nullable=False),
    # Address of whoever granted it, for the audit trail.
    Column("granted_by", String(320), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # The delegation's end, as on the mailbox-wide row (``congthu.delegation.term``).
    Column("expires_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("folder_id", "grantee_mailbox_id"),
    Index("ix_folder_delegations_grantee", "grantee_mailbox_id"),
)
