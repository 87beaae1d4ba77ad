"""Passwords verified lately, so that a mail client logging in again costs a keyed hash
instead of an argon2id check (as Dovecot's ``auth_cache``).

argon2id at the production cost takes a third of a second of CPU (Điều 13.2 wants hashes
that resist guessing): phones and desktop clients that poll over POP3 or reconnect to
IMAP every few minutes would, at a few thousand officials, keep both cores busy with
nothing but logins. So a successful check is remembered for ``login.verified_cache_seconds``:

- Only successes are kept, and only as a MAC of (stored hash, password) under a key made
  at start and never written anywhere: memory holds no password, and the entry is
  worthless in another process or after a restart. The MAC is keyed BLAKE2b (RFC 7693
  section 2.5: the key is part of the hash's own input; a PRF, as HMAC-SHA-256 is), a
  quarter of HMAC's CPU through OpenSSL (0.7 against 2.6 µs: an LDAP bind per page of
  an application server pays it each time).
- The stored hash is part of the entry: a changed or reset password (a new hash) no
  longer matches anything kept for the old one, with nothing to invalidate.
- A wrong password never matches an entry: it always costs the full argon2id check, and
  the login throttle and locks (``lockout.py``) work on it as before.
- Bounded (``MAX_ENTRIES``, oldest out first) and per process.
"""

from __future__ import annotations

import hashlib
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
        # The keyed hash with the key's block already taken in: each entry is a copy of
        # it fed the message (the same digest as ``blake2b(message, key=...)``, 0.4 µs
        # less than making it anew, per kept login).
        self._keyed = hashlib.blake2b(key=self._key, digest_size=32)
        self._until: OrderedDict[bytes, float] = OrderedDict()

    def _entry(self, hashed: str, password: str) -> bytes:
        entry = self._keyed.copy()
        entry.update(hashed.encode() + b"\0" + password.encode("utf-8", "surrogatepass"))
        return entry.digest()

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
