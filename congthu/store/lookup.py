"""Mailboxes and folders read or changed inside another package's transaction.

The directory, delegation and accounts keep their own tables and link to the store's by
``mailbox_id`` or ``folder_id``; they never read ``mailboxes`` or ``folders`` themselves.
These are plain synchronous functions taking a ``Connection`` first, so they join the
caller's transaction (``Database.run_write`` / ``run_read``): the caller reads its own
rows, then asks here for the mailboxes or folders of the ids it found.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.engine import Connection

from congthu.store.changes import ALL_ACCOUNTS, account_changed, mailbox_key
from congthu.store.model import Folder, Mailbox, normalise_address
from congthu.store.rows import Compiled, to_folder, to_mailbox
from congthu.store.statements import FOLDER_COLUMNS, FOLDER_MAILBOX, MAILBOX_BY_ADDRESS, MAILBOX_COLUMNS
from congthu.store.tables import folders, mailboxes

# Above this many ids, one pass over the table beats an IN list (and SQLite's limit on
# bound parameters).
_MANY = 500
# Read before every LIST of a user with grants (``congthu.delegation.access``): compiled
# once (``Compiled``).
_MAILBOXES_BY_IDS = Compiled(select(*MAILBOX_COLUMNS).where(mailboxes.c.id.in_(bindparam("b_ids", expanding=True))))
_FOLDERS_BY_IDS = Compiled(select(*FOLDER_COLUMNS).where(folders.c.id.in_(bindparam("b_ids", expanding=True))))


def _chunks(ids: list[int], size: int = _MANY) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def addresses_of(conn: Connection, mailbox_ids: Collection[int] | None = None) -> dict[int, str]:
    """mailbox id -> address, for these ids (None: every mailbox)."""
    if mailbox_ids is None or len(mailbox_ids) > _MANY:
        rows = conn.execute(select(mailboxes.c.id, mailboxes.c.address))
        if mailbox_ids is None:
            return {int(r.id): r.address for r in rows}
        wanted = set(mailbox_ids)
        return {int(r.id): r.address for r in rows if r.id in wanted}
    ids = sorted({i for i in mailbox_ids if i is not None})
    if not ids:
        return {}
    return {int(r.id): r.address for r in conn.execute(
        select(mailboxes.c.id, mailboxes.c.address).where(mailboxes.c.id.in_(ids)))}


def mailboxes_by_ids(conn: Connection, mailbox_ids: Collection[int]) -> dict[int, Mailbox]:
    """mailbox id -> Mailbox, for those of these ids that exist."""
    out: dict[int, Mailbox] = {}
    for chunk in _chunks(sorted(set(mailbox_ids))):
        for row in _MAILBOXES_BY_IDS.typed(conn, b_ids=chunk):
            out[int(row[0])] = to_mailbox(row)
    return out


def mailbox_by_address(conn: Connection, address: str) -> Mailbox | None:
    """The mailbox of this address, whatever its status."""
    row = MAILBOX_BY_ADDRESS.first(conn, b_address=normalise_address(address))
    return to_mailbox(row) if row is not None else None


def mailboxes_with_prefix(conn: Connection, prefixes: Collection[str] | None = None) -> list[Any]:
    """(address, display_name, status) of every mailbox (any status: a reclaimed or
    revoked mailbox keeps its address), or of those whose address starts with one of
    ``prefixes``: the addresses taken."""
    query = select(mailboxes.c.address, mailboxes.c.display_name, mailboxes.c.status)
    if prefixes is not None:
        if not prefixes:
            return []
        query = query.where(or_(*[mailboxes.c.address.like(f"{p}%") for p in prefixes]))
    return list(conn.execute(query))


_CHANGEABLE = frozenset({"status", "display_name", "address"})
_ANNOUNCED_ONE_BY_ONE = 100  # mailboxes changed at once whose changes are announced each


def set_mailbox(conn: Connection, mailbox_ids: int | Collection[int], **values: Any) -> None:
    """Change the status, display name or address of mailboxes (IntegrityError if the
    address is taken); announced on the account feed once committed (a login of them
    must see it at once, in every process and node)."""
    if not set(values) <= _CHANGEABLE:
        raise ValueError(f"cannot set {set(values) - _CHANGEABLE}")
    if "address" in values:
        values["address"] = normalise_address(values["address"])
    ids = [mailbox_ids] if isinstance(mailbox_ids, int) else sorted(set(mailbox_ids))
    if ids:
        conn.execute(update(mailboxes).where(mailboxes.c.id.in_(ids)).values(**values))
        # A reorganisation may change thousands at once: then one note drops everything.
        for key in [mailbox_key(i) for i in ids] if len(ids) <= _ANNOUNCED_ONE_BY_ONE else [ALL_ACCOUNTS]:
            account_changed(conn, key)


def folders_by_ids(conn: Connection, folder_ids: Collection[int]) -> dict[int, Folder]:
    """folder id -> Folder, for those of these ids that exist."""
    out: dict[int, Folder] = {}
    for chunk in _chunks(sorted(set(folder_ids))):
        for row in _FOLDERS_BY_IDS.typed(conn, b_ids=chunk):
            out[int(row[0])] = to_folder(row)
    return out


def folder_ids_of(conn: Connection, mailbox_id: int) -> list[int]:
    """The ids of a mailbox's folders."""
    return [int(i) for i in conn.execute(select(folders.c.id).where(folders.c.mailbox_id == mailbox_id)).scalars()]


def folder_mailbox_id(conn: Connection, folder_id: int) -> int | None:
    """The mailbox a folder belongs to, None if there is no such folder."""
    value = conn.execute(FOLDER_MAILBOX, {"b_folder": folder_id}).scalar()
    return None if value is None else int(value)
