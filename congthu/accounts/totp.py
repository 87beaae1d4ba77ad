"""Time-based one-time passwords (RFC 6238, on HOTP of RFC 4226) and recovery codes.

The second factor of the web consoles (webmail, admin). Mail clients of a user who
turned it on use app passwords instead (``Accounts.add_app_password``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote

STEP = 30  # RFC 6238 section 4: X = 30 seconds
DIGITS = 6
WINDOW = 1  # RFC 6238 section 5.2: accept one step of clock drift either way


def new_secret() -> str:
    """160 random bits, base32 without padding (RFC 4226 section 4 R6 recommends 160)."""
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii").rstrip("=")


def _key(secret: str) -> bytes:
    padded = secret.upper() + "=" * (-len(secret) % 8)
    return base64.b32decode(padded)


def hotp(secret: str, counter: int, digits: int = DIGITS) -> str:
    """RFC 4226 section 5.3: HMAC-SHA-1, dynamic truncation, modulo 10^digits."""
    mac = hmac.new(_key(secret), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 10**digits
    return str(code).zfill(digits)


def step_of(unix_time: float) -> int:
    return int(unix_time // STEP)


def code_at(secret: str, unix_time: float) -> str:
    return hotp(secret, step_of(unix_time))


def match(secret: str, code: str, unix_time: float, last_step: int = 0) -> int | None:
    """The time step the code belongs to, if valid and newer than ``last_step``, else None."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    now = step_of(unix_time)
    for step in range(now - WINDOW, now + WINDOW + 1):
        if step > last_step and hmac.compare_digest(hotp(secret, step), code):
            return step
    return None


def uri(secret: str, account: str, issuer: str = "Công Thư") -> str:
    """The otpauth:// URI authenticator apps read (usually shown as a QR code)."""
    label = quote(f"{issuer}:{account}")
    return f"otpauth://totp/{label}?secret={secret}&issuer={quote(issuer)}&digits={DIGITS}&period={STEP}"


def new_recovery_codes(count: int = 10) -> list[str]:
    """Ten single-use codes like ``k7qd-2m9x-ph4t``."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return ["-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(3))
            for _ in range(count)]


def recovery_hash(code: str) -> str:
    return hashlib.sha256(code.strip().lower().replace(" ", "").encode()).hexdigest()
