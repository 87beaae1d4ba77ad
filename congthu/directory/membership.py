"""Which organisation each mailbox belongs to, for other packages' transactions.

A personal mailbox belongs to its official's organisation (``dir_people.org_id``), an
organisation's or sub-unit's mailbox to that organisation (``dir_orgs.mailbox_id``). The
reports (``congthu/reports``) count per organisation with these, and roll the counts up
the tree with ``org_links``. Plain synchronous functions taking a ``Connection`` first,
so they join the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Connection

from congthu.directory.tables import dir_orgs, dir_people

__all__ = ["Member", "OrgLink", "agencies", "mailbox_orgs", "members", "org_links"]

# Above this many mailbox ids, one pass over the table beats an IN list.
_MANY = 500


@dataclass(frozen=True)
class OrgLink:
    """An organisation's place in the tree (any status: a merged one keeps its history)."""

    id: int
    parent_id: int | None
    kind: str  # "organisation" or "subunit"
    name: str
    code: str | None
    address: str
    status: str


@dataclass(frozen=True)
class Member:
    """A mailbox with an owner in the directory: an official (``person``) or an organisation."""

    mailbox_id: int
    org_id: int
    person: bool
    active: bool  # the official has not left / the organisation is active


def org_links(conn: Connection) -> dict[int, OrgLink]:
    return {int(r.id): OrgLink(int(r.id), r.parent_id, r.kind, r.name, r.code, r.address, r.status)
            for r in conn.execute(select(dir_orgs.c.id, dir_orgs.c.parent_id, dir_orgs.c.kind, dir_orgs.c.name,
                                         dir_orgs.c.code, dir_orgs.c.address, dir_orgs.c.status))}


def agencies(links: dict[int, OrgLink]) -> dict[int, int]:
    """org id -> its agency: the organisation itself, or for a sub-unit (Điều 3.1b) the
    nearest organisation above it."""
    out: dict[int, int] = {}
    for org_id in links:
        current = links[org_id]
        seen = {org_id}
        while current.kind == "subunit" and current.parent_id in links and current.parent_id not in seen:
            seen.add(current.parent_id)
            current = links[current.parent_id]
        out[org_id] = current.id
    return out


def members(conn: Connection, mailbox_ids: Collection[int] | None = None) -> list[Member]:
    """The owners of these mailboxes (None: of every mailbox) in the directory; a
    mailbox linked twice (an official who left and came back) counts where it is active."""
    people = select(dir_people.c.mailbox_id, dir_people.c.org_id, dir_people.c.status).where(
        dir_people.c.mailbox_id.is_not(None), dir_people.c.org_id.is_not(None))
    orgs = select(dir_orgs.c.mailbox_id, dir_orgs.c.id, dir_orgs.c.status).where(dir_orgs.c.mailbox_id.is_not(None))
    wanted = None if mailbox_ids is None else set(mailbox_ids)
    if wanted is not None and len(wanted) <= _MANY:
        if not wanted:
            return []
        people = people.where(dir_people.c.mailbox_id.in_(sorted(wanted)))
        orgs = orgs.where(dir_orgs.c.mailbox_id.in_(sorted(wanted)))
    found: dict[int, Member] = {}
    for r in conn.execute(orgs):
        found[int(r.mailbox_id)] = Member(int(r.mailbox_id), int(r.id), False, r.status == "active")
    for r in conn.execute(people):
        member = Member(int(r.mailbox_id), int(r.org_id), True, r.status == "active")
        if member.mailbox_id not in found or (member.active and not found[member.mailbox_id].active):
            found[member.mailbox_id] = member
    if wanted is not None:
        return [m for k, m in found.items() if k in wanted]
    return list(found.values())


def mailbox_orgs(conn: Connection, mailbox_ids: Collection[int]) -> tuple[dict[int, int], dict[int, int]]:
    """(mailbox id -> organisation id, organisation id -> agency id) for these mailboxes;
    a mailbox outside the directory is absent."""
    if not mailbox_ids:
        return {}, {}
    return ({m.mailbox_id: m.org_id for m in members(conn, mailbox_ids)}, agencies(org_links(conn)))
