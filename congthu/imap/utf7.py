"""Modified UTF-7 for mailbox names (RFC 3501 section 5.1.3, RFC 9051 section 5.1.3).

Printable US-ASCII other than "&" stands for itself, "&" is "&-", and runs of other
characters are UTF-16BE in modified base64 (with "," for "/", no padding) between "&"
and "-". "Thư đã gửi" is "Th&AbA- &AREA4w- g&Hu0-i".

After ENABLE UTF8=ACCEPT (RFC 6855) or IMAP4rev2 (RFC 9051 section 5.1), names travel as
UTF-8 and this encoding is not used.
"""

from __future__ import annotations

import base64

__all__ = ["decode", "encode", "UTF7Error"]


class UTF7Error(ValueError):
    """Not valid modified UTF-7."""


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=").replace("/", ",")


def encode(name: str) -> str:
    """Unicode mailbox name to modified UTF-7."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            out.append("&" + _b64encode("".join(pending).encode("utf-16-be")) + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def decode(name: str) -> str:
    """Modified UTF-7 to Unicode; UTF7Error if malformed (RFC 3501 5.1.3 rules enforced:
    no 8-bit characters, shifts closed, no needless or empty shifts)."""
    out: list[str] = []
    i, n = 0, len(name)
    last_shift_end = -1
    while i < n:
        ch = name[i]
        if ord(ch) > 0x7E or ord(ch) < 0x20:
            raise UTF7Error(f"character {ch!r} must be encoded")
        if ch != "&":
            out.append(ch)
            i += 1
            continue
        end = name.find("-", i + 1)
        if end < 0:
            raise UTF7Error("unterminated &-shift")
        chunk = name[i + 1:end]
        start, i = i, end + 1
        if not chunk:
            out.append("&")
            continue
        if any(not (c.isascii() and (c.isalnum() or c in "+,")) for c in chunk):
            raise UTF7Error("invalid base64 in &-shift")
        padded = chunk.replace(",", "/") + "=" * (-len(chunk) % 4)
        try:
            raw = base64.b64decode(padded, validate=True)
        except ValueError:
            raise UTF7Error("invalid base64 in &-shift") from None
        if len(raw) % 2:
            raise UTF7Error("odd number of UTF-16 bytes")
        try:
            text = raw.decode("utf-16-be")
        except UnicodeDecodeError:
            raise UTF7Error("invalid UTF-16 in &-shift") from None
        if any(0x20 <= ord(c) <= 0x7E for c in text):
            raise UTF7Error("printable ASCII must not be encoded")
        if start == last_shift_end:
            # Two adjacent shifts ("&AKM-&AKM-") must be one (RFC 3501 5.1.3).
            raise UTF7Error("adjacent &-shifts")
        last_shift_end = i
        out.append(text)
    return "".join(out)
