"""Reading the directory: an organisation or a person by any of its references, the lists
of them, and the organisation tree."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.engine import Connection

from congthu.directory.addresses import Addresses
from congthu.directory.records import DirectoryError, Org, Person, org_from_row, people_query, read_people
from congthu.directory.tables import dir_generation, dir_orgs, dir_people
from congthu.store.lookup import mailbox_by_address
from congthu.text import fold


class Lookup(Addresses):
    """Organisations and people as they are now."""

    def org_in(self, conn: Connection, ref: str | int, *, include_inactive: bool = True) -> Org:
        """An organisation by id, code, address or local part, read in ``conn``'s
        transaction; DirectoryError if none."""
        ref_text = str(ref).strip()
        conditions = [dir_orgs.c.code == ref_text]
        if ref_text.isdigit():
            conditions.append(dir_orgs.c.id == int(ref_text))
        conditions.append(dir_orgs.c.address == self.address_of(ref_text))
        rows = conn.execute(
            select(dir_orgs).where(or_(*conditions)).order_by((dir_orgs.c.status == "active").desc())
        ).all()
        if not rows:
            raise DirectoryError(f"Không có tổ chức / no such organisation: {ref}")
        org = org_from_row(rows[0])
        if not include_inactive and org.status != "active":
            raise DirectoryError(f"Tổ chức không còn hoạt động / organisation is {org.status}: {org.name}")
        return org

    async def get_org(self, ref: str | int, *, include_inactive: bool = True) -> Org:
        """An organisation by id, code, address or local part; DirectoryError if none."""
        def read(conn: Connection) -> Org:
            return self.org_in(conn, ref, include_inactive=include_inactive)

        return await self.db.run_read(read)

    def org_chain_in(self, conn: Connection, org_id: int) -> list[int]:
        """The organisation and its parents up to the root, read in ``conn``'s
        transaction (at most 20: a loop in the tree ends there)."""
        chain: list[int] = []
        current: int | None = org_id
        while current is not None and current not in chain and len(chain) < 20:
            row = conn.execute(select(dir_orgs.c.id, dir_orgs.c.parent_id).where(dir_orgs.c.id == current)).first()
            if row is None:
                break
            chain.append(int(row.id))
            current = row.parent_id
        return chain

    async def org_chain(self, org_id: int) -> list[int]:
        """The organisation and its parents up to the root: a manager of a parent
        manages its units (the target of ``roles.decide``; ``congthu.console.access``)."""
        return await self.db.run_small_read(self.org_chain_in, org_id)

    async def generation(self) -> int:
        """The generation of what the directory shows (``tables.dir_generation``): it
        differs after any change of the organisations, the people, their addresses, the
        roles or the service accounts, made by any process or node."""
        return await self.db.run_small_read(_generation)

    async def list_orgs(self, *, include_inactive: bool = False) -> list[Org]:
        query = select(dir_orgs).order_by(dir_orgs.c.address)
        if not include_inactive:
            query = query.where(dir_orgs.c.status == "active")

        def read(conn: Connection) -> list[Org]:
            return [org_from_row(r) for r in conn.execute(query)]

        return await self.db.run_read(read)

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

    async def list_people(self, org: str | int | None = None, *, include_left: bool = False) -> list[Person]:
        def read(conn: Connection) -> list[Person]:
            query = _in_list_order(people_query())
            if org is not None:
                query = query.where(dir_people.c.org_id == self.org_in(conn, org).id)
            if not include_left:
                query = query.where(dir_people.c.status == "active")
            return [person for _row, person in read_people(conn, query)]

        return await self.db.run_read(read)

    # People in a chunk of ``people_in_chunks`` (each chunk a read and, for the tree, a
    # thread's turn: under load each hop waits for the CPU; 500 a chunk made the build of
    # 50,000 people last 7-20 s at load 15, against 7-11 s for the whole list), read in queries
    # of PEOPLE_QUERY: ``store.lookup.addresses_of`` reads every mailbox for more ids.
    PEOPLE_CHUNK = 5000
    PEOPLE_QUERY = 500

    async def people_in_chunks(self, size: int | None = None) -> AsyncIterator[list[Person]]:
        """The active people of ``list_people()``, in its order, ``size`` at a time, for a
        reader of everyone that keeps what it makes of them but not the people (the LDAP
        tree): no list of them all is held at once (at 50,000 people the rows and Person
        objects of ``list_people`` left a worker's RSS some 40 MiB higher after).
        The order is read first, in one snapshot; a person who leaves meanwhile is left
        out, one who comes meanwhile waits for the next reading. ``size``: PEOPLE_CHUNK."""
        step = size or self.PEOPLE_CHUNK

        def order(conn: Connection) -> list[int]:
            query = _in_list_order(people_query().with_only_columns(dir_people.c.id))
            return [int(i) for i in conn.execute(query.where(dir_people.c.status == "active")).scalars()]

        def read(conn: Connection, ids: list[int]) -> list[Person]:
            found: dict[int, Person] = {}
            for start in range(0, len(ids), self.PEOPLE_QUERY):
                some = ids[start:start + self.PEOPLE_QUERY]
                query = people_query().where(dir_people.c.id.in_(some), dir_people.c.status == "active")
                found.update((person.id, person) for _row, person in read_people(conn, query))
            return [found[i] for i in ids if i in found]

        ids = await self.db.run_read(order)
        for start in range(0, len(ids), step):
            yield await self.db.run_read(read, ids[start:start + step])

    def person_in(self, conn: Connection, ref: str | int) -> Person:
        """A person by id, staff code or address, read in ``conn``'s transaction."""
        ref_text = str(ref).strip()
        conditions = [dir_people.c.code == ref_text]
        if ref_text.isdigit():
            conditions.append(dir_people.c.id == int(ref_text))
        else:
            mailbox = mailbox_by_address(conn, self.address_of(ref_text))
            if mailbox is not None:
                conditions.append(dir_people.c.mailbox_id == mailbox.id)
        found = read_people(conn, people_query().where(or_(*conditions)).limit(1))
        if not found:
            raise DirectoryError(f"Không có người / no such person: {ref}")
        return found[0][1]

    async def get_person(self, ref: str | int) -> Person:
        """A person by id, staff code or address."""
        return await self.db.run_read(self.person_in, ref)


def _in_list_order(query: Any) -> Any:
    """People by organisation, then rank (people without one last), then name; the id
    last, so that two readings give the same order (``people_in_chunks``)."""
    return query.order_by(dir_orgs.c.name, dir_people.c.rank.is_(None), dir_people.c.rank,
                          dir_people.c.full_name, dir_people.c.id)


def _generation(conn: Connection) -> int:
    return int(conn.execute(select(dir_generation.c.value).where(dir_generation.c.id == 1)).scalar() or 0)
