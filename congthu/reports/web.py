"""The reports in the console (issue 18), found by ``congthu.web.app``:

| path | what |
|---|---|
| `/quan-tri/bao-cao?ky=2026-11&to-chuc=<id>` | the dashboard: tables and charts (inline SVG) of a month, a quarter (`2026-Q4`), a year (`2026`) or a span (`tu=`, `den=`) |
| `/quan-tri/bao-cao/tai?ky=...&to-chuc=...&dinh-dang=pdf\\|xlsx\\|html` | the same report as a file (the console's API) |

The console's gate (``congthu.console.pages``: the webmail's sign-in, a console role,
two-factor for administrators) and its one check (``console.access.can``, action
``reports.read``): administrators and the Department's supervisors read the whole system
and every organisation; an organisation's manager reads their organisation and its
sub-organisations only, and is shown their organisation's report by default. An
organisation the viewer may not read is answered as one that does not exist (404).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import Response

from congthu.console.access import Viewer
from congthu.console.pages import ConsolePages, lang_of
from congthu.directory import Directory
from congthu.reports.counters import vietnam_day
from congthu.reports.figures import Report, ReportError, build
from congthu.reports.output import FORMATS, TEMPLATES, render, shown_sections
from congthu.reports.pdf import FontsMissing
from congthu.reports.periods import Period, PeriodError, parse, parse_day, previous, span
from congthu.webmail.context import Signed

if TYPE_CHECKING:
    from congthu.app import App

PAGE = "/quan-tri/bao-cao"
DOWNLOAD = PAGE + "/tai"
MEDIA = {"pdf": "application/pdf", "html": "text/html; charset=utf-8",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
TEXTS = {
    "report.title": ("Báo cáo vận hành hệ thống thư", "Mail system reports"),
    "report.period": ("Kỳ báo cáo", "Period"),
    "report.period.hint": ("tháng 2026-11, quý 2026-Q4, năm 2026", "month 2026-11, quarter 2026-Q4, year 2026"),
    "report.from": ("Từ ngày", "From"),
    "report.to": ("Đến ngày", "To"),
    "report.scope": ("Cơ quan, đơn vị", "Organisation"),
    "report.whole": ("Toàn hệ thống", "Whole system"),
    "report.show": ("Xem", "Show"),
    "report.download": ("Tải về", "Download"),
    "report.org": ("Cơ quan, đơn vị", "Organisation"),
    "report.total": ("Tổng cộng", "Total"),
    "report.note": ("Ghi chú", "Note"),
    "report.bad_period": ("Kỳ báo cáo không hợp lệ", "Invalid period"),
}


@dataclass(frozen=True)
class Asked:
    """A report a viewer may read, and who asked."""

    signed: Signed
    viewer: Viewer
    period: Period
    report: Report
    org_id: int | None


def _period(request: Request, today_: Period) -> Period:
    """The period asked for: ``ky`` (2026-11, 2026-Q4, 2026) or ``tu`` and ``den``;
    default the last whole month. PeriodError if unreadable."""
    params = request.query_params
    first, last = params.get("tu", "").strip(), params.get("den", "").strip()
    if first or last:
        return span(parse_day(first[:20]), parse_day(last[:20]))
    text = params.get("ky", "").strip()[:20]
    if not text:
        return today_
    if re.fullmatch(r"\d{4}", text):
        return parse("year", text)
    if "q" in text.lower():
        return parse("quarter", text)
    return parse("month", text)


def router(app: App) -> APIRouter:
    directory = Directory(app)
    pages = ConsolePages(app, directory, templates=[TEMPLATES], texts=TEXTS)
    api = APIRouter()

    async def scope(viewer: Viewer, text: str) -> tuple[int | None] | None:
        """(org id,) of the ``to-chuc`` asked for, None if the viewer may not read it
        (404); empty: the whole system (None) for those who may read it, else the
        viewer's first managed organisation."""
        if not text:
            if await pages.can(viewer, "reports.read"):
                return (None,)
            managed = viewer.managed_org_ids
            return (managed[0],) if managed else None
        if not text.isdigit() or len(text) > 9:
            return None
        org_id = int(text)
        try:
            await directory.get_org(org_id)
        except Exception:
            return None
        return (org_id,) if await pages.can(viewer, "reports.read", org_id) else None

    async def prepare(request: Request) -> Response | Asked:
        asked = request.query_params.get("to-chuc", "").strip()
        visit = await pages.visit(request, lambda viewer: scope(viewer, asked))
        if isinstance(visit, Response):
            return visit
        signed, viewer, (org_id,) = visit.signed, visit.viewer, visit.found
        try:
            period = _period(request, previous("month", vietnam_day(app.accounts.clock())))
        except PeriodError:
            return pages.error(request, signed, "report.bad_period", 400)
        try:
            report = await build(app, period, org_id)
        except ReportError:
            return pages.error(request, signed, "not_found", 404)
        return Asked(signed, viewer, period, report, org_id)

    @api.get(PAGE)
    async def dashboard(request: Request) -> Response:
        asked = await prepare(request)
        if isinstance(asked, Response):
            return asked
        signed, viewer, period, report, org_id = asked.signed, asked.viewer, asked.period, asked.report, asked.org_id
        lang = lang_of(request)
        links = {}
        for row in report.rows:
            if row.org_id and not row.own and await pages.can(viewer, "reports.read", row.org_id):
                links[row.org_id] = f"{PAGE}?ky={period.key}&to-chuc={row.org_id}" if period.kind != "span" else (
                    f"{PAGE}?tu={period.first.isoformat()}&den={period.last.isoformat()}&to-chuc={row.org_id}")
        orgs = []
        for depth, org in await directory.org_tree():
            if await pages.can(viewer, "reports.read", org.id):
                orgs.append({"id": org.id, "name": ("— " * depth) + org.name})
        query = (f"ky={period.key}" if period.kind != "span" else
                 f"tu={period.first.isoformat()}&den={period.last.isoformat()}")
        if org_id is not None:
            query += f"&to-chuc={org_id}"
        return pages.page(request, signed, "report_dashboard.html", {
            "report": report, "parts": shown_sections(report, lang, links), "orgs": orgs,
            "org_id": org_id, "whole": await pages.can(viewer, "reports.read"),
            "period_text": period.key if period.kind != "span" else "",
            "first": period.first.isoformat() if period.kind == "span" else "",
            "last": period.last.isoformat() if period.kind == "span" else "",
            "downloads": [(fmt, f"{DOWNLOAD}?{query}&dinh-dang={fmt}") for fmt in FORMATS]})

    @api.get(DOWNLOAD)
    async def download(request: Request) -> Response:
        asked = await prepare(request)
        if isinstance(asked, Response):
            return asked
        signed, period, report = asked.signed, asked.period, asked.report
        fmt = request.query_params.get("dinh-dang", "pdf")
        if fmt not in FORMATS:
            return pages.error(request, signed, "not_found", 404)
        try:
            data = render(report, fmt, place=app.settings.reports.place)
        except FontsMissing as exc:
            return Response(str(exc), status_code=503, media_type="text/plain; charset=utf-8")
        name = f"bao-cao-{period.key.replace('..', '_')}" + (f"-{report.org.id}" if report.org else "")
        return Response(data, media_type=MEDIA[fmt], headers={
            "Content-Disposition": f'attachment; filename="{name}.{fmt}"', "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff"})

    return api
