"""Flags named by a client (RFC 9051 sections 2.3.2 and 6.4.6): which names are valid, and
which of them a user may set with their RFC 4314 rights. Used by APPEND and STORE."""

from __future__ import annotations

from congthu.imap.errors import bad
from congthu.store import flags as flagbits

__all__ = ["allowed_flags", "check_keywords"]


def check_keywords(names: list[str]) -> None:
    """BAD for a system flag we do not know (a "\\" name other than the five and
    \\Recent) or a keyword longer than 100 characters."""
    for name in names:
        if name.startswith("\\") and name.lower() not in flagbits.BY_NAME and name.lower() != "\\recent":
            raise bad(f"Cờ hệ thống không hợp lệ / invalid system flag {name[:40]}")
        if len(name) > 100:
            raise bad("Từ khóa quá dài / keyword too long")


def allowed_flags(rights: str, names: list[str]) -> tuple[int, list[str]]:
    """The flags a user may set with these RFC 4314 rights (section 4: \\Seen needs "s",
    \\Deleted "t", the others "w"); the rest are dropped."""
    bits, keywords = flagbits.from_names([n for n in names if n.lower() != "\\recent"])
    if "s" not in rights:
        bits &= ~flagbits.SEEN
    if "t" not in rights:
        bits &= ~flagbits.DELETED
    if "w" not in rights:
        bits &= flagbits.SEEN | flagbits.DELETED
        keywords = []
    return bits, keywords
