"""METADATA entries (RFC 5464): their names, their limits, and reading and writing them
in the IMAP package's tables (``tables.py``).

Entry names (RFC 5464 section 3.2): a "/"-separated path beginning with ``/private`` or
``/shared``, without ``*`` or ``%``, without two "/" in a row, not ending with "/",
without control characters; case-insensitive, so kept in lower case (as Dovecot
does). ``check_entry`` raises ``BadEntry`` (a BAD for the client) with Dovecot's reasons.

A *place* is the server (the user's own server entries: ``folder_id`` None) or one
folder. ``read_entries`` and ``write_entries`` are synchronous functions taking a
Connection first, run through ``app.db``. A SETMETADATA is one transaction: if one
entry cannot be set (too many entries), none is (RFC 5464 section 4.3).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, delete, func, insert, or_, select
from sqlalchemy.engine import Connection

from congthu.imap.tables import imap_mailbox_metadata, imap_server_metadata

__all__ = [
    "MAX_ENTRIES", "MAX_ENTRY_NAME", "MAX_VALUE", "BadEntry", "Place", "TooMany", "check_entry",
    "read_entries", "write_entries",
]

# A value larger than this is refused with NO [METADATA MAXSIZE n] (RFC 5464 section
# 4.3); more entries than this in one place for one user with NO [METADATA TOOMANY].
MAX_VALUE = 65536
MAX_ENTRIES = 200
MAX_ENTRY_NAME = 1024
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


class BadEntry(Exception):
    """An entry name outside RFC 5464 section 3.2's rules (answered BAD)."""


class TooMany(Exception):
    """The place would hold more than ``MAX_ENTRIES`` entries (NO [METADATA TOOMANY])."""


def check_entry(name: str, *, exact: bool) -> str:
    """The entry name in lower case, or BadEntry. ``exact``: a name to set, which must
    name an entry below /private or /shared (GETMETADATA may ask for "/private" itself
    with a DEPTH)."""
    if not name.startswith("/"):
        raise BadEntry("Entry name must begin with '/'")
    lower = name.lower()
    if not (lower in ("/private", "/shared") or lower.startswith(("/private/", "/shared/"))):
        raise BadEntry("Entry name must begin with /private or /shared")
    if "*" in name or "%" in name:
        raise BadEntry("Entry name can't contain '*' or '%'")
    if "//" in name:
        raise BadEntry("Entry name can't contain consecutive '/'")
    if name.endswith("/"):
        raise BadEntry("Entry name can't end with '/'")
    if _CONTROL.search(name) or len(name.encode("utf-8", "surrogateescape")) > MAX_ENTRY_NAME:
        raise BadEntry("Entry name has control characters or is too long")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise BadEntry("Entry name is not UTF-8") from None
    if exact and lower in ("/private", "/shared"):
        raise BadEntry("Entry name must name an entry below /private or /shared")
    return lower


@dataclass(frozen=True)
class Place:
    """The server (``folder_id`` None: the user's own server entries) or a folder;
    ``user_id``: the logged-in user's mailbox id (the owner of /private entries)."""

    user_id: int
    folder_id: int | None = None


def _scope(place: Place, entry: str) -> tuple[object, object]:
    """The table and the condition of the rows holding ``entry`` (or entries below it)."""
    if place.folder_id is None:
        t = imap_server_metadata
        return t, t.c.mailbox_id == place.user_id
    t = imap_mailbox_metadata
    owner = place.user_id if entry.startswith("/private") else 0
    return t, and_(t.c.folder_id == place.folder_id, t.c.owner_id == owner)


def read_entries(conn: Connection, place: Place, names: Sequence[str], depth: int | None) -> dict[str, bytes]:
    """The entries named (lower case) and, with ``depth`` 1 those one level below, with
    None (infinity) all below them (RFC 5464 section 4.2.2), that have a value."""
    found: dict[str, bytes] = {}
    for name in names:
        table, where = _scope(place, name)
        c = table.c  # type: ignore[attr-defined]
        wanted = c.entry == name
        if depth != 0:
            wanted = or_(wanted, func.substr(c.entry, 1, len(name) + 1) == name + "/")
        for entry, value in conn.execute(select(c.entry, c.value).where(and_(where, wanted))):  # type: ignore[arg-type]
            if entry != name:
                below = entry[len(name) + 1:]
                if depth == 1 and "/" in below:
                    continue
            found[entry] = bytes(value)
    return found


def write_entries(conn: Connection, place: Place, changes: Sequence[tuple[str, bytes | None]]) -> None:
    """Set (or, with None, remove) each entry; TooMany (and nothing changed: the
    transaction rolls back) if a place would hold more than ``MAX_ENTRIES``."""
    touched: list[tuple[object, object]] = []
    for name, value in changes:
        table, where = _scope(place, name)
        c = table.c  # type: ignore[attr-defined]
        conn.execute(delete(table).where(and_(where, c.entry == name)))  # type: ignore[arg-type]
        if value is not None:
            if place.folder_id is None:
                row = {"mailbox_id": place.user_id, "entry": name, "value": value}
            else:
                row = {"folder_id": place.folder_id, "owner_id": place.user_id if name.startswith("/private") else 0,
                       "entry": name, "value": value}
            conn.execute(insert(table).values(**row))  # type: ignore[arg-type]
            touched.append((table, where))
    for table, where in touched:
        count = conn.execute(select(func.count()).select_from(table).where(where)).scalar_one()  # type: ignore[arg-type]
        if count > MAX_ENTRIES:
            raise TooMany()
