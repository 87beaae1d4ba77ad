"""Secrets the system makes up: one-time passwords, app passwords, service secrets, and
the argon2id hasher with the configured parameters (RFC 9106)."""

from __future__ import annotations

import hashlib
import secrets
import string

from argon2 import PasswordHasher

from congthu.config import PasswordSettings


def make_hasher(settings: PasswordSettings) -> PasswordHasher:
    return PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )


def one_time_password(length: int = 14) -> str:
    """A random password that satisfies Điều 13.2 (upper, lower, digit, special). It
    begins with a letter or digit: the password files an import writes are spreadsheets,
    where a cell beginning with "=", "+", "-" or "@" is a formula and is written escaped
    (``directory/spreadsheet.py``), which would change the password the leader reads."""
    first = string.ascii_letters + string.digits
    alphabet = first + "!@#$%&*-_=+?"
    while True:
        candidate = secrets.choice(first) + "".join(secrets.choice(alphabet) for _ in range(length - 1))
        if (any(c.isupper() for c in candidate) and any(c.islower() for c in candidate)
                and any(c.isdigit() for c in candidate)
                and any(not c.isalnum() for c in candidate)):
            return candidate


def new_app_password() -> str:
    """Four groups of four lower-case letters and digits (about 80 bits)."""
    alphabet = "abcdefghijkmnopqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


def new_service_secret() -> str:
    """The secret of a service account: 256 random bits, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def sha256_hex(text: str) -> str:
    """How app passwords and service secrets are stored: they are long and random, so a
    fast hash suffices (no dictionary to try), and checks stay cheap."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
