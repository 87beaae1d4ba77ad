"""The journal of inter-organisation mail (Điều 7.3–7.5): what is kept, who may read it,
and for how long.

Điều 7.3 gives mail the legal value of paper; 7.4 puts the documents organisations
exchange by mail under the records rules (văn thư, lưu trữ). So every message submitted
from an organisation (or sub-unit) mailbox of ours to at least one other organisation
mailbox of ours is kept here, when ``journal.scope`` is "organisations":

* **As sent**: the bytes the sending mailbox's submission produced, which is the
  message as the client sent it (after the SMTP dot-unstuffing), with the Date and
  Message-ID fields the submission server added when the client left them out (RFC 6409
  section 8), and nothing else: not the trace fields each copy gets on its way (the
  Return-Path and Received fields, a scan's ``X-CongThu-Scan``; the remote copies'
  DKIM-Signature). A recipient's IMAP ``BODY[]`` is these bytes behind its trace fields.
  The sender is the organisation whose mailbox is the message's From author (a delegate
  sending for it, Điều 12), or else the mailbox that logged in.
* **Byte for byte, once**: the bytes are blobs of the store's content-addressed blob
  store, cut at the large bodies as the store cuts a delivered message, so an
  attachment the mailboxes also keep is on disk once; the entry's SHA-256 of the whole
  is checked on every read (and by ``congthu journal verify``).
* **Kept whatever the mailboxes do**: the entry's blobs are referenced from
  ``journal_segments.blob`` (a column marked as a blob reference, which the store's
  garbage collection honours), so a user deleting and expunging the message, or a
  mailbox removed, leaves the entry whole. Only the retention purge removes entries
  (``journal.retention_days`` after they were sent; 0 keeps them for ever); the blobs
  nothing else refers to then go at the store's next garbage collection.
* **Read-only**: nothing changes an entry; there is no function to.
* **For the records office**: searching and reading need the ``journal.read``
  permission (``records`` role; administrators hold every permission), checked by
  ``accounts.roles``, and each search and read is written to the audit trail. A
  records grant scoped to an organisation reads only the entries that organisation or
  one of its sub-units sent or received (by any address it has or had: the
  directory's ``org_addresses``); an entry outside the scope reads as one that does
  not exist. The console's page is ``web.py`` (``/quan-tri/luu-thu``).

The entry is written when the submission is accepted, before the 250 reaches the
client. If it cannot be written then (the database away for a moment), the message is
delivered all the same (a refusal now would make the client send it again to those who
have it) and the entry is retried in the background; every failure is logged
(``journal.failed``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, delete, insert, or_, select
from sqlalchemy.engine import Connection

from congthu import audit, mime
from congthu.accounts import roles
from congthu.directory import Directory
from congthu.journal.tables import journal_entries, journal_segments
from congthu.log import event
from congthu.mime.authors import read_authors
from congthu.store import split_at_bodies, utcnow
from congthu.store.blobs import BlobStore
from congthu.store.lookup import mailbox_by_address, mailboxes_by_ids
from congthu.text import fold

if TYPE_CHECKING:
    from congthu.app import App

__all__ = ["ORGANISATION_KINDS", "Entry", "JournalError", "Sent", "purge_expired", "read_entry", "record_sent",
           "search", "verify"]

# Mailbox kinds that belong to organisations rather than people (congthu.store).
ORGANISATION_KINDS = frozenset({"organisation", "subunit"})
# Tries of an entry that could not be written at once, and the wait between them.
RETRIES = 5
RETRY_SECONDS = 5.0


class JournalError(Exception):
    """An entry that does not exist, or whose bytes are not those recorded."""


@dataclass(frozen=True)
class Sent:
    """A message accepted on a submission door, as submission hands it over."""

    raw: bytes  # as sent (see the module's text)
    door: str
    queue_id: str
    mail_from: str
    recipients: Sequence[tuple[str, int | None]]  # (address, local mailbox id or None)
    user: str  # the mailbox that logged in
    user_id: int | None
    document_type: str | None = None


@dataclass(frozen=True)
class Entry:
    id: int
    sent_at: datetime
    door: str
    queue_id: str
    mail_from: str
    recipients: list[str]
    submitted_by: str
    organisation: str
    org_recipients: list[str]
    subject: str
    message_id: str
    document_type: str | None
    size: int
    sha256: str


def _entry(row: Any) -> Entry:
    sent_at = row.sent_at if row.sent_at.tzinfo else row.sent_at.replace(tzinfo=utcnow().tzinfo)
    return Entry(int(row.id), sent_at, row.door, row.queue_id, row.mail_from, json.loads(row.recipients),
                 row.submitted_by, row.organisation, json.loads(row.org_recipients), row.subject, row.message_id,
                 row.document_type, int(row.size), row.sha256)


# -- recording -------------------------------------------------------------------------------


def _parties(conn: Connection, author: str, sent: Sent) -> tuple[str, list[str]]:
    """The organisation mailbox the message was sent for ("" if none) and the
    organisation mailboxes among its recipients."""
    ids = {m for _a, m in sent.recipients if m is not None}
    if sent.user_id is not None:
        ids.add(sent.user_id)
    boxes = mailboxes_by_ids(conn, ids)
    organisation = ""
    if author:
        box = mailbox_by_address(conn, author)
        if box is not None and box.kind in ORGANISATION_KINDS:
            organisation = box.address
    if not organisation and sent.user_id is not None:
        box = boxes.get(sent.user_id)
        if box is not None and box.kind in ORGANISATION_KINDS:
            organisation = box.address
    recipients = [boxes[m].address for _a, m in sent.recipients
                  if m is not None and m in boxes and boxes[m].kind in ORGANISATION_KINDS]
    return organisation, [r for r in dict.fromkeys(recipients) if r != organisation]


def _write_blobs(blobs: BlobStore, raw: bytes, ranges: Sequence[tuple[int, int]]) -> list[tuple[str, int]]:
    """Each piece as a blob, durable on return (those stored already are not written)."""
    segments: list[tuple[str, int]] = []
    staged = []
    try:
        for piece in split_at_bodies(raw, ranges):
            digest, item = blobs.stage(piece)
            segments.append((digest, len(piece)))
            if item is not None:
                staged.append(item)
        blobs.flush(staged)
    except BaseException:
        blobs.discard(staged)
        raise
    return segments


async def _record(app: App, sent: Sent, sent_at: datetime) -> int | None:
    authors = read_authors(sent.raw).from_
    author_address = f"{authors[0].local}@{authors[0].normal_domain}" if authors and authors[0].domain else ""
    organisation, org_recipients = await app.db.run_read(_parties, author_address, sent)
    if not organisation or not org_recipients:
        return None
    analysis = await asyncio.to_thread(mime.analyse, sent.raw)
    segments = await asyncio.to_thread(_write_blobs, app.store.blobs, sent.raw, analysis.split_ranges)
    addresses = [a for a, _m in sent.recipients]
    row = {
        "sent_at": sent_at, "door": sent.door, "queue_id": sent.queue_id, "mail_from": sent.mail_from,
        "recipients": json.dumps(addresses, ensure_ascii=False), "submitted_by": sent.user,
        "organisation": organisation, "org_recipients": json.dumps(org_recipients, ensure_ascii=False),
        "subject": analysis.subject, "message_id": analysis.message_id, "document_type": sent.document_type,
        "size": len(sent.raw), "sha256": hashlib.sha256(sent.raw).hexdigest(),
        "search_key": fold(" ".join([analysis.subject, analysis.message_id, sent.mail_from, sent.user,
                                     organisation, *addresses])),
    }

    def write(conn: Connection) -> int:
        entry_id = int(conn.execute(insert(journal_entries).values(**row)).inserted_primary_key[0])  # type: ignore[index]
        conn.execute(insert(journal_segments), [
            {"entry_id": entry_id, "seq": seq, "blob": digest, "length": length}
            for seq, (digest, length) in enumerate(segments)])
        return entry_id

    entry_id = await app.db.run_write(write)
    event("journal.recorded", entry=entry_id, id=sent.queue_id, organisation=organisation,
          recipients=org_recipients, size=len(sent.raw), document_type=sent.document_type)
    return entry_id


async def _retry(app: App, sent: Sent, sent_at: datetime) -> None:
    for attempt in range(2, RETRIES + 1):
        await asyncio.sleep(RETRY_SECONDS * attempt)
        try:
            await _record(app, sent, sent_at)
            return
        except Exception as exc:  # noqa: BLE001 - logged, tried again
            event("journal.failed", id=sent.queue_id, attempt=attempt, error=repr(exc)[:300])
    event("journal.lost", id=sent.queue_id, error="gave up: the message was delivered without its journal entry")


async def record_sent(app: App, sent: Sent) -> int | None:
    """Keep ``sent`` in the journal if it goes from an organisation mailbox to another
    (see the module's text); the entry's id, or None when it is not journal mail (or
    its entry is being retried in the background)."""
    if app.settings.journal.scope == "off":
        return None
    sent_at = utcnow()
    try:
        return await _record(app, sent, sent_at)
    except Exception as exc:  # noqa: BLE001 - the message is delivered; the entry is retried
        event("journal.failed", id=sent.queue_id, attempt=1, error=repr(exc)[:300])
        app.spawn(_retry(app, sent, sent_at))
        return None


# -- reading (the records office) -------------------------------------------------------------


async def _allowed(app: App, reader_id: int) -> str:
    """The reader's address once ``journal.read`` is checked (roles.Forbidden if not held)."""
    await roles.require(app, reader_id, "journal.read", "journal")
    mailbox = await app.store.get_mailbox_by_id(reader_id)
    return mailbox.address if mailbox is not None else str(reader_id)


async def reader_scope(app: App, reader_id: int) -> set[str] | None:
    """The organisation addresses whose entries the reader may see: None for every
    entry (administrators, an unscoped records grant), else the addresses of the
    organisations of the reader's scoped records grants and of their sub-units."""
    held = await roles.grants(app, reader_id)
    if any(g.role == roles.ADMIN or (g.role == roles.RECORDS and not g.scope) for g in held):
        return None
    org_ids = {int(g.scope) for g in held if g.role == roles.RECORDS and g.scope.isdigit()}
    return await Directory(app).org_addresses(org_ids)


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _in_scope(scope: set[str]) -> ColumnElement[bool]:
    """Entries sent by, or to, one of the ``scope`` addresses (``org_recipients`` is a
    JSON list of addresses: each one is matched with its quotes)."""
    if not scope:
        return journal_entries.c.id.is_(None)  # matches nothing
    return or_(journal_entries.c.organisation.in_(sorted(scope)),
               *[journal_entries.c.org_recipients.like(f'%"{_like(a)}"%', escape="\\") for a in sorted(scope)])


def _entry_in_scope(entry: Entry, scope: set[str] | None) -> bool:
    return scope is None or entry.organisation in scope or bool(set(entry.org_recipients) & scope)


def _narrowed(scope: set[str] | None, within: set[str] | None) -> set[str] | None:
    """The reader's scope, narrowed further to ``within`` (None: not narrowed)."""
    if within is None:
        return scope
    return set(within) if scope is None else scope & within


async def search(app: App, reader_id: int, *, text: str = "", address: str = "", since: datetime | None = None,
                 until: datetime | None = None, document_type: str | None = None, limit: int = 100,
                 client: str = "", within: set[str] | None = None) -> list[Entry]:
    """Entries, newest first, whose subject, Message-ID or addresses contain ``text`` and
    ``address`` (accents and case ignored), sent in [since, until), of the type. The
    reader needs ``journal.read``; the search is audited. ``within``: organisation
    addresses that narrow the reader's scope further (an API token limited to one
    organisation: ``Aliases.org_addresses``)."""
    reader = await _allowed(app, reader_id)
    scope = _narrowed(await reader_scope(app, reader_id), within)
    conditions: list[ColumnElement[bool]] = []
    if scope is not None:
        conditions.append(_in_scope(scope))
    for words in (text, address):
        for word in fold(words).split():
            conditions.append(journal_entries.c.search_key.like(f"%{_like(word)}%", escape="\\"))
    if since is not None:
        conditions.append(journal_entries.c.sent_at >= since)
    if until is not None:
        conditions.append(journal_entries.c.sent_at < until)
    if document_type:
        conditions.append(journal_entries.c.document_type == document_type)
    query = select(journal_entries).order_by(journal_entries.c.sent_at.desc(), journal_entries.c.id.desc())
    if conditions:
        query = query.where(and_(*conditions))
    query = query.limit(max(1, min(limit, 10_000)))

    def read(conn: Connection) -> list[Any]:
        return list(conn.execute(query).all())

    entries = [_entry(r) for r in await app.db.run_read(read)]
    await audit.record(app, "journal.search", reader, "journal",
                       {"text": text, "address": address, "since": since.isoformat() if since else "",
                        "until": until.isoformat() if until else "", "type": document_type or "",
                        "found": len(entries)}, client=client)
    return entries


def _segments(conn: Connection, entry_id: int) -> tuple[Any, list[tuple[str, int]]]:
    row = conn.execute(select(journal_entries).where(journal_entries.c.id == entry_id)).first()
    segs = conn.execute(select(journal_segments.c.blob, journal_segments.c.length)
                        .where(journal_segments.c.entry_id == entry_id).order_by(journal_segments.c.seq)).all()
    return row, [(s.blob, int(s.length)) for s in segs]


async def _bytes(app: App, entry_id: int) -> tuple[Entry, bytes]:
    row, segments = await app.db.run_read(_segments, entry_id)
    if row is None:
        raise JournalError(f"Không có bản lưu / no journal entry {entry_id}")
    entry = _entry(row)
    try:
        raw = await asyncio.to_thread(app.store.blobs.read, segments)
    except FileNotFoundError as exc:
        raise JournalError(f"Bản lưu {entry_id} thiếu dữ liệu / journal entry {entry_id} lost a blob") from exc
    if len(raw) != entry.size or hashlib.sha256(raw).hexdigest() != entry.sha256:
        raise JournalError(f"Bản lưu {entry_id} bị thay đổi / journal entry {entry_id} does not match its SHA-256")
    return entry, raw


async def read_entry(app: App, reader_id: int, entry_id: int, *, client: str = "",
                     within: set[str] | None = None) -> tuple[Entry, bytes]:
    """An entry and its bytes, checked against its SHA-256. Needs ``journal.read``; audited.
    ``within`` narrows the reader's scope as for ``search``."""
    reader = await _allowed(app, reader_id)
    scope = _narrowed(await reader_scope(app, reader_id), within)
    entry, raw = await _bytes(app, entry_id)
    if not _entry_in_scope(entry, scope):
        # Outside the reader's organisation: as if it did not exist, the attempt audited.
        await audit.record(app, "access.denied", reader, f"journal:{entry_id}", {"permission": "journal.read"},
                           client=client)
        raise JournalError(f"Không có bản lưu / no journal entry {entry_id}")
    await audit.record(app, "journal.read", reader, f"journal:{entry_id}",
                       {"message_id": entry.message_id, "sha256": entry.sha256}, client=client)
    return entry, raw


# -- keeping ----------------------------------------------------------------------------------


async def verify(app: App) -> list[tuple[int, str]]:
    """(entry id, problem) of every entry whose bytes are missing or changed."""
    def ids(conn: Connection) -> list[int]:
        return [int(i) for i in conn.execute(select(journal_entries.c.id).order_by(journal_entries.c.id)).scalars()]

    problems: list[tuple[int, str]] = []
    for entry_id in await app.db.run_read(ids):
        try:
            await _bytes(app, entry_id)
        except JournalError as exc:
            problems.append((entry_id, str(exc)))
    return problems


async def purge_expired(app: App, now: datetime | None = None) -> int:
    """Remove the entries older than ``journal.retention_days`` (none when it is 0);
    their blobs go at the store's next garbage collection if nothing else keeps them."""
    days = app.settings.journal.retention_days
    if days <= 0:
        return 0
    cutoff = (now or utcnow()) - timedelta(days=days)

    def tx(conn: Connection) -> int:
        old = [int(i) for i in conn.execute(
            select(journal_entries.c.id).where(journal_entries.c.sent_at < cutoff)).scalars()]
        if not old:
            return 0
        conn.execute(delete(journal_segments).where(journal_segments.c.entry_id.in_(old)))
        conn.execute(delete(journal_entries).where(journal_entries.c.id.in_(old)))
        audit.append(conn, at=app.accounts.clock(), action="journal.purged", actor="system", target="journal",
                     details={"entries": len(old), "before": cutoff.isoformat(), "retention_days": days})
        return len(old)

    removed = await app.db.run_write(tx)
    if removed:
        event("journal.purged", entries=removed, retention_days=days)
    return removed
