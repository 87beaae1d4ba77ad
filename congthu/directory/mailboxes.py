"""Mailboxes created in the directory's own transaction, in bulk: the password hashes,
the mailbox rows with their special folders and credentials, and the bulk INSERT and
id allocation that the import of 50,000 people also uses; and moving the mail of one
mailbox into another (what a merged organisation's mail does)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Integer,
    String,
    any_,
    func,
    insert,
    literal,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import ARRAY

from congthu.accounts.tables import credentials
from congthu.directory.addresses import Addresses
from congthu.store import SPECIAL_FOLDERS, normalise_address, utcnow
from congthu.store.tables import folders, mailboxes
from congthu.text import nfc


@dataclass(frozen=True)
class NewMailbox:
    """A mailbox to create in the directory's own transaction."""

    address: str
    display_name: str
    kind: str
    password_hash: str | None


_HASH_POOL: ThreadPoolExecutor | None = None


def _hash_pool() -> ThreadPoolExecutor:
    # argon2-cffi releases the GIL while hashing, so threads use every core.
    global _HASH_POOL
    if _HASH_POOL is None:
        _HASH_POOL = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="argon2")
    return _HASH_POOL


class MailboxWriter(Addresses):
    """Mailboxes and bulk rows written in the caller's transaction."""

    async def hash_passwords(self, passwords: Sequence[str]) -> list[str]:
        """argon2id hashes of many passwords, on every core (the accounts' parameters)."""
        hasher = self.app.accounts.hasher
        loop = asyncio.get_running_loop()
        pool = _hash_pool()
        return list(await asyncio.gather(*[loop.run_in_executor(pool, hasher.hash, p) for p in passwords]))

    async def bulk_insert(self, conn: AsyncConnection, table: Any, rows: Sequence[dict[str, Any]],
                          constants: dict[str, Any] | None = None, *, staged: bool = False) -> None:
        """executemany straight to the driver: one INSERT for the dialect, the columns'
        bind processors applied once per value that needs one (and once for ``constants``,
        the columns that are the same in every row), no per-row SQLAlchemy work (what makes
        50,000 mailboxes and people take a second, not minutes).

        ``staged`` (SQLite): the rows go to a temporary table first, then into ``table``
        in one INSERT ... SELECT. For a table with an FTS5 index kept by triggers: FTS5
        flushes its pending terms at every statement's savepoint, so row-by-row inserts
        write one index segment per row (four times slower for 50,000 people)."""
        if not rows:
            return
        dialect = conn.dialect
        keys = list(rows[0])
        const_keys = list(constants or {})
        columns = keys + const_keys
        quote = dialect.identifier_preparer.quote
        if dialect.paramstyle == "qmark":
            marks = ["?"] * len(columns)
        elif dialect.paramstyle == "numeric_dollar":
            marks = [f"${i}" for i in range(1, len(columns) + 1)]
        elif dialect.paramstyle == "format":
            marks = ["%s"] * len(columns)
        else:  # pragma: no cover - the drivers we ship use one of the above
            raise RuntimeError(f"paramstyle {dialect.paramstyle} not supported")
        names = ", ".join(quote(c) for c in columns)
        staged = staged and dialect.name == "sqlite"
        target = f"temp._bulk_{table.name}" if staged else quote(table.name)
        sql = f"INSERT INTO {target} ({names}) VALUES ({', '.join(marks)})"

        def processor(key: str) -> Any:
            return table.c[key].type._cached_bind_processor(dialect)

        tail = tuple(
            processor(k)(v) if processor(k) is not None and v is not None else v
            for k, v in (constants or {}).items())
        get = itemgetter(*keys)
        processed = [(i, processor(k)) for i, k in enumerate(keys) if processor(k) is not None]
        params: list[tuple[Any, ...]] = (
            [(get(r),) + tail for r in rows] if len(keys) == 1 else [get(r) + tail for r in rows])
        if processed:
            for n, values in enumerate(params):
                mutable = list(values)
                for i, proc in processed:
                    if mutable[i] is not None:
                        mutable[i] = proc(mutable[i])
                params[n] = tuple(mutable)
        if not staged:
            await conn.exec_driver_sql(sql, params)
            return
        await conn.exec_driver_sql(f"CREATE TEMP TABLE _bulk_{table.name} AS SELECT {names} FROM {quote(table.name)} "
                                   f"WHERE 0")
        try:
            await conn.exec_driver_sql(sql, params)
            await conn.exec_driver_sql(f"INSERT INTO {quote(table.name)} ({names}) SELECT {names} FROM {target} "
                                       f"ORDER BY rowid")
        finally:
            await conn.exec_driver_sql(f"DROP TABLE IF EXISTS {target}")

    async def allocate_ids(self, conn: AsyncConnection, table: Any, count: int) -> list[int]:
        """``count`` new primary keys of ``table``, to insert with (no read-back). SQLite:
        the next ones after the largest, which nobody else can take while our write
        transaction holds the lock (BEGIN IMMEDIATE); ids come out consecutive, as SQLite
        would give them. PostgreSQL: from the column's sequence."""
        if count <= 0:
            return []
        if self.db.is_sqlite:
            top = (await conn.execute(select(func.coalesce(func.max(table.c.id), 0)))).scalar_one()
            return list(range(int(top) + 1, int(top) + 1 + count))
        rows = await conn.exec_driver_sql(
            f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) FROM generate_series(1, {int(count)})")
        return [int(r[0]) for r in rows]

    async def insert_mailboxes(self, conn: AsyncConnection, specs: Sequence[NewMailbox]) -> list[int]:
        """Create mailboxes with their special folders (the store's SPECIAL_FOLDERS) and
        credentials (must change at first login, Điều 13.2), in bulk, in ``conn``'s
        transaction. Returns the ids in the order of ``specs``."""
        if not specs:
            return []
        now = utcnow()
        ids = await self.allocate_ids(conn, mailboxes, len(specs))
        await self.bulk_insert(
            conn, mailboxes,
            [{"id": mid, "address": normalise_address(s.address), "display_name": nfc(s.display_name), "kind": s.kind}
             for mid, s in zip(ids, specs, strict=True)],
            constants={"quota_bytes": self.settings.mailbox_quota_bytes, "used_bytes": 0, "status": "active",
                       "created_at": now, "quota_warned": False})
        # The six folders of every new mailbox in one INSERT ... SELECT: no row goes
        # through Python (300,000 rows for 50,000 mailboxes).
        special = union_all(*[
            select(literal(name, String).label("name"), literal(use, String).label("special_use"),
                   literal(order, Integer).label("ord"))
            for order, (name, use) in enumerate(SPECIAL_FOLDERS)
        ]).subquery("special")
        new_ids = (mailboxes.c.id.between(ids[0], ids[-1]) if self.db.is_sqlite
                   else mailboxes.c.id == any_(literal(ids, ARRAY(Integer))))
        await conn.execute(insert(folders).from_select(
            ["mailbox_id", "name", "special_use", "uidvalidity", "uidnext", "highestmodseq", "subscribed"],
            select(mailboxes.c.id, special.c.name, special.c.special_use, literal(int(time.time()), BigInteger),
                   literal(1, BigInteger), literal(1, BigInteger), literal(True, Boolean))
            .select_from(mailboxes.join(special, true()))  # every mailbox × every folder
            .where(new_ids).order_by(mailboxes.c.id, special.c.ord)))
        creds = [{"mailbox_id": mid, "password_hash": s.password_hash}
                 for mid, s in zip(ids, specs, strict=True) if s.password_hash]
        await self.bulk_insert(conn, credentials, creds, constants={"must_change": True, "changed_at": now})
        return ids

    async def move_mail(self, src_mailbox: int, dst_mailbox: int, under: str) -> int:
        """Move every message of one mailbox into folders ``under/<folder>`` of another,
        raising the destination's quota by what moves (no mail is refused or lost).
        Returns the number of messages moved."""
        store = self.app.store
        src_folders = [f for f in await store.list_folders(src_mailbox)]
        moved = 0
        used, _limit = await store.quota(src_mailbox)
        if used:
            dst_used, dst_limit = await store.quota(dst_mailbox)
            if dst_used + used > dst_limit:
                await store.update_mailbox(dst_mailbox, quota_bytes=dst_limit + used)
        for folder in src_folders:
            uids = [m.uid for m in await store.folder_index(folder.id)]
            if not uids:
                continue
            name = f"{under}/{folder.name}"
            target = await store.get_folder(dst_mailbox, name) or await store.create_folder(dst_mailbox, name)
            await store.move(folder.id, uids, target.id)
            moved += len(uids)
        return moved
