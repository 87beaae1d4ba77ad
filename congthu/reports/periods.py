"""The periods of the reports (Điều 9.13, 11.8: "hằng tháng, quý, năm hoặc đột xuất"):
a month ("2026-11"), a quarter ("2026-Q4"), a year ("2026") or any span of days (on
demand), in Vietnam's days, with their Vietnamese names and the period before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from congthu.reports.counters import VIETNAM

__all__ = ["Period", "PeriodError", "month", "parse", "previous", "quarter", "span", "year"]

KINDS = ("month", "quarter", "year", "span")


class PeriodError(ValueError):
    """A period that cannot be read; the text says what is expected."""


@dataclass(frozen=True)
class Period:
    kind: str  # month | quarter | year | span
    first: date
    last: date  # inclusive

    @property
    def key(self) -> str:
        """"2026-11", "2026-Q4", "2026", "2026-11-03..2026-11-20"."""
        if self.kind == "month":
            return f"{self.first:%Y-%m}"
        if self.kind == "quarter":
            return f"{self.first.year}-Q{(self.first.month - 1) // 3 + 1}"
        if self.kind == "year":
            return str(self.first.year)
        return f"{self.first.isoformat()}..{self.last.isoformat()}"

    @property
    def title_vi(self) -> str:
        """The period as the report's title says it: "tháng 11 năm 2026"."""
        if self.kind == "month":
            return f"tháng {self.first.month} năm {self.first.year}"
        if self.kind == "quarter":
            roman = ("I", "II", "III", "IV")[(self.first.month - 1) // 3]
            return f"quý {roman} năm {self.first.year}"
        if self.kind == "year":
            return f"năm {self.first.year}"
        return f"từ ngày {self.first:%d/%m/%Y} đến ngày {self.last:%d/%m/%Y}"

    @property
    def title_en(self) -> str:
        if self.kind == "month":
            return f"{self.first:%B %Y}"
        if self.kind == "quarter":
            return f"Q{(self.first.month - 1) // 3 + 1} {self.first.year}"
        if self.kind == "year":
            return str(self.first.year)
        return f"{self.first.isoformat()} to {self.last.isoformat()}"

    @property
    def start(self) -> datetime:
        """The first moment (Vietnam's midnight), aware, in UTC."""
        return datetime.combine(self.first, time(0), VIETNAM).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The moment after the last day (exclusive), aware, in UTC."""
        return datetime.combine(self.last + timedelta(days=1), time(0), VIETNAM).astimezone(UTC)

    @property
    def months(self) -> list[date]:
        """The first days of the months the period touches."""
        out, current = [], self.first.replace(day=1)
        while current <= self.last:
            out.append(current)
            current = (current + timedelta(days=32)).replace(day=1)
        return out


def month(year_: int, month_: int) -> Period:
    first = date(year_, month_, 1)
    return Period("month", first, (first + timedelta(days=32)).replace(day=1) - timedelta(days=1))


def quarter(year_: int, number: int) -> Period:
    first = date(year_, 3 * (number - 1) + 1, 1)
    after = date(year_ + 1, 1, 1) if number == 4 else date(year_, 3 * number + 1, 1)
    return Period("quarter", first, after - timedelta(days=1))


def year(year_: int) -> Period:
    return Period("year", date(year_, 1, 1), date(year_, 12, 31))


def span(first: date, last: date) -> Period:
    if last < first:
        raise PeriodError(f"Ngày cuối trước ngày đầu / the last day is before the first: {first} > {last}")
    if (last - first).days > 366 * 10:
        raise PeriodError("Khoảng quá dài (tối đa 10 năm) / span too long (at most 10 years)")
    return Period("span", first, last)


def parse_day(text: str) -> date:
    text = text.strip()
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            pass
    raise PeriodError(f"Ngày không hợp lệ (YYYY-MM-DD hoặc DD/MM/YYYY) / invalid day: {text!r}")


def parse(kind: str, text: str) -> Period:
    """A month "2026-11" (or "11/2026"), a quarter "2026-Q4", a year "2026"."""
    text = text.strip()
    try:
        if kind == "month":
            found = re.fullmatch(r"(\d{4})-(\d{1,2})", text) or re.fullmatch(r"(\d{1,2})/(\d{4})", text)
            if found is not None:
                a, b = found.groups()
                y, m = (int(a), int(b)) if len(a) == 4 else (int(b), int(a))
                if 1 <= m <= 12 and 1900 < y < 3000:
                    return month(y, m)
            raise PeriodError(f"Tháng không hợp lệ (YYYY-MM) / invalid month (YYYY-MM): {text!r}")
        if kind == "quarter":
            found = re.fullmatch(r"(\d{4})-?[Qq]([1-4])", text)
            if found is not None and 1900 < int(found.group(1)) < 3000:
                return quarter(int(found.group(1)), int(found.group(2)))
            raise PeriodError(f"Quý không hợp lệ (YYYY-Qn) / invalid quarter (YYYY-Qn): {text!r}")
        if kind == "year":
            if re.fullmatch(r"\d{4}", text) and 1900 < int(text) < 3000:
                return year(int(text))
            raise PeriodError(f"Năm không hợp lệ (YYYY) / invalid year (YYYY): {text!r}")
    except ValueError as exc:
        if isinstance(exc, PeriodError):
            raise
        raise PeriodError(str(exc)) from None
    raise PeriodError(f"Loại kỳ không hợp lệ / invalid period kind: {kind!r}")


def containing(kind: str, day: date) -> Period:
    if kind == "month":
        return month(day.year, day.month)
    if kind == "quarter":
        return quarter(day.year, (day.month - 1) // 3 + 1)
    return year(day.year)


def previous(kind: str, day: date) -> Period:
    """The whole period of ``kind`` that ended before the one containing ``day``."""
    return containing(kind, containing(kind, day).first - timedelta(days=1))
