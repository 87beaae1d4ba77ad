"""From SQL rows to the store's records, and the ways rows are fetched when there are many.

``to_mailbox``, ``to_folder``, ``to_meta`` and ``to_content`` turn a row into its record
(``congthu.store.model``); ``Compiled`` and ``driver_rows`` fetch rows as the driver gives
them, for the queries that may return a whole folder; ``chunks`` bounds IN lists.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection

from congthu.store.model import Content, Folder, Mailbox, MessageMeta, utcnow


def aware(value: datetime | None) -> datetime | None:
    # SQLite gives naive datetimes back; everything in the store is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def to_mailbox(row: Any) -> Mailbox:
    return Mailbox(
        id=row.id, address=row.address, display_name=row.display_name, kind=row.kind,
        quota_bytes=row.quota_bytes, used_bytes=row.used_bytes, status=row.status,
        created_at=aware(row.created_at) or utcnow(), last_access_at=aware(row.last_access_at),
        quota_warned=bool(row.quota_warned),
    )


def to_folder(row: Any) -> Folder:
    return Folder(
        id=row.id, mailbox_id=row.mailbox_id, name=row.name, special_use=row.special_use,
        uidvalidity=row.uidvalidity, uidnext=row.uidnext, highestmodseq=row.highestmodseq,
        subscribed=bool(row.subscribed), mailboxid=row.mailboxid,
    )


def to_meta(row: Any) -> MessageMeta:
    return MessageMeta(
        uid=row.uid, flags=row.flags,
        keywords=tuple(row.keywords.split()) if row.keywords else (),
        size=row.size, internal_date=aware(row.internal_date) or utcnow(),
        modseq=row.modseq, content_id=row.content_id,
    )


def to_metas(rows: Iterable[Any]) -> list[MessageMeta]:
    return [to_meta(r) for r in rows]


_fromisoformat = datetime.fromisoformat


def metas_from_driver(rows: Iterable[Any]) -> list[MessageMeta]:
    """MessageMeta from driver rows of ``statements.META_COLUMNS`` (SQLite gives dates as text)."""
    out: list[MessageMeta] = []
    append = out.append
    for uid, flags, keywords, size, when, modseq, content_id in rows:
        if when.__class__ is str:
            when = _fromisoformat(when)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        append(MessageMeta(uid, flags, tuple(keywords.split()) if keywords else (), size, when,
                           modseq, content_id))
    return out


def to_content(row: Any) -> Content:
    return Content(
        id=row.id, sha256=row.sha256, size=row.size,
        segments=[(d, n) for d, n in json.loads(row.segments)],
        structure=json.loads(row.structure), subject=row.subject, from_addr=row.from_addr,
        to_addr=row.to_addr, cc_addr=row.cc_addr, sent_date=aware(row.sent_date),
        message_id=row.message_id, preview=row.preview,
    )


class Compiled:
    """A SELECT compiled once per dialect and run through ``exec_driver_sql``: its rows
    come back as the driver gives them, without SQLAlchemy's per-row processing. For the
    queries that return a whole folder (a SELECT of 100,000 messages)."""

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._by_dialect: dict[str, tuple[str, Sequence[str] | None]] = {}

    def rows(self, conn: Connection, **params: Any) -> Sequence[Any]:
        compiled = self._by_dialect.get(conn.dialect.name)
        if compiled is None:
            form = self.statement.compile(dialect=conn.dialect)
            compiled = self._by_dialect[conn.dialect.name] = (str(form), form.positiontup)
        sql, names = compiled
        args: Any = tuple(params[n] for n in names) if names is not None else params
        return conn.exec_driver_sql(sql, args).all()


def driver_rows(conn: Connection, statement: Any) -> Sequence[Any]:
    """Rows of a statement built per call, as the driver gives them (no per-row
    processing by SQLAlchemy: a search may return a whole folder)."""
    form = statement.compile(dialect=conn.dialect)
    names = form.positiontup
    args: Any = tuple(form.params[n] for n in names) if names is not None else form.params
    return conn.exec_driver_sql(str(form), args).all()


def chunks(values: Sequence[int], size: int = 500) -> Iterator[Sequence[int]]:
    """Bounded IN lists (SQLite allows 32,766 parameters a statement)."""
    for i in range(0, len(values), size):
        yield values[i:i + size]
