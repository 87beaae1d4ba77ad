"""The daily snapshot of the mailboxes' states (issue 18): the report of a period that is
over shows the states kept on its last day, not those of the day it is made; a period
not over (or older than the snapshots) shows the states of now, and says so."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import select

from congthu.app import App
from congthu.directory import Directory
from congthu.reports import jobs
from congthu.reports.figures import SECTIONS, Report, build
from congthu.reports.periods import month, span
from congthu.reports.tables import report_states
from congthu.store.model import utcnow
from tests.accounts.helpers import Clock
from tests.conftest import make_data_dir

VN = timezone(timedelta(hours=7))


def _total(report: Report, key: str) -> float:
    column = next(c for s in SECTIONS for c in s.columns if c.key == key)
    return report.total.value(column)


async def test_a_past_month_shows_the_states_of_its_last_day(tmp_path: Path) -> None:
    app = await App.open(await make_data_dir(tmp_path / "data", reports={"snapshot_days": 10}))
    try:
        directory = Directory(app)
        org = (await directory.add_org("Sở Tư pháp", code="STP"))[0]
        people = [(await directory.add_person(name, org.id))[0] for name in ("Nguyễn Văn An", "Trần Thị Bình")]
        clock = Clock(datetime(2026, 12, 31, 22, 0, tzinfo=VN).astimezone(UTC))
        app.accounts.clock = clock
        assert await jobs.take_snapshot(app) > 0
        # January: one official's mailbox is disabled (Điều 4.5), another's quota grows.
        clock.now = datetime(2027, 1, 5, 9, 0, tzinfo=VN).astimezone(UTC)
        await app.store.update_mailbox(people[0].mailbox_id, status="disabled")
        await app.store.update_mailbox(people[1].mailbox_id, quota_bytes=2 * 500 * 1024 * 1024)

        december = await build(app, month(2026, 12))
        assert (_total(december, "mb.total"), _total(december, "mb.active"), _total(december, "mb.disabled")) == (3, 3, 0)
        assert _total(december, "storage.quota") == 3 * 500 * 1024 * 1024
        assert any("số liệu ngày 31/12/2026" in note for note in december.notes)

        january = await build(app, month(2027, 1))  # not over: the states of now
        assert (_total(january, "mb.active"), _total(january, "mb.disabled")) == (2, 1)
        assert _total(january, "storage.quota") == 4 * 500 * 1024 * 1024  # the larger quota of now
        assert any("tại thời điểm lập báo cáo" in note for note in january.notes)

        # A span before the first snapshot (the mailboxes were made today): the states of now.
        early = await build(app, span(utcnow().astimezone(VN).date(), date(2026, 12, 30)))
        assert _total(early, "mb.disabled") == 1
        assert any("tại thời điểm lập báo cáo" in note for note in early.notes)

        # Retaken through a day: the day's picture is the last one.
        await jobs.take_snapshot(app)
        await app.store.update_mailbox(people[0].mailbox_id, status="active")
        await jobs.take_snapshot(app)
        # Kept: the days of ``snapshot_days`` and every month's last day.
        clock.now = datetime(2027, 2, 20, 9, 0, tzinfo=VN).astimezone(UTC)
        await jobs.take_snapshot(app)
        days = await app.db.run_read(lambda conn: sorted({r[0] for r in conn.execute(select(report_states.c.day))}))
        assert [d.isoformat() for d in days] == ["2026-12-31", "2027-02-20"]
        assert (_total(await build(app, month(2026, 12)), "mb.disabled")) == 0
    finally:
        await app.close()
