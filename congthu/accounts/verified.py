"""Passwords verified lately, so that a mail client logging in again costs an HMAC
instead of an argon2id check (as Dovecot's ``auth_cache``).

argon2id at the production cost takes a third of a second of CPU (Điều 13.2 wants hashes
that resist guessing): phones and desktop clients that poll over POP3 or reconnect to
IMAP every few minutes would, at a few thousand officials, keep both cores busy with
nothing but logins. So a successful check is remembered for ``login.verified_cache_seconds``:

- Only successes are kept, and only as HMAC-SHA-256 of (stored hash, password) under a
  key made at start and never written anywhere: memory holds no password, and the entry
  is worthless in another process or after a restart.
- The stored hash is part of the entry: a changed or reset password (a new hash) no
  longer matches anything kept for the old one, with nothing to invalidate.
- A wrong password never matches an entry: it always costs the full argon2id check, and
  the login throttle and locks (``lockout.py``) work on it as before.
- Bounded (``MAX_ENTRIES``, oldest out first) and per process.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["VerifiedPasswords"]

MAX_ENTRIES = 100_000


class VerifiedPasswords:
    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self._key = secrets.token_bytes(32)
        self._until: OrderedDict[bytes, float] = OrderedDict()

    def _entry(self, hashed: str, password: str) -> bytes:
        message = hashed.encode() + b"\0" + password.encode("utf-8", "surrogatepass")
        return hmac.digest(self._key, message, "sha256")  # one call into OpenSSL

    def known(self, hashed: str, password: str) -> bool:
        """Was this password checked against this hash lately, successfully?"""
        if self.seconds <= 0:
            return False
        entry = self._entry(hashed, password)
        until = self._until.get(entry)
        if until is None:
            return False
        if until < self.clock():
            del self._until[entry]
            return False
        return True

    def remember(self, hashed: str, password: str) -> None:
        """Note a successful check."""
        if self.seconds <= 0:
            return
        entry = self._entry(hashed, password)
        self._until[entry] = self.clock() + self.seconds
        self._until.move_to_end(entry)
        while len(self._until) > MAX_ENTRIES:
            self._until.popitem(last=False)
