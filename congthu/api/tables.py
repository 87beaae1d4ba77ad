"""Tables of the API: its scoped tokens (``congthu.api.tokens``) and the shared buckets of
its rate limits (``congthu.api.limits``).

A token is shown once when it is made; the table keeps only its SHA-256 (it is 256 random
bits, so a fast hash suffices: there is no dictionary to try), so a copy of the database
opens nothing. Only this package's modules import it.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Float, ForeignKey, Integer, String, Table

from congthu.db import metadata

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    # What the token is for ("hr-system"), chosen by the administrator.
    Column("name", String(64), nullable=False),
    Column("description", String(200), nullable=False, default=""),
    # SHA-256 (hex) of the whole token.
    Column("token_hash", String(64), nullable=False, unique=True),
    # Its first characters, to tell tokens apart in lists and logs (never enough to use).
    Column("hint", String(16), nullable=False),
    # The account whose rights the token carries (its scopes narrow them, never widen).
    Column("owner_id", Integer, ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False, index=True),
    # Space-separated scopes (``tokens.SCOPES``).
    Column("scopes", String(300), nullable=False),
    # The organisation (dir_orgs.id, the directory's: no foreign key across owners) the
    # token is limited to, with its sub-units; None: no limit beyond the owner's rights.
    Column("org_id", Integer, nullable=True),
    Column("created_by", String(320), nullable=False),
    # The token that made this one through the API (``tokens:manage``), None if made in
    # the console or the CLI: revoking a token revokes what it made, and what those made.
    Column("made_by_token", Integer, nullable=True, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("revoked_by", String(320), nullable=False, default=""),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Column("last_used_from", String(64), nullable=False, default=""),
)

# The rate limits' token buckets, shared by every worker process and node (``limits.py``):
# one row per key ("token:12", "address:127.0.0.1"); workers take calls from it in small
# leases, so a row is written once per lease, not once per call. A row idle for a
# minute is a full bucket again, and is deleted.
api_rate_buckets = Table(
    "api_rate_buckets",
    metadata,
    Column("key", String(100), primary_key=True),
    # Calls left in the bucket at ``at`` (it refills at the limit's rate, up to the limit).
    Column("level", Float, nullable=False),
    # Seconds since the epoch (every node's clock, kept in time by NTP).
    Column("at", Float, nullable=False, index=True),
)
