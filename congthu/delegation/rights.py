"""The rights of a delegation (RFC 4314 section 2.1, and "0", send as the owner): their
letters, the canonical form of a rights string, and the virtual rights shown to RFC 2086
clients. See the package docstring for what each letter allows."""

from __future__ import annotations

# RFC 4314 section 2.1, in canonical order.
RFC4314_RIGHTS = "lrswipkxtea"
SEND_AS = "0"
ALL_RIGHTS = RFC4314_RIGHTS + SEND_AS
# What a folder grant may hold: everything but send-as, which is mailbox-wide.
FOLDER_RIGHTS = RFC4314_RIGHTS
READ_ONLY = "lrs"
# The folder whose rights are the mailbox-wide grant.
INBOX = "INBOX"


class InvalidRights(ValueError):
    """A rights string with letters RFC 4314 does not define, or a grant that cannot be."""


def normalise_rights(rights: str) -> str:
    """Canonical rights string; the obsolete "c" is "k", "d" is "xte" (RFC 4314 2.1.1)."""
    letters = set()
    for ch in rights:
        if ch == "c":
            letters.add("k")
        elif ch == "d":
            letters.update("xte")
        elif ch in ALL_RIGHTS:
            letters.add(ch)
        else:
            raise InvalidRights(f"Quyền không hợp lệ / invalid right {ch!r} (allowed: {ALL_RIGHTS})")
    return "".join(ch for ch in ALL_RIGHTS if ch in letters)


def with_virtual_rights(rights: str) -> str:
    """Rights as shown in MYRIGHTS and ACL responses: with the virtual "c" when "k" is
    there and "d" when any of "x", "t", "e" is (RFC 4314 section 2.1.1, for RFC 2086
    clients; we define "c" as "k" and "d" as "xte")."""
    out = rights
    if "k" in rights:
        out += "c"
    if any(r in rights for r in "xte"):
        out += "d"
    return out
