"""The counters of the reports (Điều 9.13, 11.8), kept at the moment things happen.

The doors tell ``app.reports`` (a ``ReportCounters`` the App owns) what happened, with
a call that only adds to a dictionary in memory, so counting costs delivery and login
nothing measurable (``bench/reports.py``):

* ``login(mailbox_id, protocol)``: a successful login, from the one login check
  (``Accounts.authenticate`` calls its ``on_login`` observer, which the App points here);
* ``mail(sender_id, sender, recipients)``: a message accepted, from
  ``congthu/smtp/accept.py``: sent by a local mailbox (submission, webmail) to each
  recipient, received by each local mailbox that took it;
* ``verdict(outcome, rule, sender_id, recipient_ids)``: what the content pipeline
  stopped (spam, a virus, a "Mật" document; Điều 7.8, 9.9), from the same place.

Every few seconds (``FLUSH_SECONDS``) a background task (``App.spawn``) writes what was
counted with one transaction: each mailbox is put in its organisation of the moment
(the directory's ``membership.mailbox_orgs``), each message between two local
mailboxes classified as within the organisation (the same agency: an organisation with
its sub-units) or to another agency of the province, and each increment added to
``report_counters`` with an additive upsert (``ON CONFLICT ... DO UPDATE SET value =
value + excluded.value``, on SQLite and PostgreSQL), so the workers of ``congthu
serve`` and the nodes beside one PostgreSQL add up. ``close()`` (``App.close``) writes
the rest, so a graceful stop loses nothing; a process killed with SIGKILL loses what it
counted since its last flush (at most ``FLUSH_SECONDS``), and a write that fails (the
database unreachable) keeps its counts for the next flush.

Days are Vietnam's (UTC+7, no summer time), as the reports' periods are.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from congthu.content.doctypes import lookup as document_type_of
from congthu.db import Database
from congthu.directory.membership import mailbox_orgs
from congthu.log import event
from congthu.reports.tables import report_active, report_counters, report_months

__all__ = ["DOORS", "FLUSH_SECONDS", "ReportCounters", "mail_class", "vietnam_day"]

# Seconds between two writes of the counters: the most a SIGKILL can lose.
FLUSH_SECONDS = 5.0
# (mailbox, door) pairs whose login keys are remembered at once (``ReportCounters.login``).
MAX_LOGIN_KEYS = 100_000
VIETNAM = timezone(timedelta(hours=7), "ICT")
# The login doors of the report; the web pages' protocols are one door, the webmail.
DOORS = ("imap", "pop3", "smtp", "web", "ldap")
_DOOR_OF = {"imap": "imap", "pop3": "pop3", "smtp": "smtp", "ldap": "ldap", "web": "web", "webmail": "web",
            "admin": "web"}
# Peer classes of a message (issue 18): within the organisation, other agencies of the
# province (our local domains), other state domains (*.gov.vn), the outside.
CLASSES = ("org", "province", "gov", "outside")
# Verdicts of the content pipeline counted as stopped, by (outcome, rule).
_STOPPED_RULES = {"9.9 spam": "spam", "9.9 virus": "virus", "7.8": "classified"}
_STOPPED_OUTCOMES = frozenset({"refuse", "quarantine"})


def vietnam_day(moment: datetime) -> date:
    return moment.astimezone(VIETNAM).date()


def mail_class(address: str, local_domains: Iterable[str]) -> str:
    """The class of a peer with no local mailbox: "province" on our domains, "gov" on a
    state domain (``*.gov.vn``), else "outside"."""
    domain = address.rpartition("@")[2].lower().rstrip(".")
    if domain in local_domains:
        return "province"
    if domain == "gov.vn" or domain.endswith(".gov.vn"):
        return "gov"
    return "outside"


@dataclass
class Pending:
    """What was counted since the last flush."""

    # (day, mailbox id or None, metric) -> value
    by_mailbox: dict[tuple[date, int | None, str], int] = field(default_factory=dict)
    # (day, "sent" | "received", own mailbox id, peer mailbox id or None, peer class) -> n
    pairs: dict[tuple[date, str, int, int | None, str], int] = field(default_factory=dict)
    # (first day of the month, mailbox id)
    active: set[tuple[date, int]] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.by_mailbox or self.pairs or self.active)

    def merge(self, other: Pending) -> None:
        for key, value in other.by_mailbox.items():
            self.by_mailbox[key] = self.by_mailbox.get(key, 0) + value
        for pair, value in other.pairs.items():
            self.pairs[pair] = self.pairs.get(pair, 0) + value
        self.active |= other.active


def _upsert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Add ``rows`` (day or month, org_id, metric, value) to ``table``: one statement, additive."""
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table)
    keys = [c.name for c in table.primary_key.columns]
    stmt = stmt.on_conflict_do_update(index_elements=keys, set_={"value": table.c.value + stmt.excluded.value})
    conn.execute(stmt, rows)


def _mark_active(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(report_active).on_conflict_do_nothing(index_elements=["month", "mailbox_id"]), rows)


def write_pending(conn: Connection, pending: Pending) -> int:
    """One flush, in ``conn``'s transaction: mailboxes to organisations, messages to
    classes, then the additive upserts. Returns the number of counter rows touched."""
    ids = {m for _d, m, _k in pending.by_mailbox if m is not None}
    for _d, _dir, own, peer, _c in pending.pairs:
        ids.add(own)
        if peer is not None:
            ids.add(peer)
    orgs, agency = mailbox_orgs(conn, ids)
    sums: dict[tuple[date, int, str], int] = {}

    def add(day: date, org_id: int, metric: str, value: int) -> None:
        sums[(day, org_id, metric)] = sums.get((day, org_id, metric), 0) + value

    for (day, mailbox_id, metric), value in pending.by_mailbox.items():
        add(day, orgs.get(mailbox_id, 0) if mailbox_id is not None else 0, metric, value)
    for (day, direction, own, peer, peer_class), value in pending.pairs.items():
        own_org = orgs.get(own, 0)
        if peer is not None:
            peer_org = orgs.get(peer, 0)
            same = own_org != 0 and agency.get(own_org, own_org) == agency.get(peer_org, peer_org)
            peer_class = "org" if same else "province"
        add(day, own_org, f"mail.{direction}.{peer_class}", value)
    rows = [{"day": d, "org_id": o, "metric": m, "value": v} for (d, o, m), v in sums.items() if v]
    _upsert(conn, report_counters, rows)
    months: dict[tuple[date, int, str], int] = {}
    for (d, o, m), v in sums.items():
        months[(d.replace(day=1), o, m)] = months.get((d.replace(day=1), o, m), 0) + v
    _upsert(conn, report_months, [{"month": d, "org_id": o, "metric": m, "value": v}
                                  for (d, o, m), v in months.items() if v])
    _mark_active(conn, [{"month": month, "mailbox_id": m} for month, m in sorted(pending.active)])
    return len(rows)


class ReportCounters:
    """The App's counters (``app.reports``): cheap to call, written every few seconds."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime], local_domains: Iterable[str],
                 spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]] | None = None,
                 flush_seconds: float = FLUSH_SECONDS) -> None:
        self.db = db
        self.clock = clock
        self.local_domains = frozenset(d.lower() for d in local_domains)
        self.flush_seconds = flush_seconds
        self._spawn = spawn
        self._pending = Pending()
        # Mailboxes already written as used this month (not written again each flush).
        self._active_written: set[tuple[date, int]] = set()
        self._task: asyncio.Task[Any] | None = None
        self._lock = asyncio.Lock()
        self._closed = False
        # The Vietnam day ``_today`` found last, and the instants it runs from and until.
        self._day: tuple[date, datetime, datetime] | None = None
        # (mailbox id, door) -> (day, the login counter's key, the month's mark): ``login``.
        self._login_keys: dict[tuple[int, str], tuple[date, tuple[date, int, str] | None, tuple[date, int]]] = {}

    # -- counting (the hot path: dictionary updates only) ------------------------------

    def _today(self) -> date:
        now = self.clock()
        # The day in Vietnam, worked out again only when the clock leaves the one found
        # last (a login is counted thousands of times a second at the LDAP door).
        day = self._day
        if day is not None and day[1] <= now < day[2]:
            return day[0]
        today = vietnam_day(now)
        # In the clock's own zone (UTC): aware instants of one tzinfo compare without
        # working out offsets.
        start = datetime(today.year, today.month, today.day, tzinfo=VIETNAM).astimezone(now.tzinfo)
        self._day = (today, start, start + timedelta(days=1))
        return today

    def _wake(self) -> None:
        if self._task is None and not self._closed and self._spawn is not None:
            try:
                asyncio.get_running_loop()
            except RuntimeError:  # no loop running: close() or the next flush() writes
                return
            self._task = self._spawn(self._flush_forever())

    def count(self, mailbox_id: int | None, metric: str, value: int = 1, day: date | None = None) -> None:
        """Add ``value`` to ``metric`` of the mailbox's organisation for today."""
        key = (day or self._today(), mailbox_id, metric)
        self._pending.by_mailbox[key] = self._pending.by_mailbox.get(key, 0) + value
        self._wake()

    def login(self, mailbox_id: int, protocol: str) -> None:
        """A successful login on ``protocol`` (the accounts' door name): counted by door,
        and the mailbox noted as used this month (the usage ratio)."""
        today = self._today()
        # The counter's key and the month's mark, made once per mailbox, door and day
        # (an application server's LDAP binds count the same few people thousands of
        # times a second).
        keys = self._login_keys.get((mailbox_id, protocol))
        if keys is None or keys[0] != today:
            door = _DOOR_OF.get(protocol)
            # None: re-checking a password on the change page is not a sign-in.
            key = None if door is None else (today, mailbox_id, f"login.{door}")
            if len(self._login_keys) >= MAX_LOGIN_KEYS:
                self._login_keys.clear()
            keys = self._login_keys[(mailbox_id, protocol)] = (today, key, (today.replace(day=1), mailbox_id))
        _day, key, month = keys
        if key is None:
            return
        by_mailbox = self._pending.by_mailbox
        by_mailbox[key] = by_mailbox.get(key, 0) + 1
        if month not in self._active_written:
            self._pending.active.add(month)
        if self._task is None:
            self._wake()

    def mail(self, sender_id: int | None, sender: str, recipients: Iterable[tuple[str, int | None]],
             document_type: str | None = None) -> None:
        """A message accepted for ``recipients`` ((address, local mailbox id or None), those
        delivered or queued): sent by ``sender_id`` if it is a local mailbox (one message,
        and one per recipient by class; with its document type, Điều 7.1–7.2, if the
        content pipeline recognised one: ``congthu.content.doctypes``), received by each
        local recipient."""
        today = self._today()
        pairs = self._pending.pairs
        rcpts = list(recipients)
        if sender_id is not None:
            self.count(sender_id, "mail.sent", 1, today)
            known = document_type_of(document_type) if document_type else None
            if known is not None:
                # The type itself (kept for later detail) and its group of Điều 7.
                self.count(sender_id, f"doc.{known.key}", 1, today)
                self.count(sender_id, f"doc.{known.article or 'other'}", 1, today)
            for address, mailbox_id in rcpts:
                key = (today, "sent", sender_id, mailbox_id,
                       "local" if mailbox_id is not None else mail_class(address, self.local_domains))
                pairs[key] = pairs.get(key, 0) + 1
        sender_class = "local" if sender_id is not None else mail_class(sender, self.local_domains)
        for _address, mailbox_id in rcpts:
            if mailbox_id is not None:
                key = (today, "received", mailbox_id, sender_id, sender_class)
                pairs[key] = pairs.get(key, 0) + 1
        self._wake()

    def verdict(self, outcome: str, rule: str, sender_id: int | None, recipient_ids: Iterable[int | None]) -> None:
        """The content pipeline's decision: spam, virus or "Mật" stopped (refused or held in
        the quarantine), or spam delivered to Junk, counted once for the sending mailbox
        (outgoing) or once for each local recipient (incoming)."""
        kind = _STOPPED_RULES.get(rule)
        if kind is None or outcome not in _STOPPED_OUTCOMES | {"junk"}:
            return
        metric = "spam.junk" if outcome == "junk" else f"stopped.{kind}"
        today = self._today()
        if sender_id is not None:
            self.count(sender_id, metric, 1, today)
            return
        local: list[int | None] = [m for m in recipient_ids if m is not None]
        for mailbox_id in local or [None]:
            self.count(mailbox_id, metric, 1, today)

    # -- writing ---------------------------------------------------------------------

    async def flush(self) -> int:
        """Write what was counted (one transaction); on failure keep it for the next time."""
        async with self._lock:
            pending, self._pending = self._pending, Pending()
            if not pending:
                return 0
            try:
                written = await self.db.run_write(write_pending, pending)
            except Exception as exc:
                pending.merge(self._pending)
                self._pending = pending
                event("reports.flush_failed", error=str(exc))
                return 0
            if any(month != self._today().replace(day=1) for month, _m in self._active_written):
                self._active_written.clear()
            self._active_written |= pending.active
            return int(written)

    async def _flush_forever(self) -> None:
        try:
            while True:
                await asyncio.sleep(self.flush_seconds)
                await self.flush()
        finally:
            self._task = None

    async def close(self) -> None:
        """Write the rest (``App.close``, after the App's background tasks ended)."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        await self.flush()
