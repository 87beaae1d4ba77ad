"""The records of the authentication core: the answer of a login check, a stored
credential, what a credential check found, and what SCRAM needs before the proof."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from congthu.accounts import scram
from congthu.config import Settings
from congthu.store import Mailbox

# Protocols of the web consoles: a second factor is asked there (if turned on).
WEB_PROTOCOLS = frozenset({"web", "webmail", "admin", "password"})


class AuthStatus(enum.Enum):
    OK = "ok"
    FAILED = "failed"  # wrong address or password (never say which)
    EXPIRED = "expired"  # must change the password first (Điều 13.2): RFC 5530 [EXPIRED]
    LOCKED = "locked"  # too many failures; try later
    DISABLED = "disabled"  # reclaimed or revoked mailbox


@dataclass(frozen=True)
class AuthResult:
    status: AuthStatus
    mailbox: Mailbox | None = None
    # Text for the user, Vietnamese then English.
    message: str = ""
    # RFC 5530 response code a door may show: AUTHENTICATIONFAILED, EXPIRED,
    # PRIVACYREQUIRED (plaintext without TLS), UNAVAILABLE (locked), CONTACTADMIN (disabled).
    code: str = ""
    # Seconds this attempt was held back before the answer (guessing protection).
    delay: float = 0.0
    # "password", "app-password", "scram" or "scram-app-password" when successful.
    via: str = ""

    @property
    def ok(self) -> bool:
        return self.status is AuthStatus.OK


@dataclass(frozen=True)
class Credential:
    mailbox_id: int
    password_hash: str
    must_change: bool
    changed_at: datetime
    scram_salt: str | None = None
    scram_iterations: int | None = None
    scram_stored_key: str | None = None
    scram_server_key: str | None = None
    reminded_days: int | None = None


@dataclass
class Verified:
    """What a credential check found, before lockout, expiry and audit decide."""

    mailbox: Mailbox | None  # set only when the credentials were right
    known: bool = False  # the username names a mailbox with a credential
    via: str = ""
    app_password_id: int | None = None
    # The credential that was checked (conclude need not read it again).
    credential: Credential | None = None
    # Updates to store on success: a hash with the current argon2 parameters, SCRAM keys.
    rehash: str | None = None
    scram_keys: scram.ScramKeys | None = None
    reason: str = "bad-credentials"
    hint: str = ""


@dataclass(frozen=True)
class ScramCandidate:
    via: str  # "scram" (the password) or "scram-app-password"
    app_password_id: int | None
    stored_key: bytes
    server_key: bytes


@dataclass
class ScramLookup:
    """What SCRAM needs before the client's proof: salt, iterations and the keys to try."""

    username: str
    salt: bytes
    iterations: int
    candidates: list[ScramCandidate] = field(default_factory=list)
    mailbox: Mailbox | None = None


@dataclass(frozen=True)
class IssuedPassword:
    """A password chosen for someone else (an administrator, an import, the system), ready
    to store: it passed the Điều 13.2 rules or was generated, and it must be changed at
    first login. Made only by ``Accounts.prepare_issued``."""

    password: str
    hash: str
    generated: bool


def change_password_url(settings: Settings) -> str:
    """Where a user changes an expired or one-time password (the web page)."""
    port = settings.listen.https
    host = settings.system.hostname
    return f"https://{host}{'' if port in (0, 443) else f':{port}'}/doi-mat-khau"


def aware(value: datetime | None) -> datetime | None:
    """A datetime read from SQLite (naive, UTC) as an aware one."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def credential_of(row: Any, now: datetime) -> Credential | None:
    """The record of a ``credentials`` row (None for None); a row without ``changed_at``
    counts as changed ``now``."""
    if row is None:
        return None
    return Credential(row.mailbox_id, row.password_hash, row.must_change, aware(row.changed_at) or now,
                      row.scram_salt, row.scram_iterations, row.scram_stored_key, row.scram_server_key,
                      row.reminded_days)
