"""GETMETADATA and SETMETADATA (RFC 5464 METADATA, server and mailbox entries).

- Mailbox "" is the server (RFC 5464 section 3.1): its entries are the user's own, as in
  Dovecot (``congthu.imap.tables``). Any other name is a folder the user may see.
- GETMETADATA (section 4.2) answers one untagged ``METADATA mailbox (entry value ...)``
  with the entries asked for that have a value, in the order asked, then those below
  them when DEPTH is 1 or infinity (section 4.2.2), in name order; an entry asked for
  with DEPTH 0 that has no value is given as NIL (as Dovecot does). MAXSIZE (section
  4.2.1) leaves out longer values and ends with ``OK [METADATA LONGENTRIES n]``, n the
  longest left out. Values are sent as literals (as Dovecot does), literal8 when they
  hold a NUL (RFC 3516).
- SETMETADATA (section 4.3) sets or (NIL) removes each entry, all or none: NO [METADATA
  MAXSIZE n] for a value over ``metadata.MAX_VALUE``, NO [METADATA TOOMANY] past
  ``metadata.MAX_ENTRIES`` entries in one place.
- Rights on a delegated folder (RFC 4314 rights, RFC 5464's access control): reading
  needs "l" and "r"; setting a /private entry "l", a /shared entry "w".

Entry names are checked and folded to lower case by ``congthu.imap.metadata``.
"""

from __future__ import annotations

from congthu.imap.errors import bad, no
from congthu.imap.metadata import (
    MAX_VALUE,
    BadEntry,
    Place,
    TooMany,
    check_entry,
    read_entries,
    write_entries,
)
from congthu.imap.parser import Command
from congthu.imap.response import astring, literal
from congthu.imap.session import Result, Session


async def _place(s: Session, wire: str, rights: str) -> tuple[Place, str]:
    """The place an IMAP mailbox argument names, and the name to echo."""
    assert s.user is not None
    if wire == "":
        return Place(s.user.id), ""
    _target, folder = await s.resolve_existing(wire, rights)
    return Place(s.user.id, folder.id), wire


def _value(data: bytes) -> bytes:
    return (b"~" + literal(data)) if b"\x00" in data else literal(data)


async def getmetadata(s: Session, cmd: Command) -> Result:
    """RFC 5464 section 4.2."""
    args = cmd.args
    try:
        names = [check_entry(e, exact=False) for e in args["entries"]]
    except BadEntry as exc:
        raise bad(str(exc)) from None
    place, mailbox = await _place(s, args["mailbox"], "lr")
    depth = args["depth"]
    found = await s.app.db.run_read(read_entries, place, names, depth)
    maxsize = args["maxsize"]
    longest = 0
    items: list[bytes] = []
    done: set[str] = set()

    def add(entry: str, value: bytes | None) -> None:
        nonlocal longest
        done.add(entry)
        if value is not None and maxsize is not None and len(value) > maxsize:
            longest = max(longest, len(value))
            return
        items.append(astring(entry) + b" " + (b"NIL" if value is None else _value(value)))

    for name in names:
        if name in done:
            continue
        if name in found:
            add(name, found[name])
        elif depth == 0:
            add(name, None)
        if depth != 0:
            for entry in sorted(e for e in found if e.startswith(name + "/") and e not in done):
                add(entry, found[entry])
    if items:
        await s.send(b"* METADATA " + astring(mailbox, utf8=s.utf8) + b" (" + b" ".join(items) + b")\r\n")
    if longest:
        return (f"METADATA LONGENTRIES {longest}", "GETMETADATA hoàn tất / completed")
    return None


async def setmetadata(s: Session, cmd: Command) -> Result:
    """RFC 5464 section 4.3."""
    args = cmd.args
    changes: list[tuple[str, bytes | None]] = []
    try:
        for entry, value in args["values"]:
            changes.append((check_entry(entry, exact=True), value))
    except BadEntry as exc:
        raise bad(str(exc)) from None
    private = any(e.startswith("/private") for e, _v in changes)
    shared = any(e.startswith("/shared") for e, _v in changes)
    place, _mailbox = await _place(s, args["mailbox"], ("l" if private else "") + ("w" if shared else "") or "l")
    for _entry, value in changes:
        if value is not None and len(value) > MAX_VALUE:
            raise no(f"Giá trị quá lớn / value too large (max {MAX_VALUE})", f"METADATA MAXSIZE {MAX_VALUE}")
    try:
        await s.app.db.run_write(write_entries, place, changes)
    except TooMany:
        raise no("Quá nhiều mục / too many entries", "METADATA TOOMANY") from None
    return None


HANDLERS = {"GETMETADATA": getmetadata, "SETMETADATA": setmetadata}
