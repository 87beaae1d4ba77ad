"""Commands of the IT Center for the request workflow and the working-day calendar:

* ``congthu request add|list|show|start|done|refuse``: paper requests (Điều 4.1, "gửi
  bằng văn bản") entered by the IT Center, with their scanned letter (``add --letter
  FILE``, or ``request letter ID FILE`` later: PDF, JPEG or PNG by its bytes, at most
  ``[requests] letter_max_mb``), and the actions on any request;
* ``congthu holiday add|list|remove``: the override table of the calendar (the
  government's yearly swapped working days), and ``holiday list --year`` shows what the
  calendar makes of a year.

One-time passwords of a done request are not printed: they wait in the console for the
requesting organisation's manager (``/quan-tri/yeu-cau/<id>``), never by mail.
"""

from __future__ import annotations

import argparse
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from congthu.cli import CommandError, Commands
from congthu.directory import DirectoryError
from congthu.requests import letters, reclaim
from congthu.requests.calendar import (
    KINDS as DAY_KINDS,
)
from congthu.requests.calendar import (
    CalendarError,
    load_calendar,
    parse_day,
    put_override,
    read_overrides,
    remove_override,
)
from congthu.requests.workflow import KINDS, STATES, Request, RequestError, Requests

if TYPE_CHECKING:
    from congthu.app import App

OPERATOR = "it-center (cli)"
_LETTER_HELP = "công văn quét: PDF, JPEG hoặc PNG / the scanned letter: PDF, JPEG or PNG"


def read_letter(app: App, path: Path) -> letters.Letter:
    """The letter in ``path``, checked (its size from the file system before it is read)."""
    limit = letters.max_bytes(app)
    try:
        if path.stat().st_size > limit:
            raise CommandError(f"Tệp công văn lớn quá {limit // (1024 * 1024)} MB / the letter is larger than "
                               f"{limit // (1024 * 1024)} MB: {path}")
        data = path.read_bytes()
    except OSError as exc:
        raise CommandError(f"Không đọc được tệp / cannot read {path}: {exc.strerror or exc}") from None
    try:
        return letters.check(data, path.name, limit)
    except letters.LetterError as exc:
        raise CommandError(str(exc)) from None


def register(commands: Commands) -> None:
    g, gh = "request", "yêu cầu theo Điều 4 / requests of article 4"
    p = commands.command("add", "nhập yêu cầu bằng văn bản / enter a paper request", cmd_add, group=g,
                         group_help=gh)
    p.add_argument("kind", choices=KINDS)
    p.add_argument("org", help="tổ chức yêu cầu (địa chỉ, mã hoặc id) / requesting organisation")
    p.add_argument("--name", action="append", default=[],
                   help='create: "Họ và tên" hoặc "Họ và tên; chức danh" (lặp lại / repeat)')
    p.add_argument("--names-file", type=Path, help="create: một người một dòng / one per line (UTF-8)")
    p.add_argument("--subunit", action="store_true", help="create: hộp thư đơn vị trực thuộc / sub-unit mailboxes")
    p.add_argument("--target", default="", help="rename/reset/delete: địa chỉ hộp thư / the mailbox address")
    p.add_argument("--new-name", default="", help="rename: tên mới / the new name")
    p.add_argument("--note", default="", help="ghi chú, số công văn / note, letter number")
    p.add_argument("--by", default=OPERATOR, help="người nhập / who enters it")
    p.add_argument("--letter", type=Path, metavar="FILE", help=_LETTER_HELP)
    p = commands.command("letter", "đính kèm công văn quét vào yêu cầu / attach a scanned letter", cmd_letter,
                         group=g)
    p.add_argument("id", type=int)
    p.add_argument("file", type=Path, help=_LETTER_HELP)
    p.add_argument("--by", default=OPERATOR)
    p = commands.command("list", "danh sách yêu cầu / list requests", cmd_list, group=g)
    p.add_argument("--state", choices=STATES)
    p.add_argument("--overdue", action="store_true", help="chỉ yêu cầu quá hạn / overdue only")
    p = commands.command("show", "chi tiết yêu cầu / show a request", cmd_show, group=g)
    p.add_argument("id", type=int)
    for name, help_text in (("start", "bắt đầu xử lý / start"), ("done", "hoàn thành (thực hiện) / carry out")):
        p = commands.command(name, help_text, cmd_action, group=g)
        p.add_argument("id", type=int)
        p.add_argument("--by", default=OPERATOR)
        p.set_defaults(action=name)
    p = commands.command("refuse", "từ chối, nêu lý do / refuse with the reason", cmd_action, group=g)
    p.add_argument("id", type=int)
    p.add_argument("reason")
    p.add_argument("--by", default=OPERATOR)
    p.set_defaults(action="refuse")

    g, gh = "holiday", "lịch ngày làm việc / the working-day calendar"
    p = commands.command("add", "ngày làm bù hoặc nghỉ bù / a swapped working day or day off", cmd_holiday_add,
                         group=g, group_help=gh)
    p.add_argument("day", help="YYYY-MM-DD hoặc DD/MM/YYYY")
    p.add_argument("kind", choices=DAY_KINDS, help="work: đi làm (thứ Bảy làm bù); off: nghỉ")
    p.add_argument("--note", default="", help="văn bản của Chính phủ / the government's notice")
    p = commands.command("list", "các ngày điều chỉnh / overrides (or a year's days off)", cmd_holiday_list,
                         group=g)
    p.add_argument("--year", type=int, help="mọi ngày nghỉ và làm bù của năm / every non-working day of a year")
    p = commands.command("remove", "bỏ một ngày điều chỉnh / remove an override", cmd_holiday_remove, group=g)
    p.add_argument("day")

    g, gh = "reclaim", "thu hồi hộp thư không dùng sáu tháng (Điều 4.4) / reclamation of unused mailboxes"
    commands.command("run", "cảnh báo và thu hồi đến hạn ngay / warn and reclaim what is due now", cmd_reclaim_run,
                     group=g, group_help=gh)
    p = commands.command("restore", "khôi phục hộp thư đã thu hồi / restore a reclaimed mailbox", cmd_reclaim_restore,
                         group=g)
    p.add_argument("address")
    p = commands.command("export", "xuất thư của hộp thư ra tệp zip (.eml) hoặc .mbox (mboxrd) / export a "
                         "mailbox's mail as a zip of .eml files, or as mboxrd if FILE ends in .mbox",
                         cmd_reclaim_export, group=g)
    p.add_argument("address")
    p.add_argument("file", type=Path)


def show(request: Request, now_overdue: bool) -> str:
    mark = " QUÁ HẠN/OVERDUE" if now_overdue else ""
    return (f"{request.id:>5} {request.kind:7} {request.state:11} hạn/due {request.due_on:%d/%m/%Y}{mark}  "
            f"org {request.org_id}  {request.source}  {request.filed_by}")


async def cmd_add(app, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    names = list(args.name)
    if args.names_file:
        try:
            names += args.names_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Không đọc được tệp / cannot read {args.names_file}: {exc}") from None
    letter = read_letter(app, args.letter) if args.letter else None
    try:
        request = await Requests(app).file(
            args.kind, args.org, filed_by=args.by, source="paper", names="\n".join(names),
            mailbox_kind="subunit" if args.subunit else "person", target=args.target, new_name=args.new_name,
            note=args.note, letter=letter)
    except RequestError as exc:
        raise CommandError(str(exc)) from None
    print(show(request, False))
    if letter is not None:
        print(f"  công văn / letter: {letter.filename} ({letter.content_type}, {len(letter.data)} bytes)")
    return 0


async def cmd_letter(app, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    letter = read_letter(app, args.file)
    try:
        kept = await Requests(app).attach_letter(args.id, letter, args.by)
    except RequestError as exc:
        raise CommandError(str(exc)) from None
    print(f"{kept.request_id}: công văn / letter {kept.id} {kept.filename} ({kept.content_type}, {kept.size} bytes)")
    return 0


async def cmd_list(app, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    now = app.accounts.clock()
    for request in await Requests(app).listing(state=args.state):
        late = request.overdue(now)
        if args.overdue and not late:
            continue
        print(show(request, late))
    return 0


async def cmd_show(app, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    workflow = Requests(app)
    try:
        request = await workflow.get(args.id)
    except RequestError as exc:
        raise CommandError(str(exc)) from None
    print(show(request, request.overdue(app.accounts.clock())))
    print(f"  nộp lúc / filed: {request.filed_at.isoformat()}")
    print(f"  nội dung / details: {request.details}")
    if request.note:
        print(f"  ghi chú / note: {request.note}")
    if request.reason:
        print(f"  lý do / reason: {request.reason}")
    if request.result:
        print(f"  kết quả / result: {request.result}")
    for kept in await workflow.letters_of(args.id):
        print(f"  công văn / letter {kept.id}: {kept.filename} ({kept.content_type}, {kept.size} bytes, "
              f"sha256 {kept.blob}) {kept.added_by}")
    if request.has_passwords:
        print("  mật khẩu một lần: chờ người quản lý cơ quan xem trên trang quản trị / one-time passwords wait for "
              "the organisation's manager in the console")
    for ev in await workflow.events(args.id):
        print(f"  {ev.at.isoformat()} {ev.action:16} {ev.actor} {ev.text}")
    return 0


async def cmd_action(app, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    workflow = Requests(app)
    try:
        if args.action == "start":
            request = await workflow.start(args.id, args.by)
        elif args.action == "done":
            request = await workflow.done(args.id, args.by)
        else:
            request = await workflow.refuse(args.id, args.by, args.reason)
    except RequestError as exc:
        raise CommandError(str(exc)) from None
    print(show(request, False))
    return 0


async def cmd_holiday_add(app, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    try:
        day = parse_day(args.day)
        await app.db.run_write(put_override, day, args.kind, args.note, OPERATOR, app.accounts.clock())
    except CalendarError as exc:
        raise CommandError(str(exc)) from None
    print(f"{day:%d/%m/%Y} {args.kind}")
    return 0


async def cmd_holiday_list(app, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    if args.year is None:
        for o in await app.db.run_read(read_overrides):
            print(f"{o.day:%d/%m/%Y} {o.kind:4} {o.note}")
        return 0
    if not 2000 <= args.year <= 2100:
        raise CommandError("Năm từ 2000 đến 2100 / year between 2000 and 2100")
    calendar = await app.db.run_read(load_calendar)
    day = date(args.year, 1, 1)
    while day.year == args.year:
        working = calendar.is_working_day(day)
        name = calendar.holiday_name(day)
        override = calendar.overrides.get(day)
        if name or override or (working == (day.weekday() >= 5)):
            what = "làm việc/work" if working else "nghỉ/off"
            print(f"{day:%d/%m/%Y} {what:14} {name or ''}{' (điều chỉnh/override)' if override else ''}")
        day += timedelta(days=1)
    return 0


async def cmd_holiday_remove(app, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    try:
        day = parse_day(args.day)
    except CalendarError as exc:
        raise CommandError(str(exc)) from None
    if not await app.db.run_write(remove_override, day):
        raise CommandError(f"Không có điều chỉnh cho ngày / no override on {day:%d/%m/%Y}")
    print(f"{day:%d/%m/%Y} removed")
    return 0


async def cmd_reclaim_run(app, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    done = await reclaim.run(app)
    for address, days in done.warned:
        print(f"cảnh báo / warned  {address} ({days})")
    for address in done.reclaimed:
        print(f"thu hồi / reclaimed {address}")
    return 0


async def cmd_reclaim_restore(app, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    try:
        password = await reclaim.restore(app, args.address, actor=OPERATOR)
    except DirectoryError as exc:
        raise CommandError(str(exc)) from None
    print(args.address)
    print(f"  mật khẩu một lần (trao cho lãnh đạo cơ quan, không gửi qua thư) / one-time password: {password}")
    return 0


async def cmd_reclaim_export(app, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    try:
        count = await reclaim.export(app, args.address, args.file)
    except DirectoryError as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise CommandError(f"Không ghi được / cannot write {args.file}: {exc}") from None
    print(f"{count} thư / messages -> {args.file}")
    return 0
