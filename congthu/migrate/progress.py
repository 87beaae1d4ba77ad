"""How far each user's each old folder has been copied (``migrate_folders``), read and
written by the copier; plain synchronous functions run through ``app.db``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, insert, select, update
from sqlalchemy.engine import Connection

from congthu.migrate.tables import migrate_folders as t


@dataclass(frozen=True)
class FolderKey:
    source: str
    old_login: str
    mailbox_id: int
    old_folder: str


@dataclass(frozen=True)
class Checkpoint:
    old_uidvalidity: int
    last_uid: int
    dest_uid: int
    copied: int
    copied_bytes: int


def _where(key: FolderKey):  # type: ignore[no-untyped-def]
    return and_(t.c.source == key.source, t.c.old_login == key.old_login,
                t.c.mailbox_id == key.mailbox_id, t.c.old_folder == key.old_folder)


def load(conn: Connection, key: FolderKey) -> Checkpoint | None:
    row = conn.execute(select(t.c.old_uidvalidity, t.c.last_uid, t.c.dest_uid, t.c.copied,
                              t.c.copied_bytes).where(_where(key))).first()
    return Checkpoint(*row) if row else None


def save(conn: Connection, key: FolderKey, dest_folder: str, checkpoint: Checkpoint) -> None:
    """Insert or replace the folder's checkpoint."""
    values = {"dest_folder": dest_folder, "old_uidvalidity": checkpoint.old_uidvalidity,
              "last_uid": checkpoint.last_uid, "dest_uid": checkpoint.dest_uid, "copied": checkpoint.copied,
              "copied_bytes": checkpoint.copied_bytes, "updated_at": datetime.now(UTC)}
    if conn.execute(update(t).where(_where(key)).values(**values)).rowcount == 0:
        conn.execute(insert(t).values(source=key.source, old_login=key.old_login, mailbox_id=key.mailbox_id,
                                      old_folder=key.old_folder, **values))
