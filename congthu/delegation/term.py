"""The term of a delegation (Điều 12: an organisation mailbox is managed by its head "hoặc
ủy quyền" to a unit or person, often for a while: a deputy during a leave, a clerk for a
campaign): a delegation may carry an end, and from that moment no door honours it.

``in_force`` is the one check. Every read of the grants that a door acts on
(``access_of``, ``accesses_of``, ``rights_of``, and through them IMAP's shared folders and
ACLs, the webmail's switcher and every route with a folder, send-as on port 587 and in
the webmail) keeps only the grants in force at ``app.accounts.clock()``; the expired
ones stay in the tables, shown as expired by the console and ``congthu delegate list``,
until revoked or replaced by a new grant.

The end belongs to the delegation (one owner, one delegate), not to one of its rows:
setting it sets it on the mailbox-wide grant and on every folder grant of the pair, and
a grant made without one (IMAP SETACL, a folder grant in the console) takes the end of
the delegation it joins. An end is given as a last day, inclusive, in the system's time
zone (``[system] timezone``): the delegation ends at 00:00 the next day.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# The longest term given at once (a year and a day; a longer one is given again).
MAX_DAYS = 366


class InvalidTerm(ValueError):
    """An end date that cannot be: unreadable, already past, or too far."""


class Keep(enum.Enum):
    """``grant``'s default for the end: the delegation's own (none for a new one)."""

    KEEP = "keep"


KEEP = Keep.KEEP


def aware(moment: datetime) -> datetime:
    """SQLite gives back a time without its offset; every time here is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def in_force(expires_at: datetime | None, now: datetime) -> bool:
    """The one check: is a grant with this end honoured at ``now``? (No end: always.)"""
    return expires_at is None or aware(now) < aware(expires_at)


def end_of(day: date, zone: str) -> datetime:
    """The moment a delegation whose last day is ``day`` ends: 00:00 the next day in the
    system's time zone, in UTC."""
    return datetime.combine(day + timedelta(days=1), time(), ZoneInfo(zone)).astimezone(UTC)


def last_day(expires_at: datetime, zone: str) -> date:
    """The last day (inclusive, the system's time zone) of a delegation ending at ``expires_at``."""
    return (aware(expires_at).astimezone(ZoneInfo(zone)) - timedelta(microseconds=1)).date()


def parse_end(text: str, now: datetime, zone: str) -> datetime | None:
    """An end given as a last day ("2027-03-31" or "31/03/2027"; empty: no end), as the
    moment it ends; InvalidTerm for a day unreadable, already over or more than
    ``MAX_DAYS`` ahead."""
    text = text.strip()[:20]
    if not text:
        return None
    try:
        day = date.fromisoformat(text) if "-" in text else datetime.strptime(text, "%d/%m/%Y").date()
    except ValueError:
        raise InvalidTerm(f"Ngày không hợp lệ / invalid date: {text} (yyyy-mm-dd, dd/mm/yyyy)") from None
    today = aware(now).astimezone(ZoneInfo(zone)).date()
    if day < today:
        raise InvalidTerm(f"Ngày kết thúc đã qua / the end date is past: {day:%d/%m/%Y}")
    if day > today + timedelta(days=MAX_DAYS):
        raise InvalidTerm(f"Ủy quyền tối đa {MAX_DAYS} ngày một lần / at most {MAX_DAYS} days at a time")
    return end_of(day, zone)
