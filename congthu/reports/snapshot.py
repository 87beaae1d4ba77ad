"""The daily snapshot of the mailboxes' states (issue 18: a past period's report shows the
states at its end, not those of today).

Counts over a period (logins, mail, requests) are kept as they happen (``counters.py``);
the states of the mailboxes (how many active, disabled, reclaimed, unused for 3 or 6
months; storage used, quota, near quota: ``STATE_METRICS``) are a picture at a moment,
and the store keeps only the present one. So every hour (``jobs.py``, once across
workers and nodes) the picture of now is taken, per organisation (the mailbox's
organisation of that moment, as the counters do), and kept as the day's
(``report_states``): retaken through the day, the day's picture ends as the one of its
last hour. ``figures.build`` reads, for a period that is over, the picture of its last
day (or the latest one within the period, had the server been down at its end).

Kept: ``reports.snapshot_days`` days, and the last day of every month for good (a month,
quarter or year report ends on one): 12 pictures a year after the first two months.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection

from congthu.directory.membership import members
from congthu.reports.tables import report_states
from congthu.store.census import MailboxState, mailbox_states

__all__ = ["NO_ORG", "STATE_METRICS", "add_state", "states_on", "take"]

NO_ORG = 0  # the organisation of mailboxes outside the directory (system mailboxes), and of unknown senders

# The figures that are a state at a moment, not a count over a period.
STATE_METRICS = ("mb.total", "mb.personal", "mb.organisation", "mb.subunit", "mb.active", "mb.unused3",
                 "mb.unused6", "mb.disabled", "mb.reclaimed", "storage.used", "storage.quota", "storage.near")


def _add(values: dict[str, int], key: str, value: int = 1) -> None:
    values[key] = values.get(key, 0) + value


def add_state(values: dict[str, int], box: MailboxState, at: datetime, near_percent: int) -> None:
    """Add one mailbox's ``STATE_METRICS`` as of ``at`` to an organisation's ``values``."""
    _add(values, "mb.total")
    _add(values, {"organisation": "mb.organisation", "subunit": "mb.subunit"}.get(box.kind, "mb.personal"))
    if box.status == "active":
        _add(values, "mb.active")
        last = min(box.last_access_at or box.created_at, at)
        if at - last >= timedelta(days=90):
            _add(values, "mb.unused3")
        if at - last >= timedelta(days=180):
            _add(values, "mb.unused6")
    elif box.status == "reclaimed":
        _add(values, "mb.reclaimed")
    else:  # disabled, revoked (Điều 4.5)
        _add(values, "mb.disabled")
    if box.status != "reclaimed":
        _add(values, "storage.used", box.used_bytes)
        _add(values, "storage.quota", box.quota_bytes)
        if box.quota_bytes and box.used_bytes * 100 >= box.quota_bytes * near_percent:
            _add(values, "storage.near")


def _month_end(day: date) -> bool:
    return (day + timedelta(days=1)).day == 1


def take(conn: Connection, day: date, at: datetime, near_percent: int, keep_days: int) -> int:
    """Keep the states of now as ``day``'s picture (replacing an earlier one of the day),
    and drop the pictures older than ``keep_days`` that do not end a month. Returns the
    number of rows kept for the day."""
    org_of = {m.mailbox_id: m.org_id for m in members(conn)}
    per_org: dict[int, dict[str, int]] = {}
    for box in mailbox_states(conn):
        if box.created_at <= at:
            add_state(per_org.setdefault(org_of.get(box.id, NO_ORG), {}), box, at, near_percent)
    rows = [{"day": day, "org_id": org_id, "metric": metric, "value": value}
            for org_id, values in per_org.items() for metric, value in values.items() if value]
    conn.execute(delete(report_states).where(report_states.c.day == day))
    if rows:
        conn.execute(insert(report_states), rows)
    old = [d for (d,) in conn.execute(select(report_states.c.day).where(
        report_states.c.day < day - timedelta(days=keep_days)).distinct()) if not _month_end(d)]
    if old:
        conn.execute(delete(report_states).where(report_states.c.day.in_(old)))
    return len(rows)


def states_on(conn: Connection, first: date, last: date) -> tuple[date, list[tuple[int, str, int]]] | None:
    """The picture of ``last``, or the latest one within ``first``..``last``; None when
    there is none (the period began before the system kept pictures)."""
    day = conn.execute(select(report_states.c.day).where(report_states.c.day >= first, report_states.c.day <= last)
                       .order_by(report_states.c.day.desc()).limit(1)).scalar()
    if day is None:
        return None
    c = report_states.c
    return day, [(int(r[0]), r[1], int(r[2])) for r in conn.execute(
        select(c.org_id, c.metric, c.value).where(c.day == day))]
