"""Periods (months, quarters, years, spans), the mailing after each period on the first
working day that follows it (Vietnam's calendar: Tết, weekends, a swapped day), once,
and the ``congthu report`` command: files, clear errors, no traceback."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import openpyxl
import pypdf
import pytest

from congthu.app import App
from congthu.directory import Directory
from congthu.reports import jobs
from congthu.reports.pdf import FontsMissing, find_fonts
from congthu.reports.periods import PeriodError, month, parse, previous, quarter, span, year
from congthu.requests.calendar import load_calendar
from tests.accounts.helpers import Clock, congthu
from tests.conftest import make_data_dir
from tests.folders import folder_index_of, folder_messages

VN = timezone(timedelta(hours=7))


def test_periods() -> None:
    assert parse("month", "2026-11") == month(2026, 11)
    assert parse("month", "11/2026") == month(2026, 11)
    assert month(2026, 2).last == date(2026, 2, 28) and month(2024, 2).last == date(2024, 2, 29)
    assert parse("quarter", "2026-Q4") == quarter(2026, 4)
    assert quarter(2026, 4).first == date(2026, 10, 1) and quarter(2026, 4).last == date(2026, 12, 31)
    assert parse("year", "2026") == year(2026)
    assert month(2026, 11).title_vi == "tháng 11 năm 2026"
    assert quarter(2026, 4).title_vi == "quý IV năm 2026"
    assert span(date(2026, 11, 3), date(2026, 11, 20)).key == "2026-11-03..2026-11-20"
    # Vietnam's midnight, in UTC.
    assert month(2026, 11).start == datetime(2026, 10, 31, 17, 0, tzinfo=UTC)
    assert month(2026, 11).end == datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    assert previous("month", date(2027, 1, 4)) == month(2026, 12)
    assert previous("quarter", date(2027, 1, 4)) == quarter(2026, 4)
    assert previous("year", date(2027, 1, 4)) == year(2026)
    for kind, text in (("month", "2026-13"), ("month", "2026"), ("quarter", "2026-Q5"), ("year", "26"),
                       ("month", "x" * 50)):
        with pytest.raises(PeriodError):
            parse(kind, text)
    with pytest.raises(PeriodError):
        span(date(2026, 12, 1), date(2026, 11, 1))


async def test_first_working_day_after_a_period(app: App) -> None:
    calendar = await app.db.run_read(load_calendar)
    # January 2027 ends on a Sunday: Monday 1 February.
    assert jobs.first_working_day_after(calendar, date(2027, 1, 31)) == date(2027, 2, 1)
    # 2026 ends on a Thursday; Friday 1 January is New Year's Day, then a weekend.
    assert jobs.first_working_day_after(calendar, date(2026, 12, 31)) == date(2027, 1, 4)
    # Tết 2027 (6 February): the holidays of the lunar new year are not working days.
    assert not calendar.is_working_day(date(2027, 2, 8))
    assert jobs.first_working_day_after(calendar, date(2027, 2, 5)) > date(2027, 2, 8)


async def test_reports_mailed_once_on_the_first_working_day(tmp_path: Path) -> None:
    data = await make_data_dir(tmp_path / "data", reports={"recipient": "sotttt@soctrang.gov.vn",
                                                           "place": "Sóc Trăng"})
    app = await App.open(data)
    try:
        org = (await Directory(app).add_org("Sở Thông tin và Truyền thông", code="STTTT"))[0]
        clock = Clock(datetime(2027, 1, 1, 9, 0, tzinfo=VN).astimezone(UTC))  # a holiday
        app.accounts.clock = clock
        assert await jobs.mail_report(app, "month") == "2026-12: not due"
        clock.now = datetime(2027, 1, 3, 9, 0, tzinfo=VN).astimezone(UTC)  # Sunday
        assert await jobs.mail_report(app, "month") == "2026-12: not due"
        clock.now = datetime(2027, 1, 4, 7, 0, tzinfo=VN).astimezone(UTC)  # Monday: the first working day
        assert await jobs.mail_due(app)
        assert await jobs.mail_report(app, "month") == "2026-12: already mailed"
        assert await jobs.mail_report(app, "quarter") == "2026-Q4: already mailed"
        subjects = []
        for raw in await folder_messages(app.store, org.mailbox_id):
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            subjects.append(str(msg["Subject"]))
            parts = {p.get_filename(): p.get_content() for p in msg.iter_attachments()}  # type: ignore[attr-defined]
            pdf = next(v for k, v in parts.items() if k.endswith(".pdf"))
            xlsx = next(v for k, v in parts.items() if k.endswith(".xlsx"))
            assert "Sóc Trăng, ngày 04 tháng 01 năm 2027" in pypdf.PdfReader(_file(tmp_path, pdf)).pages[0].extract_text()
            assert openpyxl.load_workbook(_file(tmp_path, xlsx)).sheetnames[0] == "Tổng hợp"
        assert sorted(subjects) == sorted(
            f"Báo cáo vận hành hệ thống thư điện tử công vụ {t} / Mail system report, {e}"
            for t, e in (("tháng 12 năm 2026", "December 2026"), ("quý IV năm 2026", "Q4 2026"),
                         ("năm 2026", "2026")))
        # Mailed once: the next pass sends nothing more.
        assert await jobs.mail_due(app)
        assert len(await folder_index_of(app.store, org.mailbox_id)) == 3
    finally:
        await app.close()


def _file(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / f"part-{len(list(tmp_path.iterdir()))}.{'pdf' if data[:4] == b'%PDF' else 'xlsx'}"
    path.write_bytes(data)
    return path


async def test_the_report_command(tmp_path: Path) -> None:
    data = await make_data_dir(tmp_path / "data")
    app = await App.open(data)
    try:
        await Directory(app).add_org("Sở Thông tin và Truyền thông", code="STTTT")
    finally:
        await app.close()
    out = tmp_path / "bc.pdf"
    done = congthu(data, "report", "monthly", "2026-11", "--org", "sotttt", "--format", "pdf", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "SỞ THÔNG TIN VÀ TRUYỀN THÔNG" in pypdf.PdfReader(out).pages[0].extract_text()
    for args in (("quarterly", "2026-Q4", "--format", "xlsx"), ("yearly", "2026", "--format", "html"),
                 ("range", "--from", "2026-11-03", "--to", "2026-11-20", "--format", "xlsx")):
        target = tmp_path / f"out-{args[0]}"
        done = congthu(data, "report", *args, "-o", str(target))
        assert done.returncode == 0, done.stderr
        assert target.stat().st_size > 1000
    html = (tmp_path / "out-yearly").read_text(encoding="utf-8")
    assert "<svg" in html and "năm 2026" in html and "<script" not in html
    for args, says in ((("monthly", "2026-13"), "Tháng không hợp lệ"), (("quarterly", "2026-Q9"), "Quý"),
                       (("monthly", "2026-11", "--org", "khong-co"), "Không có tổ chức"),
                       (("range", "--from", "2026-12-01", "--to", "2026-11-01"), "trước ngày đầu")):
        done = congthu(data, "report", *args, "-o", str(tmp_path / "x"))
        assert done.returncode != 0 and says in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_no_serif_font_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FontsMissing) as raised:
        find_fonts((tmp_path,))
    assert "fonts-liberation2" in str(raised.value) and "Times New Roman" in str(raised.value)
    assert find_fonts().regular.name in ("LiberationSerif-Regular.ttf", "Times_New_Roman.ttf", "times.ttf")
