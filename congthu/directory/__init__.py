"""The directory (Danh bạ thư điện tử, Điều 2.5, 9.8, 10.2): organisations, people,
aliases, and the addresses the naming engine of Điều 3 gives them.

Other packages call:

* ``resolve_recipient(app, address)`` (or ``Directory(app).resolve_recipient(address)``):
  the mailbox id an address delivers to (a live mailbox, or a live alias such as the old
  address of a merged organisation), None if nothing takes mail there. The SMTP server
  uses it for every local recipient.
* ``publish(app, dest=None)`` (``congthu.directory.publish``): write the public directory
  (HTML, CSV, XLSX, vCard, JSON); the server schedules it every
  ``directory.publish_every_hours``.
* ``Directory(app).search(text)``: accent- and case-insensitive search.

Every address issued is checked against ``mailboxes.address`` (any status: a reclaimed or
revoked mailbox keeps its address reserved), the aliases (live or expired), the reserved
table and ``naming.DEFAULT_RESERVED``.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Integer,
    String,
    and_,
    any_,
    column,
    func,
    insert,
    literal,
    or_,
    select,
    table,
    true,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import ARRAY

from congthu.accounts import one_time_password
from congthu.accounts.tables import credentials
from congthu.directory import naming
from congthu.directory.naming import NamingError, PersonName, PersonRequest, Proposal
from congthu.directory.tables import PEOPLE_FTS, dir_aliases, dir_events, dir_orgs, dir_people, dir_reserved
from congthu.store import SPECIAL_FOLDERS, normalise_address, utcnow
from congthu.store.tables import folders, mailboxes
from congthu.text import fold, nfc

if TYPE_CHECKING:
    from congthu.app import App

__all__ = [
    "Alias", "Directory", "DirectoryError", "NamingError", "Org", "Person", "Proposal",
    "SearchHit", "publish", "resolve_recipient",
]


class DirectoryError(Exception):
    """A refused directory operation; the text (Vietnamese / English) is for the operator."""


@dataclass(frozen=True)
class Org:
    id: int
    code: str | None
    parent_id: int | None
    kind: str
    type_words: str
    name: str
    address: str
    local_part: str
    mailbox_id: int | None
    leader_id: int | None
    valid_from: date
    valid_to: date | None
    successor_id: int | None
    status: str


@dataclass(frozen=True)
class Person:
    id: int
    code: str | None
    org_id: int | None
    family_name: str
    middle_name: str
    given_name: str
    full_name: str
    title: str
    rank: int | None
    registered_at: datetime
    mailbox_id: int | None
    phone: str
    status: str
    address: str = ""
    org_name: str = ""


@dataclass(frozen=True)
class Alias:
    address: str
    mailbox_id: int
    target: str
    reason: str
    created_at: datetime
    expires_at: datetime | None

    @property
    def live(self) -> bool:
        return self.expires_at is None or self.expires_at > utcnow()


@dataclass(frozen=True)
class SearchHit:
    kind: str  # "person" or "org"
    id: int
    name: str
    address: str
    title: str
    organisation: str


@dataclass(frozen=True)
class NewMailbox:
    """A mailbox to create in the directory's own transaction."""

    address: str
    display_name: str
    kind: str
    password_hash: str | None


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _org(row: Any) -> Org:
    return Org(
        id=row.id, code=row.code, parent_id=row.parent_id, kind=row.kind, type_words=row.type_words,
        name=row.name, address=row.address, local_part=row.local_part, mailbox_id=row.mailbox_id,
        leader_id=row.leader_id, valid_from=row.valid_from, valid_to=row.valid_to,
        successor_id=row.successor_id, status=row.status,
    )


def _person(row: Any, address: str = "", org_name: str = "") -> Person:
    return Person(
        id=row.id, code=row.code, org_id=row.org_id, family_name=row.family_name,
        middle_name=row.middle_name, given_name=row.given_name, full_name=row.full_name,
        title=row.title, rank=row.rank, registered_at=_aware(row.registered_at) or utcnow(),
        mailbox_id=row.mailbox_id, phone=row.phone, status=row.status, address=address,
        org_name=org_name,
    )


# Names, titles and organisations repeat: fold each distinct text once (bulk import).
_fold = lru_cache(maxsize=100_000)(fold)


def person_search_key(full_name: str, address: str, title: str, org_name: str, org_address: str) -> str:
    """What search matches a person on: folded name, name without spaces, address, title
    and organisation."""
    folded = _fold(full_name)
    return " ".join([folded, folded.replace(" ", ""), address.lower(), _fold(title),
                     _fold(org_name), org_address.lower()])


def org_search_key(name: str, address: str) -> str:
    return f"{_fold(name)} {address.lower()}"


_HASH_POOL: ThreadPoolExecutor | None = None


def _hash_pool() -> ThreadPoolExecutor:
    # argon2-cffi releases the GIL while hashing, so threads use every core.
    global _HASH_POOL
    if _HASH_POOL is None:
        _HASH_POOL = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="argon2")
    return _HASH_POOL


class Directory:
    """The directory of one App."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.db = app.db
        self.settings = app.settings

    # -- addresses ----------------------------------------------------------------------

    @property
    def domain(self) -> str:
        return self.settings.system.domain.lower()

    def full(self, local: str) -> str:
        return normalise_address(f"{local}@{self.domain}")

    def local_of(self, address: str) -> str:
        address = normalise_address(address)
        local, _, domain = address.partition("@")
        if domain and domain not in self.settings.local_domains:
            raise DirectoryError(f"Không phải tên miền của hệ thống / not a local domain: {address}")
        return local

    def address_of(self, text: str) -> str:
        """A full address from "ntbinh" or "ntbinh@domain"."""
        text = normalise_address(text)
        return text if "@" in text else self.full(text)

    def _reserved_locals(self) -> set[str]:
        return set(naming.DEFAULT_RESERVED) | {self.settings.system.admin_address.lower()}

    async def taken(self, conn: AsyncConnection, prefixes: Iterable[str] | None = None) -> dict[str, str]:
        """Every address that cannot be issued, with who holds it: mailboxes (any status),
        aliases (live or expired), reserved addresses. ``prefixes``: only local parts that
        start with one of these (for single operations)."""
        found: dict[str, str] = {}
        wanted = list(prefixes) if prefixes is not None else None

        def condition(column: Any) -> Any:
            if wanted is None:
                return True
            return or_(*[column.like(f"{p}%") for p in wanted]) if wanted else False

        for row in await conn.execute(
            select(mailboxes.c.address, mailboxes.c.display_name, mailboxes.c.status)
            .where(condition(mailboxes.c.address))
        ):
            status = "" if row.status == "active" else f", {row.status}"
            found[row.address] = f"hộp thư / mailbox {row.address} ({row.display_name}{status})"
        for alias_row in await conn.execute(
            select(dir_aliases.c.address, mailboxes.c.address.label("target"))
            .join(mailboxes, mailboxes.c.id == dir_aliases.c.mailbox_id)
            .where(condition(dir_aliases.c.address))
        ):
            found.setdefault(alias_row.address, f"bí danh / alias of {alias_row.target}")
        for reserved_row in await conn.execute(
            select(dir_reserved.c.address, dir_reserved.c.reason).where(condition(dir_reserved.c.address))
        ):
            found.setdefault(reserved_row.address, f"dành riêng / reserved ({reserved_row.reason})")
        return found

    def holder(self, taken: dict[str, str]) -> naming.Holder:
        reserved = self._reserved_locals()
        suffix = "@" + self.domain

        def who(local: str) -> str | None:
            if local in reserved:
                return "địa chỉ dành riêng của hệ thống / reserved system address"
            # self.full() without its NFC pass for the plain ASCII the rules produce (the
            # allocation of 50,000 people asks this several times each).
            return taken.get((local.lstrip() + suffix).lower() if local.isascii() else self.full(local))

        return who

    async def _single_holder(self, conn: AsyncConnection, *bases: str) -> naming.Holder:
        return self.holder(await self.taken(conn, [self.full(b).split("@")[0] for b in bases if b]))

    # -- reading ------------------------------------------------------------------------

    async def get_org(self, ref: str | int, *, conn: AsyncConnection | None = None,
                      include_inactive: bool = True) -> Org:
        """An organisation by id, code, address or local part; DirectoryError if none."""
        if conn is None:
            async with self.db.reader.connect() as own:
                return await self.get_org(ref, conn=own, include_inactive=include_inactive)
        ref_text = str(ref).strip()
        conditions = [dir_orgs.c.code == ref_text]
        if ref_text.isdigit():
            conditions.append(dir_orgs.c.id == int(ref_text))
        try:
            conditions.append(dir_orgs.c.address == self.address_of(ref_text))
        except DirectoryError:
            pass
        rows = (await conn.execute(
            select(dir_orgs).where(or_(*conditions)).order_by((dir_orgs.c.status == "active").desc())
        )).all()
        if not rows:
            raise DirectoryError(f"Không có tổ chức / no such organisation: {ref}")
        org = _org(rows[0])
        if not include_inactive and org.status != "active":
            raise DirectoryError(f"Tổ chức không còn hoạt động / organisation is {org.status}: {org.name}")
        return org

    async def list_orgs(self, *, include_inactive: bool = False) -> list[Org]:
        query = select(dir_orgs).order_by(dir_orgs.c.address)
        if not include_inactive:
            query = query.where(dir_orgs.c.status == "active")
        async with self.db.reader.connect() as conn:
            return [_org(r) for r in await conn.execute(query)]

    async def org_tree(self) -> list[tuple[int, Org]]:
        """Active organisations depth first, with their depth."""
        orgs = await self.list_orgs()
        children: dict[int | None, list[Org]] = {}
        ids = {o.id for o in orgs}
        for org in orgs:
            children.setdefault(org.parent_id if org.parent_id in ids else None, []).append(org)
        out: list[tuple[int, Org]] = []

        def walk(parent: int | None, depth: int) -> None:
            for org in sorted(children.get(parent, []), key=lambda o: fold(o.name)):
                out.append((depth, org))
                walk(org.id, depth + 1)

        walk(None, 0)
        return out

    def _people_query(self) -> Any:
        return (
            select(dir_people, mailboxes.c.address.label("mb_address"), dir_orgs.c.name.label("org_name"))
            .select_from(dir_people)
            .outerjoin(mailboxes, mailboxes.c.id == dir_people.c.mailbox_id)
            .outerjoin(dir_orgs, dir_orgs.c.id == dir_people.c.org_id)
        )

    async def list_people(self, org: str | int | None = None, *, include_left: bool = False) -> list[Person]:
        query = self._people_query().order_by(dir_orgs.c.name, dir_people.c.rank.is_(None),
                                               dir_people.c.rank, dir_people.c.full_name)
        async with self.db.reader.connect() as conn:
            if org is not None:
                query = query.where(dir_people.c.org_id == (await self.get_org(org, conn=conn)).id)
            if not include_left:
                query = query.where(dir_people.c.status == "active")
            return [_person(r, r.mb_address or "", r.org_name or "") for r in await conn.execute(query)]

    async def get_person(self, ref: str | int) -> Person:
        """A person by id, staff code or address."""
        ref_text = str(ref).strip()
        conditions = [dir_people.c.code == ref_text]
        if ref_text.isdigit():
            conditions.append(dir_people.c.id == int(ref_text))
        if not ref_text.isdigit():
            conditions.append(mailboxes.c.address == self.address_of(ref_text))
        async with self.db.reader.connect() as conn:
            row = (await conn.execute(self._people_query().where(or_(*conditions)))).first()
        if row is None:
            raise DirectoryError(f"Không có người / no such person: {ref}")
        return _person(row, row.mb_address or "", row.org_name or "")

    # -- naming -------------------------------------------------------------------------

    async def propose_org(self, name: str, *, parent: str | int | None = None,
                          type_words: str | None = None, override: str | None = None) -> Proposal:
        async with self.db.reader.connect() as conn:
            parent_org = await self.get_org(parent, conn=conn, include_inactive=False) if parent else None
            return await self._propose_org(conn, name, parent_org, type_words, override)

    async def _propose_org(self, conn: AsyncConnection, name: str, parent: Org | None,
                           type_words: str | None, override: str | None) -> Proposal:
        parent_local = parent.local_part if parent else None
        if override:
            override = self.local_of(override)
        base = override or naming.analyse_org(name, parent=parent_local, type_words=type_words).label
        holder = await self._single_holder(conn, base)
        return naming.propose_org(name, holder, parent=parent_local, type_words=type_words, override=override)

    async def propose_people(self, requests: Sequence[PersonRequest]) -> dict[Any, Proposal]:
        """Điều 3.2-3.3 for several people at once, against the addresses already taken."""
        async with self.db.reader.connect() as conn:
            return await self._propose_people(conn, requests)

    async def _propose_people(self, conn: AsyncConnection, requests: Sequence[PersonRequest]) -> dict[Any, Proposal]:
        if len(requests) > 50:
            holder = self.holder(await self.taken(conn))
        else:
            bases = []
            for r in requests:
                try:
                    bases.append(self.local_of(r.override) if r.override else naming.person_local(r.name))
                except NamingError:
                    continue
            holder = await self._single_holder(conn, *bases)
        return naming.allocate_people(requests, holder)

    # -- mailboxes in our own transaction -----------------------------------------------

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

    async def _event(self, conn: AsyncConnection, kind: str, *, org_id: int | None = None,
                     person_id: int | None = None, **detail: Any) -> None:
        await conn.execute(insert(dir_events).values(
            org_id=org_id, person_id=person_id, kind=kind,
            detail=json.dumps(detail, ensure_ascii=False, default=str), at=utcnow(),
        ))

    # -- organisations ------------------------------------------------------------------

    async def add_org(
        self, name: str, *, parent: str | int | None = None, address: str | None = None,
        type_words: str | None = None, code: str | None = None, valid_from: date | None = None,
        password: str | None = None,
    ) -> tuple[Org, Proposal, str]:
        """Create an organisation (Điều 3.1a) or sub-unit (3.1b) with its mailbox.

        A clash is not settled by a rule: DirectoryError with the proposal, and the
        operator decides with ``address`` (Điều 3.1b). Returns the organisation, the
        proposal and the mailbox's password (one-time unless given)."""
        name = " ".join(nfc(name).split())
        if not name:
            raise DirectoryError("Thiếu tên tổ chức / organisation name missing")
        password = password or one_time_password()
        (hashed,) = await self.hash_passwords([password])
        async with self.db.writer.begin() as conn:
            parent_org = await self.get_org(parent, conn=conn, include_inactive=False) if parent else None
            try:
                proposal = await self._propose_org(conn, name, parent_org, type_words, address)
            except NamingError as exc:
                raise DirectoryError(str(exc)) from None
            if proposal.needs_decision and not address:
                raise DirectoryError(
                    f"Cần Trung tâm CNTT&TT quyết định / the operator must decide: {proposal.explain()}\n"
                    f"Dùng / use --address {proposal.local} (hoặc địa chỉ khác / or another address)"
                )
            org = await self._insert_org(conn, name, proposal.local, parent_org, type_words, code,
                                         valid_from, hashed)
            await self._event(conn, "created", org_id=org.id, address=org.address, rule=proposal.rule)
        return org, proposal, password

    async def _insert_org(self, conn: AsyncConnection, name: str, local: str, parent: Org | None,
                          type_words: str | None, code: str | None, valid_from: date | None,
                          password_hash: str | None) -> Org:
        try:
            analysed_type = naming.analyse_org(name, type_words=type_words).type_words
        except NamingError:
            analysed_type = type_words or ""
        kind = "subunit" if parent else "organisation"
        address = self.full(local)
        (mailbox_id,) = await self.insert_mailboxes(conn, [NewMailbox(address, name, kind, password_hash)])
        result = await conn.execute(insert(dir_orgs).values(
            code=code or None, parent_id=parent.id if parent else None, kind=kind,
            type_words=analysed_type, name=name, address=address, local_part=local,
            mailbox_id=mailbox_id, valid_from=valid_from or date.today(), status="active",
            search_key=org_search_key(name, address), created_at=utcnow(),
        ))
        key: Any = result.inserted_primary_key
        org_id = int(key[0])
        return _org((await conn.execute(select(dir_orgs).where(dir_orgs.c.id == org_id))).one())

    async def _alias(self, conn: AsyncConnection, address: str, mailbox_id: int, *, org_id: int | None,
                     reason: str, keep_days: int | None) -> None:
        expires = utcnow() + timedelta(days=keep_days) if keep_days else None
        existing = (await conn.execute(select(dir_aliases.c.id).where(dir_aliases.c.address == address))).first()
        if existing:
            await conn.execute(update(dir_aliases).where(dir_aliases.c.id == existing.id).values(
                mailbox_id=mailbox_id, org_id=org_id, reason=reason, expires_at=expires))
        else:
            await conn.execute(insert(dir_aliases).values(
                address=address, mailbox_id=mailbox_id, org_id=org_id, reason=reason,
                created_at=utcnow(), expires_at=expires))

    async def rename_org(self, ref: str | int, new_name: str, *, address: str | None = None,
                         type_words: str | None = None) -> tuple[Org, list[tuple[str, str]]]:
        """Rename an organisation: new name and address (Điều 3.1); the old address, and
        those of its sub-units, keep delivering as aliases for lifecycle.alias_keep_days.
        Returns the organisation and the (old, new) addresses that changed."""
        new_name = " ".join(nfc(new_name).split())
        keep = self.settings.lifecycle.alias_keep_days
        async with self.db.writer.begin() as conn:
            org = await self.get_org(ref, conn=conn, include_inactive=False)
            parent = await self.get_org(org.parent_id, conn=conn) if org.parent_id else None
            try:
                proposal = await self._propose_org(conn, new_name, parent, type_words, address)
            except NamingError as exc:
                raise DirectoryError(str(exc)) from None
            same_address = proposal.clash_with and proposal.clash_with.startswith(org.local_part + " ")
            new_local = org.local_part if same_address else proposal.local
            if proposal.needs_decision and not address and not same_address:
                raise DirectoryError(
                    f"Cần Trung tâm CNTT&TT quyết định / the operator must decide: {proposal.explain()}\n"
                    f"Dùng / use --address {proposal.local}")
            changed = await self._readdress(conn, org, new_local, keep, f"đổi tên / renamed to {new_name}")
            await conn.execute(update(dir_orgs).where(dir_orgs.c.id == org.id).values(
                name=new_name, type_words=naming.analyse_org(new_name, type_words=type_words).type_words,
                search_key=org_search_key(new_name, self.full(new_local))))
            if org.mailbox_id:
                await conn.execute(update(mailboxes).where(mailboxes.c.id == org.mailbox_id)
                                   .values(display_name=new_name))
            moved_ids = (await conn.execute(select(dir_orgs.c.id).where(
                dir_orgs.c.address.in_([new for _old, new in changed])))).scalars().all()
            await self._refresh_people_keys(conn, [org.id, *moved_ids])
            await self._event(conn, "renamed", org_id=org.id, old_name=org.name, new_name=new_name,
                              addresses=changed)
            renamed = await self.get_org(org.id, conn=conn)
        return renamed, changed

    async def _readdress(self, conn: AsyncConnection, org: Org, new_local: str, keep_days: int,
                         reason: str) -> list[tuple[str, str]]:
        """Give an organisation a new local part, and its sub-units theirs (Điều 3.1b);
        old addresses become aliases."""
        changed: list[tuple[str, str]] = []
        if new_local == org.local_part:
            return changed
        old_address, new_address = org.address, self.full(new_local)
        if org.mailbox_id:
            await conn.execute(update(mailboxes).where(mailboxes.c.id == org.mailbox_id)
                               .values(address=new_address))
            await self._alias(conn, old_address, org.mailbox_id, org_id=org.id, reason=reason, keep_days=keep_days)
        await conn.execute(update(dir_orgs).where(dir_orgs.c.id == org.id)
                           .values(address=new_address, local_part=new_local))
        changed.append((old_address, new_address))
        children = (await conn.execute(
            select(dir_orgs).where(and_(dir_orgs.c.parent_id == org.id, dir_orgs.c.status == "active"))
        )).all()
        for row in children:
            child = _org(row)
            suffix = "." + org.local_part
            if child.local_part.endswith(suffix):
                child_local = child.local_part[: -len(suffix)] + "." + new_local
                taken = await self.taken(conn, [child_local])
                if self.full(child_local) not in taken:
                    changed += await self._readdress(conn, child, child_local, keep_days, reason)
        return changed

    async def _refresh_people_keys(self, conn: AsyncConnection, org_ids: Sequence[int]) -> None:
        rows = (await conn.execute(
            self._people_query().where(dir_people.c.org_id.in_(list(org_ids)))
            .add_columns(dir_orgs.c.address.label("org_address"))
        )).all()
        if rows:
            from sqlalchemy import bindparam

            await conn.execute(
                update(dir_people).where(dir_people.c.id == bindparam("pid")).values(search_key=bindparam("key")),
                [{"pid": r.id, "key": person_search_key(r.full_name, r.mb_address or "", r.title,
                                                        r.org_name or "", r.org_address or "")} for r in rows],
            )

    async def merge_orgs(
        self, refs: Sequence[str | int], *, into: str | int | None = None, name: str | None = None,
        parent: str | int | None = None, address: str | None = None, type_words: str | None = None,
    ) -> tuple[Org, str | None]:
        """Merge organisations into an existing one (``into``) or a new one (``name``).

        Every old address keeps delivering to the successor's mailbox (alias for
        lifecycle.alias_keep_days); people, sub-units and their mailboxes move to the
        successor unchanged; the mail of the old organisation mailboxes is moved into the
        successor's mailbox under "Lưu trữ/<old address>" (its quota raised by what moves,
        so nothing is refused). If the new name gives the address of one of the merged
        organisations, that one is the successor and is renamed. Returns the successor
        and, for a new organisation, its mailbox's one-time password."""
        if not refs:
            raise DirectoryError("Không có tổ chức để sáp nhập / nothing to merge")
        if (into is None) == (name is None):
            raise DirectoryError("Cần --into hoặc --name / give either an existing organisation or a new name")
        password: str | None = None
        async with self.db.reader.connect() as conn:
            sources = [await self.get_org(r, conn=conn, include_inactive=False) for r in refs]
        if len({o.id for o in sources}) != len(sources):
            raise DirectoryError("Một tổ chức được nêu hai lần / an organisation is given twice")
        if name is not None:
            parent_ref: str | int | None = parent
            if parent_ref is None and len({o.parent_id for o in sources}) == 1 and sources[0].parent_id:
                parent_ref = sources[0].parent_id
            proposal = await self.propose_org(name, parent=parent_ref, type_words=type_words, override=address)
            reuse = next((o for o in sources if o.local_part == proposal.local
                          or (proposal.clash_with or "").startswith(o.local_part + " ")), None)
            if reuse is not None:
                target, _ = await self.rename_org(reuse.id, name, address=address, type_words=type_words)
                sources = [o for o in sources if o.id != reuse.id]
            else:
                target, _, password = await self.add_org(name, parent=parent_ref, address=address,
                                                         type_words=type_words)
        else:
            assert into is not None
            target = await self.get_org(into, conn=None, include_inactive=False)
            if target.id in {o.id for o in sources}:
                raise DirectoryError("Không thể sáp nhập một tổ chức vào chính nó / cannot merge into itself")
        await self._succeed(sources, target, status="merged")
        return await self.get_org(target.id), password

    async def _succeed(self, sources: Sequence[Org], target: Org, *, status: str,
                       move_people: bool = True) -> None:
        """``target`` succeeds ``sources``: aliases, people, sub-units, then the mail."""
        keep = self.settings.lifecycle.alias_keep_days
        today = date.today()
        async with self.db.writer.begin() as conn:
            for source in sources:
                reason = f"{status}: {source.name} → {target.name}"
                if target.mailbox_id:
                    await self._alias(conn, source.address, target.mailbox_id, org_id=source.id,
                                      reason=reason, keep_days=keep)
                    if source.mailbox_id:
                        # Older aliases of the source (earlier renames) follow it.
                        await conn.execute(update(dir_aliases).where(
                            and_(dir_aliases.c.mailbox_id == source.mailbox_id, dir_aliases.c.address != source.address)
                        ).values(mailbox_id=target.mailbox_id))
                if source.mailbox_id:
                    await conn.execute(update(mailboxes).where(mailboxes.c.id == source.mailbox_id)
                                       .values(status="disabled"))
                if move_people:
                    await conn.execute(update(dir_people).where(dir_people.c.org_id == source.id)
                                       .values(org_id=target.id, updated_at=utcnow()))
                await conn.execute(update(dir_orgs).where(and_(dir_orgs.c.parent_id == source.id,
                                                               dir_orgs.c.status == "active"))
                                   .values(parent_id=target.id))
                await conn.execute(update(dir_orgs).where(dir_orgs.c.id == source.id).values(
                    status=status, valid_to=today, successor_id=target.id))
                await self._event(conn, status, org_id=source.id, successor=target.address,
                                  old_address=source.address)
            await self._refresh_people_keys(conn, [target.id])
        for source in sources:
            if source.mailbox_id and target.mailbox_id:
                await self.move_mail(source.mailbox_id, target.mailbox_id, f"Lưu trữ/{source.local_part}")

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

    async def split_org(self, ref: str | int, parts: Sequence[tuple[str, str | None]]) -> tuple[list[Org], list[str]]:
        """Split an organisation into new ones (name, optional address). The first part is
        the primary successor: the old address delivers there, its people and mail move
        there (move others with ``move_person``). Returns the parts and their passwords."""
        if len(parts) < 2:
            raise DirectoryError("Cần ít nhất hai tổ chức mới / a split needs at least two parts")
        source = await self.get_org(ref, include_inactive=False)
        new: list[Org] = []
        passwords: list[str] = []
        for part_name, part_address in parts:
            org, _proposal, pw = await self.add_org(part_name, parent=source.parent_id, address=part_address)
            new.append(org)
            passwords.append(pw)
        await self._succeed([source], new[0], status="split")
        async with self.db.writer.begin() as conn:
            await self._event(conn, "split", org_id=source.id, parts=[o.address for o in new])
        return new, passwords

    async def dissolve_org(self, ref: str | int, *, successor: str | int | None = None) -> Org:
        """End an organisation. With a successor, it takes the address, people and mail
        (like a merge). Without one the mailbox is disabled (mail kept, address reserved);
        refused while people or sub-units are still in it."""
        source = await self.get_org(ref, include_inactive=False)
        if successor is not None:
            target = await self.get_org(successor, include_inactive=False)
            await self._succeed([source], target, status="dissolved")
            return await self.get_org(source.id)
        async with self.db.writer.begin() as conn:
            people = (await conn.execute(select(func.count()).select_from(dir_people).where(and_(
                dir_people.c.org_id == source.id, dir_people.c.status == "active")))).scalar_one()
            units = (await conn.execute(select(func.count()).select_from(dir_orgs).where(and_(
                dir_orgs.c.parent_id == source.id, dir_orgs.c.status == "active")))).scalar_one()
            if people or units:
                raise DirectoryError(
                    f"{source.name} còn {people} người và {units} đơn vị; chuyển họ đi hoặc dùng --successor / "
                    f"still has {people} people and {units} units: move them or give a successor")
            if source.mailbox_id:
                await conn.execute(update(mailboxes).where(mailboxes.c.id == source.mailbox_id)
                                   .values(status="disabled"))
            await conn.execute(update(dir_orgs).where(dir_orgs.c.id == source.id).values(
                status="dissolved", valid_to=date.today()))
            await self._event(conn, "dissolved", org_id=source.id, address=source.address)
        return await self.get_org(source.id)

    async def set_leader(self, org_ref: str | int, person_ref: str | int) -> None:
        person = await self.get_person(person_ref)
        org = await self.get_org(org_ref, include_inactive=False)
        async with self.db.writer.begin() as conn:
            await conn.execute(update(dir_orgs).where(dir_orgs.c.id == org.id).values(leader_id=person.id))

    # -- people -------------------------------------------------------------------------

    async def add_person(
        self, name: str | PersonName, org: str | int, *, title: str = "", rank: int | None = None,
        registered: datetime | None = None, address: str | None = None, password: str | None = None,
        code: str | None = None, phone: str = "",
    ) -> tuple[Person, Proposal, str]:
        """Register an official and create the personal mailbox with the address of
        Điều 3.2/3.3 (or the operator's validated ``address``). Returns the person, the
        proposal (rule and clash) and the password (one-time unless given)."""
        person_name = naming.split_name(name) if isinstance(name, str) else name
        registered = registered or utcnow()
        password = password or one_time_password()
        (hashed,) = await self.hash_passwords([password])
        async with self.db.writer.begin() as conn:
            org_row = await self.get_org(org, conn=conn, include_inactive=False)
            request = PersonRequest(key=0, name=person_name, org_local=org_row.local_part, rank=rank,
                                    registered=registered,
                                    override=self.local_of(address) if address else None)
            try:
                proposal = (await self._propose_people(conn, [request]))[0]
            except NamingError as exc:
                raise DirectoryError(str(exc.args[0])) from None
            full_address = self.full(proposal.local)
            (mailbox_id,) = await self.insert_mailboxes(
                conn, [NewMailbox(full_address, person_name.full, "personal", hashed)])
            now = utcnow()
            result = await conn.execute(insert(dir_people).values(
                code=code or None, org_id=org_row.id, family_name=person_name.family,
                middle_name=person_name.middle, given_name=person_name.given, full_name=person_name.full,
                title=nfc(title.strip()), rank=rank or None, registered_at=registered, mailbox_id=mailbox_id,
                phone=phone, status="active",
                search_key=person_search_key(person_name.full, full_address, title, org_row.name, org_row.address),
                created_at=now, updated_at=now,
            ))
            key: Any = result.inserted_primary_key
            person_id = int(key[0])
            await self._event(conn, "person-added", person_id=person_id, org_id=org_row.id,
                              address=full_address, rule=proposal.rule, clash=proposal.clash_with)
        return await self.get_person(person_id), proposal, password

    async def move_person(self, ref: str | int, org: str | int, *, title: str | None = None,
                          rank: int | None = None) -> Person:
        """Move an official to another organisation; the address and mail stay theirs."""
        person = await self.get_person(ref)
        async with self.db.writer.begin() as conn:
            target = await self.get_org(org, conn=conn, include_inactive=False)
            values: dict[str, Any] = {"org_id": target.id, "updated_at": utcnow()}
            if title is not None:
                values["title"] = nfc(title.strip())
            if rank is not None:
                values["rank"] = rank or None
            await conn.execute(update(dir_people).where(dir_people.c.id == person.id).values(**values))
            await self._refresh_people_keys(conn, [target.id])
            await self._event(conn, "person-moved", person_id=person.id, org_id=target.id,
                              from_org=person.org_id)
        return await self.get_person(person.id)

    async def person_leaves(self, ref: str | int) -> Person:
        """Điều 4.5: the official left or moved out of the province: access revoked at once
        (mailbox status "revoked"), data kept, address reserved."""
        person = await self.get_person(ref)
        async with self.db.writer.begin() as conn:
            await conn.execute(update(dir_people).where(dir_people.c.id == person.id).values(
                status="left", left_at=utcnow(), updated_at=utcnow()))
            if person.mailbox_id:
                await conn.execute(update(mailboxes).where(mailboxes.c.id == person.mailbox_id)
                                   .values(status="revoked"))
            await self._event(conn, "person-left", person_id=person.id, org_id=person.org_id,
                              address=person.address)
        return await self.get_person(person.id)

    # -- aliases ------------------------------------------------------------------------

    async def add_alias(self, alias: str, target: str, *, days: int | None = None, reason: str = "") -> Alias:
        """An extra address delivering to ``target``'s mailbox; validated like any address."""
        alias_address = self.address_of(alias)
        local = self.local_of(alias_address)
        problem = naming.validate_local(local)
        if problem:
            raise DirectoryError(f"Địa chỉ không hợp lệ / invalid address {alias_address}: {problem}")
        async with self.db.writer.begin() as conn:
            row = (await conn.execute(select(mailboxes.c.id, mailboxes.c.status).where(
                mailboxes.c.address == self.address_of(target)))).first()
            if row is None:
                raise DirectoryError(f"Không có hộp thư / no such mailbox: {target}")
            holder = self.holder(await self.taken(conn, [local]))(local)
            if holder:
                raise DirectoryError(f"Địa chỉ đã dùng / address taken: {alias_address}: {holder}")
            await self._alias(conn, alias_address, row.id, org_id=None, reason=reason or "alias", keep_days=days)
        return next(a for a in await self.list_aliases(include_expired=True) if a.address == alias_address)

    async def list_aliases(self, *, include_expired: bool = False) -> list[Alias]:
        async with self.db.reader.connect() as conn:
            rows = (await conn.execute(
                select(dir_aliases, mailboxes.c.address.label("target"))
                .join(mailboxes, mailboxes.c.id == dir_aliases.c.mailbox_id).order_by(dir_aliases.c.address)
            )).all()
        aliases = [Alias(r.address, r.mailbox_id, r.target, r.reason, _aware(r.created_at) or utcnow(),
                         _aware(r.expires_at)) for r in rows]
        return aliases if include_expired else [a for a in aliases if a.live]

    async def remove_alias(self, alias: str) -> None:
        """Stop an alias delivering; the address stays reserved (never issued again)."""
        address = self.address_of(alias)
        async with self.db.writer.begin() as conn:
            row = (await conn.execute(select(dir_aliases).where(dir_aliases.c.address == address))).first()
            if row is None:
                raise DirectoryError(f"Không có bí danh / no such alias: {address}")
            await conn.execute(dir_aliases.delete().where(dir_aliases.c.id == row.id))
            if not (await conn.execute(select(dir_reserved).where(dir_reserved.c.address == address))).first():
                await conn.execute(insert(dir_reserved).values(
                    address=address, reason=f"bí danh đã xóa / removed alias ({row.reason})", created_at=utcnow()))

    async def reserve(self, address: str, reason: str) -> None:
        address = self.address_of(address)
        async with self.db.writer.begin() as conn:
            if not (await conn.execute(select(dir_reserved).where(dir_reserved.c.address == address))).first():
                await conn.execute(insert(dir_reserved).values(address=address, reason=reason, created_at=utcnow()))

    async def resolve_recipient(self, address: str) -> int | None:
        """The mailbox id mail for ``address`` goes to: a live alias first (the old address
        of a merged organisation points to its successor), else an active mailbox."""
        address = normalise_address(address)
        if "@" not in address or address.rpartition("@")[2] not in self.settings.local_domains:
            return None
        if address.rpartition("@")[2] != self.domain:
            address = self.full(address.rpartition("@")[0])
        now = utcnow()
        async with self.db.reader.connect() as conn:
            alias: Any = (await conn.execute(
                select(dir_aliases.c.mailbox_id, dir_aliases.c.expires_at, mailboxes.c.status)
                .join(mailboxes, mailboxes.c.id == dir_aliases.c.mailbox_id)
                .where(dir_aliases.c.address == address)
            )).first()
            if alias is not None and (alias.expires_at is None or (_aware(alias.expires_at) or now) > now):
                return int(alias.mailbox_id) if alias.status == "active" else None
            row = (await conn.execute(
                select(mailboxes.c.id, mailboxes.c.status).where(mailboxes.c.address == address)
            )).first()
        if row is not None and row.status == "active":
            return int(row.id)
        return None

    # -- search -------------------------------------------------------------------------

    async def search(self, text: str, *, limit: int = 50, include_orgs: bool = True) -> list[SearchHit]:
        """People (and organisations) whose name, address, title or organisation contains
        every word of ``text``, ignoring accents and case (congthu.text.fold):
        "nguyen thanh binh", "Nguyễn Thanh Bình" and "NTBINH" all find Nguyễn Thanh Bình.

        The keys are folded already, so a word matches as a plain substring. People are
        found through the search index (migration directory_0002): on SQLite the FTS5
        trigram table gives the rows that hold every trigram of the words, which are then
        checked whole; on PostgreSQL ``LIKE '%word%'`` uses the pg_trgm index. A query of
        words shorter than three letters scans. Organisations (a few thousand at most) are
        scanned."""
        terms = fold(text).split()
        if not terms:
            return []
        sqlite = self.db.is_sqlite
        # instr / strpos: several times faster than a LIKE on a scan.
        contains = func.instr if sqlite else func.strpos

        def where(key: Any, words: Sequence[str]) -> Any:
            if not words:
                return true()
            if sqlite:
                return and_(*[contains(key, t) > 0 for t in words])
            return and_(*[key.like("%" + _like_escape(t) + "%", escape="\\") for t in words])

        hits: list[SearchHit] = []
        async with self.db.reader.connect() as conn:
            if include_orgs:
                for row in await conn.execute(
                    select(dir_orgs.c.id, dir_orgs.c.name, dir_orgs.c.address)
                    .where(and_(dir_orgs.c.status == "active", where(dir_orgs.c.search_key, terms)))
                    .order_by(dir_orgs.c.name).limit(limit)
                ):
                    hits.append(SearchHit("org", row.id, row.name, row.address, "", row.name))
            query = (
                select(dir_people.c.id, dir_people.c.full_name, dir_people.c.title,
                       mailboxes.c.address, dir_orgs.c.name.label("org_name"))
                .outerjoin(mailboxes, mailboxes.c.id == dir_people.c.mailbox_id)
                .outerjoin(dir_orgs, dir_orgs.c.id == dir_people.c.org_id)
            )
            grams = sorted({t[i:i + 3] for t in terms for i in range(len(t) - 2)})
            if sqlite and grams:
                # FTS5 trigram index without positions: the rows that hold every trigram
                # of every word (each a quoted string: quotes and operators are text), in
                # rowid order so LIMIT stops early; instr then checks each word whole.
                match = " AND ".join('"' + g.replace('"', '""') + '"' for g in grams)
                query = (query.select_from(_PEOPLE_FTS.join(dir_people, dir_people.c.id == _PEOPLE_FTS.c.rowid))
                         .where(_PEOPLE_FTS.c[PEOPLE_FTS].match(match))
                         .where(where(dir_people.c.search_key, terms))
                         .order_by(_PEOPLE_FTS.c.rowid))
            else:
                query = query.select_from(dir_people).where(where(dir_people.c.search_key, terms)).order_by(
                    dir_people.c.id)
            people: Any = await conn.execute(query.where(dir_people.c.status == "active").limit(limit))
            for person in people:
                hits.append(SearchHit("person", person.id, person.full_name, person.address or "", person.title,
                                      person.org_name or ""))
        return hits[:limit]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# The FTS5 table of migration directory_0002 (SQLite), as a lightweight table clause:
# not in metadata, autogenerate knows nothing of it.
_PEOPLE_FTS = table(PEOPLE_FTS, column("rowid", Integer), column(PEOPLE_FTS))


async def resolve_recipient(app: App, address: str) -> int | None:
    """The mailbox id mail for ``address`` is delivered to, or None (see
    ``Directory.resolve_recipient``)."""
    return await Directory(app).resolve_recipient(address)


async def publish(app: App, dest: Any = None) -> list[Any]:
    """Write the public directory (Điều 9.8) to ``dest`` (default: directory.publish_dir
    in the data directory); returns the files written."""
    from congthu.directory.publish import publish as _publish

    return await _publish(app, dest)
