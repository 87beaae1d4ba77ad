"""Search of the directory, accent- and case-insensitive, and the search keys it matches
(``dir_orgs.search_key``, ``dir_people.search_key``): what they hold, and keeping the
people's keys right when their organisation changes name or address."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Integer, and_, bindparam, column, func, select, table, true, update
from sqlalchemy.engine import Connection

from congthu.db import like_escape
from congthu.directory.addresses import Addresses
from congthu.directory.records import people_query, read_people
from congthu.directory.tables import PEOPLE_FTS, dir_orgs, dir_people
from congthu.store.lookup import addresses_of
from congthu.text import fold


@dataclass(frozen=True)
class SearchHit:
    kind: str  # "person" or "org"
    id: int
    name: str
    address: str
    title: str
    organisation: str
    # The organisation the person is in, or the organisation itself (who may read the
    # hit: ``congthu.console.access.can``).
    org_id: int | None = None


# Names, titles and organisations repeat: fold each distinct text once (bulk import).
cached_fold = lru_cache(maxsize=100_000)(fold)


def person_search_key(full_name: str, address: str, title: str, org_name: str, org_address: str) -> str:
    """What search matches a person on: folded name, name without spaces, address, title
    and organisation."""
    folded = cached_fold(full_name)
    return " ".join([folded, folded.replace(" ", ""), address.lower(), cached_fold(title),
                     cached_fold(org_name), org_address.lower()])


def org_search_key(name: str, address: str) -> str:
    return f"{cached_fold(name)} {address.lower()}"


def refresh_people_keys(conn: Connection, org_ids: Sequence[int]) -> None:
    """Recompute the search keys of the people of these organisations (after a rename,
    a new address or a move)."""
    found = read_people(conn, people_query().where(dir_people.c.org_id.in_(list(org_ids)))
                        .add_columns(dir_orgs.c.address.label("org_address")))
    if found:
        conn.execute(
            update(dir_people).where(dir_people.c.id == bindparam("pid")).values(search_key=bindparam("key")),
            [{"pid": r.id, "key": person_search_key(p.full_name, p.address, p.title, p.org_name,
                                                    r.org_address or "")} for r, p in found],
        )


# The FTS5 table of migration directory_0002 (SQLite), as a lightweight table clause:
# not in metadata, autogenerate knows nothing of it.
_PEOPLE_FTS = table(PEOPLE_FTS, column("rowid", Integer), column(PEOPLE_FTS))


class Search(Addresses):
    """Finding people and organisations by what an operator types."""

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
        # Control characters are in no name or address, and a NUL ends an FTS5 string
        # early (a malformed MATCH): they separate words like spaces.
        terms = fold("".join(" " if unicodedata.category(c) == "Cc" else c for c in text)).split()
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
            return and_(*[key.like("%" + like_escape(t) + "%", escape="\\") for t in words])

        def read(conn: Connection) -> list[SearchHit]:
            hits: list[SearchHit] = []
            if include_orgs:
                for row in conn.execute(
                    select(dir_orgs.c.id, dir_orgs.c.name, dir_orgs.c.address)
                    .where(and_(dir_orgs.c.status == "active", where(dir_orgs.c.search_key, terms)))
                    .order_by(dir_orgs.c.name).limit(limit)
                ):
                    hits.append(SearchHit("org", row.id, row.name, row.address, "", row.name, row.id))
            query = (
                select(dir_people.c.id, dir_people.c.full_name, dir_people.c.title, dir_people.c.mailbox_id,
                       dir_people.c.org_id, dir_orgs.c.name.label("org_name"))
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
            people = conn.execute(query.where(dir_people.c.status == "active").limit(limit)).all()
            # Their addresses from the store, by the mailbox ids found (a few dozen).
            addresses = addresses_of(conn, [p.mailbox_id for p in people if p.mailbox_id is not None])
            for person in people:
                hits.append(SearchHit("person", person.id, person.full_name, addresses.get(person.mailbox_id, ""),
                                      person.title, person.org_name or "", person.org_id))
            return hits[:limit]

        return await self.db.run_read(read)
