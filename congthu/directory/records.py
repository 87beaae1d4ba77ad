"""What the directory hands out and writes down: its error, the records of an organisation
and a person (read from their rows), and the event log of directory changes
(``dir_events``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from congthu.directory.tables import dir_events, dir_orgs, dir_people
from congthu.store import utcnow
from congthu.store.lookup import addresses_of


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


def aware(value: datetime | None) -> datetime | None:
    """A stored time in UTC (SQLite gives it back without its zone)."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def org_from_row(row: Any) -> Org:
    return Org(
        id=row.id, code=row.code, parent_id=row.parent_id, kind=row.kind, type_words=row.type_words,
        name=row.name, address=row.address, local_part=row.local_part, mailbox_id=row.mailbox_id,
        leader_id=row.leader_id, valid_from=row.valid_from, valid_to=row.valid_to,
        successor_id=row.successor_id, status=row.status,
    )


def people_query() -> Any:
    """People with their organisation's name (``org_name``); their addresses are the
    store's (``read_people``)."""
    return (
        select(dir_people, dir_orgs.c.name.label("org_name"))
        .select_from(dir_people)
        .outerjoin(dir_orgs, dir_orgs.c.id == dir_people.c.org_id)
    )


def person_from_row(row: Any, address: str) -> Person:
    """A Person from a row of ``people_query()`` and the address of its mailbox."""
    return Person(
        id=row.id, code=row.code, org_id=row.org_id, family_name=row.family_name,
        middle_name=row.middle_name, given_name=row.given_name, full_name=row.full_name,
        title=row.title, rank=row.rank, registered_at=aware(row.registered_at) or utcnow(),
        mailbox_id=row.mailbox_id, phone=row.phone, status=row.status, address=address,
        org_name=row.org_name or "",
    )


def read_people(conn: Connection, query: Any) -> list[tuple[Any, Person]]:
    """The rows of a ``people_query()`` with their Person (the address from the store)."""
    rows = conn.execute(query).all()
    addresses = addresses_of(conn, [r.mailbox_id for r in rows if r.mailbox_id is not None])
    return [(r, person_from_row(r, addresses.get(r.mailbox_id, ""))) for r in rows]


def record_event(conn: Connection, kind: str, *, org_id: int | None = None,
                 person_id: int | None = None, at: datetime | None = None, **detail: Any) -> None:
    """One line of the directory's history (at ``at``, default now), ``detail`` as JSON."""
    conn.execute(insert(dir_events).values(
        org_id=org_id, person_id=person_id, kind=kind,
        detail=json.dumps(detail, ensure_ascii=False, default=str), at=at or utcnow(),
    ))


def directory_events(conn: Connection, org_id: int, limit: int = 100) -> list[tuple[datetime, str, str]]:
    """The latest lines of an organisation's history (its own and its people's): (at,
    kind, detail JSON), newest first."""
    rows = conn.execute(select(dir_events.c.at, dir_events.c.kind, dir_events.c.detail)
                        .where(dir_events.c.org_id == org_id)
                        .order_by(dir_events.c.id.desc()).limit(limit)).all()
    return [(aware(r.at) or utcnow(), r.kind, r.detail) for r in rows]
