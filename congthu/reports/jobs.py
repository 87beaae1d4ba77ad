"""The reports mailed after each period (issue 18: "each report mailed to the
Department's mailbox on the first working day after its period").

Every hour (once across workers and nodes: ``congthu.cluster.leases``) the job looks at
the periods of ``reports.periods``: when today (Vietnam's day, by ``app.accounts.clock``)
is on or after the first working day following the last whole month, quarter or year
(Vietnam's calendar, the one of the request workflow: ``requests.calendar``, with the
government's swapped days) and that period's report was not mailed yet
(``report_mailings``), the whole system's report is made, as PDF and XLSX, and
delivered to ``reports.recipient`` (a local address; an alias of a merged organisation
follows it) from the system's admin address. A server that was down on that day mails
it when it is back. Empty ``reports.recipient``: nothing is mailed.

Beside it, every hour too, the picture of the mailboxes' states is kept as the day's
(``snapshot.py``), so that each past period's report shows the states at its end.
"""

from __future__ import annotations

from collections.abc import Coroutine
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from congthu.accounts.notices import system_sender
from congthu.cluster.leases import PeriodicJob
from congthu.directory import resolve_recipient
from congthu.log import event
from congthu.reports import snapshot
from congthu.reports.counters import vietnam_day
from congthu.reports.figures import build
from congthu.reports.pdf import pdf_bytes
from congthu.reports.periods import Period, previous
from congthu.reports.tables import report_mailings
from congthu.reports.xlsx import xlsx_bytes
from congthu.requests.calendar import WorkingCalendar, load_calendar

if TYPE_CHECKING:
    from congthu.app import App

CHECK_EVERY = 3600.0
SNAPSHOT_EVERY = 3600.0
XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")


class MailingError(Exception):
    """The report could not be mailed (no recipient, not a local mailbox)."""


def first_working_day_after(calendar: WorkingCalendar, day: date) -> date:
    current = day + timedelta(days=1)
    while not calendar.is_working_day(current):
        current += timedelta(days=1)
    return current


def _mailed(conn: Connection, key: str) -> bool:
    return conn.execute(select(report_mailings.c.period).where(report_mailings.c.period == key)).first() is not None


def _record(conn: Connection, key: str, when: datetime, recipient: str) -> None:
    if not _mailed(conn, key):
        conn.execute(insert(report_mailings).values(period=key, sent_at=when, recipient=recipient))


def message(app: App, period: Period, recipient: str, pdf: bytes, xlsx: bytes, when: datetime) -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = f"Công Thư <{system_sender(app.settings)}>"
    msg["To"] = recipient
    msg["Subject"] = (f"Báo cáo vận hành hệ thống thư điện tử công vụ {period.title_vi} / "
                      f"Mail system report, {period.title_en}")
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = make_msgid(domain=app.settings.system.hostname)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834
    msg.set_content(
        f"Kính gửi Quý cơ quan,\n\nHệ thống gửi báo cáo tình hình vận hành, sử dụng hệ thống thư điện tử công vụ "
        f"{period.title_vi} (Điều 9.13, 11.8 của Quy chế), gồm bản PDF và bảng tính XLSX đính kèm.\n\n"
        f"---\nThe mail system's report for {period.title_en} is attached as PDF and XLSX.\n",
        charset="utf-8", cte="quoted-printable")
    name = f"bao-cao-{period.key}"
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename=f"{name}.pdf")
    msg.add_attachment(xlsx, maintype=XLSX_TYPE[0], subtype=XLSX_TYPE[1], filename=f"{name}.xlsx")
    return msg.as_bytes()


async def mail_report(app: App, kind: str, *, force: bool = False, today: date | None = None) -> str:
    """Mail the report of the last whole period of ``kind``: when it is due and not yet
    mailed, or at once with ``force``. Returns what was done, for the log and the CLI."""
    now = app.accounts.clock()
    today = today or vietnam_day(now)
    period = previous(kind, today)
    recipient = app.settings.reports.recipient.strip()
    if not recipient:
        raise MailingError("Chưa cấu hình [reports] recipient / no [reports] recipient configured")
    if not force:
        calendar = await app.db.run_read(load_calendar)
        if today < first_working_day_after(calendar, period.last):
            return f"{period.key}: not due"
        if await app.db.run_read(_mailed, period.key):
            return f"{period.key}: already mailed"
    mailbox_id = await resolve_recipient(app, recipient)
    if mailbox_id is None:
        raise MailingError(f"Không có hộp thư nhận báo cáo / no local mailbox for {recipient}")
    report = await build(app, period, now=now)
    raw = message(app, period, recipient, pdf_bytes(report, place=app.settings.reports.place), xlsx_bytes(report),
                  now)
    results = await app.store.deliver(raw, [mailbox_id], internal_date=now)
    if not any(r.ok for r in results):
        raise MailingError(f"Không gửi được báo cáo / the report was not delivered: {results[0].error}")
    await app.db.run_write(_record, period.key, now, recipient)
    event("reports.mailed", period=period.key, recipient=recipient, size=len(raw))
    return f"{period.key}: mailed to {recipient}"


async def mail_due(app: App) -> bool:
    """The periodic pass: every due period of ``reports.periods`` mailed once."""
    for kind in app.settings.reports.periods:
        try:
            await mail_report(app, kind)
        except Exception as exc:  # one period's failure does not stop the others, nor the job
            event("reports.mail_failed", period_kind=kind, error=str(exc))
    return True


async def take_snapshot(app: App) -> int:
    """Keep the mailboxes' states of now as today's picture (``snapshot.take``)."""
    now = app.accounts.clock()
    settings = app.settings.reports
    rows = await app.db.run_write(snapshot.take, vietnam_day(now), now, settings.near_quota_percent,
                                  settings.snapshot_days)
    event("reports.snapshot", day=vietnam_day(now).isoformat(), rows=rows)
    return rows


def jobs(app: App) -> list[Coroutine[Any, Any, None]]:
    return [PeriodicJob(app.db, "reports.mail", lambda: CHECK_EVERY if app.settings.reports.recipient else None,
                        lambda: mail_due(app)).forever(),
            PeriodicJob(app.db, "reports.snapshot", lambda: SNAPSHOT_EVERY,
                        lambda: _taken(take_snapshot(app))).forever()]


async def _taken(taking: Coroutine[Any, Any, int]) -> bool:
    await taking
    return True  # an empty picture (no mailbox yet) is a picture too
