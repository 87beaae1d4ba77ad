"""The bookkeeping every write to a folder shares, inside its transaction: UIDs and
MODSEQs reserved (RFC 9051 section 2.3.1.1, RFC 7162), quota charged and given back
(Điều 8.1), and the reference counts that keep a content's row and blobs alive.

Functions of a ``Connection``: delivery, append, copy, move, expunge and folder deletion
call them from their transaction functions, so every path keeps the same rules. The
statements every delivery, APPEND, STORE and EXPUNGE runs (a charge, a reservation, a
modseq, a release) go straight to SQLite's driver (``statements.*_WRITE``, ``rows.Compiled``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from congthu.store.model import NotFound, QuotaExceeded
from congthu.store.statements import (
    ADD_REFS_WRITE,
    BUMP_WRITE,
    CHARGE_FOLDER_WRITE,
    CHARGE_WRITE,
    FOLDER_MAILBOX,
    RELEASE,
    RELEASE_FOLDER_WRITE,
    RESERVE_WRITE,
)
from congthu.store.tables import mailboxes


def reserve_uids(conn: Connection, folder_id: int, count: int = 1) -> tuple[int, int]:
    """Reserve ``count`` UIDs and one modseq in a folder; returns (first uid, modseq)."""
    row = RESERVE_WRITE.first(conn, b_folder=folder_id, b_count=count)  # uidnext, highestmodseq
    if row is None:
        raise NotFound(f"folder {folder_id}")
    return int(row[0]) - count, int(row[1])


def bump_modseq(conn: Connection, folder_id: int) -> int:
    row = BUMP_WRITE.first(conn, b_folder=folder_id)  # (highestmodseq,)
    if row is None:
        raise NotFound(f"folder {folder_id}")
    return int(row[0])


def try_charge(conn: Connection, mailbox_id: int, size: int) -> bool:
    """Add size to the mailbox's usage if it fits (Điều 8.1); whether it was added (not:
    over quota, or no such mailbox)."""
    return bool(CHARGE_WRITE.changed(conn, b_mailbox=mailbox_id, b_size=size))


def charge(conn: Connection, mailbox_id: int, size: int) -> None:
    """Add size to the mailbox's usage, or raise QuotaExceeded (Điều 8.1)."""
    if not try_charge(conn, mailbox_id, size):
        row = conn.execute(select(mailboxes).where(mailboxes.c.id == mailbox_id)).first()
        if row is None:
            raise NotFound(f"mailbox {mailbox_id}")
        raise QuotaExceeded(row.address, row.used_bytes, row.quota_bytes, size)


def charge_folder(conn: Connection, folder_id: int, size: int) -> int:
    """``charge`` the mailbox the folder belongs to, found in the same statement; its id.
    NotFound if the folder is gone, QuotaExceeded as ``charge``."""
    row = CHARGE_FOLDER_WRITE.first(conn, b_folder=folder_id, b_size=size)
    mailbox_id = row[0] if row is not None else None
    if mailbox_id is None:
        owner = conn.execute(FOLDER_MAILBOX, {"b_folder": folder_id}).scalar()
        if owner is None:
            raise NotFound(f"folder {folder_id}")
        # QuotaExceeded with the mailbox's figures (or, had usage fallen meanwhile on
        # PostgreSQL, charged now).
        charge(conn, owner, size)
        mailbox_id = owner
    return int(mailbox_id)


def add_references(conn: Connection, rows: Sequence[Any], sign: int = 1) -> None:
    """Count these message rows (each with a ``content_id``) in their contents'
    reference counts, or with ``sign=-1`` take them out."""
    per_content = Counter(row.content_id for row in rows)
    if per_content:
        ADD_REFS_WRITE.insert_many(conn, [{"b_id": cid, "b_n": sign * n} for cid, n in per_content.items()])


def release(conn: Connection, mailbox_id: int, rows: Sequence[Any]) -> None:
    """Give back the quota and content references of removed messages (rows with
    ``size`` and ``content_id``)."""
    total = sum(row.size for row in rows)
    if total:
        conn.execute(RELEASE[conn.dialect.name], {"b_mailbox": mailbox_id, "b_total": total})
    add_references(conn, rows, -1)


def release_in_folder(conn: Connection, folder_id: int, rows: Sequence[Any]) -> None:
    """``release`` to the mailbox the folder belongs to, found in the same statement."""
    total = sum(row.size for row in rows)
    if total:
        RELEASE_FOLDER_WRITE[conn.dialect.name].changed(conn, b_folder=folder_id, b_total=total)
    add_references(conn, rows, -1)
