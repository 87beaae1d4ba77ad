"""Changing messages already in a folder: flags and keywords (IMAP STORE, with
UNCHANGEDSINCE), expunge, copy and move (``MessageMethods``). Each change takes the
folder's next MODSEQ and is recorded in the change hub's log and published there after
its commit. Also ``present``: which of some messages still exist.

Lock order on PostgreSQL: a transaction locks mailbox rows (quota) before folder rows
(UIDs, MODSEQ), as delivery, APPEND and EXPUNGE do (charge, then reserve or bump). A
MOVE writes two mailboxes and two folders: it locks both mailboxes, then both folders,
each pair in id order, before writing any (``_lock_for_move``); in the order its
statements came, a MOVE from A to B and one from B to A each held what the other
wanted next.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, select
from sqlalchemy.engine import Connection

from congthu.store import accounting
from congthu.store import flags as flagbits
from congthu.store.base import StoreBase
from congthu.store.model import MessageMeta, utcnow
from congthu.store.reading import dense, metas_of
from congthu.store.rows import chunks, to_meta
from congthu.store.statements import (
    CHANGED_FEW,
    DELETE_UIDS_WRITE,
    DELETED_ALL_READ,
    DELETED_AMONG_READ,
    FOLDER_MAILBOX,
    INSERT_EXPUNGED_WRITE,
    INSERT_MESSAGE,
    PRESENT,
    PRESENT_RANGE,
    RELEASE,
    SET_FLAGS_WRITE,
)
from congthu.store.tables import folders, mailboxes, messages

# UIDs looked up at once on the event loop (``_ro_small``), at most.
_SMALL = 500

def _deleted_since(conn: Connection, folder_id: int, modseq: int) -> bool | None:
    """Has a message changed or added after ``modseq`` the \\Deleted flag (EXPUNGE's look
    before its write, ``MessageMethods.expunge``'s ``clean_at``)? None when more than
    _SMALL did (a read that would walk the folder: the caller writes as before)."""
    rows = CHANGED_FEW.rows(conn, b_folder=folder_id, b_modseq=modseq, b_limit=_SMALL + 1, b_offset=0)
    if len(rows) > _SMALL:
        return None
    return any(int(row[1]) & flagbits.DELETED for row in rows)  # META_COLUMNS: uid, flags, ...


# The rows a MOVE writes, locked as UPDATE would (FOR NO KEY UPDATE: foreign keys that
# point at them stay free), in id order.
_LOCK_MAILBOXES = (select(mailboxes.c.id).where(mailboxes.c.id.in_(bindparam("b_ids", expanding=True)))
                   .order_by(mailboxes.c.id).with_for_update(key_share=True))
_LOCK_FOLDERS = (select(folders.c.id).where(folders.c.id.in_(bindparam("b_ids", expanding=True)))
                 .order_by(folders.c.id).with_for_update(key_share=True))


def _lock_for_move(conn: Connection, mailbox_ids: set[int], folder_ids: set[int]) -> None:
    """Lock the mailboxes, then the folders, each in id order (see the module's
    docstring). SQLite has one writer at a time and nothing to order."""
    if conn.dialect.name == "sqlite":
        return
    conn.execute(_LOCK_MAILBOXES, {"b_ids": sorted(mailbox_ids)})
    conn.execute(_LOCK_FOLDERS, {"b_ids": sorted(folder_ids)})


class _Removed(NamedTuple):
    """A message an EXPUNGE removes (``statements.DELETED_ALL``'s columns), as
    ``accounting.release_in_folder`` reads it."""

    uid: int
    size: int
    content_id: int


def _drop(conn: Connection, folder_id: int, uids: Sequence[int]) -> int:
    """Delete these messages of a folder and record them as expunged; the modseq."""
    modseq = accounting.bump_modseq(conn, folder_id)
    for chunk in chunks(uids):
        DELETE_UIDS_WRITE.changed(conn, b_folder=folder_id, b_uids=chunk)
    INSERT_EXPUNGED_WRITE.insert_many(conn, [{"folder_id": folder_id, "uid": uid, "modseq": modseq} for uid in uids])
    return modseq


def _remove(conn: Connection, folder_id: int, rows: Sequence[Any]) -> tuple[list[int], int]:
    """Delete these messages (uid, size, content_id) of a folder, giving back their quota
    and content references, and record them as expunged; (UIDs, modseq)."""
    if not rows:
        return [], 0
    # The mailbox row before the folder row, in the order APPEND and delivery lock them
    # (charge, then reserve_uids): the other order deadlocks on PostgreSQL.
    accounting.release_in_folder(conn, folder_id, rows)
    uids = [r.uid for r in rows]
    return uids, _drop(conn, folder_id, uids)


def _copied(rows: Sequence[Any], pairs: list[tuple[int, int]], modseq: int) -> list[MessageMeta]:
    """The messages a COPY or MOVE added, as the destination holds them."""
    return [replace(to_meta(row), uid=new_uid, modseq=modseq) for row, (_old, new_uid) in zip(rows, pairs, strict=True)]


class MessageMethods(StoreBase):
    async def present(self, folder_id: int, uids: Sequence[int]) -> set[int]:
        """Which of these UIDs (at most a few hundred) the folder still holds: for IMAP
        FETCH of messages whose metadata it already knows, which never changes."""
        wanted = sorted(set(uids))
        if not wanted:
            return set()
        span = dense(wanted)

        def read(conn: Connection) -> set[int]:
            if span is not None:  # the usual FETCH: see dense (reading.py)
                found = PRESENT_RANGE.rows(conn, b_folder=folder_id, b_low=span[0], b_high=span[1])
                return {uid for (uid,) in found}.intersection(wanted)
            return {uid for chunk in chunks(wanted)
                    for (uid,) in conn.execute(PRESENT, {"b_folder": folder_id, "b_uids": chunk})}

        if len(wanted) > _SMALL:
            return await self._ro(read)
        return await self._ro_small(read)  # by the (folder, uid) index

    async def store_flags(
        self, folder_id: int, uids: Sequence[int], mode: str, flags: int,
        keywords: Sequence[str] = (), unchanged_since: int | None = None,
    ) -> tuple[list[MessageMeta], list[int]]:
        """Change flags (IMAP STORE). ``mode``: "set", "add" or "remove".

        Returns the messages whose flags changed (with their new modseq) and, with
        ``unchanged_since`` (RFC 7162 section 3.1.3), the UIDs refused because they were
        modified after it.
        """
        if mode not in ("set", "add", "remove"):
            raise ValueError(mode)
        wanted = list(uids)

        def tx(conn: Connection) -> tuple[list[MessageMeta], list[int]]:
            changed: list[MessageMeta] = []
            refused: list[int] = []
            updates: list[tuple[MessageMeta, int, str]] = []
            for row in metas_of(conn, folder_id, wanted):
                if unchanged_since is not None and row.modseq > unchanged_since:
                    refused.append(row.uid)
                    continue
                old_kw = list(row.keywords)
                if mode == "set":
                    new_flags, new_kw = flags, list(dict.fromkeys(keywords))
                elif mode == "add":
                    new_flags = row.flags | flags
                    new_kw = old_kw + [k for k in keywords if k not in old_kw]
                else:
                    new_flags = row.flags & ~flags
                    new_kw = [k for k in old_kw if k not in keywords]
                if new_flags != row.flags or new_kw != old_kw:
                    updates.append((row, new_flags, " ".join(new_kw)))
            if updates:
                modseq = accounting.bump_modseq(conn, folder_id)
                SET_FLAGS_WRITE.insert_many(conn, [
                    {"b_folder": folder_id, "b_uid": row.uid, "b_flags": bits, "b_keywords": text,
                     "b_modseq": modseq} for row, bits, text in updates
                ])
                for old, bits, text in updates:
                    changed.append(MessageMeta(
                        uid=old.uid, flags=bits, keywords=tuple(text.split()), size=old.size,
                        internal_date=old.internal_date, modseq=modseq, content_id=old.content_id,
                    ))
                self.hub.relay(conn, folder_id, modseq, changed)  # to the other workers at the commit
            return changed, refused

        # Flags need not wait for the disk (as Dovecot's mail_fsync=optimized): a power
        # cut may undo the last changes of flags, never lose a message.
        changed, refused = await self._tx(tx, durable=False) if wanted else ([], [])
        if changed:
            await self.hub.publish(folder_id, changed[0].modseq)
        return changed, refused

    async def expunge(self, folder_id: int, uids: Sequence[int] | None = None, *,
                      clean_at: int | None = None) -> list[int]:
        """Remove messages marked \\Deleted (only those in ``uids`` if given: UID EXPUNGE).

        ``clean_at``: a modseq at which the caller knows that no message of the folder had
        \\Deleted (IMAP: the selected folder's index, complete up to its modseq). A
        message whose flags changed since has a higher modseq, so a small read of those
        (on the event loop) tells whether there is anything to remove; when there is not,
        no write is made (seven in ten of imaptest's EXPUNGEs found nothing, each a
        transaction of the writer thread). The answer is the folder's state at that
        read, as the write's would have been at its own."""
        wanted = None if uids is None else sorted(set(uids))
        if wanted is None and clean_at is not None \
                and await self._ro_small(_deleted_since, folder_id, clean_at) is False:
            return []

        def tx(conn: Connection) -> tuple[list[int], int]:
            if wanted is None:
                found = DELETED_ALL_READ.rows(conn, b_folder=folder_id)
            else:
                found = [row for chunk in chunks(wanted)
                         for row in DELETED_AMONG_READ.rows(conn, b_folder=folder_id, b_uids=chunk)]
            rows = [_Removed(*row) for row in found]
            removed, modseq = _remove(conn, folder_id, rows)
            if removed:
                self.hub.relay(conn, folder_id, modseq, gone=removed)  # to the other workers at the commit
            return removed, modseq

        # Not waiting for the disk either (Dovecot's mail_fsync=optimized): a power cut
        # may undo the last expunges, which brings the messages back and loses none. The
        # blobs stay until the collector's own durable commit has deleted their content
        # rows (ContentMethods.collect_garbage), and that fsync makes this commit durable
        # first (WAL order). Used by IMAP EXPUNGE, CLOSE, UID EXPUNGE and POP3's UPDATE
        # state alike; COPY and MOVE save messages and stay durable (Database.run_write).
        removed, modseq = await self._tx(tx, durable=False) if wanted is None or wanted else ([], 0)
        if removed:
            await self.hub.publish(folder_id, modseq)
        return removed

    async def copy(self, src_folder_id: int, uids: Sequence[int], dst_folder_id: int) -> list[tuple[int, int]]:
        """Copy messages (RFC 9051 section 6.4.7); returns (source UID, new UID) pairs
        for COPYUID (RFC 4315). The content is shared, the quota is charged in full."""
        return await self._copy(src_folder_id, uids, dst_folder_id, move=False)

    async def move(self, src_folder_id: int, uids: Sequence[int], dst_folder_id: int) -> list[tuple[int, int]]:
        """Move messages (RFC 6851): copy, then expunge from the source, atomically."""
        return await self._copy(src_folder_id, uids, dst_folder_id, move=True)

    async def _copy(self, src: int, uids: Sequence[int], dst: int, *, move: bool) -> list[tuple[int, int]]:
        wanted = sorted(set(uids))

        def tx(conn: Connection) -> tuple[list[tuple[int, int]], int, int]:
            src_mailbox, dst_mailbox = [
                conn.execute(FOLDER_MAILBOX, {"b_folder": f}).scalar_one()
                for f in (src, dst)
            ]
            if move:
                # Before reading the messages: a MOVE of the same ones that committed
                # meanwhile is seen, and they are not moved twice.
                _lock_for_move(conn, {src_mailbox, dst_mailbox}, {src, dst})
            rows = [row for chunk in chunks(wanted) for row in conn.execute(
                select(messages).where(and_(messages.c.folder_id == src, messages.c.uid.in_(chunk)))
                .order_by(messages.c.uid)
            )]
            if not rows:
                return [], 0, 0
            total = sum(r.size for r in rows)
            # Within one mailbox a move changes no usage; otherwise the destination is
            # charged (and may refuse) and, for a move, the source given it back.
            if not (move and src_mailbox == dst_mailbox):
                accounting.charge(conn, dst_mailbox, total)
                if move:
                    conn.execute(RELEASE[conn.dialect.name], {"b_mailbox": src_mailbox, "b_total": total})
            first_uid, modseq = accounting.reserve_uids(conn, dst, len(rows))
            pairs = [(row.uid, first_uid + offset) for offset, row in enumerate(rows)]
            saved_at = utcnow()  # RFC 8514: COPY and MOVE save the message anew
            conn.execute(INSERT_MESSAGE, [
                {"folder_id": dst, "uid": new_uid, "content_id": row.content_id, "flags": row.flags,
                 "keywords": row.keywords, "internal_date": row.internal_date, "size": row.size,
                 "modseq": modseq, "saved_at": saved_at, "sort_subject": row.sort_subject, "sort_from": row.sort_from}
                for row, (_old, new_uid) in zip(rows, pairs, strict=True)
            ])
            src_modseq = 0
            if move:
                # The messages change folder: their contents keep the same references.
                src_modseq = _drop(conn, src, [row.uid for row in rows])
            else:
                # In content id order, so two copies of the same contents lock them alike.
                accounting.add_references(conn, sorted(rows, key=lambda row: row.content_id))
            # To the other workers at the commit (ChangeHub.relay).
            self.hub.relay(conn, dst, modseq, _copied(rows, pairs, modseq))
            if move:
                self.hub.relay(conn, src, src_modseq, gone=[old for old, _new in pairs])
            return pairs, modseq, src_modseq

        if not wanted:
            return []
        pairs, modseq, src_modseq = await self._tx(tx)
        if not pairs:
            return []
        await self.hub.publish(dst, modseq)
        if move:
            await self.hub.publish(src, src_modseq)
        return pairs
