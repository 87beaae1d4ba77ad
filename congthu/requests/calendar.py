"""Vietnam's working days, and the due date of a request (Điều 4.3: the IT Center answers
"trong thời gian ba (03) ngày làm việc", within three working days).

A day is a working day when it is Monday to Friday, or a Saturday or Sunday the
government made a working day (the ``holidays`` package knows those it has, such as
22/08/2026, in ``weekend_workdays``), and it is not a public holiday (``holidays``'
Vietnam calendar: New Year, lunar Tết with its days before and after, the Hùng Kings'
day on 10/3 of the lunar year, 30/4, 1/5, 2/9 and their substituted days). The
government announces each year's swaps late, so the IT Center keeps an override table
(``calendar_overrides``, CLI ``congthu holiday add|list|remove``): "work" makes a day a
working day, "off" makes it a day off; an override wins over everything else.

How "within three working days" is counted (``due_on``):

* the day is the calendar day in Vietnam (Asia/Ho_Chi_Minh), whatever the server's zone;
* the day the request is filed does not count, whatever the hour, and whether or not it
  is a working day: the period starts the next day, as for every period counted in days
  in Vietnamese law (Bộ luật Dân sự 2015, Điều 147.1: "ngày đầu tiên của thời hạn không
  được tính"). So a request filed on Friday at 16:55 has the same three full working
  days as one filed at 08:00, and one filed on a Saturday starts counting on Monday;
* the due date is the third working day after the filed day, and the request is due by
  the end of that day (Điều 148.1 of the same code: a period in days ends at the end of
  its last day), i.e. it is overdue from 00:00 of the next day in Vietnam.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays
from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection

from congthu.requests.tables import calendar_overrides

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
WORK = "work"
OFF = "off"
KINDS = (WORK, OFF)
# A request's period never reaches further than this many calendar days (Tết is at
# most about ten days off in a row); a guard against an override table gone wrong.
MAX_SPAN_DAYS = 120


class CalendarError(ValueError):
    """A refused override (bad date, bad kind); the text is for the operator."""


@dataclass(frozen=True)
class Override:
    day: date
    kind: str
    note: str
    added_by: str


class WorkingCalendar:
    """Vietnam's working days with the IT Center's overrides (a snapshot: built per use)."""

    def __init__(self, overrides: Iterable[Override] = ()) -> None:
        self.overrides = {o.day: o.kind for o in overrides}
        # expand=True: a year's holidays and swapped weekend days are loaded when a day
        # of it is first looked at.
        self._holidays = holidays.country_holidays("VN")

    def _known(self, day: date) -> Any:
        _ = day in self._holidays  # loads the day's year (and its weekend_workdays)
        return self._holidays

    def holiday_name(self, day: date) -> str | None:
        return self._known(day).get(day)

    def is_working_day(self, day: date) -> bool:
        kind = self.overrides.get(day)
        if kind is not None:
            return kind == WORK
        known = self._known(day)
        if day in known:
            return False
        if day.weekday() >= 5:
            return day in known.weekend_workdays
        return True

    def add_working_days(self, start: date, count: int) -> date:
        """The ``count``-th working day after ``start`` (``start`` itself not counted)."""
        day = start
        for _ in range(MAX_SPAN_DAYS):
            day += timedelta(days=1)
            if self.is_working_day(day):
                count -= 1
                if count <= 0:
                    return day
        raise CalendarError(f"Không tìm được ngày làm việc / no working day within {MAX_SPAN_DAYS} days of {start}")

    def due_on(self, filed_at: datetime, working_days: int) -> date:
        """The last day of a request filed at ``filed_at`` (see the module's rules)."""
        return self.add_working_days(local_day(filed_at), max(1, working_days))


def local_day(moment: datetime) -> date:
    """The calendar day in Vietnam of a moment (naive times are UTC, as stored)."""
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return aware.astimezone(VIETNAM).date()


def deadline(due: date) -> datetime:
    """The moment (UTC) a request due on ``due`` becomes overdue: 00:00 the next day in Vietnam."""
    return datetime.combine(due + timedelta(days=1), time(0, 0), VIETNAM).astimezone(UTC)


def is_overdue(due: date, now: datetime) -> bool:
    return now >= deadline(due)


# -- the override table (one transaction each) -----------------------------------------------


def read_overrides(conn: Connection) -> list[Override]:
    rows = conn.execute(select(calendar_overrides).order_by(calendar_overrides.c.day)).all()
    return [Override(r.day, r.kind, r.note, r.added_by) for r in rows]


def load_calendar(conn: Connection) -> WorkingCalendar:
    return WorkingCalendar(read_overrides(conn))


def put_override(conn: Connection, day: date, kind: str, note: str, actor: str, now: datetime) -> None:
    """Set (or replace) the override of one day."""
    if kind not in KINDS:
        raise CalendarError(f"Loại phải là work hoặc off / kind must be work or off, not {kind!r}")
    conn.execute(delete(calendar_overrides).where(calendar_overrides.c.day == day))
    conn.execute(insert(calendar_overrides).values(day=day, kind=kind, note=note[:300], added_by=actor,
                                                   added_at=now))


def remove_override(conn: Connection, day: date) -> bool:
    return bool(conn.execute(delete(calendar_overrides).where(calendar_overrides.c.day == day)).rowcount)


def parse_day(text: str) -> date:
    """A day as YYYY-MM-DD or DD/MM/YYYY (the Vietnamese way)."""
    text = text.strip()
    try:
        if "/" in text:
            d, m, y = text.split("/")
            return date(int(y), int(m), int(d))
        return date.fromisoformat(text)
    except ValueError:
        raise CalendarError(f"Ngày không hợp lệ / not a valid date: {text!r} (YYYY-MM-DD or DD/MM/YYYY)") from None
