"""IMAP system flags (RFC 9051 section 2.3.2) as bits of ``messages.flags``."""

from __future__ import annotations

SEEN = 1
ANSWERED = 2
FLAGGED = 4
DELETED = 8
DRAFT = 16

BY_NAME = {"\\seen": SEEN, "\\answered": ANSWERED, "\\flagged": FLAGGED,
           "\\deleted": DELETED, "\\draft": DRAFT}
NAMES = {SEEN: "\\Seen", ANSWERED: "\\Answered", FLAGGED: "\\Flagged",
         DELETED: "\\Deleted", DRAFT: "\\Draft"}


def to_names(bits: int) -> list[str]:
    return [name for bit, name in NAMES.items() if bits & bit]


def from_names(names: list[str] | tuple[str, ...]) -> tuple[int, list[str]]:
    """Split flag names into system-flag bits and keywords (kept in their given case)."""
    bits, keywords = 0, []
    for name in names:
        bit = BY_NAME.get(name.lower())
        if bit:
            bits |= bit
        elif not name.startswith("\\") and name not in keywords:
            keywords.append(name)
    return bits, keywords
