"""Vietnam's working days and the due date of Điều 4.3 ("ba (03) ngày làm việc"): the
filed day never counts (Bộ luật Dân sự 2015, Điều 147.1), the due day ends at midnight in
Vietnam, weekends, public holidays from the holidays package (Tết 2027: Thursday 4 to
Wednesday 10 February; the Hùng Kings' day), swapped days known to the package and the
IT Center's overrides."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from congthu.requests.calendar import (
    OFF,
    WORK,
    CalendarError,
    Override,
    WorkingCalendar,
    deadline,
    is_overdue,
    local_day,
    parse_day,
)

VN = timezone(timedelta(hours=7))


def vn(y: int, m: int, d: int, h: int = 9, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=VN)


def test_tet_2027_days_off_from_the_holidays_package() -> None:
    calendar = WorkingCalendar()
    off = [date(2027, 2, d) for d in range(4, 11)]
    assert all(not calendar.is_working_day(d) for d in off)
    assert calendar.holiday_name(date(2027, 2, 6)) == "Lunar New Year"
    assert calendar.is_working_day(date(2027, 2, 3)) and calendar.is_working_day(date(2027, 2, 11))
    # Hùng Kings' day, 10/3 of the lunar year: Friday 16 April 2027.
    assert not calendar.is_working_day(date(2027, 4, 16))


def test_filed_on_the_working_day_before_tet_2027() -> None:
    """Wednesday 3 February 2027 is the last working day before Tết: the three days are
    Thursday 11, Friday 12 and Monday 15 February."""
    calendar = WorkingCalendar()
    for hour in (8, 16):
        assert calendar.due_on(vn(2027, 2, 3, hour), 3) == date(2027, 2, 15)
    assert calendar.due_on(vn(2027, 2, 3), 1) == date(2027, 2, 11)


def test_friday_afternoon() -> None:
    """A request filed on Friday at 16:55 has three full working days: Mon, Tue, Wed."""
    calendar = WorkingCalendar()
    assert calendar.due_on(vn(2027, 3, 5, 16, 55), 3) == date(2027, 3, 10)
    assert calendar.due_on(vn(2027, 3, 5, 8, 0), 3) == date(2027, 3, 10)
    # The day is Vietnam's: 23:30 UTC on Thursday is already Friday in Hà Nội.
    thursday_night_utc = datetime(2027, 3, 4, 23, 30, tzinfo=UTC)
    assert local_day(thursday_night_utc) == date(2027, 3, 5)
    assert calendar.due_on(thursday_night_utc, 3) == date(2027, 3, 10)
    # Filed on a Saturday (not a working day): counting starts on Monday.
    assert calendar.due_on(vn(2027, 3, 6), 3) == date(2027, 3, 10)


def test_swapped_saturday_known_to_the_package_and_its_day_off() -> None:
    """2026: Saturday 22 August is worked in exchange for Monday 31 August; 1 and 2
    September are National Day."""
    calendar = WorkingCalendar()
    assert calendar.is_working_day(date(2026, 8, 22))
    assert not calendar.is_working_day(date(2026, 8, 31))
    # Filed Friday 21 August afternoon: Saturday 22 counts.
    assert calendar.due_on(vn(2026, 8, 21, 15), 3) == date(2026, 8, 25)
    # Filed on the swapped Saturday itself: Monday 24, Tuesday 25, Wednesday 26.
    assert calendar.due_on(vn(2026, 8, 22, 10), 3) == date(2026, 8, 26)
    # Filed Friday 28 August: 31/8 swapped off, 1–2/9 National Day.
    assert calendar.due_on(vn(2026, 8, 28, 16, 30), 3) == date(2026, 9, 7)


def test_overrides_win() -> None:
    """A swap the government announced late: Saturday 23 January 2027 worked, Monday 1
    February given off (hypothetical, entered by the IT Center)."""
    plain = WorkingCalendar()
    calendar = WorkingCalendar([Override(date(2027, 1, 23), WORK, "", "it"),
                                Override(date(2027, 2, 1), OFF, "", "it")])
    assert not plain.is_working_day(date(2027, 1, 23))
    assert calendar.is_working_day(date(2027, 1, 23))
    assert not calendar.is_working_day(date(2027, 2, 1))
    # Friday 22 afternoon: Saturday 23 counts, Mon 25, Tue 26.
    assert plain.due_on(vn(2027, 1, 22, 16), 3) == date(2027, 1, 27)
    assert calendar.due_on(vn(2027, 1, 22, 16), 3) == date(2027, 1, 26)
    # Filed on the swapped Saturday: Mon 25, Tue 26, Wed 27.
    assert calendar.due_on(vn(2027, 1, 23, 9), 3) == date(2027, 1, 27)
    # Filed Thursday 28: Fri 29, (Sat, Sun, Mon 1 off), Tue 2, Wed 3.
    assert plain.due_on(vn(2027, 1, 28), 3) == date(2027, 2, 2)
    assert calendar.due_on(vn(2027, 1, 28), 3) == date(2027, 2, 3)
    # An override may also make a holiday a working day.
    worked_tet = WorkingCalendar([Override(date(2027, 2, 4), WORK, "", "it")])
    assert worked_tet.due_on(vn(2027, 2, 3), 1) == date(2027, 2, 4)


def test_deadline_is_midnight_in_vietnam() -> None:
    due = date(2027, 2, 15)
    assert deadline(due) == datetime(2027, 2, 15, 17, 0, tzinfo=UTC)
    assert not is_overdue(due, vn(2027, 2, 15, 23, 59))
    assert is_overdue(due, vn(2027, 2, 16, 0, 0))


def test_parse_day() -> None:
    assert parse_day("2027-01-23") == date(2027, 1, 23)
    assert parse_day("23/01/2027") == date(2027, 1, 23)
    for bad in ("30/02/2027", "hôm qua", "2027-13-01", ""):
        with pytest.raises(CalendarError):
            parse_day(bad)
