"""Commands of the reports (Điều 9.13, 11.8):

    congthu report monthly 2026-11 [--org sotttt] [--format pdf|xlsx|html] [-o FILE]
    congthu report quarterly 2026-Q4 ...
    congthu report yearly 2026 ...
    congthu report range --from 2026-11-03 --to 2026-11-20 ...   (on demand)
    congthu report send [--period month|quarter|year]             (mail the last period now)

Without ``-o`` the file is written in the current directory as
``bao-cao-<period>[-<org>].<format>``. ``--org`` takes an organisation's id, code,
address or local part; without it the report covers the whole system, one row per
top-level organisation.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from congthu.cli import CommandError, Commands
from congthu.reports.figures import ReportError, build
from congthu.reports.output import FORMATS, render
from congthu.reports.periods import Period, PeriodError, parse, parse_day, span

if TYPE_CHECKING:
    from congthu.app import App

GROUP = "report"
GROUP_HELP = "báo cáo tháng, quý, năm, đột xuất (Điều 9.13, 11.8) / reports"


def register(commands: Commands) -> None:
    for name, kind, example, help_text in (
            ("monthly", "month", "2026-11", "báo cáo tháng / a month's report"),
            ("quarterly", "quarter", "2026-Q4", "báo cáo quý / a quarter's report"),
            ("yearly", "year", "2026", "báo cáo năm / a year's report")):
        p = commands.command(name, help_text, cmd_report, group=GROUP, group_help=GROUP_HELP)
        p.add_argument("period", help=f"kỳ báo cáo / the period, e.g. {example}")
        p.set_defaults(kind=kind)
        _common(p)
    p = commands.command("range", "báo cáo đột xuất theo khoảng ngày / on demand, any span of days", cmd_report,
                         group=GROUP)
    p.add_argument("--from", dest="first", required=True, help="ngày đầu / first day (YYYY-MM-DD)")
    p.add_argument("--to", dest="last", required=True, help="ngày cuối / last day (YYYY-MM-DD)")
    p.set_defaults(kind="span", period="")
    _common(p)
    p = commands.command("send", "gửi ngay báo cáo kỳ trước đến hộp thư đã cấu hình / mail the last period's "
                         "report now to [reports] recipient", cmd_send, group=GROUP)
    p.add_argument("--period", choices=("month", "quarter", "year"), default="month")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--org", help="tổ chức (id, mã, địa chỉ) / organisation; default: the whole system")
    p.add_argument("--format", choices=FORMATS, default="pdf")
    p.add_argument("-o", "--output", type=Path, help="tệp ra / output file ('-' for standard output)")


def period_of(args: argparse.Namespace) -> Period:
    try:
        if args.kind == "span":
            return span(parse_day(args.first), parse_day(args.last))
        return parse(args.kind, args.period)
    except PeriodError as exc:
        raise CommandError(str(exc)) from None


async def cmd_report(app: App, args: argparse.Namespace) -> int:
    # The PDF and XLSX writers (reportlab, openpyxl) are imported by the commands that
    # need them, for start-up time: every other `congthu` command would pay half a second.
    from congthu.reports.pdf import FontsMissing

    period = period_of(args)
    try:
        report = await build(app, period, args.org)
        data = render(report, args.format, place=app.settings.reports.place)
    except (ReportError, FontsMissing) as exc:
        raise CommandError(str(exc)) from None
    if args.output is not None and str(args.output) == "-":
        sys.stdout.buffer.write(data)
        return 0
    suffix = f"-{report.org.code or report.org.id}" if report.org else ""
    target = args.output or Path(f"bao-cao-{period.key.replace('..', '_')}{suffix.lower()}.{args.format}")
    try:
        target.write_bytes(data)
    except OSError as exc:
        raise CommandError(f"Không ghi được / cannot write {target}: {exc}") from None
    print(f"{target} ({len(data)} bytes): {report.org_name}, {period.title_vi}")
    return 0


async def cmd_send(app: App, args: argparse.Namespace) -> int:
    from congthu.reports import jobs  # with the PDF and XLSX writers (see cmd_report)
    from congthu.reports.pdf import FontsMissing

    try:
        sent = await jobs.mail_report(app, args.period, force=True)
    except (ReportError, FontsMissing, jobs.MailingError) as exc:
        raise CommandError(str(exc)) from None
    print(sent)
    return 0
