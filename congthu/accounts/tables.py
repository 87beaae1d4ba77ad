"""Tables of the authentication core.

``credentials``: one row per mailbox (argon2id hash, SCRAM-SHA-256 keys, change marks).
``password_history``: the hashes of earlier passwords (Điều 13.2: not one of the last 5).
``login_throttle``: failure counters and locks per client address and per account.
``totp`` and ``recovery_codes``: the second factor of the web consoles (RFC 6238).
``app_passwords``: passwords for mail clients of users who turned the second factor on.
``roles``: who may administer what (see ``roles.py``).
``service_accounts``: accounts of applications, not people (see ``services.py``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

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
    # RFC 5802 section 5 / RFC 7677: the salt (kept across changes, so app passwords can
    # share it), the iteration count and base64 StoredKey/ServerKey of the password.
    Column("scram_salt", String(64), nullable=True),
    Column("scram_iterations", Integer, nullable=True),
    Column("scram_stored_key", String(64), nullable=True),
    Column("scram_server_key", String(64), nullable=True),
    # The smallest reminder (days before expiry) already mailed for this password.
    Column("reminded_days", Integer, nullable=True),
)

password_history = Table(
    "password_history",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("mailbox_id", Integer, ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("set_at", DateTime(timezone=True), nullable=False),
    Index("ix_password_history_mailbox", "mailbox_id", "id"),
)

login_throttle = Table(
    "login_throttle",
    metadata,
    Column("id", Integer, primary_key=True),
    # "address" (client IP) or "account" (mailbox address).
    Column("kind", String(10), nullable=False),
    Column("key", String(320), nullable=False),
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", DateTime(timezone=True), nullable=False),
    # A digest of the last wrong (username, password): the same stale password retried
    # by a phone is counted once, not every minute.
    Column("last_fingerprint", String(64), nullable=False, default=""),
    Column("locked_until", DateTime(timezone=True), nullable=True),
    UniqueConstraint("kind", "key"),
)

totp = Table(
    "totp",
    metadata,
    Column("mailbox_id", Integer, ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True),
    # Base32 secret (RFC 4226 section 4: at least 128 bits; we use 160).
    Column("secret", String(64), nullable=False),
    # Enrolled but not confirmed by a first code: not enforced yet.
    Column("enabled", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # RFC 6238 section 5.2: a code is accepted once; the last accepted time step.
    Column("last_step", BigInteger, nullable=False, default=0),
)

recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("mailbox_id", Integer, ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False),
    Column("code_hash", String(64), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
)

app_passwords = Table(
    "app_passwords",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("mailbox_id", Integer, ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False),
    Column("label", String(100), nullable=False),
    Column("password_hash", String(255), nullable=False),
    # SCRAM keys with the account's salt, so mail clients can use SCRAM with it too.
    Column("scram_stored_key", String(64), nullable=False),
    Column("scram_server_key", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
)

roles = Table(
    "roles",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("mailbox_id", Integer, ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False),
    # admin | supervisor | org_manager (official is everyone's base role, not stored).
    Column("role", String(20), nullable=False),
    # org_manager: the organisation id it manages; empty for the others.
    Column("scope", String(100), nullable=False, default=""),
    Column("granted_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("mailbox_id", "role", "scope"),
)

service_accounts = Table(
    "service_accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    # Lower-case letters, digits, ".", "-", "_"; never an address (no "@"), so it cannot
    # name a mailbox or log in on a mail door.
    Column("name", String(64), nullable=False),
    Column("description", String(200), nullable=False, default=""),
    # SHA-256 of the secret: 256 random bits made by the system, never chosen by a person.
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("secret_set_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("name"),
)
