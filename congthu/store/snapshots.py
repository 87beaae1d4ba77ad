"""Folder snapshots: a folder's index packed in one row, so that the first IMAP SELECT of
a big folder in a worker reads one blob and what changed since, not every message row.

The index of a folder (UID, system flags, modseq of each message in UID order, and the
keywords of those that have any: ``reading.FlagIndex``) is what an IMAP SELECT keeps
(``congthu.imap.indexes``). Built from the rows it costs ~150 ms of CPU for 100,000
messages on SQLite (one aggregated query, its text split in C). ``folder_snapshots``
keeps it packed (``pack``/``unpack``: version ``FORMAT``, little-endian arrays and the
keyword lines, deflated) as of a modseq ``M`` of the folder; ``SnapshotMethods.indexed_state``
reads, in one read transaction, the folder's state, the snapshot, and the folder's
changes after ``M`` (the rows whose modseq is above ``M``, as they are now, and the
``expunged`` rows above ``M``: ``MailStore.changes_since``'s look-up, as QRESYNC, of the
four columns the index holds), which
the caller applies to it. That is exact because every change of a message gives it the
folder's next modseq and every removal is recorded in ``expunged`` with its modseq, and
applying a change already in the snapshot again changes nothing. As a check the
transaction also counts the folder's messages: a caught-up index of another size (an
``expunged`` row missing, were they ever pruned) is not used (``IndexedState.messages``).

The snapshot is not used (the folder is read whole, and the caller writes a new one) when
there is none, when its format, UIDVALIDITY or modseq do not fit the folder, when it does
not unpack, or when more than ``catch_up_limit`` rows changed or were expunged since it
(each costs about 5 µs more; past a twentieth of the folder the first SELECT would be
slow every time, so the folder is read once whole and its snapshot written again).
``save_snapshot`` writes one only over an older one (a lower modseq), so workers writing
at once never put an older one back.
"""

from __future__ import annotations

import asyncio
import struct
import sys
import zlib
from array import array
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from congthu.store.base import StoreBase
from congthu.store.reading import FlagIndex, read_flag_index
from congthu.store.statements import CHANGED_FLAGS, FOLDER_STATE, VANISHED
from congthu.store.tables import expunged, folder_snapshots, messages

__all__ = ["FORMAT", "FlagChange", "IndexedState", "SnapshotMethods", "catch_up_limit", "pack", "unpack"]

# Version of the packing; a snapshot of another version is read whole again and rewritten.
FORMAT = 1
# Deflate level: 1 packs 100,000 messages in a few ms; higher levels gain little here.
_LEVEL = 1
# 4-byte and 8-byte unsigned array type codes of this platform.
_U32 = next(code for code in "IL" if array(code).itemsize == 4)
_U64 = next(code for code in "LQ" if array(code).itemsize == 8)
_HEAD = struct.Struct("<II")  # messages, bytes of keyword lines

_SNAPSHOT = select(folder_snapshots.c.uidvalidity, folder_snapshots.c.modseq, folder_snapshots.c.format,
                   folder_snapshots.c.messages, folder_snapshots.c.data).where(
    folder_snapshots.c.folder_id == bindparam("b_folder"))
_IN_FOLDER = messages.c.folder_id == bindparam("b_folder")
_CHANGES = select(func.count()).where(and_(_IN_FOLDER, messages.c.modseq > bindparam("b_modseq")))
_REMOVALS = select(func.count()).where(
    and_(expunged.c.folder_id == bindparam("b_folder"), expunged.c.modseq > bindparam("b_modseq")))
_MESSAGES = select(func.count()).where(_IN_FOLDER)


def catch_up_limit(messages: int) -> int:
    """Rows changed or expunged since a snapshot of ``messages`` messages beyond which
    the folder is read whole (and the snapshot written again) rather than caught up."""
    return max(1000, messages // 20)


class FlagChange(NamedTuple):
    """A message changed or added since a snapshot, as the index holds it."""

    uid: int
    flags: int
    keywords: tuple[str, ...]
    modseq: int


class IndexedState(NamedTuple):
    """A folder's index as ``indexed_state`` found it: ``base`` (as of
    ``base.highestmodseq``) with ``changed`` and ``gone`` applied is the folder as of
    ``highestmodseq``, of ``messages`` messages. ``from_snapshot``: ``base`` is the stored
    snapshot (else the folder read whole, ``changed`` and ``gone`` empty)."""

    base: FlagIndex
    changed: list[FlagChange]
    gone: list[int]
    highestmodseq: int
    uidnext: int
    messages: int
    from_snapshot: bool


def pack(uids: Sequence[int], flags: bytes | bytearray, modseqs: Sequence[int],
         keywords: Sequence[tuple[int, str]]) -> bytes:
    """The packed form of an index (version ``FORMAT``): message count and keyword bytes,
    then the UIDs (4 bytes each), system flags (1 byte), modseqs (8 bytes), all
    little-endian, then "uid keywords" lines; deflated."""
    count = len(uids)
    if len(flags) != count or len(modseqs) != count:
        raise ValueError("columns of different lengths")
    uid_array, modseq_array = array(_U32, uids), array(_U64, modseqs)
    if sys.byteorder == "big":
        uid_array.byteswap()
        modseq_array.byteswap()
    lines = "\n".join(f"{uid} {words}" for uid, words in keywords).encode()
    return zlib.compress(b"".join((_HEAD.pack(count, len(lines)), uid_array.tobytes(), bytes(flags),
                                   modseq_array.tobytes(), lines)), _LEVEL)


def unpack(data: bytes) -> tuple[array[int], bytes, array[int], list[tuple[int, str]]]:
    """UIDs, flags, modseqs and keyword lines from ``pack``'s form; ValueError (or
    zlib.error) if it is not one."""
    raw = zlib.decompress(data)
    count, kw_bytes = _HEAD.unpack_from(raw)
    at = _HEAD.size
    if len(raw) != at + 13 * count + kw_bytes:
        raise ValueError("snapshot of the wrong length")
    uids = array(_U32)
    uids.frombytes(raw[at:at + 4 * count])
    at += 4 * count
    flags = raw[at:at + count]
    at += count
    modseqs = array(_U64)
    modseqs.frombytes(raw[at:at + 8 * count])
    at += 8 * count
    if sys.byteorder == "big":
        uids.byteswap()
        modseqs.byteswap()
    keywords = []
    if kw_bytes:
        for line in raw[at:].decode().split("\n"):
            uid, _, words = line.partition(" ")
            keywords.append((int(uid), words))
    return uids, flags, modseqs, keywords


def _usable_snapshot(conn: Connection, folder_id: int, uidvalidity: int, highest: int) -> tuple[int, int, bytes] | None:
    row = conn.execute(_SNAPSHOT, {"b_folder": folder_id}).first()
    if row is None or row.format != FORMAT or row.uidvalidity != uidvalidity or row.modseq > highest:
        return None
    return int(row.modseq), int(row.messages), bytes(row.data)


def read_indexed_state(conn: Connection, folder_id: int,
                       limit: Callable[[int], int] = catch_up_limit) -> IndexedState | None:
    """``SnapshotMethods.indexed_state`` inside a read transaction."""
    state = conn.execute(FOLDER_STATE, {"b_folder": folder_id}).first()
    if state is None:
        return None
    uidvalidity, uidnext, highest = int(state[0]), int(state[1]), int(state[2])
    snapshot = _usable_snapshot(conn, folder_id, uidvalidity, highest)
    if snapshot is not None:
        modseq, count, data = snapshot
        params = {"b_folder": folder_id, "b_modseq": modseq}
        changes = conn.execute(_CHANGES, params).scalar_one()
        # Removals count too: a big folder emptied since its snapshot is read whole.
        removals = conn.execute(_REMOVALS, params).scalar_one()
        if changes + removals <= limit(count):
            try:
                uids, flags, modseqs, keywords = unpack(data)
            except (ValueError, zlib.error, UnicodeDecodeError, struct.error):
                uids = None  # read the folder whole, and write the snapshot again
            if uids is not None and len(uids) == count:
                changed = [FlagChange(uid, bits, tuple(words.split()) if words else (), row_modseq)
                           for uid, bits, words, row_modseq in CHANGED_FLAGS.rows(conn, **params)] \
                    if changes else []
                gone = [int(u) for u in conn.execute(VANISHED, params).scalars()] if removals else []
                total = conn.execute(_MESSAGES, {"b_folder": folder_id}).scalar_one()
                base = FlagIndex(uidvalidity, uidnext, modseq, uids, flags, modseqs, keywords)
                return IndexedState(base, changed, gone, highest, uidnext, int(total), True)
    whole = read_flag_index(conn, folder_id)
    assert whole is not None  # the folder's row was read in this transaction
    return IndexedState(whole, [], [], whole.highestmodseq, whole.uidnext, len(whole.uids), False)


def write_snapshot(conn: Connection, folder_id: int, uidvalidity: int, modseq: int, count: int,
                   data: bytes) -> bool:
    """Insert or replace the folder's snapshot unless the stored one is as recent; True
    if written."""
    values = {"folder_id": folder_id, "uidvalidity": uidvalidity, "modseq": modseq, "format": FORMAT,
              "messages": count, "data": data, "written_at": datetime.now(UTC)}
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stored = folder_snapshots.c
    statement = dialect.insert(folder_snapshots).values(values)
    statement = statement.on_conflict_do_update(
        index_elements=[stored.folder_id],
        set_={k: statement.excluded[k] for k in values if k != "folder_id"},
        # An older snapshot, another folder that had this id, or another format.
        where=(stored.modseq < statement.excluded.modseq) | (stored.uidvalidity != statement.excluded.uidvalidity)
        | (stored.format != statement.excluded.format))
    return bool(conn.execute(statement).rowcount)


class SnapshotMethods(StoreBase):
    async def indexed_state(self, folder_id: int,
                            limit: Callable[[int], int] = catch_up_limit) -> IndexedState | None:
        """The folder's index from its snapshot and the changes since, or read whole
        (see the module docstring), from one read transaction; None if the folder does
        not exist. ``limit(messages)``: the most rows changed since a snapshot of that
        many messages that are read rather than the whole folder."""
        return await self._ro(read_indexed_state, folder_id, limit)

    async def save_snapshot(self, folder_id: int, uidvalidity: int, modseq: int, uids: Sequence[int],
                            flags: bytes | bytearray, modseqs: Sequence[int],
                            keywords: Sequence[tuple[int, str]]) -> bool:
        """Store the folder's index as of ``modseq`` (every change up to it in, none
        after it missing), over an older snapshot only; True if written. Packed in a
        thread, not on the event loop nor in the write transaction."""
        data = await asyncio.to_thread(pack, uids, flags, modseqs, keywords)

        def write(conn: Connection) -> bool:
            return write_snapshot(conn, folder_id, uidvalidity, modseq, len(uids), data)

        # Not durable: a snapshot lost in a crash is only read whole again (and rewritten).
        return await self._tx(write, durable=False)
